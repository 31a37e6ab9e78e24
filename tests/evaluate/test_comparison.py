"""accuracy_statistics: what evaluation_metrics.json says about intervals, verdicts and the target."""

import json

import numpy as np
import pytest

from phase4a import config as config_module
from phase4a import statistics as st
from phase4a.evaluate.comparison import BETTER, NOT_DISTINGUISHABLE, OPTIMISTIC, accuracy_statistics
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


def test_collapsed_run_against_the_published_figure_is_two_binomials_described_and_json_ready():
    collapsed = np.zeros_like(Y_TRUE)  # the report: Agriculture for every patch, 10/75
    stats = accuracy_statistics(Y_TRUE, collapsed, 5, PUBLISHED_BASELINE, WEEK3)
    assert stats["accuracy"]["correct"] == 10 and stats["accuracy"]["total"] == 75
    assert stats["accuracy"]["ci95"] == pytest.approx([0.0740, 0.2287], abs=1e-3)
    comparison = stats["comparison"]
    assert comparison["kind"] == "unpaired" and comparison["verdict"] == OPTIMISTIC
    assert (comparison["baseline_correct"], comparison["baseline_total"]) == (65, 75)
    expected = st.two_binomial_test(10, 75, 65, 75)
    assert comparison["effect"] == pytest.approx(-55 / 75) and comparison["p_value"] == expected["p_value"]
    assert comparison["interval"] == list(expected["interval"]) and comparison["p_value"] < 1e-6
    assert "independent binomials" in comparison["text"] and "no verdict" in comparison["text"]
    assert stats["target_in_ci95"] is False
    json.dumps(stats)  # no tuples or numpy scalars left


def test_published_baseline_interval_contains_the_target():
    stats = accuracy_statistics(Y_TRUE, _with_errors(Y_TRUE, 10), 5, PUBLISHED_BASELINE, WEEK3)  # 65/75
    assert stats["baseline_accuracy_ci95"] == pytest.approx([0.7717, 0.9259], abs=1e-3)
    assert stats["target_in_ci95"] is True
    assert stats["comparison"]["verdict"] == OPTIMISTIC  # validation chose the epoch
    assert stats["target"]["samples_needed_for_target"] > 75
    assert stats["target"]["target_text"].startswith("If the true accuracy were 86.67%")


def test_other_data_get_no_verdict_against_the_published_figure():
    stats = accuracy_statistics(Y_TRUE, _with_errors(Y_TRUE, 10), 5, PUBLISHED_BASELINE, CONFIG)  # mock data
    assert stats["comparison"] is None and stats["verdicts"] == []
    assert stats["published_baseline"]["same_patches"] is False
    assert "measured on other patches" in stats["published_baseline"]["text"]


def test_baseline_predictions_give_a_paired_verdict_on_the_test_split_only():
    model = _with_errors(Y_TRUE, 2)
    baseline = _with_errors(Y_TRUE, 20)
    stats = accuracy_statistics(Y_TRUE, model, 5, PUBLISHED_BASELINE, CONFIG, baseline_pred=baseline, split="test")
    comparison = stats["comparison"]
    assert comparison["kind"] == "paired" and comparison["test"] == "exact McNemar"  # no groups
    assert comparison["mcnemar"]["b"] == 18 and comparison["mcnemar"]["c"] == 0
    assert comparison["p_value"] == comparison["mcnemar"]["p_value"] == comparison["p_holm"]  # a family of one
    assert comparison["verdict"] == BETTER and stats["family"]["size"] == 1
    assert "the SimpleCNN trained on this split" in comparison["text"]
    on_validation = accuracy_statistics(Y_TRUE, model, 5, PUBLISHED_BASELINE, CONFIG, baseline_pred=baseline)
    assert on_validation["comparison"]["verdict"] == OPTIMISTIC and on_validation["family"]["size"] == 0
    assert on_validation["comparison"]["p_value"] == comparison["p_value"]  # the numbers are still shown
    assert on_validation["comparison"]["p_holm"] is None
    assert NOT_DISTINGUISHABLE not in on_validation["comparison"]["text"]


def test_bootstrap_is_seeded_by_the_config_seed():
    predicted = _with_errors(Y_TRUE, 30)
    first = accuracy_statistics(Y_TRUE, predicted, 5, PUBLISHED_BASELINE, CONFIG)
    again = accuracy_statistics(Y_TRUE, predicted, 5, PUBLISHED_BASELINE, CONFIG)
    other = accuracy_statistics(Y_TRUE, predicted, 5, PUBLISHED_BASELINE, {**CONFIG, "seed": 7})
    assert first == again
    low, high = first["f1_macro"]["ci95"]
    assert low <= first["f1_macro"]["value"] <= high
    assert other["f1_macro"]["ci95"] != first["f1_macro"]["ci95"]
