"""Validation metrics with scikit-learn, the comparison with the baseline, and what the sample size can show."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import statistics


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


def model_label(config: dict[str, Any]) -> str:
    """The main model's name: its backbone, or SimpleCNN when model_type is simplecnn."""
    return "SimpleCNN" if config.get("model_type", "transfer") == "simplecnn" else config["backbone"]


def accuracy_statistics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_classes: int,
    baseline: dict[str, Any],
    config: dict[str, Any],
    baseline_pred: np.ndarray | None = None,
) -> dict[str, Any]:
    """What this validation set can show: intervals, the verdict against the baseline, the target's sample size.

    Paired (exact McNemar) when the baseline's predictions on these samples exist, else unpaired
    against the published accuracy. The bootstrap is seeded with the run's seed, so two identical
    runs give identical numbers.
    """
    correct = int(np.sum(np.asarray(y_true) == np.asarray(y_pred)))
    total = len(y_true)
    low, high = statistics.wilson_interval(correct, total)
    f1, f1_low, f1_high = statistics.bootstrap_macro_f1(y_true, y_pred, n_classes, seed=config["seed"])
    verdict = statistics.compare_accuracies(
        y_true,
        y_pred,
        baseline_pred=baseline_pred,
        published_accuracy=baseline["accuracy"],
        target=config["target_accuracy"],
        model_name=f"the {config['preset']}-preset {model_label(config)} model",
        # Paired: the baseline's predictions come from the SimpleCNN step 04 trained on this split.
        baseline_name=baseline["name"] if baseline_pred is None else "the SimpleCNN trained in this run",
    )
    return {
        "accuracy": {"correct": correct, "total": total, "ci95": [low, high], "method": "Wilson"},
        "f1_macro": {"value": f1, "ci95": [f1_low, f1_high], "method": "percentile bootstrap, 2000 resamples"},
        "baseline_accuracy_ci95": _published_interval(baseline),
        "target_in_ci95": low <= config["target_accuracy"] <= high,
        "comparison": _json_ready(verdict),
    }


def _published_interval(baseline: dict[str, Any]) -> list[float] | None:
    """The published accuracy's own Wilson interval, when its sample count is known (75 in the report)."""
    total = baseline.get("validation_samples")
    if not total:
        return None
    return list(statistics.wilson_interval(round(baseline["accuracy"] * total), total))


def _json_ready(verdict: dict[str, Any]) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in verdict.items()}
