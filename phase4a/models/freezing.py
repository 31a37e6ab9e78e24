"""Which backbone layers train: freezing modes, BatchNorm mode, and the progressive-unfreezing plan.

Modes (config ``freeze``): first_n (the first ``frozen_layers``, the report's 150), fraction (the
first ``frozen_fraction`` of the layers), until (every layer up to and including ``freeze_until``, a
stage name such as conv3 or any layer name), all (feature extraction), none. Layer indices count the
backbone's input layer, as the report's "175 layers" does.
"""

from __future__ import annotations

import keras

from ..errors import ConfigError
from ..settings import ModelConfig
from .backbones import BACKBONES

FREEZE_MODES = ("first_n", "fraction", "until", "all", "none")


def stage_ends(backbone_name: str, backbone) -> list[tuple[str, int]]:
    """(stage, index of its last layer), bottom to top."""
    names = [layer.name for layer in backbone.layers]
    return [(stage, names.index(last)) for stage, last in BACKBONES[backbone_name].stages]


def _until_index(backbone_name: str, backbone, target: str) -> int:
    stages = dict(stage_ends(backbone_name, backbone))
    if target in stages:
        return stages[target]
    names = [layer.name for layer in backbone.layers]
    if target in names:
        return names.index(target)
    raise ConfigError(
        f"--freeze_until {target!r} is neither a stage ({', '.join(stages)}) nor a layer of {backbone_name}; "
        "pick a stage or a name from backbone_layers.csv"
    )


def frozen_count(backbone_name: str, backbone, model_config: ModelConfig) -> int:
    """How many leading backbone layers the model section freezes."""
    total = len(backbone.layers)
    mode = model_config.freeze
    if mode == "first_n":
        if model_config.frozen_layers > total:
            raise ConfigError(
                f"--frozen_layers {model_config.frozen_layers} exceeds the {total} layers of {backbone_name}; "
                f"use at most {total}"
            )
        return model_config.frozen_layers
    if mode == "fraction":
        return round(model_config.frozen_fraction * total)
    if mode == "until":
        return _until_index(backbone_name, backbone, model_config.freeze_until) + 1
    return total if mode == "all" else 0


def freeze_first_layers(backbone, count: int, bn_inference: bool = False) -> None:
    """Freeze backbone layers [0, count) and let the rest train; with ``bn_inference`` every
    BatchNormalization layer stays frozen, which in Keras 3 means inference mode (moving statistics)."""
    for index, layer in enumerate(backbone.layers):
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = index >= count and not (bn_inference and is_bn)


def backbone_call_kwargs(model_config: ModelConfig) -> dict[str, bool]:
    """How the model calls the backbone.

    The report calls it without a training flag, so its trainable BatchNorm layers normalise with batch
    statistics during fit and update their moving statistics. training=False (bn_inference, or feature
    extraction) asks for every BatchNorm layer in inference mode even where its layer trains, as the
    keras-io transfer-learning guide recommends for fine-tuning on small data. In Keras 3.15 that flag
    alone does not hold under fit: a Functional model passes its own training=True down to nested
    models, overriding the recorded training=False (keras/src/models/functional.py, operation_fn).
    So bn_inference also freezes the BatchNorm layers (freeze_first_layers), which is what the tests
    check; freeze=all freezes them anyway.
    """
    return {"training": False} if model_config.bn_inference or model_config.freeze == "all" else {}


def progressive_plan(backbone_name: str, backbone, model_config: ModelConfig) -> list[int]:
    """Frozen layer count per phase: phase 0 trains the head only, phase k unfreezes the top k stages."""
    ends = [end for _, end in stage_ends(backbone_name, backbone)]
    plan = [len(backbone.layers)]
    for k in range(1, model_config.progressive_stages + 1):
        plan.append(ends[len(ends) - 1 - k] + 1 if k < len(ends) else 0)
    return plan


def initial_frozen_count(backbone_name: str, backbone, model_config: ModelConfig) -> int:
    """The frozen layer count the model starts training with: progressive phase 0's, else the freeze mode's."""
    if model_config.progressive_stages > 0:
        return progressive_plan(backbone_name, backbone, model_config)[0]
    return frozen_count(backbone_name, backbone, model_config)
