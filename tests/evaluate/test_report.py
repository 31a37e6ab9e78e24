"""comparison_report.md is derived from the numbers: change the numbers and the findings change."""

import numpy as np
import pytest

from phase4a import config as config_module
from phase4a.evaluate.comparison import accuracy_statistics, compare_with_baseline
from phase4a.evaluate.diagnosis import diagnose
from phase4a.evaluate.published import PUBLISHED_BASELINE
from phase4a.evaluate.report import build_report, findings
from phase4a.metrics import classification_metrics

NAMES = ["Agriculture", "Forest", "Parcels", "Urban", "Water"]
Y_TRUE = np.repeat(np.arange(5), [10, 21, 19, 8, 17])
SUMMARY = {
    "class_names": NAMES,
    "splits": {
        "train": {"samples": 300, "class_counts": dict(zip(NAMES, [40, 84, 76, 32, 68]))},
        "validation": {"samples": 75, "class_counts": dict(zip(NAMES, [10, 21, 19, 8, 17]))},
    },
    "scaling": {"already_scaled": False, "offset": 0.0, "divisor": 10000.0},
}


def _epochs(collapsed: bool, count: int = 6) -> list[dict]:
    """Per-epoch history records as step 04 writes them, with the collapse monitor's keys."""
    records = []
    for epoch in range(1, count + 1):
        loss = 2.308 if collapsed else 1.6 - 0.2 * epoch
        flat_since = 1 if collapsed and epoch >= 5 else 0
        records.append(
            {
                "epoch": epoch,
                "loss": loss + 0.3,
                "accuracy": 0.15 if collapsed else 0.5 + 0.05 * epoch,
                "val_loss": loss,
                "val_accuracy": 0.1333 if collapsed else 0.6 + 0.04 * epoch,
                "learning_rate": 1e-4,
                "seconds": 0.6,
                "val_distinct_classes": 1 if collapsed else 5,
                "val_top_class": 0,
                "val_top_share": 1.0 if collapsed else 0.3,
                "val_collapsed": int(collapsed),
                "val_loss_flat": int(flat_since > 0),
                "val_loss_flat_since": flat_since,
            }
        )
    return records


def context(predicted: np.ndarray, collapsed: bool, source: dict | None = None, **config_changes) -> dict:
    config = {**config_module.resolve("report"), **config_changes}
    summary = {**SUMMARY, "source": source or {"source": config["data_source"]}}
    metrics = classification_metrics(Y_TRUE, predicted, NAMES)
    epochs = _epochs(collapsed)
    history = {
        "epochs": epochs,
        "epochs_run": len(epochs),
        "max_epochs": config["epochs"],
        "stopped_early": True,
        "restored_best_epoch": 1 if collapsed else len(epochs),
        "monitor": "val_loss",
        "training_seconds": 3.6,
    }
    return {
        "run_dir": "/tmp/run",
        "config": config,
        "config_hash": config_module.config_hash(config),
        "data_hash": "ab" * 32,
        "data_summary": summary,
        "inspection": {"weights": {"kind": config["weights"]}, "layers": 175},
        "architecture": {
            "backbone_layers": {"layers": 175, "frozen": 150},
            "backbone_parameters": {"total": 23587712},
            "model_parameters": {"trainable": 10253082, "total": 23850650},
            "input_shape": [8, 8, 6],
        },
        "history": history,
        "metrics": metrics,
        "comparison": compare_with_baseline(metrics, PUBLISHED_BASELINE),
        "statistics": accuracy_statistics(Y_TRUE, predicted, 5, PUBLISHED_BASELINE, config),
        "diagnosis": {**diagnose(epochs, config, summary, backbone_layers=175), "recorded": True},
        "environment": {
            "code_version": "0.1.0+git.test",
            "packages": {"python": "3.11", "tensorflow": "2.20.0"},
            "machine": {"platform": "Linux", "processor": "x86_64", "cpu_count": 2},
        },
    }


@pytest.fixture(scope="module")
def collapsed_ctx():
    return context(np.zeros_like(Y_TRUE), collapsed=True)  # the report: all Agriculture, 13.33%


@pytest.fixture(scope="module")
def good_ctx():
    predicted = Y_TRUE.copy()
    predicted[:3] = 1  # 72/75 = 96%
    return context(predicted, collapsed=False, data_source="week3", weights="imagenet")


def test_report_has_every_section(collapsed_ctx):
    report = build_report(collapsed_ctx)
    for heading in (
        "## Summary",
        "## Configuration",
        "## Results vs baseline",
        "### Per-class performance",
        "## Confusion matrix",
        "## Training behaviour",
        "## Findings",
        "## Environment (appendix)",
    ):
        assert heading in report
    assert "![Confusion matrix](confusion_matrix.png)" in report and "Actual Agriculture   10" in report
    assert "Generated " in report and "UTC" not in report  # no timestamp: identical runs, identical report


def test_collapsed_run_reports_collapse_interval_and_causes(collapsed_ctx):
    report = build_report(collapsed_ctx)
    assert "13.33%" in report and "7.41% to 22.83%" in report
    assert "no verdict is given against it" in report  # mock patches are not the report's Week 3 patches
    on_week3 = build_report(context(np.zeros_like(Y_TRUE), collapsed=True, data_source="week3"))
    published = "Against the published Week 3 SimpleCNN (86.67%) the result is **optimistic; no verdict** (unpaired"
    assert published in on_week3 and "score-test p = " in on_week3
    text = "\n".join(findings(collapsed_ctx))
    assert "collapsed to a single class, Agriculture, from epoch 1" in text
    assert "(10/75)" in text
    assert "share of frozen layers" in text and "input scale" in text
    assert "synthetic data" in text


@pytest.mark.parametrize("origin, synthetic", [("mock", True), ("week3", False)])
def test_data_copied_through_npz_keep_the_caveat_of_their_origin(origin, synthetic):
    # The ablation sweep's runs read a shared data.npz: whether the data are synthetic is their origin.
    source = {"source": "npz", "origin": {"source": origin}}
    ctx = context(Y_TRUE.copy(), collapsed=False, source=source, data_source="npz", weights="imagenet")
    assert ("synthetic data" in "\n".join(findings(ctx))) is synthetic


def test_findings_change_when_the_numbers_change(collapsed_ctx, good_ctx):
    collapsed, good = findings(collapsed_ctx), findings(good_ctx)
    assert collapsed != good
    text = "\n".join(good)
    assert "collapsed" not in text and "Predictions use 5 of 5 classes" in text
    assert "96.00%" in build_report(good_ctx)
    assert "target lies inside the interval" in text  # 90% is inside 89% to 99% at n = 75
    assert "whole interval lies below the 90.00% target" in "\n".join(collapsed)
    assert "pipeline, not the science" not in text  # real data and ImageNet weights: no caveat
