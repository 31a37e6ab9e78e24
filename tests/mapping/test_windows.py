"""Window geometry: which windows, which pixels each labels, and blocks with a halo that change nothing."""

import numpy as np
import pytest

from phase4a.errors import ConfigError, DataError
from phase4a.mapping.windows import (
    WindowGrid,
    cells_to_pixels,
    check_stride,
    valid_windows,
    window_batches,
)

GEOMETRIES = [(52, 8, 8), (52, 8, 1), (45, 8, 3), (8, 8, 8), (9, 8, 1), (40, 5, 2)]  # (length, patch, stride)


def assemble(grid: WindowGrid, block: int) -> np.ndarray:
    """The map whose windows carry their own (row, col) index, encoded as row * 1000 + col, block by block."""
    out = np.full((grid.height, grid.width), -1, dtype=np.int64)
    for piece in grid.blocks(block):
        rows = np.arange(piece.rows.first_window, piece.rows.stop_window)
        cols = np.arange(piece.cols.first_window, piece.cols.stop_window)
        per_window = rows[:, None] * 1000 + cols[None, :]
        pixels = cells_to_pixels(per_window, piece, grid, -1)
        window = piece.out
        out[window.row_off : window.row_off + window.height, window.col_off : window.col_off + window.width] = pixels
    return out


@pytest.mark.parametrize("length, patch, stride", GEOMETRIES)
@pytest.mark.parametrize("block", [1, 8, 16, 1000])
def test_blocks_cover_each_axis_once_and_every_window_once(length, patch, stride, block):
    grid = WindowGrid(length, length, patch, stride)
    spans = grid.spans(length, block)
    assert spans[0].out_start == 0 and spans[-1].out_stop == length
    assert all(a.out_stop == b.out_start and a.stop_window == b.first_window for a, b in zip(spans, spans[1:]))
    assert spans[0].first_window == 0 and spans[-1].stop_window == (length - patch) // stride + 1


@pytest.mark.parametrize("length, patch, stride", GEOMETRIES)
def test_each_pixel_takes_the_value_of_the_window_whose_cell_holds_it_whatever_the_block(length, patch, stride):
    grid = WindowGrid(length, length + 3, patch, stride)
    whole = assemble(grid, 10_000)
    for row in range(grid.height):
        for col in range(grid.width):
            window_row, window_col = grid.labelling_window(row, grid.height), grid.labelling_window(col, grid.width)
            expected = -1 if window_row is None or window_col is None else window_row * 1000 + window_col
            assert whole[row, col] == expected
    for block in (1, 7, 16):
        np.testing.assert_array_equal(assemble(grid, block), whole)


def test_a_block_map_fills_blocks_and_a_centre_pixel_map_labels_the_centre():
    block_map = WindowGrid(20, 20, 8, 8)
    assert block_map.offset == 0 and block_map.shape == (2, 2)
    assert [block_map.labelling_window(i, 20) for i in (0, 7, 8, 15, 16, 19)] == [0, 0, 1, 1, None, None]
    centre = WindowGrid(20, 20, 8, 1)
    # The window starting at row r covers rows r..r+7 and labels row r + 3.
    assert centre.offset == 3 and centre.shape == (13, 13)
    assert [centre.labelling_window(i, 20) for i in (0, 2, 3, 15, 16)] == [None, None, 0, 12, None]


def test_a_block_reads_its_windows_pixels_plus_the_halo():
    grid = WindowGrid(50, 50, 8, 1)
    first, second = list(grid.blocks(16))[:2]
    assert (first.read.row_off, first.read.col_off, first.read.height, first.read.width) == (0, 0, 23, 23)
    assert (second.read.col_off, second.read.width) == (16, 23)  # 16 windows: 15 strides + one patch
    assert second.out.col_off == 16 + grid.offset  # its first cell


def test_a_window_touching_an_invalid_pixel_is_masked_and_only_those():
    invalid = np.zeros((20, 20), dtype=bool)
    invalid[9, 12] = True
    valid = valid_windows(invalid, 8, 1)
    rows, cols = np.nonzero(~valid)
    assert set(rows) == set(range(2, 10)) and set(cols) == set(range(5, 13))  # windows starting 7 before it
    assert (~valid).sum() == 64
    assert valid_windows(invalid, 8, 8).tolist() == [[True, True], [True, False]]  # block (1, 1) holds it


def test_batches_hold_the_valid_windows_as_patches():
    rng = np.random.default_rng(0)
    values = rng.uniform(size=(20, 12, 3)).astype(np.float32)
    valid = np.ones((13, 5), dtype=bool)
    valid[4, 2] = False
    batches = list(window_batches(values, valid, 8, 1, batch_size=10))
    assert [len(indexes) for indexes, _ in batches] == [10] * 6 + [4]
    indexes = np.concatenate([i for i, _ in batches])
    assert np.unravel_index(4 * 5 + 2, valid.shape) == (4, 2) and 4 * 5 + 2 not in indexes
    row, col = np.unravel_index(indexes[17], valid.shape)
    np.testing.assert_array_equal(batches[1][1][7], values[row : row + 8, col : col + 8])


@pytest.mark.parametrize("stride", [0, -1, 9])
def test_a_stride_outside_one_to_the_patch_size_is_one_line(stride):
    with pytest.raises(ConfigError, match=rf"^--stride {stride} is out of range; it must be between 1 .* size 8"):
        check_stride(stride, 8)


def test_a_raster_smaller_than_one_patch_is_refused():
    with pytest.raises(DataError, match="smaller than one 8x8 patch"):
        WindowGrid(7, 100, 8, 8)
