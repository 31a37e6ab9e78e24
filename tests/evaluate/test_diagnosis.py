"""Diagnoses after training (phase4a/evaluate/diagnosis.py) follow the per-epoch records and the configuration."""

import pytest

from phase4a import metrics as keys
from phase4a.config import DEFAULTS
from phase4a.evaluate.diagnosis import diagnose

REPORT_CONFIG = {
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
CLASS_NAMES = ["Agriculture", "Forest", "Parcels", "Urban", "Water"]
DATA_STATS = {
    "class_names": CLASS_NAMES,
    "splits": {
        "train": {
            "samples": 300,
            "class_counts": dict(zip(CLASS_NAMES, [70, 60, 60, 50, 60], strict=True)),
            "band_ranges_scaled": {"B2": {"min": 0.0, "max": 0.25}, "B8": {"min": 0.01, "max": 0.5}},
        },
        "validation": {"samples": 75, "class_counts": dict(zip(CLASS_NAMES, [10, 21, 19, 8, 17], strict=True))},
    },
}


def collapsed_records(epochs: int = 11, top_class: int = 0):
    return [
        {
            "epoch": e,
            "val_loss": 2.308,
            keys.DISTINCT: 1,
            keys.TOP_CLASS: top_class,
            keys.TOP_SHARE: 1.0,
            keys.COLLAPSED: 1,
            keys.FLAT: int(e >= 5),
            keys.FLAT_SINCE: 1 if e >= 5 else 0,
        }
        for e in range(1, epochs + 1)
    ]


def cause_names(diagnosis):
    return {cause["name"] for cause in diagnosis["causes"]}


def test_collapse_finding_names_every_collapsed_class_with_its_epochs():
    records = collapsed_records(epochs=4, top_class=2)
    records[2][keys.TOP_CLASS] = 1  # epoch 3 collapses to Forest, the others to Parcels
    collapse = diagnose(records, REPORT_CONFIG, DATA_STATS, backbone_layers=175)["collapse"]
    assert collapse["epochs_by_class"] == {"Parcels": [1, 2, 4], "Forest": [3]}
    assert "Parcels (epochs 1, 2, 4); Forest (epoch 3)" in collapse["text"]
    assert "Parcels 25.33%, Forest 28.00%" in collapse["text"]
    assert "Agriculture, is not among them" in collapse["text"]


def test_collapse_finding_on_the_training_majority():
    collapse = diagnose(collapsed_records(epochs=3), REPORT_CONFIG, DATA_STATS)["collapse"]
    assert collapse["text"].startswith(
        "In 3 of 3 epochs (from epoch 1) every validation sample is predicted as Agriculture."
    )
    assert "the answer of a head" not in collapse["text"]  # no training accuracy recorded: no claim about it

    def finding(training_accuracy):
        records = [{**record, "accuracy": training_accuracy} for record in collapsed_records(epochs=3)]
        return diagnose(records, REPORT_CONFIG, DATA_STATS)["collapse"]["text"]

    # Training accuracy at the majority class's share (23.33%): the head learnt only the prior.
    assert "training accuracy stayed at most 24.00% in those epochs, the answer of a head" in finding(0.24)
    assert "the answer of a head" not in finding(0.83)  # it learnt the training split: not that


def test_diagnose_the_report_run():
    diagnosis = diagnose(collapsed_records(), REPORT_CONFIG, DATA_STATS, backbone_layers=175)
    assert diagnosis["collapse"]["flag"] and diagnosis["collapse"]["epoch"] == 1
    assert diagnosis["collapse"]["accuracy_if_collapsed"] == pytest.approx(10 / 75)
    assert diagnosis["flat_loss"] == {**diagnosis["flat_loss"], "flag": True, "epoch": 1, "until": 11}
    assert diagnosis["last_stage_side"] == 1
    causes = {cause["name"]: cause for cause in diagnosis["causes"]}
    assert set(causes) == {
        "input scale vs the backbone's preprocessing",
        "BatchNorm in training mode on small batches",
        "feature-map size at the last stage",
        "share of frozen layers",
    }
    assert "510x" in causes["input scale vs the backbone's preprocessing"]["evidence"]  # 255 / 0.5
    frozen = causes["share of frozen layers"]["evidence"]
    assert "150 of 175" in frozen and "85.7%" in frozen
    assert "1x1x2048" in causes["feature-map size at the last stage"]["evidence"]
    assert "last batch of each epoch holds only 12" in causes["BatchNorm in training mode on small batches"]["evidence"]
    assert "13.33%" in diagnosis["summary"] and "Agriculture" in diagnosis["summary"]


@pytest.mark.parametrize(
    "change, gone, added",
    [
        ({"input_normalisation": "imagenet"}, "input scale vs the backbone's preprocessing", None),
        ({"weights": "none"}, "input scale vs the backbone's preprocessing", None),
        ({"bn_inference": True}, "BatchNorm in training mode on small batches", None),
        ({"upsample_factor": 28}, "feature-map size at the last stage", None),
        ({"frozen_layers": 50}, "share of frozen layers", None),
        ({"learning_rate": 1e-2}, None, "learning rate"),
    ],
)
def test_diagnose_causes_follow_the_config(change, gone, added):
    diagnosis = diagnose(collapsed_records(), {**REPORT_CONFIG, **change}, DATA_STATS, backbone_layers=175)
    names = cause_names(diagnosis)
    assert gone is None or gone not in names
    assert added is None or added in names


def test_diagnose_evidence_uses_the_numbers():
    even = diagnose(collapsed_records(), {**REPORT_CONFIG, "batch_size": 50}, DATA_STATS, backbone_layers=175)
    bn = next(c for c in even["causes"] if c["name"].startswith("BatchNorm"))
    assert "batch of 50" in bn["evidence"] and "last batch" not in bn["evidence"]  # 300 splits evenly into 50s
    larger = diagnose(collapsed_records(), {**REPORT_CONFIG, "upsample_factor": 8}, DATA_STATS)
    feature_map = next(c for c in larger["causes"] if c["name"].startswith("feature-map"))
    assert "64x64" in feature_map["evidence"] and "2x2x2048" in feature_map["evidence"]
    assert "share of frozen layers" not in cause_names(larger)  # no layer count given


def test_diagnose_a_simplecnn_lists_no_backbone_causes():
    config = {**REPORT_CONFIG, "model_type": "simplecnn", "learning_rate": 1e-2}
    diagnosis = diagnose(collapsed_records(), config, DATA_STATS, backbone_layers=11)
    assert cause_names(diagnosis) == {"learning rate"} and diagnosis["last_stage_side"] is None


def test_diagnose_without_collapse_lists_no_causes():
    not_collapsed = {keys.COLLAPSED: 0, keys.FLAT: 0, keys.FLAT_SINCE: 0, keys.DISTINCT: 5}
    records = [{**r, **not_collapsed} for r in collapsed_records(4)]
    diagnosis = diagnose(records, REPORT_CONFIG, DATA_STATS, backbone_layers=175)
    assert not diagnosis["collapse"]["flag"] and not diagnosis["flat_loss"]["flag"]
    assert diagnosis["causes"] == [] and "No collapse" in diagnosis["summary"]
