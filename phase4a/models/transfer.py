"""The transfer model: upsampling, band adapter, pretrained backbone, and a small classifier head."""

from __future__ import annotations

from typing import Any

import keras

from ..errors import ConfigError
from .adapters import apply_band_adapter


def build_transfer_model(
    config: dict[str, Any], backbone: keras.Model, patch_shape: tuple[int, int, int], n_classes: int
):
    """Input patches -> UpSampling2D -> band adapter -> backbone -> GAP -> Dense -> Dropout -> softmax."""
    inputs = keras.Input(shape=patch_shape, name="patches")
    x = inputs
    if config["upsample_factor"] > 1:
        x = keras.layers.UpSampling2D(
            size=config["upsample_factor"], interpolation=config["upsample_interpolation"], name="upsample"
        )(x)
    x = apply_band_adapter(config["band_adapter"], x, config)
    # The report calls the backbone without a training flag, so its trainable BatchNorm layers
    # normalise with batch statistics during fit.
    x = backbone(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = keras.layers.Dense(config["dense_units"], activation="relu", name="head_dense")(x)
    x = keras.layers.Dropout(config["dropout"], name="head_dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"transfer_{backbone.name}")


def freeze_first_layers(backbone: keras.Model, count: int) -> None:
    """Freeze backbone layers [0, count) and let the rest train."""
    if count > len(backbone.layers):
        raise ConfigError(
            f"--frozen_layers {count} exceeds the {len(backbone.layers)} layers of {backbone.name}; "
            f"use at most {len(backbone.layers)}"
        )
    for index, layer in enumerate(backbone.layers):
        layer.trainable = index >= count


def parameter_counts(model: keras.Model) -> dict[str, int]:
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    frozen = sum(int(keras.ops.size(w)) for w in model.non_trainable_weights)
    return {"trainable": trainable, "non_trainable": frozen, "total": trainable + frozen}


def layer_counts(backbone: keras.Model) -> dict[str, int]:
    frozen = sum(1 for layer in backbone.layers if not layer.trainable)
    return {"layers": len(backbone.layers), "frozen": frozen, "trainable": len(backbone.layers) - frozen}
