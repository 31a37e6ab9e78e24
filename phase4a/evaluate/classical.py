"""Classical baselines in every evaluation: seeded random forests fitted on the training split in step 05.

Two forests (scikit-learn ``RandomForestClassifier``, ``FOREST_TREES`` trees, ``random_state`` = the
run's seed, so two identical runs give identical predictions):

- ``forest_flattened``: every pixel of every band of the patch as one feature vector (8 x 8 x 6 = 384);
- ``forest_band_statistics``: each band's mean and standard deviation over the patch (12 features).

They take seconds, and they say what the deep model should at least reach on the same patches: a
deep model significantly below the flattened-patch forest has not learned what a forest finds in
the raw reflectance. Each forest is compared with the deep model patch by patch on the evaluated
split (exact McNemar, statistics.paired_verdict).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from .. import statistics

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
        "the random forest on flattened patches",
        "every pixel of every band",
        flattened,
    ),
    "forest_band_statistics": (
        "the random forest on band statistics",
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
    alpha: float = 0.05,
) -> dict[str, Any]:
    """``classical_baselines`` of evaluation_metrics.json: per forest its accuracy (Wilson interval),
    macro F1 (seeded bootstrap interval) and the exact McNemar test against the deep model."""
    y_true = np.asarray(y_true)
    result: dict[str, Any] = {}
    for key, pred in predictions.items():
        name, features, _ = CLASSICAL[key]
        correct = int(np.sum(pred == y_true))
        low, high = statistics.wilson_interval(correct, len(y_true))
        f1, f1_low, f1_high = statistics.bootstrap_macro_f1(y_true, pred, n_classes, seed=seed)
        test = statistics.mcnemar_exact(y_true, deep_pred, pred)
        deep_accuracy = float(np.mean(np.asarray(deep_pred) == y_true))
        if test["p_value"] >= alpha:
            verdict = statistics.NOT_DISTINGUISHABLE
        else:
            verdict = "better" if test["b"] > test["c"] else "worse"
        result[key] = {
            "name": name,
            "model": f"RandomForestClassifier(n_estimators={trees}, random_state={seed})",
            "features": features,
            "fitted_on": "training split",
            "evaluated_on": split,
            "accuracy": correct / len(y_true),
            "correct": correct,
            "total": int(len(y_true)),
            "ci95": [low, high],
            "f1_macro": {"value": f1, "ci95": [f1_low, f1_high]},
            # b: patches only the deep model gets right; c: only the forest.
            "mcnemar_vs_deep_model": test,
            "deep_model_accuracy": deep_accuracy,
            "deep_model_verdict": verdict,
            "deep_model_significantly_below": verdict == "worse",
        }
    return result
