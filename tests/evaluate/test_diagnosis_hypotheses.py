"""The diagnosis names hypotheses, not causes (phase4a/evaluate/diagnosis.py): each keyed by a stable id,
named only where its own rule fires, with the single-factor preset that would test it; ties for the
most frequent class broken by a stated rule. Measurements written by hand: no model, no TensorFlow."""

import copy
import re

import pytest

from phase4a import metrics as keys
from phase4a.config import DEFAULTS, PRESETS
from phase4a.evaluate.diagnosis import diagnose, hypothesis_status

from ..conftest import make_config

NAMES = ["Agriculture", "Forest", "Parcels", "Urban", "Water"]
DATA_STATS = {
    "class_names": NAMES,
    "splits": {
        "train": {"samples": 300, "class_counts": dict(zip(NAMES, [40, 84, 76, 32, 68]))},  # Forest: 28%
        "validation": {"samples": 64, "class_counts": dict(zip(NAMES, [16, 16, 16, 8, 8]))},
    },
}
# Forest and Parcels tie at 80 of 300 training patches (26.67%), in two orders of the counts.
TIED = ["Agriculture", 40, "Forest", 80, "Parcels", 80, "Urban", 40, "Water", 60]
TIED_COUNTS = dict(zip(TIED[::2], TIED[1::2]))
PARCELS_FIRST = {name: TIED_COUNTS[name] for name in ["Parcels", "Forest", "Agriculture", "Urban", "Water"]}
# The configuration-only diagnosis of the report's run (tests/evaluate/test_diagnosis.py).
REPORT_RUN = {
    **DEFAULTS,
    "backbone": "resnet50",
    "weights": "imagenet",
    "frozen_layers": 150,
    "learning_rate": 1e-4,
    "upsample_factor": 4,
    "band_adapter": "conv1x1",
    "patch_size": 8,
    "batch_size": 32,
}
CAUSE_WORD = re.compile(r"\bcaus(e|es|ed|ing)\b", re.IGNORECASE)


def with_counts(counts: dict) -> dict:
    stats = copy.deepcopy(DATA_STATS)
    stats["splits"]["train"]["class_counts"] = counts
    return stats


def measured(training=0.30, validation=0.28, top_class="Forest", top_share=0.5) -> dict:
    """What measurements.measure returns for a model without BatchNorm whose features vary."""
    return {
        "split": "validation",
        "samples": 64,
        "forward_passes": 1,
        "batchnorm": {"applicable": False, "reason": "the model has no BatchNormalization layer"},
        "features": {
            "features": 8,
            "relative_spread": 0.5,
            "constant_features": 0,
            "mean_abs_value": 1.0,
            "layer": "global_pool",
        },
        "stem": {"entering": None, "recorded": None, "validation": None, "target": None, "note": "random weights"},
        "accuracy": {
            "measured_validation": validation,
            "epoch": 1,
            "training": training,
            "validation": validation,
            "gap": training - validation,
            "training_max": training,
        },
        "predictions": {"top_class": top_class, "top_class_index": NAMES.index(top_class), "top_share": top_share},
    }


def flat_records(epochs: int = 6) -> list[dict]:
    return [
        {"epoch": e, "val_loss": 1.6, keys.FLAT: int(e >= 5), keys.FLAT_SINCE: 1 if e >= 5 else 0}
        for e in range(1, epochs + 1)
    ]


def collapsed_records(top_class: int, epochs: int = 3) -> list[dict]:
    return [
        {"epoch": e, "val_loss": 2.3, "accuracy": 0.27, keys.COLLAPSED: 1, keys.TOP_CLASS: top_class, keys.FLAT: 0}
        for e in range(1, epochs + 1)
    ]


def by_id(diagnosis: dict) -> dict[str, dict]:
    return {entry["id"]: entry for entry in diagnosis["causes"]}


REPORT = make_config("report", batch_size=16)
FEW_FROZEN = {"backbone_layers": {"layers": 175, "frozen": 10, "trainable": 165}}
MANY_FROZEN = {"backbone_layers": {"layers": 175, "frozen": 150, "trainable": 25}}


def assert_hypothesis_wording(diagnosis: dict) -> None:
    for entry in diagnosis["causes"]:
        assert entry["hypothesis"].startswith("Hypothesis"), entry["hypothesis"]
        for field in ("name", "hypothesis", "evidence", "suggestion"):
            assert not CAUSE_WORD.search(entry[field]), f"{entry['id']} {field}: {entry[field]}"
        assert entry["preset"] is None or entry["preset"] in PRESETS
    assert not CAUSE_WORD.search(diagnosis["summary"]), diagnosis["summary"]


def test_configuration_hypotheses_have_ids_presets_and_no_cause_wording():
    records = [{**record, keys.FLAT: 1, keys.FLAT_SINCE: 1} for record in collapsed_records(0, epochs=11)]
    diagnosis = diagnose(records, REPORT_RUN, DATA_STATS, backbone_layers=175)
    presets = {key: entry["preset"] for key, entry in by_id(diagnosis).items()}
    assert presets == {
        "input_scale": "f_imagenet_preprocessing",
        "batchnorm_statistics": "f_bn_inference",
        "feature_map_size": "f_input_size",
        "frozen_share": "f_less_freezing",
    }
    assert {entry["basis"] for entry in diagnosis["causes"]} == {"configuration"}
    assert "Hypotheses from the configuration alone" in diagnosis["summary"]
    assert_hypothesis_wording(diagnosis)
    # The human-readable fields report.py reads stay as they were.
    assert by_id(diagnosis)["frozen_share"]["name"] == "share of frozen layers"
    high = diagnose(records, {**REPORT_RUN, "learning_rate": 1e-2}, DATA_STATS, backbone_layers=175)
    assert by_id(high)["learning_rate"]["preset"] is None  # no preset lowers the learning rate


def test_measured_hypotheses_say_so_in_the_summary_and_each_entry():
    diagnosis = diagnose([], REPORT, DATA_STATS, 175, MANY_FROZEN, measurements=measured())
    entry = by_id(diagnosis)["frozen_share"]
    assert entry["preset"] == "f_less_freezing" and entry["basis"] == "measurements"
    assert entry["name"] == "share of frozen layers" and "f_less_freezing" in entry["suggestion"]
    assert "Hypotheses consistent with the measurements on the validation split" in diagnosis["summary"]
    assert "frozen_share" in diagnosis["summary"] and "--preset f_less_freezing" in diagnosis["summary"]
    assert_hypothesis_wording(diagnosis)
    none = diagnose([], REPORT, DATA_STATS, measurements=measured(training=0.9, validation=0.88))
    assert none["causes"] == [] and "No hypothesis is consistent with the measurements" in none["summary"]


def test_learning_rate_is_named_only_where_its_own_rule_fires():
    # Training at the majority share, few frozen layers, learning rate 1e-4 (inside the usual range):
    # the underfitting is measured, but nothing implicates the learning rate.
    config = {**REPORT, "frozen_layers": 10}
    diagnosis = diagnose([], config, DATA_STATS, 175, FEW_FROZEN, measurements=measured())
    assert "learning rate" not in {entry["name"] for entry in diagnosis["causes"]}
    assert "learning_rate" not in by_id(diagnosis)
    underfit = by_id(diagnosis)["underfitting"]
    assert underfit["preset"] is None and "28.00%" in underfit["evidence"]
    assert_hypothesis_wording(diagnosis)
    # Its rule fires: below the range with a flat validation loss (f_higher_lr raises it) ...
    low = diagnose(flat_records(), {**config, "learning_rate": 1e-6}, DATA_STATS, 175, FEW_FROZEN, measured())
    assert by_id(low)["learning_rate"]["preset"] == "f_higher_lr" and "underfitting" not in by_id(low)
    # ... but not below the range without a flat loss; above it for pretrained weights, with no preset.
    assert "learning_rate" not in by_id(
        diagnose([], {**config, "learning_rate": 1e-6}, DATA_STATS, 175, FEW_FROZEN, measured())
    )
    high = {**config, "learning_rate": 1e-2, "weights": "imagenet"}
    assert by_id(diagnose([], high, DATA_STATS, 175, FEW_FROZEN, measured()))["learning_rate"]["preset"] is None


@pytest.mark.parametrize("counts", [TIED_COUNTS, PARCELS_FIRST], ids=["forest_first", "parcels_first"])
def test_a_tie_for_the_most_frequent_class_is_broken_by_label_order_and_said(counts):
    stats = with_counts(counts)
    # The head predicts Parcels, one of the two largest classes: the class-prior hypothesis, in either order.
    m = measured(training=0.6, validation=0.5, top_class="Parcels", top_share=0.95)
    prior = by_id(diagnose([], REPORT, stats, measurements=m))["class_prior"]
    assert prior["preset"] == "f_class_weights" and "tied" in prior["evidence"]
    assert "Forest and Parcels" in prior["evidence"] and "26.67%" in prior["evidence"]
    # Underfitting names the first tied class in label order (Forest) and says there is a tie.
    underfit = by_id(diagnose([], {**REPORT, "frozen_layers": 10}, stats, 175, FEW_FROZEN, measured(0.27, 0.25)))
    evidence = underfit["underfitting"]["evidence"]
    assert "Forest, tied with Parcels, 26.67%" in evidence
    # The collapse finding on Parcels counts it as the training majority (a tie), whatever the order.
    collapse = diagnose(collapsed_records(top_class=2), REPORT, stats)["collapse"]
    assert collapse["is_training_majority"] is True and "tied" in collapse["text"]
    assert (
        "Forest and Parcels are the most frequent training classes (26.67% of the training patches each, tied)"
        in (collapse["text"])
    )


def test_diagnoses_from_either_order_of_tied_counts_are_identical():
    m = measured(training=0.6, validation=0.5, top_class="Parcels", top_share=0.95)
    first = diagnose(collapsed_records(2), REPORT, with_counts(TIED_COUNTS), measurements=m)
    second = diagnose(collapsed_records(2), REPORT, with_counts(PARCELS_FIRST), measurements=m)
    assert first == second


@pytest.mark.parametrize(
    "verdict, status",
    [
        ("better", "supported"),
        ("worse", "not supported"),
        ("not distinguishable", "not supported"),
        ("not distinguishable at this sample size", "not supported"),
        ("both collapsed", "not supported"),
        ("equivalent within ±5 pp", "not supported"),  # the sweep's newer verdicts (phase4a/sweep/stats.py)
        ("uninformative: both predict one class", "not supported"),
        (None, "untested"),
        ("no verdict: fewer than 5 seeds", "untested"),
    ],
)
def test_hypothesis_status_from_the_sweep_verdict(verdict, status):
    assert hypothesis_status({"id": "batchnorm_statistics", "preset": "f_bn_inference"}, verdict) == status


def test_a_hypothesis_without_a_preset_is_untested():
    assert hypothesis_status({"id": "underfitting", "preset": None}, "better") == "untested"
