"""Metrics of the evaluated split, the comparison with each baseline, and what the sample size can show."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import statistics
from .classical import CLASSICAL
from .published import PUBLISHED_BASELINE


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


# The report's Week 3 data: the only source whose patches the published Week 3 figures were measured on.
PUBLISHED_DATA_SOURCE = "week3"
IN_RUN_BASELINE_NAME = "the SimpleCNN trained on this split"


def published_label(baseline: dict[str, Any], with_accuracy: bool = True) -> str:
    """How verdicts name the Week 3 figures: 'the published Week 3 SimpleCNN (86.67%)', or the
    week3_metrics.json a Week 3 directory carries."""
    if baseline.get("source") == PUBLISHED_BASELINE["source"]:
        label = "the published Week 3 SimpleCNN"
    else:
        label = f"the {baseline['name']} of week3_metrics.json"
    return f"{label} ({100 * baseline['accuracy']:.2f}%)" if with_accuracy else label


def published_applies(source: str | None) -> bool:
    """An unpaired verdict against the published figures only for the report's own Week 3 data."""
    return source == PUBLISHED_DATA_SOURCE


def _model_summary(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, seed: int) -> dict[str, Any]:
    correct = int(np.sum(np.asarray(y_true) == np.asarray(y_pred)))
    total = len(y_true)
    low, high = statistics.wilson_interval(correct, total)
    f1, f1_low, f1_high = statistics.bootstrap_macro_f1(y_true, y_pred, n_classes, seed=seed)
    classes = np.unique(np.asarray(y_pred))
    return {
        "accuracy": {
            "value": correct / total,
            "correct": correct,
            "total": total,
            "ci95": [low, high],
            "method": "Wilson",
        },
        "f1_macro": {"value": f1, "ci95": [f1_low, f1_high], "method": "percentile bootstrap, 2000 resamples"},
        "predicted_classes": int(len(classes)),
        "single_class_prediction": int(classes[0]) if len(classes) == 1 else None,
    }


def accuracy_statistics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_classes: int,
    baseline: dict[str, Any],
    config: dict[str, Any],
    baseline_pred: np.ndarray | None = None,
    classical_pred: dict[str, np.ndarray] | None = None,
    source: str | None = None,
    split: str = "validation",
) -> dict[str, Any]:
    """What the evaluated split can show: intervals, one verdict per baseline (each named), the target.

    Verdicts, in this order, each only where it is fair:
    - against the published Week 3 figures (unpaired: is the figure inside the model's Wilson
      interval?), only for the report's Week 3 data (``source`` week3); for any other source
      ``published_baseline.text`` says the figure was measured on other patches and no verdict is given;
    - against the SimpleCNN trained on this split (``baseline_pred``; exact McNemar on the same patches);
    - against each classical baseline (``classical_pred``, evaluate/classical.py; exact McNemar).
    ``comparison`` is the first of them (None when there is none). The bootstrap is seeded with the
    run's seed, so two identical runs give identical numbers. ``source``: the data's original source
    (default config data_source).
    """
    source = config["data_source"] if source is None else source
    summary = _model_summary(y_true, y_pred, n_classes, config["seed"])
    low, high = summary["accuracy"]["ci95"]
    model_name = f"the {config['preset']}-preset {model_label(config)} model"
    label = published_label(baseline)
    verdicts: list[dict[str, Any]] = []
    if published_applies(source):
        correct = summary["accuracy"]["correct"]
        name = published_label(baseline, with_accuracy=False)
        verdict = statistics.unpaired_verdict(
            correct, len(y_true), baseline["accuracy"], model_name=model_name, baseline_name=name
        )
        verdicts.append({"against": "published", "name": label, **verdict})
        note = None
    else:
        samples = baseline.get("validation_samples")
        where = f"the report's {samples} Week 3 validation patches" if samples else "the report's Week 3 patches"
        note = (
            f"{label[:1].upper()}{label[1:]} was measured on other patches ({where}), not on these {source} "
            "patches, so no verdict is given against it."
        )
    in_run = None
    if baseline_pred is not None:
        verdict = statistics.paired_verdict(
            y_true, y_pred, baseline_pred, model_name=model_name, baseline_name=IN_RUN_BASELINE_NAME, split=split
        )
        verdicts.append({"against": "in_run_simplecnn", "name": IN_RUN_BASELINE_NAME, **verdict})
        in_run = {"name": IN_RUN_BASELINE_NAME, **_model_summary(y_true, baseline_pred, n_classes, config["seed"])}
    for key, pred in (classical_pred or {}).items():
        name = CLASSICAL[key][0]
        verdict = statistics.paired_verdict(
            y_true, y_pred, pred, model_name=model_name, baseline_name=name, split=split
        )
        verdicts.append({"against": key, "name": name, **verdict})
    target = statistics.target_statement(
        summary["accuracy"]["value"], config["target_accuracy"], len(y_true), split=split
    )
    verdicts = [_json_ready(verdict) for verdict in verdicts]
    return {
        "split": split,
        "accuracy": {key: value for key, value in summary["accuracy"].items() if key != "value"},
        "f1_macro": summary["f1_macro"],
        "predicted_classes": summary["predicted_classes"],
        "baseline_accuracy_ci95": _published_interval(baseline),
        "published_baseline": {
            "name": label,
            "accuracy": baseline["accuracy"],
            "verdict_given": note is None,
            "text": note,
        },
        "in_run_baseline": in_run,
        "target_in_ci95": low <= config["target_accuracy"] <= high,
        "target": target,
        "verdicts": verdicts,
        "comparison": verdicts[0] if verdicts else None,
    }


def _published_interval(baseline: dict[str, Any]) -> list[float] | None:
    """The published accuracy's own Wilson interval, when its sample count is known (75 in the report)."""
    total = baseline.get("validation_samples")
    if not total:
        return None
    return list(statistics.wilson_interval(round(baseline["accuracy"] * total), total))


def _json_ready(verdict: dict[str, Any]) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in verdict.items()}
