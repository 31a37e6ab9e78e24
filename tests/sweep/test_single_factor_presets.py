"""The single-factor presets: each changes exactly one key from report, and says which, with its value."""

import pytest

from phase4a import config as config_module
from phase4a.sweep import plan

SINGLE = plan.single_factor_presets()
# What the issue asks to vary one at a time, as (key, value) after resolving.
EXPECTED_KEYS = {
    "bn_inference",
    "input_normalisation",
    "frozen_layers",
    "learning_rate",
    "augment",
    "class_weights",
    "input_size",
    "band_adapter",
}


def changed_keys(name):
    preset = config_module.resolve(name, {"weights": "none"})
    report = config_module.resolve("report", {"weights": "none"})
    return {key: value for key, value in preset.items() if key != "preset" and report[key] != value}


def test_there_are_single_factor_presets_for_every_factor():
    keys = {key for name in SINGLE for key in changed_keys(name)}
    assert keys == EXPECTED_KEYS
    normalisations = {changed_keys(name).get("input_normalisation") for name in SINGLE} - {None}
    assert normalisations == {"standardise", "imagenet"}  # input standardisation and ImageNet preprocessing alone


@pytest.mark.parametrize("name", SINGLE)
def test_each_changes_exactly_one_key_from_report(name):
    preset = config_module.PRESETS[name]
    assert len(preset.overrides) == 1  # as written in the preset table...
    assert not config_module.PRESETS["report"].overrides
    changes = changed_keys(name)
    assert len(changes) == 1, changes  # ...and as resolved
    ((key, value),) = changes.items()
    assert list(preset.overrides) == [key]
    summary = preset.summary
    assert "\n" not in summary and summary.startswith("one factor: ")
    if isinstance(value, bool):
        shown = {str(value).lower()}
    elif isinstance(value, float):
        shown = {f"{value:g}", f"{value:.0e}".replace("e-0", "e-")}  # 0.0005 or 5e-4
    else:
        shown = {str(value)}
    assert any(f"{key} {text}" in summary for text in shown), summary  # names the key and its value


def test_the_single_factor_group_expands_in_the_preset_tables_order():
    assert plan.parse_presets("single_factor,simplecnn", ()) == ["report", *SINGLE, "simplecnn"]
