"""Synthetic auxiliary layers for mock data (phase4a.data.mock_auxiliary): tied to each patch's class and
bands, terrain computed like a real DEM's, and enough signal that fusion changes a simple classifier."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from phase4a.data import auxiliary
from phase4a.data import dataset as ds
from phase4a.data import mock_auxiliary as mock_aux
from phase4a.data.mock import MOCK_BANDS, SIGNATURES, generate_mock_dataset
from phase4a.errors import ConfigError

CLASSES = ["Agriculture", "Forest", "Parcels", "Urban", "Water"]
COUNTS = [10, 21, 19, 8, 17]


@pytest.fixture(scope="module")
def mock() -> ds.Dataset:
    return generate_mock_dataset(300, COUNTS, CLASSES, MOCK_BANDS, 8, seed=42, test_counts=COUNTS)


@pytest.fixture(scope="module")
def fused(mock) -> ds.Dataset:
    return mock_aux.add_mock_auxiliary(mock, seed=42)


def physical(data: ds.Dataset, split_X: np.ndarray, name: str) -> np.ndarray:
    """A layer back in its physical unit (NDVI, m, degrees, sine, cosine)."""
    values = split_X[..., data.band_names.index(name)].astype(np.float64) / auxiliary.STORED_SCALE
    return values / auxiliary.MODEL_UNIT_FACTOR.get(name, 1.0)


def test_layers_are_appended_and_the_bands_are_untouched(mock, fused):
    ds.validate(fused)
    assert fused.band_names == [*MOCK_BANDS, *mock_aux.MOCK_LAYERS]
    for (_, X, y, _), (_, F, y2, _) in zip(mock.splits(), fused.splits()):
        assert F.dtype == np.float32 and F.shape == (*X.shape[:3], 6 + len(mock_aux.MOCK_LAYERS))
        np.testing.assert_array_equal(F[..., :6], X)  # uint16 values are exact in float32
        np.testing.assert_array_equal(y, y2)
    again = mock_aux.add_mock_auxiliary(mock, seed=42)
    np.testing.assert_array_equal(again.X_test, fused.X_test)
    assert not np.array_equal(mock_aux.add_mock_auxiliary(mock, seed=7).X_train, fused.X_train)
    assert fused.notes["auxiliary"]["layers"] == list(mock_aux.MOCK_LAYERS)
    assert set(mock_aux.TERRAIN) == set(SIGNATURES)  # every mock class has a terrain


def test_ndvi_is_the_patch_ndvi_of_its_own_red_and_nir_one_value_per_patch(fused):
    X, y = fused.X_train, fused.y_train
    ndvi = physical(fused, X, "ndvi_modis")
    assert np.all(ndvi == ndvi[:, :1, :1])  # a 250 m pixel covers the whole 80 m patch
    red, nir = X[..., 2].astype(np.float64), X[..., 3].astype(np.float64)
    own = ((nir - red) / (nir + red)).mean(axis=(1, 2))
    assert np.abs(ndvi[:, 0, 0] - own).max() < 5 * mock_aux.MODIS_NDVI_NOISE
    # s2_ndvi, the control, is the same NDVI pixel by pixel, without the patch mean or the MODIS-like noise.
    np.testing.assert_allclose(physical(fused, X, "s2_ndvi"), (nir - red) / (nir + red), atol=1e-4)
    mean = {name: ndvi[y == i].mean() for i, name in enumerate(CLASSES)}
    assert mean["Water"] < 0 < mean["Urban"] < mean["Forest"] and mean["Forest"] > 0.7


def test_water_is_low_and_flat_forest_on_slopes_fields_on_the_flat(fused):
    X, y = fused.X_train, fused.y_train
    elevation, slope = physical(fused, X, "elevation"), physical(fused, X, "slope")
    water = y == CLASSES.index("Water")
    assert np.allclose(slope[water], 0, atol=1e-9) and np.allclose(elevation[water].std(axis=(1, 2)), 0)
    mean_slope = {name: slope[y == i].mean() for i, name in enumerate(CLASSES)}
    mean_height = {name: elevation[y == i].mean() for i, name in enumerate(CLASSES)}
    assert (
        mean_slope["Forest"] > 10 > mean_slope["Parcels"] > mean_slope["Agriculture"] and mean_slope["Agriculture"] < 3
    )
    assert min(mean_height, key=mean_height.get) == "Water" and max(mean_height, key=mean_height.get) == "Forest"


def test_slope_and_aspect_are_the_terrain_of_the_elevation_layer(fused):
    X = fused.X_val
    elevation = physical(fused, X, "elevation")
    for index in range(0, len(X), 7):
        terrain = auxiliary.terrain(elevation[index], mock_aux.PATCH_TRANSFORM, mock_aux.PATCH_CRS)
        for name in ("slope", "aspect_sin", "aspect_cos"):
            # float32 storage of elevation (m x 10) rounds the recomputed gradient a little
            np.testing.assert_allclose(physical(fused, X, name)[index], terrain[name], atol=0.02)
    sin, cos = physical(fused, X, "aspect_sin"), physical(fused, X, "aspect_cos")
    sloped = physical(fused, X, "slope") > 1
    np.testing.assert_allclose(np.hypot(sin, cos)[sloped], 1, atol=1e-3)


def test_the_layers_carry_signal_beyond_the_six_bands(fused):
    scaled, _ = ds.normalise(fused, 10000.0)

    def accuracy(bands: slice) -> float:
        def features(X):
            return np.concatenate([X[..., bands].mean(axis=(1, 2)), X[..., bands].std(axis=(1, 2))], axis=1)

        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(features(scaled.X_train), scaled.y_train)
        X = np.concatenate([scaled.X_val, scaled.X_test])
        return model.score(features(X), np.concatenate([scaled.y_val, scaled.y_test]))

    assert accuracy(slice(0, 11)) > accuracy(slice(0, 6))


def test_unknown_classes_and_layers_are_one_line_errors(mock):
    with pytest.raises(ConfigError, match=r"unknown; choose from ndvi_modis, elevation"):
        mock_aux.add_mock_auxiliary(mock, seed=1, layers=("elevation", "soil"))
    X = np.ones((1, 8, 8, 6))
    with pytest.raises(ConfigError, match=r"no terrain for class Wetland; use classes from Agriculture"):
        mock_aux.mock_layers(X, np.array([0]), ["Wetland"], MOCK_BANDS, np.random.default_rng(0))
    only = mock_aux.add_mock_auxiliary(mock, seed=1, layers=("slope",))
    assert only.band_names[-1] == "slope" and only.X_train.shape[-1] == 7
