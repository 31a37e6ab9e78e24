"""The raster a map is made of: opened, checked against the run, and read block by block as the run's reflectance.

The model learnt from patches that step 01 chose by band name and scaled to reflectance in [0, 1]; a scene
must give the same bands in the same order and be scaled the same way, or the map is silently wrong. So
bands are matched as step 01 matches them (phase4a.data.raster_patches), the scaling is the one step 01
recorded in data_summary.json, and a scene stored differently from the training data (in [0, 1] where the
training data were stored x 10000, or the other way round) is refused rather than scaled wrongly. A
fused run's auxiliary layers (phase4a.mapping.layers) are appended after the bands before the scaling,
as step 01 appended them to the patches before scaling those.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from ..data.dataset import ALREADY_SCALED_P99, canonical_band
from ..data.raster_patches import open_raster, resolve_bands
from ..data.sources import original_scaling
from ..errors import DataError
from .layers import SceneLayers

SAMPLE_SIDE = 256  # the central window whose values tell how the scene is stored


@dataclass(frozen=True)
class Scaling:
    """reflectance = (stored + offset) / divisor, as step 01 scaled the training patches."""

    divisor: float
    offset: float
    already_scaled: bool

    def apply(self, stored: np.ndarray) -> np.ndarray:
        """Step 01's formula (phase4a.data.dataset.normalise), in float64 then float32, so pixels equal patches."""
        return ((stored.astype(np.float64) + self.offset) / self.divisor).astype(np.float32)


def recorded_scaling(summary: dict[str, Any]) -> Scaling:
    """The scaling step 01 recorded in data_summary.json (for copied data, the original step 01's)."""
    scaling, _ = original_scaling(summary)
    return Scaling(float(scaling["divisor"]), float(scaling["offset"]), bool(scaling["already_scaled"]))


@dataclass
class Scene:
    """An open raster with the run's bands chosen: ``read`` gives a block's reflectance and its nodata."""

    src: rasterio.DatasetReader
    indexes: list[int]  # 1-based raster bands, in the run's band order
    scaling: Scaling
    layers: SceneLayers | None = None  # a fused run's auxiliary layers, after the bands

    @property
    def height(self) -> int:
        return self.src.height

    @property
    def width(self) -> int:
        return self.src.width

    @property
    def transform(self) -> Affine:
        return self.src.transform

    @property
    def crs(self) -> rasterio.crs.CRS:
        return self.src.crs

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols, bands and layers) float32 model inputs and (rows, cols) bool: pixels masked or not
        finite in any band or layer."""
        data = self.src.read(self.indexes, window=window, masked=True)
        invalid = np.ma.getmaskarray(data).any(axis=0) | ~np.isfinite(data.data).all(axis=0)
        stored = np.moveaxis(data.data, 0, -1)
        if self.layers is not None:
            extra = self.layers.read(window, stored)
            invalid |= ~np.isfinite(extra).all(axis=-1)
            stored = np.concatenate([stored.astype(np.float32), extra], axis=-1)
        return self.scaling.apply(stored), invalid


@contextlib.contextmanager
def open_scene(
    path: str | Path,
    band_names: list[str],
    scaling: Scaling,
    bands: list[str | int] | None = None,
    band_names_in_file: list[str] | None = None,
) -> Iterator[Scene]:
    """Open ``path`` and check it can be mapped by a run trained on ``band_names``; DataError if not.

    ``bands``: the raster bands to use, by name or 1-based index (default: ``band_names`` by description).
    """
    path = Path(path)
    with warnings.catch_warnings():  # check_georeferenced says it in one line, with the fix
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        src = open_raster(path)
    with src:
        check_georeferenced(src, path)
        check_projected(src, path)
        indexes, names = resolve_bands(src, list(bands or band_names), band_names_in_file)
        check_bands(names, band_names, path)
        check_storage(src, indexes, scaling, path)
        yield Scene(src, indexes, scaling)


def check_georeferenced(src: rasterio.DatasetReader, path: Path) -> None:
    """A map must sit where the scene sits: a CRS and a geotransform (not only ground control points)."""
    if src.crs is None:
        raise DataError(f"raster {path} has no CRS, so its map could not be placed; re-export it with its CRS")
    if src.transform == Affine.identity():
        raise DataError(
            f"raster {path} has no geotransform (pixel grid to {src.crs.to_string()}); "
            "warp it onto a grid first (gdalwarp -t_srs EPSG:326xx in.tif out.tif)"
        )


def check_projected(src: rasterio.DatasetReader, path: Path) -> None:
    """Areas in hectares need pixels of a known size in metres; degrees are not one."""
    if not src.crs.is_projected:
        raise DataError(
            f"raster {path} is in the geographic CRS {src.crs.to_string()}, so pixel areas are not constant; "
            "reproject it to a projected CRS such as its UTM zone (gdalwarp -t_srs EPSG:326xx) and map that"
        )


def check_bands(names: list[str], expected: list[str], path: Path) -> None:
    """The chosen bands must be the run's, in its order; bands chosen by index from an unnamed file are trusted."""
    if all(name.startswith("band") for name in names) and len(names) == len(expected):
        return
    if [canonical_band(name) for name in names] != [canonical_band(name) for name in expected]:
        raise DataError(
            f"raster {path} gives bands {','.join(names)} but the run was trained on {','.join(expected)}; "
            "choose the run's bands in its order with --raster_bands (names or 1-based indexes)"
        )


def check_storage(src: rasterio.DatasetReader, indexes: list[int], scaling: Scaling, path: Path) -> None:
    """Refuse a scene stored unlike the training data, judged as step 01 judges (99th percentile vs 1.5)."""
    side_rows, side_cols = min(SAMPLE_SIDE, src.height), min(SAMPLE_SIDE, src.width)
    window = Window((src.width - side_cols) // 2, (src.height - side_rows) // 2, side_cols, side_rows)
    sample = src.read(indexes, window=window, masked=True)
    values = sample.compressed()
    values = values[np.isfinite(values)]
    if values.size == 0:  # the centre is all nodata: nothing to judge by
        return
    p99 = float(np.percentile(values, 99))
    if (p99 <= ALREADY_SCALED_P99) == scaling.already_scaled:
        return
    trained = "already in [0, 1]" if scaling.already_scaled else f"stored x {scaling.divisor:g}"
    seen = "in [0, 1]" if p99 <= ALREADY_SCALED_P99 else "stored as scaled integers"
    raise DataError(
        f"raster {path} holds values {seen} (99th percentile {p99:.4g}) but the run's training data were {trained}; "
        "map a raster stored like the training data"
    )
