"""Classical baselines in every evaluation: seeded random forests fitted on the training split in step 05.

Two forests (scikit-learn ``RandomForestClassifier``, ``FOREST_TREES`` trees, ``random_state`` = the
run's seed, so two identical runs give identical predictions):

- ``forest_flattened``: every pixel of every band of the patch as one feature vector (8 x 8 x 6 = 384);
- ``forest_band_statistics``: each band's mean and standard deviation over the patch (12 features).

They say what the deep model should at least reach on the same patches: a
deep model significantly below the flattened-patch forest has not learned what a forest finds in
the raw reflectance. Each forest is compared with the deep model patch by patch on the evaluated
split (evaluate/comparison.py gives the report's verdict; the exact McNemar counts are kept here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from .. import statistics
from .comparison import FOREST_NAMES, accuracy_summary, f1_summary

FOREST_TREES = 300
# Every core: the trees' seeds are drawn before they are built, so predictions do not depend on n_jobs,
# and step 05 waits for the forests.
FOREST_JOBS = -1


def flattened(X: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N, H * W * C): every value of the patch."""
    X = np.asarray(X, dtype=np.float32)
    return X.reshape(len(X), -1)


def band_statistics(X: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N, 2C): each band's mean, then each band's standard deviation, over the patch."""
    X = np.asarray(X, dtype=np.float64)
    return np.concatenate([X.mean(axis=(1, 2)), X.std(axis=(1, 2))], axis=1).astype(np.float32)


# key -> (the name verdicts use, what its features are, the feature function)
CLASSICAL: dict[str, tuple[str, str, Callable[[np.ndarray], np.ndarray]]] = {
    "forest_flattened": (
        FOREST_NAMES["forest_flattened"],
        "every pixel of every band",
        flattened,
    ),
    "forest_band_statistics": (
        FOREST_NAMES["forest_band_statistics"],
        "mean and standard deviation of each band",
        band_statistics,
    ),
}


def fit_predict(
    X_train: np.ndarray, y_train: np.ndarray, X_eval: np.ndarray, seed: int, trees: int = FOREST_TREES
) -> dict[str, np.ndarray]:
    """Each classical baseline fitted on the training split; its class predictions for ``X_eval``."""
    predictions = {}
    for key, (_, _, features) in CLASSICAL.items():
        forest = RandomForestClassifier(n_estimators=trees, random_state=seed, n_jobs=FOREST_JOBS)
        forest.fit(features(X_train), np.asarray(y_train))
        predictions[key] = forest.predict(features(X_eval)).astype(np.int64)
    return predictions


def summarise(
    y_true: np.ndarray,
    deep_pred: np.ndarray,
    predictions: dict[str, np.ndarray],
    n_classes: int,
    seed: int,
    split: str,
    trees: int = FOREST_TREES,
    groups: np.ndarray | None = None,
) -> dict[str, Any]:
    """``classical_baselines`` of evaluation_metrics.json: per forest its accuracy and macro F1 with
    their intervals (over ``groups`` where the patches have them, comparison.accuracy_summary) and the
    exact McNemar counts against the deep model (description). The verdict against each forest is the
    report's, decided with the others (comparison.record_classical_verdicts adds it)."""
    y_true = np.asarray(y_true)
    result: dict[str, Any] = {}
    for key, pred in predictions.items():
        name, features, _ = CLASSICAL[key]
        accuracy = accuracy_summary(pred == y_true, groups, seed)
        f1 = f1_summary(y_true, pred, n_classes, groups, seed)
        test = statistics.mcnemar_exact(y_true, deep_pred, pred)
        deep_accuracy = float(np.mean(np.asarray(deep_pred) == y_true))
        result[key] = {
            "name": name,
            "model": f"RandomForestClassifier(n_estimators={trees}, random_state={seed})",
            "features": features,
            "fitted_on": "training split",
            "evaluated_on": split,
            "accuracy": accuracy["value"],
            "correct": accuracy["correct"],
            "total": accuracy["total"],
            "ci95": accuracy["ci95"],
            "ci95_method": accuracy["method"],
            "grouped": accuracy["grouped"],
            "groups": accuracy["groups"],
            "patches": accuracy["patches"],
            "wilson_ci95": accuracy["wilson_ci95"],
            "f1_macro": {key: f1[key] for key in ("value", "ci95", "method")},
            # b: patches only the deep model gets right; c: only the forest.
            "mcnemar_vs_deep_model": test,
            "deep_model_accuracy": deep_accuracy,
        }
    return result
