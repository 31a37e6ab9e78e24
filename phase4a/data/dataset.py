"""The dataset every step shares: train/validation (and optional test) patches, labels, names, polygon ids.

Whatever the source (mock, Week 3 arrays, GeoTIFF + polygons, Earth Engine), it ends as a
:class:`Dataset`, is checked by :func:`validate`, and is scaled to reflectance in [0, 1] by
:func:`normalise` before step 01 writes it to ``data.npz``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..io import write_npz

# A 99th percentile at or below this is taken as reflectance already in [0, 1]: real surface
# reflectance rarely exceeds 1, while any scaled product (x 10000) is far above it.
ALREADY_SCALED_P99 = 1.5
PLAUSIBLE_P99 = (0.05, 2.0)


@dataclass
class Dataset:
    X_train: np.ndarray  # (N, H, W, C)
    y_train: np.ndarray  # (N,) integer class indices
    X_val: np.ndarray
    y_val: np.ndarray
    class_names: list[str]
    band_names: list[str]
    groups_train: np.ndarray | None = None  # polygon id of each patch, when known
    groups_val: np.ndarray | None = None
    notes: dict[str, Any] = field(default_factory=dict)  # source details for the data summary
    # A test split the model never sees while training or choosing; None when the source has none.
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    groups_test: np.ndarray | None = None

    @property
    def has_test(self) -> bool:
        return self.X_test is not None

    def splits(self):
        """(name, X, y, groups) of each split: train, validation, and test when there is one."""
        yield "train", self.X_train, self.y_train, self.groups_train
        yield "validation", self.X_val, self.y_val, self.groups_val
        if self.X_test is not None:
            yield "test", self.X_test, self.y_test, self.groups_test


def canonical_band(name: str) -> str:
    """'B02', 'b2' and 'B2' all name the same Sentinel-2 band; 'B8A' stays distinct from 'B8'."""
    match = re.fullmatch(r"[Bb]0*(\d+)([Aa]?)", name.strip())
    return f"B{match.group(1)}{match.group(2).upper()}" if match else name.strip()


def band_index(band_names: list[str], wanted: str) -> int:
    canonical = [canonical_band(name) for name in band_names]
    try:
        return canonical.index(canonical_band(wanted))
    except ValueError:
        raise DataError(f"band {wanted!r} not among the data's bands {band_names}") from None


def validate(dataset: Dataset, expected_bands: int | None = None) -> None:
    """Raise :class:`DataError` naming the first problem found, and how to fix it."""
    n_classes = len(dataset.class_names)
    if len(set(dataset.class_names)) != n_classes:
        raise DataError(f"class names repeat: {dataset.class_names}; give each class one name")
    _check_test_arrays_paired(dataset)
    shapes = []
    for split, X, y, groups in dataset.splits():
        X = np.asarray(X)
        y = np.asarray(y)
        if X.ndim != 4:
            raise DataError(f"X_{split} has shape {X.shape}; expected (samples, height, width, bands)")
        if y.ndim != 1 or len(y) != len(X):
            raise DataError(
                f"X_{split} has {len(X)} samples but y_{split} has shape {y.shape}; give one label per patch"
            )
        if len(X) == 0:
            raise DataError(f"the {split} split is empty; it needs at least one patch per class")
        if groups is not None and len(groups) != len(X):
            raise DataError(f"groups_{split} has {len(groups)} ids for {len(X)} patches; give one per patch")
        if not np.issubdtype(X.dtype, np.number):
            raise DataError(f"X_{split} has dtype {X.dtype}; expected numeric reflectance values")
        if not np.isfinite(X).all():
            bad = int((~np.isfinite(X)).sum())
            raise DataError(f"X_{split} has {bad} NaN or infinite values; mask or drop those patches first")
        if not np.issubdtype(y.dtype, np.integer):
            if not (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y))):
                raise DataError(f"y_{split} has dtype {y.dtype}; labels must be integer class indices")
        if y.min() < 0 or y.max() >= n_classes:
            raise DataError(
                f"y_{split} has labels in [{int(y.min())}, {int(y.max())}] but there are {n_classes} "
                f"classes ({', '.join(dataset.class_names)}); labels must be 0..{n_classes - 1}"
            )
        missing = [dataset.class_names[c] for c in range(n_classes) if not np.any(y == c)]
        if missing:
            raise DataError(
                f"class {', '.join(missing)} has no samples in the {split} split; "
                "every class needs at least one patch in each split"
            )
        shapes.append(X.shape[1:])
    if shapes[0] != shapes[1]:
        raise DataError(f"train patches are {shapes[0]} but validation patches are {shapes[1]}; they must match")
    if len(shapes) > 2:
        _check_test_shape(shapes[0], shapes[2], dataset.band_names)
    if shapes[0][2] != len(dataset.band_names):
        raise DataError(
            f"patches have {shapes[0][2]} bands but {len(dataset.band_names)} band names are given "
            f"({', '.join(dataset.band_names)}); pass --band_names with one name per band"
        )
    if expected_bands is not None and shapes[0][2] != expected_bands:
        raise DataError(f"patches have {shapes[0][2]} bands; this configuration expects {expected_bands}")
    if shapes[0][0] != shapes[0][1]:
        raise DataError(f"patches are {shapes[0][0]}x{shapes[0][1]}; they must be square")


def _check_test_arrays_paired(dataset: Dataset) -> None:
    if dataset.X_test is None and dataset.y_test is not None:
        raise DataError("y_test is given without X_test; add X_test (the test patches) or drop y_test")
    if dataset.X_test is not None and dataset.y_test is None:
        raise DataError("X_test is given without y_test; add y_test (one label per test patch) or drop X_test")
    if dataset.X_test is None and dataset.groups_test is not None:
        raise DataError("groups_test is given without X_test; add X_test and y_test or drop groups_test")


def _check_test_shape(train: tuple[int, ...], test: tuple[int, ...], band_names: list[str]) -> None:
    """Test patches must be the training patches' size and bands: the model takes one input shape."""
    if test[2] != train[2]:
        raise DataError(
            f"X_test has {test[2]} bands but the training patches have {train[2]} ({', '.join(band_names)}); "
            "give X_test the same bands in the same order"
        )
    if test[:2] != train[:2]:
        raise DataError(
            f"X_test patches are {test[0]}x{test[1]} but the training patches are {train[0]}x{train[1]}; "
            f"cut the test patches at {train[0]}x{train[1]}"
        )


def normalise(dataset: Dataset, scale: float, offset: float = 0.0) -> tuple[Dataset, dict[str, Any]]:
    """Scale stored reflectance to [0, 1] as ``(value + offset) / scale``, unless already scaled.

    Detection looks at the 99th percentile of the training patches, so a few saturated or cloudy
    pixels do not decide it; the decision is returned so it can be recorded.
    """
    p99 = float(np.percentile(dataset.X_train, 99))
    if p99 <= ALREADY_SCALED_P99:
        decision = {"already_scaled": True, "divisor": 1.0, "offset": 0.0, "train_p99_before": p99}
        divisor, shift = 1.0, 0.0
    else:
        decision = {"already_scaled": False, "divisor": scale, "offset": offset, "train_p99_before": p99}
        divisor, shift = scale, offset
    scaled = replace(
        dataset,
        X_train=((dataset.X_train.astype(np.float64) + shift) / divisor).astype(np.float32),
        X_val=((dataset.X_val.astype(np.float64) + shift) / divisor).astype(np.float32),
        y_train=np.asarray(dataset.y_train, dtype=np.int64),
        y_val=np.asarray(dataset.y_val, dtype=np.int64),
    )
    if dataset.X_test is not None:
        scaled.X_test = ((dataset.X_test.astype(np.float64) + shift) / divisor).astype(np.float32)
        scaled.y_test = np.asarray(dataset.y_test, dtype=np.int64)
    after = float(np.percentile(scaled.X_train, 99))
    decision["train_p99_after"] = after
    # Scenes with vegetation or soil reach 0.2-0.6 in NIR/SWIR; far below or above means a wrong scale.
    if not PLAUSIBLE_P99[0] <= after <= PLAUSIBLE_P99[1]:
        decision["warning"] = (
            f"after scaling, the 99th percentile of reflectance is {after:.4g}, outside the usual "
            f"{PLAUSIBLE_P99[0]}-{PLAUSIBLE_P99[1]} range; check --reflectance_scale and --reflectance_offset"
        )
    return scaled, decision


def band_statistics(X: np.ndarray, band_names: list[str]) -> dict[str, dict[str, float]]:
    stats = {}
    for index, name in enumerate(band_names):
        values = X[..., index].ravel()
        p1, p50, p99 = np.percentile(values, [1, 50, 99])
        stats[name] = {
            "min": float(values.min()),
            "p1": float(p1),
            "median": float(p50),
            "p99": float(p99),
            "max": float(values.max()),
            "mean": float(values.mean()),
        }
    return stats


def summarise(raw: Dataset, scaled: Dataset, decision: dict[str, Any]) -> dict[str, Any]:
    """Class counts per split, value ranges per band before and after scaling, polygon counts."""
    summary: dict[str, Any] = {
        "class_names": raw.class_names,
        "band_names": raw.band_names,
        "patch_shape": list(raw.X_train.shape[1:]),
        "scaling": decision,
        "splits": {},
        "source": raw.notes,
    }
    for (split, X_raw, y, groups), (_, X_scaled, _, _) in zip(raw.splits(), scaled.splits()):
        counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(raw.class_names))
        entry = {
            "samples": int(len(y)),
            "class_counts": {name: int(count) for name, count in zip(raw.class_names, counts)},
            "band_ranges_raw": band_statistics(X_raw, raw.band_names),
            "band_ranges_scaled": band_statistics(X_scaled, raw.band_names),
        }
        if groups is not None:
            entry["polygons"] = int(len(np.unique(groups)))
        summary["splits"][split] = entry
    if raw.groups_train is not None and raw.groups_val is not None:
        shared = np.intersect1d(raw.groups_train, raw.groups_val)
        summary["polygons_in_both_splits"] = int(len(shared))
    if raw.groups_test is not None:
        for split, groups in (("train", raw.groups_train), ("validation", raw.groups_val)):
            if groups is not None:
                summary[f"polygons_in_test_and_{split}"] = int(len(np.intersect1d(raw.groups_test, groups)))
    return summary


def save(path: str | Path, dataset: Dataset) -> None:
    arrays = {
        "X_train": dataset.X_train,
        "y_train": dataset.y_train,
        "X_val": dataset.X_val,
        "y_val": dataset.y_val,
        "class_names": np.array(dataset.class_names),
        "band_names": np.array(dataset.band_names),
    }
    if dataset.groups_train is not None and dataset.groups_val is not None:
        arrays["groups_train"] = np.asarray(dataset.groups_train)
        arrays["groups_val"] = np.asarray(dataset.groups_val)
    # Only when there is a test split, so a dataset without one writes the same bytes as before it existed.
    if dataset.X_test is not None:
        arrays["X_test"] = dataset.X_test
        arrays["y_test"] = dataset.y_test
        if dataset.groups_test is not None:
            arrays["groups_test"] = np.asarray(dataset.groups_test)
    write_npz(path, **arrays)


def load(path: str | Path) -> Dataset:
    """Read a ``data.npz`` written by :func:`save` (step 01's output)."""
    with np.load(path, allow_pickle=False) as data:
        return Dataset(
            X_train=data["X_train"],
            y_train=data["y_train"],
            X_val=data["X_val"],
            y_val=data["y_val"],
            class_names=[str(name) for name in data["class_names"]],
            band_names=[str(name) for name in data["band_names"]],
            groups_train=data["groups_train"] if "groups_train" in data else None,
            groups_val=data["groups_val"] if "groups_val" in data else None,
            X_test=data["X_test"] if "X_test" in data else None,
            y_test=data["y_test"] if "y_test" in data else None,
            groups_test=data["groups_test"] if "groups_test" in data else None,
        )
