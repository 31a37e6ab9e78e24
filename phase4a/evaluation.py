"""Validation metrics with scikit-learn, and the comparison with the baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    labels = list(range(len(class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    macro = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    predicted_counts = np.bincount(y_pred, minlength=len(class_names))
    predicted_classes = np.flatnonzero(predicted_counts)
    return {
        "samples": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_macro": float(macro[0]),
        "recall_macro": float(macro[1]),
        "f1_macro": float(macro[2]),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "predicted_class_counts": {name: int(count) for name, count in zip(class_names, predicted_counts)},
        "single_class_prediction": class_names[predicted_classes[0]] if len(predicted_classes) == 1 else None,
    }


def compare_with_baseline(metrics: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """Differences to the baseline: accuracy in percentage points, F1 per class where it is known."""
    per_class = {}
    for name, values in metrics["per_class"].items():
        reference = baseline["per_class_f1"].get(name)
        per_class[name] = {
            "baseline_f1": reference,
            "f1_change": None if reference is None else values["f1"] - reference,
        }
    return {
        "baseline": baseline,
        "accuracy_change_pp": 100 * (metrics["accuracy"] - baseline["accuracy"]),
        "per_class": per_class,
    }
