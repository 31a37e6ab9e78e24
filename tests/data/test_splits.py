"""Grouped, stratified, seeded train/validation split by polygon, and the leakage check."""

import numpy as np
import pytest

from phase4a.data.splits import grouped_split, leakage_warning, polygons_per_class, shared_groups
from phase4a.errors import ConfigError, DataError


def patches_of_polygons(polygons_per_class: list[int], patches_per_polygon: int = 3, seed: int = 0):
    """y and polygon ids for classes with the given polygon counts, shuffled as patches would arrive."""
    labels = np.repeat(np.arange(len(polygons_per_class)), polygons_per_class)
    y = np.repeat(labels, patches_per_polygon)
    groups = np.repeat(np.arange(len(labels)) * 7 + 100, patches_per_polygon)  # ids need not be 0..n
    order = np.random.default_rng(seed).permutation(len(y))
    return y[order], groups[order]


@pytest.mark.parametrize("seed", range(5))
def test_no_polygon_is_in_both_splits_and_every_patch_is_in_one(seed):
    y, groups = patches_of_polygons([10, 21, 19, 8, 17], seed=seed)
    train, val = grouped_split(y, groups, 0.2, seed)
    assert len(np.intersect1d(train, val)) == 0
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(y)))
    assert len(shared_groups(groups[train], groups[val])) == 0


def test_each_class_with_two_polygons_is_on_both_sides_and_a_lone_polygon_trains():
    y, groups = patches_of_polygons([2, 2, 30, 1])
    train, val = grouped_split(y, groups, 0.1, seed=3)
    assert set(y[train]) == {0, 1, 2, 3}
    assert set(y[val]) == {0, 1, 2}
    assert len(np.unique(groups[val][y[val] == 2])) == 3  # 10% of 30 polygons


def test_the_split_is_seeded():
    y, groups = patches_of_polygons([10, 10, 10])
    first, again = grouped_split(y, groups, 0.3, seed=1), grouped_split(y, groups, 0.3, seed=1)
    np.testing.assert_array_equal(first[1], again[1])
    others = {grouped_split(y, groups, 0.3, seed=s)[1].tobytes() for s in range(5)}
    assert len(others) > 1


def test_string_polygon_ids_work():
    y = np.array([0, 0, 1, 1, 0, 1])
    groups = np.array(["a", "a", "b", "c", "d", "e"])
    train, val = grouped_split(y, groups, 0.5, seed=0)
    assert len(shared_groups(groups[train], groups[val])) == 0
    assert set(y[train]) == set(y[val]) == {0, 1}


def test_a_polygon_with_two_classes_is_rejected():
    with pytest.raises(DataError, match="polygon id 5 has patches of more than one class"):
        grouped_split(np.array([0, 1, 1]), np.array([5, 5, 6]), 0.5, seed=0)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_the_validation_fraction_must_be_a_fraction(fraction):
    with pytest.raises(ConfigError, match=f"val_fraction {fraction} must be between 0 and 1"):
        grouped_split(np.zeros(4, int), np.arange(4), fraction, seed=0)


def test_ids_and_labels_must_have_one_length():
    with pytest.raises(DataError, match="3 polygon ids for 4 patches"):
        grouped_split(np.zeros(4, int), np.arange(3), 0.5, seed=0)


def test_polygons_are_counted_per_class():
    y, groups = patches_of_polygons([3, 0, 4])
    assert polygons_per_class(y, groups, 3).tolist() == [3, 0, 4]


def test_leakage_is_reported_in_one_line_only_when_polygons_are_shared():
    assert shared_groups(np.array([3, 1, 2]), np.array([2, 5, 3])).tolist() == [2, 3]
    assert leakage_warning(np.array([1, 2]), np.array([3])) is None
    assert leakage_warning(None, np.array([3])) is None
    message = leakage_warning(np.arange(10), np.arange(3, 20))
    assert message.startswith("7 polygon(s) have patches in both train and validation (3, 4, 5, 6, 7, ...)")
    assert "\n" not in message
