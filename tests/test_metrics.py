"""Metrics of predicted classes shared by training and evaluation (phase4a/metrics.py)."""

import numpy as np
import pytest

from phase4a.metrics import classification_metrics, prediction_spread


def test_prediction_spread_from_labels_and_scores():
    assert prediction_spread(np.array([2, 2, 1, 2]), 5) == {"distinct_classes": 2, "top_class": 2, "top_share": 0.75}
    scores = np.array([[0.9, 0.1], [0.8, 0.2]])
    assert prediction_spread(scores, 2) == {"distinct_classes": 1, "top_class": 0, "top_share": 1.0}


def test_prediction_spread_of_no_predictions_is_an_error():
    with pytest.raises(ValueError, match="no predictions"):
        prediction_spread(np.array([], dtype=int), 3)


def test_classification_metrics_name_a_single_predicted_class():
    y_true = np.array([0, 0, 1, 2])
    collapsed = classification_metrics(y_true, np.zeros(4, dtype=int), ["a", "b", "c"])
    assert collapsed["single_class_prediction"] == "a" and collapsed["accuracy"] == 0.5
    assert collapsed["predicted_class_counts"] == {"a": 4, "b": 0, "c": 0}
    assert collapsed["confusion_matrix"] == [[2, 0, 0], [1, 0, 0], [1, 0, 0]]
    spread = classification_metrics(y_true, y_true, ["a", "b", "c"])
    assert spread["single_class_prediction"] is None and spread["f1_macro"] == 1.0
    assert spread["per_class"]["a"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
