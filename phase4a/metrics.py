"""Metrics of predicted classes, shared by training (the collapse monitor) and evaluation: NumPy and
scikit-learn only."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

# Per-epoch keys the collapse monitor writes into the Keras logs and the diagnosis reads back.
DISTINCT = "val_distinct_classes"
TOP_CLASS = "val_top_class"
TOP_SHARE = "val_top_share"
COLLAPSED = "val_collapsed"
FLAT = "val_loss_flat"
FLAT_SINCE = "val_loss_flat_since"  # first epoch of the current flat stretch; 0 while not flat


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


def prediction_spread(y_pred: np.ndarray, n_classes: int) -> dict[str, Any]:
    """How many classes appear among predictions, the most predicted one, and its share.

    ``y_pred`` holds class indices, or per-class scores (N, n_classes) that are reduced by argmax.
    """
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2:
        y_pred = y_pred.argmax(axis=1)
    if y_pred.size == 0:
        raise ValueError("no predictions to summarise")
    counts = np.bincount(y_pred.astype(np.int64), minlength=n_classes)
    top = int(counts.argmax())
    return {
        "distinct_classes": int(np.count_nonzero(counts)),
        "top_class": top,
        "top_share": float(counts[top] / y_pred.size),
    }
