"""Synthetic auxiliary layers for the mock source, consistent with each patch's class and its own bands.

So that a fusion ablation on mock data (Sentinel-2 alone vs Sentinel-2 + NDVI + terrain) measures a
real effect of the pipeline, the layers are made the way the real ones relate to land cover:

- ``ndvi_modis``: NDVI of the patch's own B4 and B8, averaged over the patch (a 250 m MOD13Q1 pixel
  covers a whole 80 m patch, so it is one value per patch) plus MODIS-like noise (+-0.03). Water is
  low (its NIR is below its red) and flat; forest high.
- ``elevation``, ``slope``, ``aspect_sin``, ``aspect_cos``: each patch is a tilted plane with a little
  smooth roughness, its slope and height drawn per class (TERRAIN below); slope and aspect are then
  computed from that elevation by :func:`phase4a.data.auxiliary.terrain`, exactly as for a real DEM.
  Water lies low and flat; forest on slopes; large fields (Agriculture) on flat valley floors, small
  parcels on gentler hillsides than forest; towns low and nearly flat.
- ``s2_ndvi``: NDVI of the patch's own B4 and B8, pixel by pixel: nothing the six bands lack, only a
  transform of two of them. The fusion ablation's control: a gain from ``ndvi_modis`` beyond the one
  from ``s2_ndvi`` is new information; a gain both give alike is the transform.

The terrain table is illustrative, not measured: it encodes the usual pattern (cultivation on flat
land, forest left on slopes), which gives terrain real signal for Agriculture vs Parcels, the pair the
six bands separate worst. Values are stored as phase4a.data.auxiliary stores every layer (model unit x
10000), so step 01's division gives NDVI, km, slope / 90 degrees, and the aspect's sine and cosine.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from ..errors import ConfigError
from . import auxiliary
from .dataset import Dataset, band_index
from .mock import _smooth_field

# s2_ndvi last: the first five stay the layers (and random draws) of the version without it.
MOCK_LAYERS = ("ndvi_modis", "elevation", "slope", "aspect_sin", "aspect_cos", "s2_ndvi")
# Per class: elevation mean and spread between patches (m), slope range (degrees), roughness (m, std of
# a smooth field added to the plane: fields and water are smooth, forest floors and towns less so).
TERRAIN: dict[str, tuple[float, float, tuple[float, float], float]] = {
    "Agriculture": (250.0, 30.0, (0.0, 3.0), 0.2),
    "Forest": (420.0, 80.0, (12.0, 30.0), 1.0),
    "Parcels": (300.0, 40.0, (3.0, 10.0), 0.4),
    "Urban": (240.0, 25.0, (0.0, 4.0), 0.5),
    "Water": (200.0, 10.0, (0.0, 0.0), 0.0),
}
MODIS_NDVI_NOISE = 0.03
PIXEL_M = 10.0
# A UTM grid of 10 m pixels: only its pixel size matters to the terrain computation.
PATCH_TRANSFORM = Affine(PIXEL_M, 0, 0, 0, -PIXEL_M, 0)
PATCH_CRS = CRS.from_epsg(32633)
SEED_OFFSET = 1_000_003  # the layers' generator is apart from the patches', so the patches stay as they are


def mock_layers(
    X: np.ndarray, y: np.ndarray, class_names: list[str], band_names: list[str], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Each layer of MOCK_LAYERS for every patch, (N, P, P), in physical units (NDVI, m, degrees, sine, cosine)."""
    unknown = [name for name in class_names if name not in TERRAIN]
    if unknown:
        raise ConfigError(
            f"mock auxiliary layers have no terrain for class {', '.join(unknown)}; "
            f"use classes from {', '.join(TERRAIN)}"
        )
    red = X[..., band_index(band_names, "B4")].astype(np.float64)
    nir = X[..., band_index(band_names, "B8")].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.where(nir + red > 0, (nir - red) / (nir + red), 0.0)
    ndvi = own.mean(axis=(1, 2)) + rng.normal(scale=MODIS_NDVI_NOISE, size=len(X))
    size = X.shape[1]
    layers = {name: np.empty(X.shape[:3]) for name in MOCK_LAYERS}
    layers["ndvi_modis"][:] = np.clip(ndvi, -1, 1)[:, None, None]
    layers["s2_ndvi"][:] = own
    rows, cols = np.indices((size, size))
    east, north = (cols + 0.5) * PIXEL_M, -(rows + 0.5) * PIXEL_M
    for index, label in enumerate(y):
        elevation_mean, spread, (low, high), roughness = TERRAIN[class_names[label]]
        slope = np.radians(rng.uniform(low, high))
        facing = rng.uniform(0, 2 * np.pi)  # downhill azimuth, clockwise from north
        gradient_east, gradient_north = -np.tan(slope) * np.sin(facing), -np.tan(slope) * np.cos(facing)
        base = elevation_mean + spread * rng.normal()
        smooth = roughness * _smooth_field(rng, size)  # the mock patches' own texture
        dem = base + gradient_east * east + gradient_north * north + smooth
        terrain = auxiliary.terrain(dem, PATCH_TRANSFORM, PATCH_CRS)
        layers["elevation"][index] = dem
        for name in ("slope", "aspect_sin", "aspect_cos"):
            layers[name][index] = terrain[name]
    return layers


def add_mock_auxiliary(dataset: Dataset, seed: int, layers: tuple[str, ...] = MOCK_LAYERS) -> Dataset:
    """The dataset with ``layers`` appended to every split's bands (stored units; float32 patches)."""
    unknown = [name for name in layers if name not in MOCK_LAYERS]
    if unknown:
        raise ConfigError(f"mock auxiliary layer {', '.join(unknown)} is unknown; choose from {', '.join(MOCK_LAYERS)}")
    rng = np.random.default_rng(seed + SEED_OFFSET)
    arrays = {}
    for split, X, y, _ in dataset.splits():
        made = mock_layers(X, y, dataset.class_names, dataset.band_names, rng)
        extra = np.stack([auxiliary.stored_values(name, made[name]) for name in layers], axis=-1)
        arrays[split] = np.concatenate([X.astype(np.float32), extra], axis=-1)
    fused = replace(
        dataset,
        X_train=arrays["train"],
        X_val=arrays["validation"],
        band_names=[*dataset.band_names, *layers],
        notes={**dataset.notes, "auxiliary": {"layers": list(layers), "generator": __name__, "seed": seed}},
    )
    if "test" in arrays:
        fused.X_test = arrays["test"]
    return fused
