"""The report's ensemble, "combine the SimpleCNN with the transfer model": the mean of the two models'
softmax probabilities on the evaluated split, with the statistics every model gets (accuracy with a
Wilson interval, macro F1 with a seeded bootstrap interval) and an exact McNemar test against each
member on the same patches. Pure: probabilities in, numbers out (no Keras).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import statistics

ENSEMBLE_NAME = "the mean-probability ensemble"


def mean_probabilities(*probabilities: np.ndarray) -> np.ndarray:
    """The unweighted mean of per-class probabilities (N, classes) of models on the same patches."""
    arrays = [np.asarray(p, dtype=np.float64) for p in probabilities]
    if len(arrays) < 2:
        raise ValueError(f"an ensemble needs at least two models, got {len(arrays)}")
    shapes = {array.shape for array in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 2:
        raise ValueError(f"probabilities must be equal (N, classes) arrays, got shapes {sorted(shapes)}")
    return np.mean(arrays, axis=0)


def _accuracy(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    correct = int(np.sum(predicted == y_true))
    low, high = statistics.wilson_interval(correct, len(y_true))
    return {"value": correct / len(y_true), "correct": correct, "total": int(len(y_true)), "ci95": [low, high]}


def evaluate_ensemble(
    y_true: np.ndarray,
    model_probabilities: np.ndarray,
    baseline_probabilities: np.ndarray,
    n_classes: int,
    seed: int,
    split: str,
    model_name: str = "the model",
    baseline_name: str = "the SimpleCNN",
    alpha: float = 0.05,
) -> dict[str, Any]:
    """``ensemble`` of evaluation_metrics.json: the mean of the two models' probabilities, its accuracy
    (Wilson) and macro F1 (seeded bootstrap), and a paired verdict (exact McNemar) against each member."""
    y_true = np.asarray(y_true, dtype=np.int64)
    probabilities = mean_probabilities(model_probabilities, baseline_probabilities)
    if len(probabilities) != len(y_true):
        raise ValueError(f"{len(probabilities)} probabilities for {len(y_true)} labels")
    predicted = probabilities.argmax(axis=1)
    f1, f1_low, f1_high = statistics.bootstrap_macro_f1(y_true, predicted, n_classes, seed=seed)
    counts = np.bincount(predicted, minlength=n_classes)
    verdicts = []
    for against, name, member in (
        ("model", model_name, model_probabilities),
        ("in_run_simplecnn", baseline_name, baseline_probabilities),
    ):
        verdict = statistics.paired_verdict(
            y_true, predicted, np.asarray(member).argmax(axis=1), alpha, ENSEMBLE_NAME, name, split
        )
        verdicts.append({"against": against, "name": name, **verdict})
    return {
        "name": ENSEMBLE_NAME,
        "members": [model_name, baseline_name],
        "combination": "unweighted mean of the softmax probabilities, then argmax",
        "split": split,
        "accuracy": {**_accuracy(y_true, predicted), "method": "Wilson"},
        "f1_macro": {"value": f1, "ci95": [f1_low, f1_high], "method": "percentile bootstrap, 2000 resamples"},
        "predicted_class_counts": counts.tolist(),
        "verdicts": verdicts,
    }
