"""Classical baselines: seeded forests on flattened patches and on band statistics, in every evaluation."""

import json

import numpy as np
import pandas as pd
import pytest

from phase4a.evaluate import classical
from phase4a.steps import evaluate_compare

from ..conftest import TINY_CNN_OVERRIDES, run_steps


def patches(n: int, seed: int):
    """Class c brightens band c: a forest separates them easily."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 5
    X = rng.uniform(0, 0.1, size=(n, 8, 8, 6)).astype("float32")
    X[np.arange(n), :, :, y] += 0.2
    return X, y


def test_features():
    X = np.arange(2 * 4 * 4 * 3, dtype="float32").reshape(2, 4, 4, 3)
    assert classical.flattened(X).shape == (2, 48)
    stats = classical.band_statistics(X)
    assert stats.shape == (2, 6)
    np.testing.assert_allclose(stats[:, :3], X.mean(axis=(1, 2)))
    np.testing.assert_allclose(stats[:, 3:], X.std(axis=(1, 2)), rtol=1e-6)


def test_forests_are_seeded_and_summarised_against_the_deep_model():
    X_train, y_train = patches(60, 0)
    X_eval, y_eval = patches(25, 1)
    first = classical.fit_predict(X_train, y_train, X_eval, seed=42, trees=50)
    again = classical.fit_predict(X_train, y_train, X_eval, seed=42, trees=50)
    assert set(first) == {"forest_flattened", "forest_band_statistics"}
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    collapsed = np.zeros_like(y_eval)  # a deep model that predicts one class: 5 of 25
    summary = classical.summarise(y_eval, collapsed, first, 5, seed=42, split="test", trees=50)
    forest = summary["forest_flattened"]
    assert forest["name"] == "the random forest on flattened patches"
    assert forest["evaluated_on"] == "test" and forest["fitted_on"] == "training split"
    assert forest["accuracy"] == pytest.approx(np.mean(first["forest_flattened"] == y_eval))
    assert forest["ci95"][0] <= forest["accuracy"] <= forest["ci95"][1]
    assert forest["deep_model_accuracy"] == pytest.approx(0.2)
    assert "deep_model_verdict" not in forest  # the report decides it, with its other comparisons
    assert forest["mcnemar_vs_deep_model"]["c"] > forest["mcnemar_vs_deep_model"]["b"]
    json.dumps(summary)


@pytest.fixture(scope="module")
def run_with_test_split(tmp_path_factory):
    root = tmp_path_factory.mktemp("classical")
    return run_steps(root / "run", [*TINY_CNN_OVERRIDES, "--mock_test_counts", "2,2,2,2,2"], 5, root)


def test_forests_in_evaluation_metrics_and_test_split_is_the_headline(run_with_test_split):
    run = run_with_test_split
    metrics = json.loads((run / "evaluation_metrics.json").read_text())
    assert metrics["evaluated_split"] == "test" and metrics["metrics"]["samples"] == 10
    assert metrics["validation"]["metrics"]["samples"] == 10  # reported too, labelled
    baselines = metrics["classical_baselines"]
    assert set(baselines) == {"forest_flattened", "forest_band_statistics"}
    for entry in baselines.values():
        assert entry["total"] == 10 and entry["evaluated_on"] == "test"
        assert 0 <= entry["accuracy"] <= 1 and len(entry["ci95"]) == 2
        assert {"b", "c", "p_value"} <= set(entry["mcnemar_vs_deep_model"])
    names = [verdict["name"] for verdict in metrics["statistics"]["verdicts"]]
    assert names == ["the random forest on flattened patches", "the random forest on band statistics"]
    assert "mock patches, so no verdict is given" in metrics["statistics"]["published_baseline"]["text"]
    table = pd.read_csv(run / "test_predictions.csv")
    assert len(table) == 10 and "forest_flattened_predicted" in table
    assert len(pd.read_csv(run / "validation_predictions.csv")) == 10
    report = (run / "comparison_report.md").read_text()
    assert "Test accuracy is **" in report and "Validation accuracy (these patches also chose the epoch" in report
    assert "Random forest on flattened patches" in report


def test_step_05_again_gives_identical_forests(run_with_test_split):
    before = (run_with_test_split / "evaluation_metrics.json").read_bytes()
    assert evaluate_compare.main(["--run-dir", str(run_with_test_split)]) == 0
    assert (run_with_test_split / "evaluation_metrics.json").read_bytes() == before
