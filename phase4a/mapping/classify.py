"""Predict every window of a scene, block by block, into a class raster and a confidence raster.

Memory is bounded by the block size: a block's reflectance, its window masks and one batch of patches are
all that is held; the class and confidence of each block are written to disk before the next is read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import rasterio

from .scene import Scene
from .windows import Block, WindowGrid, cells_to_pixels, valid_windows, window_batches

CLASS_NODATA = 255  # uint8 class raster: no window, or a window touching nodata
Predict = Callable[[np.ndarray], np.ndarray]  # patches (n, P, P, C) -> class probabilities (n, classes)


@dataclass
class MapCounts:
    """What a map holds, counted while it is made (so no second pass over the raster is needed)."""

    class_pixels: np.ndarray  # (classes,) pixels of each class
    windows: int = 0  # windows in the grid
    predicted: int = 0  # windows predicted
    masked: int = 0  # windows skipped because they touch nodata
    seconds: float = 0.0  # reading, predicting and writing

    @property
    def windows_per_second(self) -> float:
        return self.predicted / self.seconds if self.seconds else 0.0


class Progress:
    """A printed line each time another tenth of the windows is done: visible in logs, no extra package."""

    def __init__(self, total: int, label: str = "mapping", steps: int = 10):
        self.total, self.label, self.steps = total, label, steps
        self.done, self.printed, self.started = 0, 0, time.perf_counter()

    def add(self, count: int) -> None:
        self.done += count
        reached = self.done * self.steps // max(1, self.total)
        if reached > self.printed:
            self.printed = reached
            seconds = time.perf_counter() - self.started
            share = self.done / max(1, self.total)
            print(f"{self.label}: {share:4.0%} ({self.done} of {self.total} windows, {seconds:.1f} s)")


def classify_block(
    scene: Scene, block: Block, grid: WindowGrid, predict: Predict, batch_size: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """(classes, confidence) per window of one block, CLASS_NODATA and NaN where a window touches nodata;
    and how many windows were predicted."""
    shape = (block.rows.windows, block.cols.windows)
    classes = np.full(shape, CLASS_NODATA, dtype=np.uint8)
    confidence = np.full(shape, np.nan, dtype=np.float32)
    if block.read is None:  # an edge strip only
        return classes, confidence, 0
    values, invalid = scene.read(block.read)
    valid = valid_windows(invalid, grid.patch, grid.stride)
    for indexes, patches in window_batches(values, valid, grid.patch, grid.stride, batch_size):
        probabilities = predict(patches)
        classes.flat[indexes] = probabilities.argmax(axis=1)
        confidence.flat[indexes] = probabilities.max(axis=1)
    return classes, confidence, int(valid.sum())


def classify_scene(
    scene: Scene,
    grid: WindowGrid,
    predict: Predict,
    n_classes: int,
    classes_dst: rasterio.io.DatasetWriter,
    confidence_dst: rasterio.io.DatasetWriter,
    block_size: int,
    batch_size: int,
) -> MapCounts:
    """Write the class and confidence of every pixel to the two open rasters; count what was mapped."""
    counts = MapCounts(np.zeros(n_classes, dtype=np.int64), windows=grid.windows)
    progress = Progress(grid.windows)
    started = time.perf_counter()
    for block in grid.blocks(block_size):
        classes, confidence, predicted = classify_block(scene, block, grid, predict, batch_size)
        class_pixels = cells_to_pixels(classes, block, grid, CLASS_NODATA)
        classes_dst.write(class_pixels, 1, window=block.out)
        confidence_dst.write(cells_to_pixels(confidence, block, grid, np.nan), 1, window=block.out)
        counts.class_pixels += np.bincount(class_pixels.ravel(), minlength=CLASS_NODATA + 1)[:n_classes]
        counts.predicted += predicted
        counts.masked += block.windows - predicted
        progress.add(block.windows)
    counts.seconds = time.perf_counter() - started
    return counts
