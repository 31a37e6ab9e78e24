"""Train/validation split by polygon: patches cut from one polygon are near-duplicates, so a polygon
goes wholly to one side, or validation accuracy measures memory instead of generalisation.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DataError


def group_labels(y: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct polygon ids and the one class of each; a polygon with two classes is an error."""
    ids, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    labels = np.asarray(y)[first]
    mixed = np.asarray(y) != labels[inverse]
    if mixed.any():
        bad = groups[np.argmax(mixed)]
        raise DataError(
            f"polygon id {bad} has patches of more than one class; give every polygon its own id (--id_column)"
        )
    return ids, labels


def polygons_per_class(y: np.ndarray, groups: np.ndarray, n_classes: int) -> np.ndarray:
    _, labels = group_labels(y, groups)
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)


def grouped_split(y: np.ndarray, groups: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Patch indexes (train, validation): about ``val_fraction`` of each class's polygons go to validation.

    Every class with at least two polygons gets at least one on each side; a class with a single
    polygon stays in training. scikit-learn's stratified group splitters balance proportions but do
    not guarantee that, and ``dataset.validate`` needs every class in both splits, so the polygons of
    each class are shuffled with one seeded generator and cut.
    """
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction {val_fraction} must be between 0 and 1 (exclusive); e.g. 0.2")
    groups = np.asarray(groups)
    if len(groups) != len(y):
        raise DataError(f"{len(groups)} polygon ids for {len(y)} patches; give one id per patch")
    ids, labels = group_labels(np.asarray(y), groups)
    rng = np.random.default_rng(seed)
    val_ids = []
    for label in np.unique(labels):
        members = rng.permutation(ids[labels == label])
        n_val = int(round(len(members) * val_fraction))
        n_val = min(max(n_val, 1), len(members) - 1)  # 0 when the class has one polygon
        val_ids.extend(members[:n_val])
    is_val = np.isin(groups, np.asarray(val_ids, dtype=groups.dtype))
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def shared_groups(groups_train: np.ndarray, groups_val: np.ndarray) -> np.ndarray:
    """Polygon ids present in both splits (sorted); non-empty means validation patches leak."""
    return np.intersect1d(np.asarray(groups_train), np.asarray(groups_val))


def leakage_warning(groups_train: np.ndarray | None, groups_val: np.ndarray | None) -> str | None:
    """One line for the log and data summary when supplied splits share polygons, else None."""
    if groups_train is None or groups_val is None:
        return None
    shared = shared_groups(groups_train, groups_val)
    if len(shared) == 0:
        return None
    shown = ", ".join(str(g) for g in shared[:5]) + (", ..." if len(shared) > 5 else "")
    return (
        f"{len(shared)} polygon(s) have patches in both train and validation ({shown}); validation accuracy "
        "is optimistic: re-split by polygon"
    )
