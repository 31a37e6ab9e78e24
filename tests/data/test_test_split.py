"""A test split the model never saw: three-way grouped splits, the Dataset's optional test arrays, the
data.npz round trip, and each source with and without a test split (Week 3, raster, npz, mock)."""

import json

import numpy as np
import pytest

from phase4a.data import dataset as ds
from phase4a.data import raster_patches as rp
from phase4a.data.mock import generate_mock_dataset
from phase4a.data.splits import grouped_split, leakage_warning, shared_groups, three_way_split
from phase4a.data.week3 import DATA_FILE, load_week3_dir
from phase4a.errors import ConfigError, DataError
from phase4a.io import sha256_file
from phase4a.steps import setup_config

CLASSES = ["Agriculture", "Forest", "Parcels", "Urban", "Water"]
BANDS = ["B2", "B3", "B4", "B8", "B11", "B12"]
TEST_KEYS = {"X_test", "y_test", "groups_test"}


def patches_of_polygons(counts: list[int], patches_per_polygon: int = 3, seed: int = 0):
    """y and polygon ids for classes with the given polygon counts, shuffled as patches would arrive."""
    labels = np.repeat(np.arange(len(counts)), counts)
    y = np.repeat(labels, patches_per_polygon)
    groups = np.repeat(np.arange(len(labels)) * 7 + 100, patches_per_polygon)
    order = np.random.default_rng(seed).permutation(len(y))
    return y[order], groups[order]


def polygons_in(groups, index, y, label):
    return len(np.unique(groups[index][y[index] == label]))


# --- the three-way split by polygon ---


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("counts", [[10, 21, 19, 8, 17], [3, 3, 3], [5, 40]])
def test_three_way_splits_share_no_polygon_and_keep_every_class_in_every_split(seed, counts):
    y, groups = patches_of_polygons(counts, seed=seed)
    train, val, test = three_way_split(y, groups, 0.2, 0.2, seed)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(len(y)))
    for first, second in ((train, val), (train, test), (val, test)):
        assert len(shared_groups(groups[first], groups[second])) == 0
    for label, n in enumerate(counts):
        expected_test = max(round(n * 0.2), 1)
        assert polygons_in(groups, test, y, label) == expected_test
        assert polygons_in(groups, val, y, label) == max(round(n * 0.2), 1)
        assert polygons_in(groups, train, y, label) == n - expected_test - max(round(n * 0.2), 1) >= 1


def test_without_a_test_fraction_the_split_is_the_two_way_one():
    y, groups = patches_of_polygons([10, 21, 19, 8, 17])
    train, val, test = three_way_split(y, groups, 0.2, 0.0, seed=7)
    old_train, old_val = grouped_split(y, groups, 0.2, seed=7)
    assert len(test) == 0
    np.testing.assert_array_equal(train, old_train)
    np.testing.assert_array_equal(val, old_val)


def test_the_three_way_split_is_seeded():
    y, groups = patches_of_polygons([10, 10, 10])
    first, again = three_way_split(y, groups, 0.2, 0.3, seed=1), three_way_split(y, groups, 0.2, 0.3, seed=1)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert len({three_way_split(y, groups, 0.2, 0.3, seed=s)[2].tobytes() for s in range(5)}) > 1


def test_string_polygon_ids_split_three_ways():
    y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    groups = np.array(["a", "a", "b", "c", "d", "e", "f", "g"])
    train, val, test = three_way_split(y, groups, 0.3, 0.3, seed=0)
    assert set(y[train]) == set(y[val]) == set(y[test]) == {0, 1}


@pytest.mark.parametrize(
    ("counts", "fractions", "message"),
    [
        (
            [5, 2],
            (0.2, 0.2),
            r"class Water has 2 polygons, too few for one in each of the 3 splits \(val_fraction 0.2, test_fraction "
            r"0.2\); add Water polygons or pass --test_fraction 0 \(no test split\)",
        ),
        (
            [4, 6],
            (0.45, 0.45),
            r"class Forest has 4 polygons: val_fraction 0.45 and test_fraction 0.45 take 2 \+ 2 of them and leave "
            r"none for training; lower --val_fraction or --test_fraction, or add Forest polygons",
        ),
        ([1, 4], (0.2, 0.0), r"class Forest has 1 polygon, too few for one in each of the 2 splits"),
    ],
)
def test_a_fraction_that_leaves_a_class_out_of_a_split_names_the_class_and_the_fix(counts, fractions, message):
    y, groups = patches_of_polygons(counts)
    with pytest.raises(ConfigError, match=message) as caught:
        three_way_split(y, groups, *fractions, seed=0, class_names=["Forest", "Water"])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("val", "test"), [(0.5, 0.5), (0.2, -0.1), (0.3, 1.0)])
def test_fractions_must_leave_polygons_for_training(val, test):
    with pytest.raises(ConfigError, match=f"test_fraction {test} must be >= 0"):
        three_way_split(np.zeros(6, int), np.arange(6), val, test, seed=0)


def test_leakage_covers_test_against_train_and_validation():
    train, val = np.array([1, 2, 3]), np.array([4, 5])
    assert leakage_warning(train, val, np.array([6, 7])) is None
    assert leakage_warning(train, val, None) is None
    message = leakage_warning(train, val, np.array([3, 5, 9]))
    assert message == (
        "1 polygon(s) have patches in both test and train (3); "
        "1 polygon(s) have patches in both test and validation (5); test accuracy is optimistic: re-split by polygon"
    )
    both = leakage_warning(np.array([1, 4]), val, np.array([1]))
    assert both.startswith("1 polygon(s) have patches in both train and validation (4); 1 polygon(s)")
    assert "both test and train (1)" in both and "\n" not in both
    # The fix is said once, after every split it makes optimistic.
    assert both.endswith("; validation and test accuracy is optimistic: re-split by polygon")


# --- the Dataset's optional test arrays ---


def make_dataset(test: bool = True, groups: bool = True, seed: int = 0) -> ds.Dataset:
    rng = np.random.default_rng(seed)
    data = ds.Dataset(
        X_train=rng.uniform(100, 4000, (20, 8, 8, 6)).astype(np.float32),
        y_train=np.arange(20) % 5,
        X_val=rng.uniform(100, 4000, (10, 8, 8, 6)).astype(np.float32),
        y_val=np.arange(10) % 5,
        class_names=list(CLASSES),
        band_names=list(BANDS),
        groups_train=np.arange(20) if groups else None,
        groups_val=np.arange(10) + 100 if groups else None,
    )
    if test:
        data.X_test = rng.uniform(100, 4000, (15, 8, 8, 6)).astype(np.float32)
        data.y_test = np.arange(15) % 5
        data.groups_test = np.arange(15) + 200 if groups else None
    return data


def test_a_dataset_without_test_arrays_has_two_splits():
    data = make_dataset(test=False)
    assert data.X_test is None and data.y_test is None and data.groups_test is None and not data.has_test
    assert [split for split, *_ in data.splits()] == ["train", "validation"]
    ds.validate(data)


def test_a_test_split_is_checked_and_scaled_like_the_others():
    data = make_dataset()
    assert data.has_test and [split for split, *_ in data.splits()] == ["train", "validation", "test"]
    ds.validate(data)
    scaled, decision = ds.normalise(data, 10000.0)
    assert not decision["already_scaled"]
    np.testing.assert_allclose(scaled.X_test, data.X_test / 10000.0, rtol=1e-6)
    assert scaled.X_test.dtype == np.float32 and scaled.y_test.dtype == np.int64
    assert data.X_test.max() > 100  # the raw dataset is left as it was
    summary = ds.summarise(data, scaled, decision)
    assert list(summary["splits"]) == ["train", "validation", "test"]
    assert summary["splits"]["test"]["class_counts"] == {name: 3 for name in CLASSES}
    assert summary["splits"]["test"]["samples"] == 15 and summary["splits"]["test"]["polygons"] == 15
    assert summary["polygons_in_test_and_train"] == summary["polygons_in_test_and_validation"] == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: setattr(d, "y_test", None), r"X_test is given without y_test; add y_test"),
        (lambda d: setattr(d, "X_test", None), r"y_test is given without X_test; add X_test"),
        (
            lambda d: setattr(d, "X_test", d.X_test[..., :4]),
            r"X_test has 4 bands but the training patches have 6 \(B2, B3, B4, B8, B11, B12\); give X_test the same",
        ),
        (
            lambda d: setattr(d, "X_test", d.X_test[:, :4, :4]),
            r"X_test patches are 4x4 but the training patches are 8x8; cut the test patches at 8x8",
        ),
        (lambda d: setattr(d, "y_test", d.y_test + 1), r"y_test has labels in \[1, 5\] but there are 5 classes"),
        (lambda d: setattr(d, "y_test", d.y_test[:-1]), r"X_test has 15 samples but y_test has shape \(14,\)"),
        (
            lambda d: setattr(d, "y_test", d.y_test * 0),
            r"class Forest, Parcels, Urban, Water has no samples in the test",
        ),
        (lambda d: setattr(d, "groups_test", d.groups_test[:3]), r"groups_test has 3 ids for 15 patches"),
    ],
    ids=["no-y", "no-X", "bands", "patch-size", "labels", "lengths", "classes", "groups"],
)
def test_bad_test_arrays_are_named_with_the_fix(change, message):
    data = make_dataset()
    change(data)
    with pytest.raises(DataError, match=message) as caught:
        ds.validate(data)
    assert "\n" not in str(caught.value)


# --- data.npz, step 01's artefact ---


def test_data_npz_without_a_test_split_round_trips_and_holds_no_test_arrays(tmp_path):
    data = make_dataset(test=False)
    ds.save(tmp_path / "data.npz", data)
    with np.load(tmp_path / "data.npz") as stored:
        assert not TEST_KEYS & set(stored.files)
    loaded = ds.load(tmp_path / "data.npz")
    assert loaded.X_test is None and loaded.y_test is None and loaded.groups_test is None
    np.testing.assert_array_equal(loaded.X_train, data.X_train)
    np.testing.assert_array_equal(loaded.groups_val, data.groups_val)


@pytest.mark.parametrize("groups", [True, False], ids=["with-groups", "without-groups"])
def test_data_npz_with_a_test_split_round_trips(tmp_path, groups):
    data = make_dataset(groups=groups)
    ds.save(tmp_path / "data.npz", data)
    loaded = ds.load(tmp_path / "data.npz")
    ds.validate(loaded)
    np.testing.assert_array_equal(loaded.X_test, data.X_test)
    np.testing.assert_array_equal(loaded.y_test, data.y_test)
    if groups:
        np.testing.assert_array_equal(loaded.groups_test, data.groups_test)
    else:
        assert loaded.groups_test is None and loaded.groups_train is None
    assert loaded.X_test.dtype == data.X_test.dtype


# --- Week 3 directories, through the loader and step 01 ---


def week3_arrays(test: bool, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "X_train": rng.uniform(0, 4000, (10, 8, 8, 6)).astype(np.float32),
        "y_train": np.arange(10) % 5,
        "X_val": rng.uniform(0, 4000, (5, 8, 8, 6)).astype(np.float32),
        "y_val": np.arange(5),
    }
    if test:
        arrays["X_test"] = rng.uniform(0, 4000, (10, 8, 8, 6)).astype(np.float32)
        arrays["y_test"] = (np.arange(10) + 2) % 5
    return arrays


def write_week3(directory, **arrays):
    directory.mkdir(exist_ok=True)
    np.savez(directory / DATA_FILE, **arrays)
    return directory


def run_step01(run_dir, *options):
    return setup_config.main(["--run-dir", str(run_dir), "--weights", "none", *options])


def test_a_week3_directory_without_test_arrays_has_no_test_split(tmp_path, capsys):
    directory = write_week3(tmp_path / "week3", **week3_arrays(test=False))
    assert load_week3_dir(directory, CLASSES, BANDS).X_test is None
    assert run_step01(tmp_path / "run", "--data_source", "week3", "--data_dir", str(directory)) == 0
    assert "  test:" not in capsys.readouterr().out
    with np.load(tmp_path / "run" / "data.npz") as stored:
        assert not TEST_KEYS & set(stored.files)
    summary = json.loads((tmp_path / "run" / "data_summary.json").read_text())
    assert list(summary["splits"]) == ["train", "validation"]


def test_a_week3_directory_with_test_arrays_carries_them_to_data_npz(tmp_path, capsys):
    arrays = week3_arrays(test=True)
    groups = {"groups_train": np.arange(10), "groups_val": np.arange(5) + 10, "groups_test": np.arange(10) + 20}
    directory = write_week3(tmp_path / "week3", **arrays, **groups)
    loaded = load_week3_dir(directory, CLASSES, BANDS)
    np.testing.assert_array_equal(loaded.X_test, arrays["X_test"])
    np.testing.assert_array_equal(loaded.groups_test, groups["groups_test"])

    assert run_step01(tmp_path / "run", "--data_source", "week3", "--data_dir", str(directory)) == 0
    out = capsys.readouterr().out
    assert "  test: 10 patches (Agriculture 2, Forest 2, Parcels 2, Urban 2, Water 2)" in out
    with np.load(tmp_path / "run" / "data.npz") as stored:
        np.testing.assert_allclose(stored["X_test"], arrays["X_test"] / 10000.0, rtol=1e-6)
        np.testing.assert_array_equal(stored["y_test"], arrays["y_test"])
        np.testing.assert_array_equal(stored["groups_test"], groups["groups_test"])
    summary = json.loads((tmp_path / "run" / "data_summary.json").read_text())
    assert summary["splits"]["test"]["class_counts"] == {name: 2 for name in CLASSES}
    assert summary["polygons_in_test_and_train"] == 0


def test_test_polygons_shared_with_training_are_warned_about(tmp_path, capsys):
    groups = {"groups_train": np.arange(10), "groups_val": np.arange(5) + 10, "groups_test": np.arange(10) + 5}
    directory = write_week3(tmp_path / "week3", **week3_arrays(test=True), **groups)
    assert run_step01(tmp_path / "run", "--data_source", "week3", "--data_dir", str(directory)) == 0
    out = capsys.readouterr().out
    assert "warning: 5 polygon(s) have patches in both test and train (5, 6, 7, 8, 9); 5 polygon(s)" in out
    assert "5 polygon(s) have patches in both test and validation (10, 11, 12, 13, 14); test accuracy" in out
    summary = json.loads((tmp_path / "run" / "data_summary.json").read_text())
    assert summary["polygons_in_test_and_train"] == summary["polygons_in_test_and_validation"] == 5


def test_the_npz_source_carries_the_test_split_byte_for_byte(tmp_path, capsys):
    directory = write_week3(tmp_path / "week3", **week3_arrays(test=True))
    assert run_step01(tmp_path / "made", "--data_source", "week3", "--data_dir", str(directory)) == 0
    source = tmp_path / "made" / "data.npz"
    assert run_step01(tmp_path / "copy", "--data_source", "npz", "--data_npz", str(source)) == 0, capsys.readouterr()
    assert sha256_file(tmp_path / "copy" / "data.npz") == sha256_file(source)
    made, copied = (json.loads((tmp_path / run / "data_summary.json").read_text()) for run in ("made", "copy"))
    assert copied["splits"]["test"]["class_counts"] == made["splits"]["test"]["class_counts"]
    assert copied["splits"]["test"]["band_ranges_scaled"] == made["splits"]["test"]["band_ranges_scaled"]


# --- cut sources (raster + polygons; Earth Engine takes the same path) ---

RASTER_OPTIONS = ["--label_column", "label", "--id_column", "id", "--class_names", "Forest,Water"]


def test_a_raster_source_splits_polygons_three_ways_by_default(tmp_path, raster, grid_polygons, capsys):
    options = ["--data_source", "raster", "--raster_path", str(raster), "--polygons_path", str(grid_polygons)]
    assert run_step01(tmp_path / "run", *options, *RASTER_OPTIONS) == 0, capsys.readouterr().err
    with np.load(tmp_path / "run" / "data.npz") as stored:
        splits = {name: (stored[f"y_{name}"], stored[f"groups_{name}"]) for name in ("train", "val", "test")}
    for first in splits:
        assert set(splits[first][0]) == {0, 1}  # both classes in every split
        for second in splits:
            if first < second:
                assert not set(splits[first][1]) & set(splits[second][1])
    # 7 Forest and 8 Water polygons: test and validation get round(20%) of each (1 and 2), training the rest.
    assert [len(np.unique(groups)) for _, groups in splits.values()] == [9, 3, 3]
    summary = json.loads((tmp_path / "run" / "data_summary.json").read_text())
    assert summary["source"]["test_fraction"] == 0.2
    assert summary["polygons_in_test_and_train"] == summary["polygons_in_test_and_validation"] == 0
    assert sum(summary["splits"][split]["polygons"] for split in ("train", "validation", "test")) == 15


def test_a_raster_source_without_a_test_fraction_keeps_the_two_way_split(tmp_path, raster, grid_polygons):
    two_way = rp.load_raster_dataset(raster, grid_polygons, "label", ["Forest", "Water"], id_column="id")
    three_way = rp.load_raster_dataset(
        raster, grid_polygons, "label", ["Forest", "Water"], id_column="id", test_fraction=0.2
    )
    assert two_way.X_test is None and three_way.X_test is not None
    # Each class's polygons are shuffled as before; test takes the first, so validation's move along.
    assert set(two_way.groups_val) <= set(three_way.groups_val) | set(three_way.groups_test)
    assert len(two_way.y_train) + len(two_way.y_val) == sum(len(y) for _, _, y, _ in three_way.splits()) == 15
    ds.validate(three_way)


# --- the mock source ---


def test_the_mock_source_has_no_test_split_unless_counts_are_given():
    args = (300, [10, 21, 19, 8, 17], CLASSES, BANDS, 8)
    plain = generate_mock_dataset(*args, seed=42)
    with_test = generate_mock_dataset(*args, seed=42, test_counts=[2, 3, 4, 5, 6])
    assert plain.X_test is None and plain.y_test is None
    np.testing.assert_array_equal(with_test.X_train, plain.X_train)  # drawn after train and validation
    np.testing.assert_array_equal(with_test.X_val, plain.X_val)
    assert np.bincount(with_test.y_test).tolist() == [2, 3, 4, 5, 6]
    assert with_test.X_test.shape == (20, 8, 8, 6)
    ds.validate(with_test)


def test_mock_test_counts_reach_data_npz_and_leave_the_other_splits_alone(tmp_path):
    tiny = ["--mock_train_size", "40", "--mock_val_counts", "2,2,2,2,2"]
    assert run_step01(tmp_path / "plain", *tiny) == 0
    assert run_step01(tmp_path / "test", *tiny, "--mock_test_counts", "1,2,1,2,1") == 0
    with np.load(tmp_path / "plain" / "data.npz") as plain, np.load(tmp_path / "test" / "data.npz") as test:
        assert not TEST_KEYS & set(plain.files)
        assert np.bincount(test["y_test"]).tolist() == [1, 2, 1, 2, 1]
        np.testing.assert_array_equal(test["X_train"], plain["X_train"])
        np.testing.assert_array_equal(test["X_val"], plain["X_val"])
