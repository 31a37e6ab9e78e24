"""Input normalisation inside the model (config ``input_normalisation``; docs/models.md).

- none: reflectance in [0, 1] goes in as is (the report).
- standardise: a ``Normalization`` layer right after the input (``input_standardise``) holds each band's
  mean and variance on the training split; step 03 sets them (:func:`adapt_normalisation`) from
  ``X_train`` only, and they are saved with the model, so evaluation and any later prediction apply
  the same numbers to raw reflectance.
- imagenet (transfer model): standardise, then after the band adapter a second ``Normalization``
  (``stem_match``) maps each channel onto the mean and std ImageNet images have there in 0-255, as
  measured on the training split's adapter output, then the backbone's own preprocess_input
  (preprocessing.py): the stem sees the per-channel statistics its ImageNet weights were trained on.
  The conv1x1 adapter keeps training, so the match holds exactly for the untrained model (step 03
  records it) and drifts as the adapter learns.

Every layer is a built-in Keras layer: saved models load in any process without custom classes.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from ..settings import ModelConfig
from .adapters import first_conv_sources
from .backbones import all_layers
from .inputs import ModelInputs
from .preprocessing import imagenet_pixel_targets, imagenet_stem_targets

STANDARDISE_LAYER = "input_standardise"
STEM_MATCH_LAYER = "stem_match"
# A band (or adapter channel) whose spread on the training split is below this is centred, not
# divided by ~0 (Keras' Normalization would divide by its epsilon, 1e-7, and blow it up).
MIN_STD = 1e-6
STATISTICS_BATCH = 256


def standardise(x):
    """Per-band standardisation; its statistics are set by :func:`adapt_normalisation`."""
    return keras.layers.Normalization(axis=-1, name=STANDARDISE_LAYER)(x)


def stem_match(x):
    """Per-channel map onto ImageNet's statistics; set by :func:`adapt_normalisation`."""
    return keras.layers.Normalization(axis=-1, name=STEM_MATCH_LAYER)(x)


def _accumulate(batches) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (population) std over every axis but the last, in float64."""
    total, total_sq, count = 0.0, 0.0, 0
    for batch in batches:
        values = np.asarray(batch, dtype=np.float64).reshape(-1, np.shape(batch)[-1])
        total = total + values.sum(axis=0)
        total_sq = total_sq + np.square(values).sum(axis=0)
        count += len(values)
    mean = total / count
    variance = np.maximum(total_sq / count - np.square(mean), 0.0)
    return mean, np.sqrt(variance)


def channel_statistics(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and std of ``X`` (N, H, W, C), float64, centred in two passes for accuracy."""
    values = np.asarray(X, dtype=np.float64).reshape(-1, np.shape(X)[-1])
    mean = values.mean(axis=0)
    return mean, np.sqrt(np.mean(np.square(values - mean), axis=0))


def _set_statistics(layer, mean: np.ndarray, std: np.ndarray) -> None:
    std = np.where(std < MIN_STD, 1.0, std)
    layer.adapt_mean.assign(np.asarray(mean, dtype="float32"))
    layer.adapt_variance.assign(np.asarray(np.square(std), dtype="float32"))
    layer.finalize_state()


def refresh_normalisation(model: keras.Model) -> None:
    """Make every Normalization layer (nested models included) apply the mean and variance its weights
    now hold. Keras recomputes them when it loads a file; assigning the weights directly (``set_weights``,
    ``Variable.assign``) does not, and the layer keeps applying the values it had before."""
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.Normalization):
            layer.finalize_state()


def _layer(model: keras.Model, name: str):
    return next((layer for layer in model.layers if layer.name == name), None)


def _submodel_statistics(model: keras.Model, tensor, X: np.ndarray, batch_size: int):
    """Per-channel mean and std of ``tensor`` (a symbolic tensor of ``model``) over ``X``."""
    sub = keras.Model(model.inputs[0], tensor)
    batches = (sub(X[start : start + batch_size], training=False) for start in range(0, len(X), batch_size))
    return _accumulate(keras.ops.convert_to_numpy(batch) for batch in batches)


def stem_source_channels(model_config: ModelConfig, inputs: ModelInputs) -> list[int] | None:
    """For band_adapter first_conv, the backbone channel whose kernel each band took; else None."""
    if model_config.band_adapter == "first_conv":
        return first_conv_sources(model_config.backbone, list(inputs.band_names))
    return None


def adapt_normalisation(
    model: keras.Model,
    X_train: np.ndarray,
    model_config: ModelConfig,
    inputs: ModelInputs,
    batch_size: int = STATISTICS_BATCH,
) -> dict[str, Any]:
    """Set the model's normalisation layers from the training split only; returns what was set.

    ``input_standardise`` gets each band's mean and std of ``X_train``; ``stem_match`` (imagenet) gets
    the mean and std of the adapter's output on ``X_train`` mapped onto ImageNet's: with m, s measured
    and M, S wanted, Normalization's (x - mean) / sqrt(variance) with mean = m - M s / S and
    variance = (s / S)^2 is (x - m) S / s + M."""
    normalisation = model_config.normalisation(inputs.auxiliary)
    record: dict[str, Any] = {"input_normalisation": normalisation, "fitted_on": "training split"}
    layer = _layer(model, STANDARDISE_LAYER)
    if layer is not None:
        mean, std = channel_statistics(X_train)
        _set_statistics(layer, mean, std)
        record["band_mean"], record["band_std"] = mean.tolist(), std.tolist()
        record["training_samples"] = int(len(X_train))
    stem = _layer(model, STEM_MATCH_LAYER)
    if stem is not None:
        measured_mean, measured_std = _submodel_statistics(model, stem.input, X_train, batch_size)
        measured_std = np.where(measured_std < MIN_STD, 1.0, measured_std)
        target_mean, target_std = (
            np.asarray(v)
            for v in imagenet_pixel_targets(model_config.backbone, stem_source_channels(model_config, inputs))
        )
        scale = measured_std / target_std
        _set_statistics(stem, measured_mean - target_mean * scale, scale)
        record["stem_match"] = {
            "adapter_output_mean": measured_mean.tolist(),
            "adapter_output_std": measured_std.tolist(),
            "target_mean_0_255": target_mean.tolist(),
            "target_std_0_255": target_std.tolist(),
        }
    return record


def stem_layer(model: keras.Model):
    """The layer whose input is the stem: the nested backbone, or the SimpleCNN's first convolution."""
    backbone = next((layer for layer in model.layers if isinstance(layer, keras.Model)), None)
    if backbone is not None:
        return backbone
    return next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))


def stem_tensor(model: keras.Model):
    """The symbolic tensor entering the stem (the model's layers form a chain, as step 03 builds them)."""
    layers = list(model.layers)
    index = layers.index(stem_layer(model))
    before = layers[index - 1]
    return model.inputs[0] if isinstance(before, keras.layers.InputLayer) else before.output


def stem_statistics(
    model: keras.Model,
    X: np.ndarray,
    model_config: ModelConfig,
    inputs: ModelInputs,
    batch_size: int = STATISTICS_BATCH,
) -> dict[str, Any]:
    """Per-channel mean and std of the tensor entering the backbone (or the SimpleCNN's first
    convolution) over ``X``, and for imagenet the target ImageNet images have there."""
    mean, std = _submodel_statistics(model, stem_tensor(model), X, batch_size)
    layers = list(model.layers)
    before = layers[layers.index(stem_layer(model)) - 1]
    result: dict[str, Any] = {
        "entering": stem_layer(model).name,
        "after_layer": before.name,
        "mean": mean.tolist(),
        "std": std.tolist(),
    }
    if model_config.normalisation(inputs.auxiliary) == "imagenet":
        sources = stem_source_channels(model_config, inputs)
        target_mean, target_std = imagenet_stem_targets(model_config.backbone, sources)
        result["imagenet_target_mean"], result["imagenet_target_std"] = target_mean, target_std
    return result


def batchnorm_layers(model: keras.Model) -> int:
    """BatchNormalization layers in ``model``, those of the nested backbone included."""
    return sum(1 for layer in all_layers(model) if isinstance(layer, keras.layers.BatchNormalization))
