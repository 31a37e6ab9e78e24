"""Learning-curve subsamples of the training split: grouped, nested, seeded, stratified.

Patches cut from one polygon (or tile quadrant) are near-duplicates, so a subsample takes whole groups
(``groups_train`` when the data has them, else each patch is its own group). Within each class the
groups are put in one seeded random order and a fraction ``f`` takes the first ``max(1, round(f * n))``
of them (halves rounded up): every class keeps at least one group, and for one seed the subsample of a
smaller fraction is inside that of every larger one (nested), so a curve measures more data, not other data.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..data.dataset import Dataset
from ..data.splits import group_labels
from ..errors import ConfigError


def groups_of(dataset: Dataset) -> np.ndarray:
    """The training patches' groups: polygon or tile-quadrant ids, else one group per patch."""
    if dataset.groups_train is not None:
        return np.asarray(dataset.groups_train)
    return np.arange(len(dataset.y_train))


def nested_subsamples(y: np.ndarray, groups: np.ndarray, fractions: list[float], seed: int) -> dict[float, np.ndarray]:
    """{fraction: sorted patch indexes} of the training split for each fraction in (0, 1].

    Grouped (a group is wholly in or out), stratified (each class keeps ``max(1, round(f * n_c))`` of
    its ``n_c`` groups), nested (one order per class, cut at growing lengths) and seeded (that order
    comes from ``numpy.random.default_rng(seed)``).
    """
    y = np.asarray(y)
    groups = np.asarray(groups)
    if len(groups) != len(y):
        raise ConfigError(f"{len(groups)} group ids for {len(y)} training patches; give one per patch")
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise ConfigError(f"training fraction {fraction} is outside (0, 1]")
    ids, labels = group_labels(y, groups)
    rng = np.random.default_rng(seed)
    orders = {label: rng.permutation(ids[labels == label]) for label in np.unique(labels)}
    subsamples = {}
    for fraction in fractions:
        chosen = [order[: max(1, math.floor(fraction * len(order) + 0.5))] for order in orders.values()]
        subsamples[fraction] = np.flatnonzero(np.isin(groups, np.concatenate(chosen)))
    return subsamples


def subsample(dataset: Dataset, indexes: np.ndarray) -> Dataset:
    """The dataset with only these training patches; validation and test unchanged."""
    return replace(
        dataset,
        X_train=dataset.X_train[indexes],
        y_train=dataset.y_train[indexes],
        groups_train=None if dataset.groups_train is None else dataset.groups_train[indexes],
        notes=dict(dataset.notes),
    )
