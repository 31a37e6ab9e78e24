"""The transfer model: input normalisation, resizing, input scaling, band adapter, backbone preprocessing,
backbone, head."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import keras
import numpy as np

from ..errors import DataError
from ..io import read_json, write_npz
from ..seeding import seed_everything
from ..settings import ModelConfig, RunConfig
from ..stages import RunDir
from .adapters import apply_band_adapter, first_conv_sources, widen_first_conv
from .backbones import load_backbone
from .freezing import backbone_call_kwargs, freeze_first_layers, initial_frozen_count
from .inputs import ModelInputs, model_inputs
from .normalisation import refresh_normalisation, standardise, stem_match
from .preprocessing import PIXEL_RANGE, band_preprocess, rgb_preprocess
from .simple_cnn import build_simple_cnn


def backbone_input_side(model_config: ModelConfig, patch_side: int) -> int:
    """input_size when set, else patch side x upsample_factor (1 = use larger patches directly)."""
    return model_config.input_size or patch_side * model_config.upsample_factor


def backbone_input_shape(model_config: ModelConfig, patch_shape) -> tuple[int, int, int]:
    side = backbone_input_side(model_config, patch_shape[0])
    return (side, side, 3)


def scales_to_pixels(model_config: ModelConfig, inputs: ModelInputs) -> bool:
    """Reflectance in [0, 1] becomes 0-255 for the true-colour adapter when nothing else normalises it
    (standardise and imagenet replace the x255: the stem match puts ImageNet's 0-255 statistics there)."""
    return model_config.normalisation(inputs.auxiliary) == "none" and model_config.band_adapter == "rgb"


def resize(x, model_config: ModelConfig, patch_side: int):
    side = backbone_input_side(model_config, patch_side)
    if side == patch_side:
        return x
    interpolation = model_config.upsample_interpolation
    if model_config.input_size:
        return keras.layers.Resizing(side, side, interpolation=interpolation, name="resize")(x)
    return keras.layers.UpSampling2D(size=model_config.upsample_factor, interpolation=interpolation, name="upsample")(x)


def model_band_names(inputs: ModelInputs, patch_shape: tuple[int, int, int]) -> list[str]:
    """The name of each input band (Sentinel-2 bands, then auxiliary layers); one per channel of the patches."""
    names = list(inputs.band_names)
    if len(names) != patch_shape[-1]:
        raise DataError(
            f"the patches have {patch_shape[-1]} bands but the config names {len(names)} ({','.join(names)}); "
            "re-run phase4a_01_setup_and_config.py with the --band_names (and aux layers) of the data"
        )
    return names


def build_transfer_model(
    model_config: ModelConfig,
    inputs: ModelInputs,
    backbone: keras.Model,
    patch_shape: tuple[int, int, int],
    n_classes: int,
):
    """Patches -> [standardise] -> resize -> [x255] -> band adapter -> [stem match, preprocess_input] ->
    backbone -> GAP -> Dense -> softmax.

    With the report's config (conv1x1, input_normalisation none, no bn_inference) this is exactly the
    report's model. For band_adapter=first_conv the backbone is replaced by a copy whose first
    convolution takes every band (adapters.py). The normalisation layers start as the identity; step 03
    sets them from the training split (normalisation.adapt_normalisation).
    """
    normalisation = model_config.normalisation(inputs.auxiliary)
    name = model_config.backbone
    patches = keras.Input(shape=patch_shape, name="patches")
    x = standardise(patches) if normalisation in ("standardise", "imagenet") else patches
    x = resize(x, model_config, patch_shape[0])
    if scales_to_pixels(model_config, inputs):
        x = keras.layers.Rescaling(PIXEL_RANGE, name="to_pixel_range")(x)
    if model_config.band_adapter == "first_conv":
        sources = first_conv_sources(name, model_band_names(inputs, patch_shape))
        backbone = widen_first_conv(name, backbone, (*backbone.input_shape[1:3], len(sources)), sources)
        preprocess = partial(band_preprocess, backbone=name, source_channels=sources)
    else:
        x = apply_band_adapter(model_config.band_adapter, x, inputs.band_names)
        preprocess = partial(rgb_preprocess, backbone=name)
    if normalisation == "imagenet":
        x = preprocess(stem_match(x))
    x = backbone(x, **backbone_call_kwargs(model_config))
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = keras.layers.Dense(model_config.dense_units, activation="relu", name="head_dense")(x)
    x = keras.layers.Dropout(model_config.dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="predictions")(x)
    return keras.Model(patches, outputs, name=f"transfer_{backbone.name}")


def build_model(
    model_config: ModelConfig,
    inputs: ModelInputs,
    backbone: keras.Model | None,
    patch_shape: tuple[int, int, int],
    n_classes: int,
):
    """The model step 03 builds: the transfer model, or the SimpleCNN for model_type=simplecnn."""
    if model_config.model_type == "simplecnn":
        standardised = model_config.normalisation(inputs.auxiliary) == "standardise"
        return build_simple_cnn(patch_shape, n_classes, model_config.dropout, standardise=standardised)
    return build_transfer_model(model_config, inputs, backbone, patch_shape, n_classes)


def build_untrained_model(
    run_config: RunConfig,
    patch_shape: tuple[int, int, int],
    n_classes: int,
    backbone_weights: Path | None,
    built: keras.Model | None = None,
):
    """The model step 03 saves, and its backbone: built, given step 02's ``backbone_weights`` (for
    the SimpleCNN its initial weights), and frozen as the config says. Without weights the layers keep
    their random initialisation: the same graph. ``built``: the model step 02 saved into that file,
    handed over in the same process (accel.take_saved_model), used instead of building one. The run's
    seed and kernel determinism (train and runtime sections) fix the head's initial weights."""
    model_config, inputs = run_config.model, model_inputs(run_config.data)
    if model_config.model_type == "simplecnn":
        # No backbone: step 02 saved the SimpleCNN's initial weights; its layer counts stand in.
        if built is not None:
            return built, built
        model = build_model(model_config, inputs, None, patch_shape, n_classes)
        if backbone_weights is not None:
            model.load_weights(backbone_weights)
        return model, model
    backbone = built
    if backbone is None:
        backbone, _ = load_backbone(model_config.backbone, "none", backbone_input_shape(model_config, patch_shape))
        if backbone_weights is not None:
            backbone.load_weights(backbone_weights)
    # The head's initial weights and its dropout's seed come from the run's seed alone, however many
    # random numbers building the backbone drew (none when it was handed over).
    seed_everything(run_config.train.seed, run_config.runtime.deterministic)
    model = build_model(model_config, inputs, backbone, patch_shape, n_classes)
    backbone = find_backbone(model)  # band_adapter first_conv puts a widened copy in the model
    frozen = initial_frozen_count(model_config.backbone, backbone, model_config)
    freeze_first_layers(backbone, frozen, model_config.bn_inference)
    return model, backbone


def weights_outside_backbone(model: keras.Model) -> list[int]:
    """Positions in ``model.weights`` of what step 02's backbone file does not determine: the input
    normalisation, band adapter and head. For the SimpleCNN that is every weight, since step 03 sets its
    standardisation after step 02 saved its initial weights."""
    backbone = find_backbone(model)
    inside = set() if backbone is None else {id(weight) for weight in backbone.weights}
    return [index for index, weight in enumerate(model.weights) if id(weight) not in inside]


def backbone_fingerprint(model: keras.Model) -> np.ndarray:
    """One float64 sum per backbone weight: shows that a rebuilt backbone holds the weights step 03 had."""
    backbone = find_backbone(model)
    weights = [] if backbone is None else backbone.weights
    return np.array([np.sum(keras.ops.convert_to_numpy(weight), dtype=np.float64) for weight in weights])


def save_untrained_weights(model: keras.Model, path: Path) -> None:
    """Step 03's artefact: the weights step 03 adds to step 02's backbone file, by position.

    The model is rebuilt from the config and both files (``load_untrained_model``): the frozen backbone
    is stored once, in step 02's file, instead of again inside a saved model."""
    positions = weights_outside_backbone(model)
    weights = model.weights
    arrays = {f"w{i}": keras.ops.convert_to_numpy(weights[p]) for i, p in enumerate(positions)}
    write_npz(
        path,
        compressed=False,
        positions=np.array(positions, dtype=np.int64),
        backbone_fingerprint=backbone_fingerprint(model),
        **arrays,
    )


def load_untrained_model(
    run_config: RunConfig,
    patch_shape: tuple[int, int, int],
    n_classes: int,
    backbone_weights: Path,
    untrained_weights: Path,
) -> keras.Model:
    """The model step 03 built: rebuilt from the config and step 02's ``backbone_weights``, with step
    03's own weights (``save_untrained_weights``) put back. A file of another config or backbone is
    refused with a one-line error."""
    model, _ = build_untrained_model(run_config, patch_shape, n_classes, backbone_weights)
    stale = DataError(
        f"{untrained_weights} was written for another config or backbone; "
        "re-run phase4a_02_load_pretrained.py and phase4a_03_modify_architecture.py"
    )
    try:
        with np.load(untrained_weights) as stored:
            positions = stored["positions"].tolist()
            fingerprint = stored["backbone_fingerprint"]
            arrays = [stored[f"w{i}"] for i in range(len(positions))]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(
            f"{untrained_weights} cannot be read ({type(exc).__name__}); re-run phase4a_03_modify_architecture.py"
        ) from None
    weights = model.weights
    if positions != weights_outside_backbone(model) or any(
        tuple(weights[p].shape) != array.shape for p, array in zip(positions, arrays)
    ):
        raise stale
    current = backbone_fingerprint(model)
    if current.shape != fingerprint.shape or not np.allclose(current, fingerprint, rtol=1e-6, atol=1e-6):
        raise stale
    for position, array in zip(positions, arrays):
        weights[position].assign(array)
    refresh_normalisation(model)
    return model


def load_run_untrained_model(run: RunDir, run_config: RunConfig) -> keras.Model:
    """``load_untrained_model`` for a run directory: step 03's model, from the run's files."""
    summary = read_json(run.require("data_summary"))
    return load_untrained_model(
        run_config,
        tuple(summary["patch_shape"]),
        len(run_config.data.class_names),
        run.require("backbone_weights"),
        run.require("model_untrained_weights"),
    )


def prediction_copy(model: keras.Model) -> keras.Model:
    """``model`` uncompiled, with the same weights: what step 04 saves for prediction, in each format.
    Without the optimizer's state, about half of a trained model's bytes, which only resuming needs
    (Keras' ``include_optimizer`` exists for .h5 files only). Built from the config as loading builds
    it; ``keras.models.clone_model`` would compile its clone."""
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    refresh_normalisation(copy)
    return copy


def find_backbone(model: keras.Model) -> keras.Model | None:
    """The nested backbone inside a built transfer model (None for the SimpleCNN)."""
    return next((layer for layer in model.layers if isinstance(layer, keras.Model)), None)


def parameter_counts(model: keras.Model) -> dict[str, int]:
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    frozen = sum(int(keras.ops.size(w)) for w in model.non_trainable_weights)
    return {"trainable": trainable, "non_trainable": frozen, "total": trainable + frozen}


def layer_counts(backbone: keras.Model) -> dict[str, int]:
    frozen = sum(1 for layer in backbone.layers if not layer.trainable)
    return {"layers": len(backbone.layers), "frozen": frozen, "trainable": len(backbone.layers) - frozen}
