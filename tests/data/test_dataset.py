"""The dataset contract: validation errors, reflectance scaling, summary, save/load."""

import numpy as np
import pytest

from phase4a.data import dataset as ds
from phase4a.errors import DataError

CLASSES = ["Agriculture", "Forest", "Parcels", "Urban", "Water"]
BANDS = ["B2", "B3", "B4", "B8", "B11", "B12"]


def make_dataset(n_train=20, n_val=10, size=8, bands=6, scale=10000.0, seed=0):
    rng = np.random.default_rng(seed)
    return ds.Dataset(
        X_train=rng.uniform(0, 0.4, (n_train, size, size, bands)) * scale,
        y_train=np.arange(n_train) % 5,
        X_val=rng.uniform(0, 0.4, (n_val, size, size, bands)) * scale,
        y_val=np.arange(n_val) % 5,
        class_names=list(CLASSES),
        band_names=list(BANDS[:bands]),
    )


def test_a_good_dataset_validates():
    ds.validate(make_dataset())


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda d: setattr(d, "y_train", d.y_train[:-1]), "X_train has 20 samples but y_train has shape"),
        (lambda d: setattr(d, "X_val", d.X_val[..., 0]), r"X_validation has shape \(10, 8, 8\)"),
        (lambda d: d.X_train.__setitem__((0, 0, 0, 0), np.nan), "1 NaN or infinite values"),
        (lambda d: d.X_val.__setitem__((1, 2, 3, 4), np.inf), "X_validation has 1 NaN or infinite"),
        (lambda d: d.y_train.__setitem__(0, 7), r"labels in \[0, 7\] but there are 5 classes"),
        (lambda d: d.y_val.__setitem__(0, -1), r"labels in \[-1, 4\]"),
        (
            lambda d: setattr(d, "y_val", np.where(d.y_val == 3, 0, d.y_val)),
            "class Urban has no samples in the validation",
        ),
        (lambda d: setattr(d, "band_names", BANDS[:5]), "6 bands but 5 band names"),
        (lambda d: setattr(d, "X_val", d.X_val[:, :4, :4]), "must match"),
        (lambda d: setattr(d, "y_train", d.y_train + 0.5), "labels must be integer class indices"),
        (lambda d: setattr(d, "class_names", ["A", "A", "B", "C", "D"]), "class names repeat"),
    ],
)
def test_bad_data_is_rejected_with_a_precise_message(corrupt, message):
    data = make_dataset()
    corrupt(data)
    with pytest.raises(DataError, match=message):
        ds.validate(data)


def test_reflectance_times_10000_is_scaled_once():
    data = make_dataset(scale=10000.0)
    scaled, decision = ds.normalise(data, 10000.0)
    assert not decision["already_scaled"]
    assert scaled.X_train.dtype == np.float32
    np.testing.assert_allclose(scaled.X_train, data.X_train / 10000.0, rtol=1e-6)
    rescaled, second = ds.normalise(scaled, 10000.0)
    assert second["already_scaled"]
    np.testing.assert_array_equal(rescaled.X_train, scaled.X_train)


def test_level2a_offset_is_applied_before_scaling():
    data = make_dataset(scale=10000.0)
    data.X_train += 1000
    data.X_val += 1000
    scaled, decision = ds.normalise(data, 10000.0, offset=-1000.0)
    assert decision["offset"] == -1000.0
    assert scaled.X_train.min() >= -1e-6


def test_implausible_scale_is_flagged():
    data = make_dataset(scale=255.0 / 0.4)  # 8-bit imagery mistaken for reflectance x 10000
    _, decision = ds.normalise(data, 10000.0)
    assert "warning" in decision and "--reflectance_scale" in decision["warning"]


def test_summary_counts_classes_and_bands_per_split():
    data = make_dataset()
    scaled, decision = ds.normalise(data, 10000.0)
    summary = ds.summarise(data, scaled, decision)
    assert summary["splits"]["train"]["class_counts"] == {name: 4 for name in CLASSES}
    assert summary["splits"]["validation"]["samples"] == 10
    assert set(summary["splits"]["train"]["band_ranges_scaled"]) == set(BANDS)
    assert summary["splits"]["train"]["band_ranges_scaled"]["B8"]["max"] <= 0.4


def test_save_and_load_round_trip_with_groups(tmp_path):
    data = make_dataset()
    data.groups_train = np.arange(20) // 2
    data.groups_val = 100 + np.arange(10)
    ds.save(tmp_path / "data.npz", data)
    loaded = ds.load(tmp_path / "data.npz")
    np.testing.assert_array_equal(loaded.X_train, data.X_train)
    np.testing.assert_array_equal(loaded.groups_val, data.groups_val)
    assert loaded.class_names == CLASSES and loaded.band_names == BANDS


@pytest.mark.parametrize(("alias", "canonical"), [("B02", "B2"), ("b8", "B8"), ("B8A", "B8A"), ("B12", "B12")])
def test_band_names_are_matched_in_sentinel2_spelling(alias, canonical):
    assert ds.canonical_band(alias) == canonical
    assert ds.band_index(["B02", "B03", "B04", "B08", "B8A", "B11", "B12"], canonical) == [
        "B2",
        "B3",
        "B4",
        "B8",
        "B8A",
        "B11",
        "B12",
    ].index(canonical)
