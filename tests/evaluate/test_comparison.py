"""accuracy_statistics: what evaluation_metrics.json says about intervals, verdicts and the target."""

import json

import numpy as np
import pytest

from phase4a import config as config_module
from phase4a.evaluate.comparison import accuracy_statistics
from phase4a.evaluate.published import PUBLISHED_BASELINE

CONFIG = config_module.resolve("report")
# The published Week 3 figure gets a verdict only on the report's own (Week 3) data.
WEEK3 = config_module.resolve("report", {"data_source": "week3", "data_dir": "week3"})
# The report's validation set: 75 patches, 10/21/19/8/17 per class.
Y_TRUE = np.repeat(np.arange(5), [10, 21, 19, 8, 17])


def _with_errors(y_true: np.ndarray, wrong: int) -> np.ndarray:
    """Predictions that get the first ``wrong`` samples wrong (shifted by one class) and the rest right."""
    predicted = y_true.copy()
    predicted[:wrong] = (predicted[:wrong] + 1) % 5
    return predicted


def test_collapsed_run_is_worse_than_published_baseline_and_json_ready():
    collapsed = np.zeros_like(Y_TRUE)  # the report: Agriculture for every patch, 10/75
    stats = accuracy_statistics(Y_TRUE, collapsed, 5, PUBLISHED_BASELINE, WEEK3)
    assert stats["accuracy"]["correct"] == 10 and stats["accuracy"]["total"] == 75
    assert stats["accuracy"]["ci95"] == pytest.approx([0.0740, 0.2287], abs=1e-3)
    assert stats["comparison"]["kind"] == "unpaired"
    assert stats["comparison"]["verdict"] == "worse"
    assert "only this unpaired comparison" in stats["comparison"]["text"]
    assert stats["target_in_ci95"] is False
    json.dumps(stats)  # no tuples or numpy scalars left


def test_published_baseline_interval_contains_the_target():
    stats = accuracy_statistics(Y_TRUE, _with_errors(Y_TRUE, 10), 5, PUBLISHED_BASELINE, WEEK3)  # 65/75
    assert stats["baseline_accuracy_ci95"] == pytest.approx([0.7717, 0.9259], abs=1e-3)
    assert stats["target_in_ci95"] is True
    assert stats["comparison"]["verdict"] == "not distinguishable at this sample size"
    assert stats["target"]["samples_needed_for_target"] > 75
    assert stats["target"]["target_text"].startswith("If the true accuracy were 86.67%")


def test_other_data_get_no_verdict_against_the_published_figure():
    stats = accuracy_statistics(Y_TRUE, _with_errors(Y_TRUE, 10), 5, PUBLISHED_BASELINE, CONFIG)  # mock data
    assert stats["comparison"] is None and stats["verdicts"] == []
    assert stats["published_baseline"]["verdict_given"] is False
    assert "measured on other patches" in stats["published_baseline"]["text"]


def test_baseline_predictions_give_a_paired_mcnemar_verdict():
    model = _with_errors(Y_TRUE, 2)
    baseline = _with_errors(Y_TRUE, 20)
    stats = accuracy_statistics(Y_TRUE, model, 5, PUBLISHED_BASELINE, CONFIG, baseline_pred=baseline)
    comparison = stats["comparison"]
    assert comparison["kind"] == "paired"
    assert comparison["mcnemar"]["b"] == 18 and comparison["mcnemar"]["c"] == 0
    assert comparison["verdict"] == "better"
    assert "the SimpleCNN trained on this split" in comparison["text"]


def test_bootstrap_is_seeded_by_the_config_seed():
    predicted = _with_errors(Y_TRUE, 30)
    first = accuracy_statistics(Y_TRUE, predicted, 5, PUBLISHED_BASELINE, CONFIG)
    again = accuracy_statistics(Y_TRUE, predicted, 5, PUBLISHED_BASELINE, CONFIG)
    other = accuracy_statistics(Y_TRUE, predicted, 5, PUBLISHED_BASELINE, {**CONFIG, "seed": 7})
    assert first == again
    low, high = first["f1_macro"]["ci95"]
    assert low <= first["f1_macro"]["value"] <= high
    assert other["f1_macro"]["ci95"] != first["f1_macro"]["ci95"]
