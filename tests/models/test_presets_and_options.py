"""Presets resolve; model keys are validated; weights files load back."""

from __future__ import annotations

import numpy as np
import pytest

from phase4a import config as config_module
from phase4a.errors import ConfigError

from ..conftest import make_config

ISSUE_PRESETS = ["report", "feature_extraction", "less_freezing", "higher_lr", "progressive", "mobilenetv2",
                 "vgg16", "imagenet_preprocessing", "augmented", "simplecnn", "recommended"]  # fmt: skip


@pytest.mark.parametrize("name", ISSUE_PRESETS)
def test_every_preset_resolves_with_a_one_line_summary(name):
    preset = config_module.PRESETS[name]
    assert preset.summary and "\n" not in preset.summary
    config_module.resolve(name)
    config_module.resolve(name, {"weights": "none"})


def test_report_preset_keeps_the_reports_behaviour():
    config = config_module.resolve("report")
    assert (config["freeze"], config["frozen_layers"], config["input_normalisation"], config["bn_inference"]) == (
        "first_n", 150, "auto", False)  # fmt: skip
    assert config_module.input_normalisation(config) == "none"  # auto: the report's reflectance, for a transfer model
    assert (config["band_adapter"], config["backbone"], config["progressive_stages"]) == ("conv1x1", "resnet50", 0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"input_size": 16}, "input_size"),
        ({"band_adapter": "bands3"}, "band_adapter"),
        ({"freeze": "half"}, "freeze"),
        ({"backbone": "resnet18"}, "backbone"),
        ({"input_normalisation": "caffe"}, "input_normalisation"),
    ],
)
def test_bad_model_values_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        make_config(**overrides)


def test_weights_file_loads_back_equal(tmp_path):
    from phase4a.models.backbones import build_architecture, load_backbone

    saved = build_architecture("mobilenetv2", (32, 32, 3))
    path = tmp_path / "mobilenetv2.weights.h5"
    saved.save_weights(path)
    config_module.resolve("mobilenetv2", {"weights": str(path)})  # the path option validates
    loaded, source = load_backbone("mobilenetv2", str(path), (32, 32, 3))
    assert source["kind"] == "file" and source["sha256"]
    for a, b in zip(saved.weights, loaded.weights, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
