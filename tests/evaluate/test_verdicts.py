"""Verdicts name their baseline and are given only where fair; warnings and diagnosis sentences appear
when, and only when, the run's numbers say so. Report builders on constructed contexts: no training."""

import itertools
import math

import numpy as np
import pytest

from phase4a import config as config_module
from phase4a import statistics as st
from phase4a.evaluate import classical
from phase4a.evaluate.comparison import IN_RUN_BASELINE_NAME, accuracy_statistics, compare_with_baseline
from phase4a.evaluate.diagnosis import diagnose
from phase4a.evaluate.published import PUBLISHED_BASELINE
from phase4a.evaluate.report import build_report, collapse_warning, forest_warning, summary_lines
from phase4a.metrics import classification_metrics

NAMES = ["Agriculture", "Forest", "Parcels", "Urban", "Water"]
Y_TRUE = np.repeat(np.arange(5), [10, 21, 19, 8, 17])  # the report's 75 validation patches
TRAIN_COUNTS = [40, 84, 76, 32, 68]  # Forest is the majority: 84 / 300 = 28%
PUBLISHED = "the published Week 3 SimpleCNN (86.67%)"
FORESTS = ["the random forest on flattened patches", "the random forest on band statistics"]


def wrong(count: int, start: int = 0) -> np.ndarray:
    """Predictions with patches [start, start + count) wrong (shifted by one class), the rest right."""
    predicted = Y_TRUE.copy()
    predicted[start : start + count] = (predicted[start : start + count] + 1) % 5
    return predicted


def epochs(top_class: int = 1, collapsed: bool = True, train_accuracy: float = 0.28, count: int = 4) -> list[dict]:
    return [
        {
            "epoch": epoch,
            "loss": 1.6,
            "accuracy": train_accuracy,
            "val_loss": 1.6,
            "val_accuracy": 0.28,
            "learning_rate": 1e-4,
            "seconds": 0.5,
            "val_distinct_classes": 1 if collapsed else 5,
            "val_top_class": top_class,
            "val_top_share": 1.0 if collapsed else 0.3,
            "val_collapsed": int(collapsed),
            "val_loss_flat": 0,
            "val_loss_flat_since": 0,
        }
        for epoch in range(1, count + 1)
    ]


def summary(source: str) -> dict:
    return {
        "class_names": NAMES,
        "source": {"source": source},
        "splits": {
            "train": {"samples": 300, "class_counts": dict(zip(NAMES, TRAIN_COUNTS))},
            "validation": {"samples": 75, "class_counts": dict(zip(NAMES, [10, 21, 19, 8, 17]))},
        },
        "scaling": {"already_scaled": False, "offset": 0.0, "divisor": 10000.0},
    }


def context(
    predicted,
    source: str = "week3",
    baseline_pred=None,
    forest_pred=None,
    records=None,
    split: str = "validation",
    architecture_changes: dict | None = None,
    **config_changes,
) -> dict:
    config = {**config_module.resolve("report"), "data_source": source, **config_changes}
    data_summary = summary(source)
    metrics = classification_metrics(Y_TRUE, predicted, NAMES)
    classical_pred = None
    if forest_pred is not None:
        classical_pred = {"forest_flattened": forest_pred, "forest_band_statistics": forest_pred}
    statistics = accuracy_statistics(
        Y_TRUE, predicted, 5, PUBLISHED_BASELINE, config, baseline_pred, classical_pred, source=source, split=split
    )
    records = records if records is not None else epochs(collapsed=metrics["single_class_prediction"] is not None)
    architecture = {
        "backbone_layers": {"layers": 175, "frozen": 150},
        "backbone_parameters": {"total": 23587712},
        "model_parameters": {"trainable": 10253082, "total": 23850650},
        "input_shape": [8, 8, 6],
        "batchnorm_layers": 53,
        **(architecture_changes or {}),
    }
    return {
        "run_dir": "/tmp/run",
        "config": config,
        "config_hash": "0" * 12,
        "data_hash": "ab" * 32,
        "data_summary": data_summary,
        "inspection": {"weights": {"kind": config["weights"]}, "layers": 175},
        "architecture": architecture,
        "history": {
            "epochs": records,
            "epochs_run": len(records),
            "max_epochs": 50,
            "stopped_early": True,
            "restored_best_epoch": 1,
            "monitor": "val_loss",
            "training_seconds": 2.0,
        },
        "split": split,
        "metrics": metrics,
        "validation": None,
        "comparison": compare_with_baseline(metrics, PUBLISHED_BASELINE),
        "statistics": statistics,
        "classical_baselines": (
            None
            if classical_pred is None
            else classical.summarise(Y_TRUE, predicted, classical_pred, 5, seed=42, split=split)
        ),
        "diagnosis": {
            **diagnose(records, config, data_summary, backbone_layers=175, architecture=architecture),
            "recorded": True,
        },
        "environment": {
            "code_version": "0.1.0+git.test",
            "packages": {"python": "3.11"},
            "machine": {"platform": "Linux", "processor": "x86_64", "cpu_count": 2},
        },
    }


COMBINATIONS = list(itertools.product(["week3", "raster"], [False, True], [False, True]))


@pytest.mark.parametrize("source, paired, forest", COMBINATIONS)
def test_each_verdict_names_its_baseline(source, paired, forest):
    predicted = wrong(10)  # 65/75 = 86.67%
    ctx = context(
        predicted,
        source=source,
        baseline_pred=wrong(20, start=30) if paired else None,
        forest_pred=wrong(5, start=50) if forest else None,
        weights="imagenet",
    )
    stats = ctx["statistics"]
    expected = ([PUBLISHED] if source == "week3" else []) + ([IN_RUN_BASELINE_NAME] if paired else [])
    expected += FORESTS if forest else []
    assert [verdict["name"] for verdict in stats["verdicts"]] == expected
    for verdict in stats["verdicts"]:
        assert verdict["name"].split(" (")[0] in verdict["text"]
        assert verdict["kind"] == ("unpaired" if verdict["name"] == PUBLISHED else "paired")
    assert stats["comparison"] == (stats["verdicts"][0] if expected else None)
    report = build_report(ctx)
    summary_text = "\n".join(summary_lines(ctx))
    for name in expected:
        assert f"Against {name} the result is **" in summary_text
        assert f"- Against {name}: **" in report
    if source == "week3":
        assert stats["published_baseline"]["same_patches"] and stats["published_baseline"]["text"] is None
        assert "against the published Week 3 SimpleCNN (86.67%):" in summary_text and "| Week 3 F1 | Change |" in report
    else:
        note = stats["published_baseline"]["text"]
        assert "measured on other patches" in note and "raster patches" in note and "no verdict" in note
        assert note in summary_text and "86.67% for" not in summary_text
        assert "Week 3 F1 | Change" not in report and "unpaired" not in summary_text
    if not paired:
        assert "No SimpleCNN was trained on this split" in report


def test_mock_data_get_no_verdict_against_the_published_figure():
    stats = accuracy_statistics(Y_TRUE, wrong(10), 5, PUBLISHED_BASELINE, config_module.resolve("report"))
    assert stats["verdicts"] == [] and not stats["published_baseline"]["same_patches"]
    assert "not on these mock patches" in stats["published_baseline"]["text"]


def test_paired_verdicts_against_the_forest_are_correct():
    # Deep 65/75 (wrong on 0-9); forest 71/75 (wrong on 6-9): six patches only the forest gets right.
    stats = accuracy_statistics(
        Y_TRUE, wrong(10), 5, PUBLISHED_BASELINE, {**config_module.resolve("report"), "data_source": "raster"},
        classical_pred={"forest_flattened": wrong(4, start=6)}, source="raster", split="test",
    )  # fmt: skip
    verdict = stats["verdicts"][0]
    assert verdict["mcnemar"]["b"] == 0 and verdict["mcnemar"]["c"] == 6
    assert verdict["mcnemar"]["p_value"] == pytest.approx(2 * 0.5**6)
    assert verdict["verdict"] == "worse" and "On the same 75 ungrouped patches" in verdict["text"]
    assert "of the test split" in verdict["text"]


@pytest.mark.parametrize(
    "deep, forest, warned",
    [
        (np.ones_like(Y_TRUE), Y_TRUE.copy(), True),  # collapsed 21/75 vs a perfect forest: p tiny
        (wrong(3), wrong(10), False),  # the model is above the forest
        (wrong(12), wrong(10), False),  # below it by 2 patches: not significant
        (wrong(10), wrong(10), False),  # identical predictions
        (wrong(20), wrong(4), True),  # 16 patches only the forest gets right, none only the model
    ],
)
def test_below_the_forest_warning_only_when_significant_and_lower(deep, forest, warned):
    ctx = context(deep, source="raster", forest_pred=forest)
    warning = forest_warning(ctx)
    assert (warning is not None) is warned
    assert ("significantly below the random forest on flattened patches" in build_report(ctx)) is warned
    if warned:
        entry = ctx["classical_baselines"]["forest_flattened"]
        assert f"p = {entry['mcnemar_vs_deep_model']['p_value']:.3g}" in warning


def test_collapse_warnings_only_for_a_single_predicted_class():
    collapsed = context(np.ones_like(Y_TRUE), source="raster", baseline_pred=np.zeros_like(Y_TRUE))
    lines = collapse_warning(collapsed)
    assert len(lines) == 2
    assert "single class, Forest, for every validation patch" in lines[0]
    assert "The SimpleCNN trained on this split predicts a single class, Agriculture" in lines[1]
    healthy = context(wrong(10), source="raster", baseline_pred=wrong(15))
    assert collapse_warning(healthy) == []
    assert "single class" not in build_report(healthy)
    # Two classes predicted is not a collapse.
    two = np.where(Y_TRUE == 0, 0, 1)
    assert collapse_warning(context(two, source="raster")) == []


def test_head_without_usable_features_only_when_training_accuracy_is_near_the_majority_share():
    collapsed = np.ones_like(Y_TRUE)  # every patch Forest, the training majority (28%)
    near = context(collapsed, records=epochs(train_accuracy=0.30), weights="imagenet")["diagnosis"]["collapse"]
    assert "a head that sees no usable features" in near["text"] and near["no_usable_features"]
    assert "28.00% of the training patches" in near["text"]
    fits = context(collapsed, records=epochs(train_accuracy=0.83), weights="imagenet")["diagnosis"]["collapse"]
    assert "no usable features" not in fits["text"]
    assert "training accuracy reached 83.00%" in fits["text"] and "validation patches only" in fits["text"]
    other_class = context(np.zeros_like(Y_TRUE), records=epochs(top_class=0, train_accuracy=0.28))
    assert "no usable features" not in other_class["diagnosis"]["collapse"]["text"]


def _causes(ctx: dict) -> dict[str, dict]:
    return {cause["name"]: cause for cause in ctx["diagnosis"]["causes"]}


def test_batchnorm_cause_only_for_networks_with_batchnorm():
    collapsed = np.ones_like(Y_TRUE)
    resnet = _causes(context(collapsed, weights="imagenet"))
    assert "BatchNorm in training mode on small batches" in resnet
    vgg = _causes(
        context(collapsed, weights="imagenet", backbone="vgg16", architecture_changes={"batchnorm_layers": 0})
    )
    assert not any("BatchNorm" in name for name in vgg)
    cnn = {"model_type": "simplecnn", "input_normalisation": "none", "learning_rate": 1e-3}
    stem = {"normalisation": {"stem": {"std": [0.012, 0.02, 0.09]}}}
    with_bn = _causes(context(collapsed, architecture_changes={"batchnorm_layers": 2, **stem}, **cnn))
    assert "0.012 to 0.09" in with_bn["BatchNorm statistics in the SimpleCNN"]["evidence"]
    assert "--input_normalisation standardise" in with_bn["BatchNorm statistics in the SimpleCNN"]["suggestion"]
    without_bn = _causes(context(collapsed, architecture_changes={"batchnorm_layers": 0}, **cnn))
    assert not any("BatchNorm" in name for name in without_bn)
    # Unknown (an architecture.json from before the count): no claim about BatchNorm in the SimpleCNN.
    unknown = _causes(context(collapsed, architecture_changes={"batchnorm_layers": None}, **cnn))
    assert "BatchNorm statistics in the SimpleCNN" not in unknown


@pytest.mark.parametrize("weights, claims", [("imagenet", True), ("none", False)])
def test_imagenet_statistics_only_with_imagenet_weights(weights, claims):
    ctx = context(np.ones_like(Y_TRUE), weights=weights)
    report = build_report(ctx)
    assert ("ImageNet statistics" in report) is claims
    assert ("input scale vs the backbone's preprocessing" in _causes(ctx)) is claims


def test_weights_file_counts_as_pretrained(tmp_path):
    path = tmp_path / "backbone.weights.h5"
    path.write_bytes(b"")
    ctx = context(np.ones_like(Y_TRUE), weights=str(path))
    assert "ImageNet statistics" in _causes(ctx)["BatchNorm in training mode on small batches"]["suggestion"]


def test_sample_size_sentence_is_conditional_and_exact_where_the_normal_approximation_is_poor():
    near = st.target_statement(65 / 75, 0.90, 75)
    assert near["sample_size_method"] == "normal approximation"
    assert near["samples_needed_for_target"] == st.samples_needed(65 / 75, 0.90)
    assert near["target_text"].startswith("If the true accuracy were 86.67%, about ")
    assert "validation patches would tell it from the 90.00% target with 80% power" in near["target_text"]
    assert "not enough" in near["target_text"]
    far = st.target_statement(1.0, 0.90, 75, split="test")  # n p (1 - p) far below 10: exact binomial
    assert far["sample_size_method"] == "exact binomial"
    # All n correct rejects p = 0.9 (one-sided tail <= 0.025) first when 0.9 ** n <= 0.025: n = 36.
    assert far["samples_needed_for_target"] == math.ceil(math.log(0.025) / math.log(0.9)) == 36
    assert "about 36 test patches" in far["target_text"] and "are enough" in far["target_text"]
    power = st.exact_binomial_power(np.array([35, 36]), 1.0, 0.9)
    assert power[0] < 0.8 <= power[1]


def test_headline_says_optimistic_without_a_test_split_and_labels_validation_with_one():
    without = "\n".join(summary_lines(context(wrong(10), source="raster")))
    assert without.startswith("Validation accuracy is **86.67%**")
    assert "no test split" in without and "optimistic" in without
    ctx = context(wrong(10), source="raster", split="test")
    ctx["validation"] = {"metrics": classification_metrics(Y_TRUE, wrong(2), NAMES), "accuracy_ci95": [0.9, 0.99]}
    with_test = "\n".join(summary_lines(ctx))
    assert with_test.startswith("Test accuracy is **86.67%**")
    assert "Validation accuracy (these patches also chose the epoch, so it is optimistic): 97.33%" in with_test
    assert "no test split" not in with_test
