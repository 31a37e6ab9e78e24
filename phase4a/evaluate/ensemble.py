"""The report's ensemble, "combine the SimpleCNN with the transfer model": the mean of the two models'
softmax probabilities on the evaluated split, with the statistics every model gets (accuracy and macro
F1 with their intervals, over the patches' groups where they have them) and a paired comparison with
each member on the same patches (evaluate/comparison.py). Pure: probabilities in, numbers out (no Keras).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .comparison import ALPHA, accuracy_summary, decide, f1_summary, paired_comparison

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


def evaluate_ensemble(
    y_true: np.ndarray,
    model_probabilities: np.ndarray,
    baseline_probabilities: np.ndarray,
    n_classes: int,
    seed: int,
    split: str,
    model_name: str = "the model",
    baseline_name: str = "the SimpleCNN",
    alpha: float = ALPHA,
    groups: np.ndarray | None = None,
) -> dict[str, Any]:
    """``ensemble`` of evaluation_metrics.json: the mean of the two models' probabilities, its accuracy
    and macro F1 with their intervals, and a paired comparison with each member. Its verdicts are
    decided here among themselves; step 05 decides them again with the report's other comparisons, so
    the Holm family is the whole report's."""
    y_true = np.asarray(y_true, dtype=np.int64)
    probabilities = mean_probabilities(model_probabilities, baseline_probabilities)
    if len(probabilities) != len(y_true):
        raise ValueError(f"{len(probabilities)} probabilities for {len(y_true)} labels")
    predicted = probabilities.argmax(axis=1)
    counts = np.bincount(predicted, minlength=n_classes)
    verdicts = [
        paired_comparison(
            y_true,
            predicted,
            np.asarray(member).argmax(axis=1),
            against=against,
            name=name,
            model_name=ENSEMBLE_NAME,
            split=split,
            groups=groups,
            seed=seed,
            alpha=alpha,
        )
        for against, name, member in (
            ("model", model_name, model_probabilities),
            ("in_run_simplecnn", baseline_name, baseline_probabilities),
        )
    ]
    decide(verdicts, alpha)
    return {
        "name": ENSEMBLE_NAME,
        "members": [model_name, baseline_name],
        "combination": "unweighted mean of the softmax probabilities, then argmax",
        "split": split,
        "accuracy": accuracy_summary(predicted == y_true, groups, seed),
        "f1_macro": f1_summary(y_true, predicted, n_classes, groups, seed),
        "predicted_class_counts": counts.tolist(),
        "verdicts": verdicts,
    }
