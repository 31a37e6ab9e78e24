"""Learning-curve subsamples: grouped, nested, seeded, stratified; written once as a derived data.npz."""

import numpy as np
import pytest

from phase4a import config as config_module
from phase4a.data import dataset as dataset_module
from phase4a.data.sources import load_step01_npz
from phase4a.errors import ConfigError
from phase4a.io import sha256_file
from phase4a.settings import sections
from phase4a.sweep import learning_curve, runs

FRACTIONS = [0.1, 0.25, 0.5, 1.0]


def grouped_training_split():
    """5 classes with 3-12 polygons each, 1-4 patches per polygon."""
    rng = np.random.default_rng(0)
    y, groups = [], []
    group = 0
    for label, polygons in enumerate([3, 12, 8, 5, 10]):
        for _ in range(polygons):
            patches = int(rng.integers(1, 5))
            y += [label] * patches
            groups += [group * 7 + 100] * patches  # ids need not be 0..n-1
            group += 1
    order = rng.permutation(len(y))
    return np.array(y)[order], np.array(groups)[order]


def test_subsamples_take_whole_groups():
    y, groups = grouped_training_split()
    for fraction, indexes in learning_curve.nested_subsamples(y, groups, FRACTIONS, seed=1).items():
        taken = set(groups[indexes])
        assert set(np.flatnonzero(np.isin(groups, list(taken)))) == set(indexes), fraction


def test_subsamples_are_nested_and_the_full_fraction_is_everything():
    y, groups = grouped_training_split()
    subsamples = learning_curve.nested_subsamples(y, groups, FRACTIONS, seed=1)
    for smaller, larger in zip(FRACTIONS, FRACTIONS[1:]):
        assert set(subsamples[smaller]) <= set(subsamples[larger])
        assert len(subsamples[smaller]) < len(subsamples[larger])
    assert list(subsamples[1.0]) == list(range(len(y)))


def test_subsamples_are_stratified_and_keep_a_group_of_every_class():
    y, groups = grouped_training_split()
    subsamples = learning_curve.nested_subsamples(y, groups, FRACTIONS, seed=1)
    polygons = {label: len(set(groups[y == label])) for label in range(5)}
    for fraction, indexes in subsamples.items():
        kept = {label: len(set(groups[indexes][y[indexes] == label])) for label in range(5)}
        assert kept == {label: max(1, int(np.floor(fraction * n + 0.5))) for label, n in polygons.items()}


def test_subsamples_are_seeded():
    y, groups = grouped_training_split()
    first = learning_curve.nested_subsamples(y, groups, FRACTIONS, seed=7)
    again = learning_curve.nested_subsamples(y, groups, FRACTIONS, seed=7)
    other = learning_curve.nested_subsamples(y, groups, FRACTIONS, seed=8)
    assert all(np.array_equal(first[f], again[f]) for f in FRACTIONS)
    assert any(not np.array_equal(first[f], other[f]) for f in (0.25, 0.5))
    # One fraction alone gives the subsample it gives among others: the order does not depend on the list.
    assert np.array_equal(learning_curve.nested_subsamples(y, groups, [0.25], seed=7)[0.25], first[0.25])


def test_without_groups_each_patch_is_its_own_group():
    y = np.repeat(np.arange(5), [2, 21, 19, 8, 17])
    subsample = learning_curve.nested_subsamples(y, np.arange(len(y)), [0.1], seed=3)[0.1]
    assert np.bincount(y[subsample], minlength=5).tolist() == [1, 2, 2, 1, 2]


def test_a_fraction_outside_zero_one_is_refused():
    y, groups = grouped_training_split()
    for fraction in (0, -0.1, 1.5):
        with pytest.raises(ConfigError, match="outside"):
            learning_curve.nested_subsamples(y, groups, [fraction], seed=1)


def make_parent(tmp_path):
    y, groups = grouped_training_split()
    rng = np.random.default_rng(2)
    val_y = np.arange(5).repeat(2)
    data = dataset_module.Dataset(
        X_train=rng.uniform(0, 0.4, (len(y), 8, 8, 6)).astype(np.float32),
        y_train=y.astype(np.int64),
        X_val=rng.uniform(0, 0.4, (10, 8, 8, 6)).astype(np.float32),
        y_val=val_y.astype(np.int64),
        class_names=["Agriculture", "Forest", "Parcels", "Urban", "Water"],
        band_names=["B2", "B3", "B4", "B8", "B11", "B12"],
        groups_train=groups,
        groups_val=np.arange(10) + 10_000,
    )
    path = tmp_path / "data" / "data.npz"
    path.parent.mkdir()
    dataset_module.save(path, data)
    return path, data


def test_derived_data_npz_holds_the_subsample_and_is_reused_byte_for_byte(tmp_path):
    parent, data = make_parent(tmp_path)
    paths = runs.make_subsamples(parent, [0.25, 0.5, 1.0], seed=4, out_root=tmp_path / "curve")
    assert paths[1.0] == parent
    expected = learning_curve.nested_subsamples(data.y_train, data.groups_train, [0.25], seed=4)[0.25]
    derived = dataset_module.load(paths[0.25])
    np.testing.assert_array_equal(derived.X_train, data.X_train[expected])
    np.testing.assert_array_equal(derived.groups_train, data.groups_train[expected])
    np.testing.assert_array_equal(derived.X_val, data.X_val)  # validation untouched
    # What step 01 reads with --data_source npz: accepted as a step-01 data.npz.
    config = {"data_npz": str(paths[0.25]), "class_names": data.class_names, "band_names": data.band_names}
    loaded = load_step01_npz(sections({**config_module.DEFAULTS, **config, "patch_size": 8}).data)
    assert loaded.notes["origin"]["subsample"]["fraction"] == 0.25

    hashes = {f: sha256_file(p) for f, p in paths.items()}
    again = runs.make_subsamples(parent, [0.25, 0.5, 1.0], seed=4, out_root=tmp_path / "curve")
    assert {f: sha256_file(p) for f, p in again.items()} == hashes  # reused: same bytes, runs stay complete
