"""Which windows a map predicts, which pixels each one labels, and the blocks the scene is read in.

A map of stride S over P x P windows has a window at every row and column that is a multiple of S and
leaves the window wholly inside the raster. Each window labels the S x S cell at offset (P - S) // 2
inside it: for S = P its whole block (a block map), for S = 1 its centre pixel (a centre-pixel map; for
an even P the pixel just above and left of the centre). Cells never overlap and tile the raster but for
strips along its edges narrower than a window, which stay nodata.

Because each pixel depends on one window only, the scene can be cut into blocks of whole cells and each
block predicted on its own: a block reads P - S pixels more than its cells cover (the halo), so the map
is the same whatever the block size, and memory depends on the block size, not on the scene's.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from rasterio.windows import Window

from ..errors import ConfigError, DataError


def check_stride(stride: int, patch: int) -> None:
    """A stride above the patch size would leave pixels between windows that no window labels."""
    if not 1 <= stride <= patch:
        raise ConfigError(
            f"--stride {stride} is out of range; it must be between 1 (a centre-pixel map) and the patch size "
            f"{patch} (a block map)"
        )


def check_positive(option: str, value: int) -> None:
    if value < 1:
        raise ConfigError(f"{option} is {value}; it must be at least 1")


@dataclass(frozen=True)
class Span:
    """One block along one axis: the output pixels it writes, and the windows whose cells lie in them."""

    out_start: int
    out_stop: int
    first_window: int
    stop_window: int  # exclusive; equal to first_window when the block holds only an edge strip

    @property
    def windows(self) -> int:
        return self.stop_window - self.first_window


@dataclass(frozen=True)
class Block:
    """A rectangle of the map: the pixels it writes (``out``) and those its windows read (``read``)."""

    rows: Span
    cols: Span
    out: Window
    read: Window | None  # None: only edge pixels, no window to predict

    @property
    def windows(self) -> int:
        return self.rows.windows * self.cols.windows


@dataclass(frozen=True)
class WindowGrid:
    height: int
    width: int
    patch: int
    stride: int

    def __post_init__(self):
        check_stride(self.stride, self.patch)
        if self.height < self.patch or self.width < self.patch:
            raise DataError(
                f"the raster is {self.height}x{self.width} pixels, smaller than one {self.patch}x{self.patch} "
                "patch; give a larger raster"
            )

    @property
    def offset(self) -> int:
        """Where a window's cell starts inside it, on both axes."""
        return (self.patch - self.stride) // 2

    @property
    def shape(self) -> tuple[int, int]:
        """Windows along the rows and along the columns."""
        return self.windows_along(self.height), self.windows_along(self.width)

    @property
    def windows(self) -> int:
        rows, cols = self.shape
        return rows * cols

    def windows_along(self, length: int) -> int:
        return (length - self.patch) // self.stride + 1

    def labelling_window(self, pixel: int, length: int) -> int | None:
        """The index of the window whose cell holds ``pixel`` (along an axis of ``length``), if any."""
        index = (pixel - self.offset) // self.stride
        return index if pixel >= self.offset and index < self.windows_along(length) else None

    def spans(self, length: int, block: int) -> list[Span]:
        """Cut one axis into blocks of ``block`` pixels (rounded down to whole cells, at least one cell).

        Block j holds windows [j n, (j + 1) n) with n = block // stride; it writes the pixels of their
        cells, the first block also the edge strip before the first cell, the last also the strip after
        the last, so the blocks cover the axis exactly once.
        """
        per_block = max(1, block // self.stride)
        total = self.windows_along(length)
        starts = range(0, total, per_block)
        spans = []
        for number, first in enumerate(starts):
            stop = min(total, first + per_block)
            out_start = 0 if number == 0 else first * self.stride + self.offset
            out_stop = length if stop == total else stop * self.stride + self.offset
            spans.append(Span(out_start, out_stop, first, stop))
        return spans

    def blocks(self, block: int) -> Iterator[Block]:
        """Every block of the map, row by row; ``block`` is its side in pixels."""
        for rows, cols in itertools.product(self.spans(self.height, block), self.spans(self.width, block)):
            out = Window(cols.out_start, rows.out_start, cols.out_stop - cols.out_start, rows.out_stop - rows.out_start)
            yield Block(rows, cols, out, self.read_window(rows, cols))

    def read_window(self, rows: Span, cols: Span) -> Window | None:
        """The pixels a block's windows cover: its cells plus the halo."""
        if not rows.windows or not cols.windows:
            return None
        row0, col0 = rows.first_window * self.stride, cols.first_window * self.stride
        height = (rows.windows - 1) * self.stride + self.patch
        width = (cols.windows - 1) * self.stride + self.patch
        return Window(col0, row0, width, height)


def window_views(values: np.ndarray, patch: int, stride: int) -> np.ndarray:
    """(rows, cols, ...) -> (window rows, window cols, ..., patch, patch): every window, as a view (no copy)."""
    return sliding_window_view(values, (patch, patch), axis=(0, 1))[::stride, ::stride]


def valid_windows(invalid: np.ndarray, patch: int, stride: int) -> np.ndarray:
    """(window rows, window cols) bool: windows that touch no invalid (nodata) pixel."""
    return ~window_views(invalid, patch, stride).any(axis=(-2, -1))


def window_batches(
    values: np.ndarray, valid: np.ndarray, patch: int, stride: int, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(flat window indexes, patches (n, P, P, C)) of the valid windows, ``batch_size`` at a time.

    Only a batch is ever copied out of the block, so a centre-pixel map (P x P times the block's pixels
    as windows) needs no more memory than a block map.
    """
    views = window_views(values, patch, stride)  # (window rows, window cols, C, P, P)
    chosen = np.flatnonzero(valid)
    for start in range(0, len(chosen), batch_size):
        indexes = chosen[start : start + batch_size]
        rows, cols = np.unravel_index(indexes, valid.shape)
        yield indexes, np.ascontiguousarray(views[rows, cols].transpose(0, 2, 3, 1))


def cells_to_pixels(per_window: np.ndarray, block: Block, grid: WindowGrid, fill: float) -> np.ndarray:
    """The block's output pixels from one value per window: each window's value fills its cell."""
    out = np.full((block.out.height, block.out.width), fill, dtype=per_window.dtype)
    if not block.windows:
        return out
    cells = np.repeat(np.repeat(per_window, grid.stride, axis=0), grid.stride, axis=1)
    row = block.rows.first_window * grid.stride + grid.offset - block.rows.out_start
    col = block.cols.first_window * grid.stride + grid.offset - block.cols.out_start
    out[row : row + cells.shape[0], col : col + cells.shape[1]] = cells
    return out
