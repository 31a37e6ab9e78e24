"""Train/validation(/test) split by polygon: patches cut from one polygon are near-duplicates, so a polygon
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


def three_way_split(
    y: np.ndarray,
    groups: np.ndarray,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    class_names: list[str] | None = None,
    unit: str = "polygons",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patch indexes (train, validation, test), grouped by polygon and stratified by class.

    Each class's polygons are shuffled with one seeded generator, then cut: about ``test_fraction`` of
    them to test, ``val_fraction`` to validation, the rest to training; each split gets at least one
    polygon of every class (none to test when ``test_fraction`` is 0, where the train/validation cut is
    :func:`grouped_split`'s). A class with too few polygons for that is a :class:`ConfigError` naming it.
    """
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction {val_fraction} must be between 0 and 1 (exclusive); e.g. 0.2")
    if not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ConfigError(
            f"test_fraction {test_fraction} must be >= 0 and leave some {unit} for training "
            f"(val_fraction {val_fraction} + test_fraction < 1); e.g. 0.2, or 0 for no test split"
        )
    groups = np.asarray(groups)
    if len(groups) != len(y):
        raise DataError(f"{len(groups)} polygon ids for {len(y)} patches; give one id per patch")
    ids, labels = group_labels(np.asarray(y), groups)
    rng = np.random.default_rng(seed)
    val_ids, test_ids = [], []
    for label in np.unique(labels):
        members = rng.permutation(ids[labels == label])
        n = len(members)
        n_test = max(int(round(n * test_fraction)), 1) if test_fraction > 0 else 0
        n_val = max(int(round(n * val_fraction)), 1)
        if n_test + n_val >= n:
            name = class_names[label] if class_names is not None else f"index {label}"
            raise ConfigError(_too_few(name, n, val_fraction, test_fraction, n_val, n_test, unit))
        test_ids.extend(members[:n_test])
        val_ids.extend(members[n_test : n_test + n_val])
    is_test = np.isin(groups, np.asarray(test_ids, dtype=groups.dtype))
    is_val = np.isin(groups, np.asarray(val_ids, dtype=groups.dtype))
    return np.flatnonzero(~is_val & ~is_test), np.flatnonzero(is_val), np.flatnonzero(is_test)


def _too_few(name: str, n: int, val_fraction: float, test_fraction: float, n_val: int, n_test: int, unit: str) -> str:
    splits = 3 if test_fraction > 0 else 2
    if n < splits:
        no_test = test_fraction > 0 and n >= 2  # two are enough without a test split
        fix = f"add {name} {unit}" + (" or pass --test_fraction 0 (no test split)" if no_test else "")
        return (
            f"class {name} has {n} {unit[:-1] if n == 1 else unit}, too few for one in each of the {splits} splits "
            f"(val_fraction {val_fraction}, test_fraction {test_fraction}); {fix}"
        )
    return (
        f"class {name} has {n} {unit}: val_fraction {val_fraction} and test_fraction {test_fraction} take "
        f"{n_val} + {n_test} of them and leave none for training; lower --val_fraction or --test_fraction, "
        f"or add {name} {unit}"
    )


def shared_groups(groups_train: np.ndarray, groups_val: np.ndarray) -> np.ndarray:
    """Polygon ids present in both splits (sorted); non-empty means validation patches leak."""
    return np.intersect1d(np.asarray(groups_train), np.asarray(groups_val))


def leakage_warning(
    groups_train: np.ndarray | None,
    groups_val: np.ndarray | None,
    groups_test: np.ndarray | None = None,
    unit: str = "polygon",
    fix: str = "re-split by polygon",
) -> str | None:
    """One line for the log and data summary when supplied splits share a ``unit`` (a polygon, a tile),
    else None.

    Train vs validation, and, when the test split has ids, test vs train and test vs validation.
    """
    pairs = [
        ("train", groups_train, "validation", groups_val),
        ("test", groups_test, "train", groups_train),
        ("test", groups_test, "validation", groups_val),
    ]
    messages, optimistic = [], []
    for first, first_groups, second, second_groups in pairs:
        if first_groups is None or second_groups is None:
            continue
        shared = shared_groups(first_groups, second_groups)
        if len(shared) == 0:
            continue
        shown = ", ".join(str(g) for g in shared[:5]) + (", ..." if len(shared) > 5 else "")
        messages.append(f"{len(shared)} {unit}(s) have patches in both {first} and {second} ({shown})")
        optimistic += [split for split in ("test" if first == "test" else "validation",) if split not in optimistic]
    if not messages:
        return None
    return f"{'; '.join(messages)}; {' and '.join(optimistic)} accuracy is optimistic: {fix}"
