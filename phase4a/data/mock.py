"""Synthetic Sentinel-2 surface-reflectance patches that behave like the report's five classes.

Class signatures (mean reflectance of B2 B3 B4 B8 B11 B12) are approximate values read off typical
published spectra: clear water, broadleaf/conifer canopy, cropland at peak green-up, mixed grass and
bare-soil parcels, and built-up surfaces (USGS Spectral Library v7 resampled to Sentinel-2 bands, and
ESA's Sentinel-2 L2A land-cover examples). They are illustrative, not measured, and chosen so that:
water is dark in NIR and SWIR; forest has bright NIR and dark red; urban is bright and flat across
bands; agriculture and parcels overlap. Each patch adds per-patch brightness and spectral jitter,
spatially smooth texture, class-specific structure (field stripes, urban speckle) and sensor noise,
and some patches mix in a second class, so a small CNN learns the task well but not perfectly.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .dataset import Dataset

MOCK_BANDS = ["B2", "B3", "B4", "B8", "B11", "B12"]
SIGNATURES: dict[str, tuple[float, ...]] = {
    #               B2     B3     B4     B8     B11    B12
    "Agriculture": (0.040, 0.070, 0.050, 0.340, 0.200, 0.100),
    "Forest": (0.020, 0.040, 0.022, 0.300, 0.140, 0.060),
    "Parcels": (0.050, 0.080, 0.075, 0.290, 0.235, 0.140),
    "Urban": (0.100, 0.110, 0.120, 0.190, 0.210, 0.185),
    "Water": (0.050, 0.058, 0.038, 0.022, 0.012, 0.008),
}
# How strongly each class varies from patch to patch (relative brightness, spectral jitter) and
# in space (smooth texture amplitude); agriculture and parcels vary most, so they overlap.
VARIABILITY: dict[str, tuple[float, float, float]] = {
    "Agriculture": (0.22, 0.12, 0.10),
    "Forest": (0.10, 0.06, 0.05),
    "Parcels": (0.22, 0.12, 0.12),
    "Urban": (0.15, 0.08, 0.15),
    "Water": (0.15, 0.10, 0.03),
}
MIX_PROBABILITY = 0.15  # share of patches with a second class mixed in (edges, mixed pixels)
SENSOR_NOISE = 0.004  # absolute reflectance noise per pixel and band


def _smooth_field(rng: np.random.Generator, size: int) -> np.ndarray:
    """Spatially correlated noise: a coarse random grid, bilinearly enlarged to size x size."""
    coarse = rng.normal(size=(3, 3))
    positions = np.linspace(0, 2, size)
    rows = np.array([np.interp(positions, [0, 1, 2], coarse[:, j]) for j in range(3)]).T
    return np.array([np.interp(positions, [0, 1, 2], row) for row in rows])


def _structure(rng: np.random.Generator, class_name: str, size: int) -> np.ndarray:
    """Class-specific spatial structure, as a relative brightness modulation."""
    if class_name in ("Agriculture", "Parcels"):
        # Field boundaries: stripes, narrow for small parcels, wide for large fields.
        period = rng.uniform(2, 4) if class_name == "Parcels" else rng.uniform(6, 12)
        angle = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:size, 0:size]
        phase = (xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period
        return 0.12 * np.sign(np.sin(phase + rng.uniform(0, 2 * np.pi)))
    if class_name == "Urban":
        return rng.normal(scale=0.18, size=(size, size))  # rooftops, roads and shadows
    return np.zeros((size, size))


def _patch(rng: np.random.Generator, class_name: str, size: int) -> np.ndarray:
    brightness, jitter, texture = VARIABILITY[class_name]
    spectrum = np.array(SIGNATURES[class_name])
    spectrum = spectrum * (1 + rng.normal(scale=brightness)) * (1 + rng.normal(scale=jitter, size=spectrum.size))
    modulation = 1 + texture * _smooth_field(rng, size) + _structure(rng, class_name, size)
    return modulation[..., None] * spectrum[None, None, :]


def generate_patches(rng: np.random.Generator, labels: np.ndarray, class_names: list[str], size: int) -> np.ndarray:
    patches = np.empty((len(labels), size, size, len(MOCK_BANDS)))
    for index, label in enumerate(labels):
        patch = _patch(rng, class_names[label], size)
        if rng.random() < MIX_PROBABILITY:
            other = class_names[rng.integers(len(class_names))]
            weight = rng.uniform(0.2, 0.5)
            patch = (1 - weight) * patch + weight * _patch(rng, other, size)
        patches[index] = patch + rng.normal(scale=SENSOR_NOISE, size=patch.shape)
    # Stored like Sentinel-2 products: reflectance x 10000 as unsigned integers.
    return np.clip(np.round(patches * 10000), 0, 65535).astype(np.uint16)


def proportional_counts(total: int, proportions: list[int]) -> list[int]:
    """Split ``total`` in the ratio of ``proportions`` (largest remainders), each class at least 1."""
    weights = np.asarray(proportions, dtype=float) / np.sum(proportions)
    counts = np.maximum(np.floor(weights * total).astype(int), 1)
    remainders = weights * total - np.floor(weights * total)
    for index in np.argsort(-remainders)[: total - counts.sum()]:
        counts[index] += 1
    return counts.tolist()


def generate_mock_dataset(
    train_size: int,
    val_counts: list[int],
    class_names: list[str],
    band_names: list[str],
    patch_size: int,
    seed: int,
    test_counts: list[int] | None = None,
) -> Dataset:
    """Train and validation patches; the training split has the validation split's class balance.

    With ``test_counts``, also a test split with those class counts, drawn after the other two so that
    they stay exactly as without it.
    """
    unknown = [name for name in class_names if name not in SIGNATURES]
    if unknown:
        raise ConfigError(
            f"mock data has no signature for class {', '.join(unknown)}; "
            f"with --data_source mock use classes from {', '.join(SIGNATURES)}"
        )
    if [name for name in band_names] != MOCK_BANDS:
        raise ConfigError(f"mock data has bands {MOCK_BANDS}; drop --band_names {band_names} with mock data")
    if train_size < len(class_names):
        raise ConfigError(f"--mock_train_size {train_size} is smaller than the {len(class_names)} classes")
    if min(val_counts) < 1:
        raise ConfigError(f"--mock_val_counts {val_counts} has a class with no samples; give each class >= 1")
    if test_counts and min(test_counts) < 1:
        raise ConfigError(f"--mock_test_counts {test_counts} has a class with no samples; give each class >= 1")
    rng = np.random.default_rng(seed)
    train_counts = proportional_counts(train_size, val_counts)
    y_train = rng.permutation(np.repeat(np.arange(len(class_names)), train_counts))
    y_val = rng.permutation(np.repeat(np.arange(len(class_names)), val_counts))
    dataset = Dataset(
        X_train=generate_patches(rng, y_train, class_names, patch_size),
        y_train=y_train,
        X_val=generate_patches(rng, y_val, class_names, patch_size),
        y_val=y_val,
        class_names=list(class_names),
        band_names=list(band_names),
        notes={"source": "mock", "seed": seed, "generator": "phase4a.data.mock"},
    )
    if test_counts:
        dataset.y_test = rng.permutation(np.repeat(np.arange(len(class_names)), test_counts))
        dataset.X_test = generate_patches(rng, dataset.y_test, class_names, patch_size)
    return dataset
