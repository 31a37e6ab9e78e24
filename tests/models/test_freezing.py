"""Freezing modes, trainable counts, and what a training step changes (weights, BatchNorm statistics)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from phase4a.accel.feature_cache import plan_cache
from phase4a.errors import ConfigError
from phase4a.models.freezing import freeze_first_layers, frozen_count, initial_frozen_count, progressive_plan
from phase4a.models.transfer import build_model, find_backbone, parameter_counts
from phase4a.settings import sections

from ..conftest import N_CLASSES, PATCH_SHAPE, make_config, model_parts

HEAD = 2048 * 128 + 128 + 128 * 5 + 5


@pytest.mark.parametrize(
    ("overrides", "frozen"),
    [
        ({}, 150),  # the report
        ({"freeze": "fraction", "frozen_fraction": 0.5}, 88),
        ({"freeze": "until", "freeze_until": "conv3"}, 81),  # through conv3_block4_out
        ({"freeze": "until", "freeze_until": "conv4_block6_out"}, 143),
        ({"freeze": "all"}, 175),
        ({"freeze": "none"}, 0),
    ],
)
def test_frozen_count_per_mode(overrides, frozen, backbone_cache):
    assert frozen_count("resnet50", backbone_cache("resnet50"), sections(make_config(**overrides)).model) == frozen


def test_bad_freezing_is_a_config_error(backbone_cache):
    with pytest.raises(ConfigError, match="frozen_layers"):
        frozen_count("vgg16", backbone_cache("vgg16"), sections(make_config()).model)  # 150 > 19 layers
    with pytest.raises(ConfigError, match="freeze_until"):
        frozen_count(
            "resnet50", backbone_cache("resnet50"), sections(make_config(freeze="until", freeze_until="conv9")).model
        )


def test_feature_extraction_trains_only_the_head_on_cacheable_features(backbone_cache):
    config = make_config("feature_extraction")
    model = build_model(*model_parts(config), backbone_cache("resnet50"), PATCH_SHAPE, N_CLASSES)
    backbone = find_backbone(model)  # first_conv: a widened copy, so the shared backbone is untouched
    freeze_first_layers(backbone, initial_frozen_count("resnet50", backbone, sections(config).model))
    assert parameter_counts(model)["trainable"] == HEAD
    # Nothing trainable in front of the head: step 04 computes the backbone's features once.
    plan = plan_cache(model)
    assert plan is not None and plan.head_layers == ["head_dense", "head_dropout", "predictions"]


def test_progressive_plan_unfreezes_stage_by_stage(backbone_cache):
    plan = progressive_plan("resnet50", backbone_cache("resnet50"), sections(make_config("progressive")).model)
    assert plan == [175, 143, 81, 39]  # all, then conv5, conv4, conv3 trainable


def one_step(config: dict, patches, save_dir=None):
    """Build a MobileNetV2 model with half its layers frozen, optionally round-trip it through .keras,
    run one training step; return (weights before, weights after) of the backbone by variable path."""
    from phase4a.models.backbones import build_architecture

    keras.utils.set_random_seed(0)
    model = build_model(*model_parts(config), build_architecture("mobilenetv2", (32, 32, 3)), PATCH_SHAPE, N_CLASSES)
    backbone = find_backbone(model)
    freeze_first_layers(
        backbone, initial_frozen_count("mobilenetv2", backbone, sections(config).model), config["bn_inference"]
    )
    if save_dir is not None:
        model.save(save_dir / "m.keras")
        model = keras.models.load_model(save_dir / "m.keras")
    backbone = find_backbone(model)
    before = {v.path: np.array(v) for v in backbone.weights}
    # Eager: one step does not pay for tracing the graph (the same update rules apply).
    model.compile(keras.optimizers.Adam(config["learning_rate"]), "sparse_categorical_crossentropy", run_eagerly=True)
    model.train_on_batch(*patches)
    return backbone, before, {v.path: np.array(v) for v in backbone.weights}


def changed(before, after, name_part):
    return [path for path in before if name_part in path and not np.array_equal(before[path], after[path])]


@pytest.mark.parametrize("bn_inference", [False, True])
def test_training_step_respects_freezing_and_batchnorm_mode(bn_inference, patches, tmp_path):
    config = make_config(backbone="mobilenetv2", freeze="fraction", frozen_fraction=0.5, bn_inference=bn_inference,
                         learning_rate=1e-2)  # fmt: skip
    backbone, before, after = one_step(config, patches, save_dir=tmp_path)  # as step 04 loads it
    frozen = {v.path for layer in backbone.layers if not layer.trainable for v in layer.weights}
    assert frozen and not [path for path in frozen if not np.array_equal(before[path], after[path])]
    assert changed(before, after, "block_16_project/kernel")  # an unfrozen conv learns
    # In the unfrozen half, BatchNorm statistics move during training unless bn_inference keeps them.
    assert bool(changed(before, after, "moving_")) is not bn_inference
