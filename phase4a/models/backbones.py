"""Pretrained backbones from ``keras.applications`` and the resolution of their weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import keras

from ..errors import ConfigError, WeightsError
from ..io import sha256_file
from ..settings import TRUE_COLOUR


@dataclass(frozen=True)
class BackboneSpec:
    constructor: str  # the class name in keras.applications
    module: str  # the keras.applications submodule that holds its preprocess_input
    min_size: int  # smallest square input the architecture accepts
    preprocess_mode: str  # what that preprocess_input does: caffe | tf | none (see preprocessing.py)
    first_conv: str  # the layer that sees the RGB input: the one the first_conv adapter widens
    # (stage name, last layer of the stage), bottom to top: for freeze_until and progressive unfreezing.
    stages: tuple[tuple[str, str], ...]


_RESNET_STAGES = (
    ("conv1", "pool1_pool"),
    ("conv2", "conv2_block3_out"),
    ("conv3", "conv3_block4_out"),
    ("conv4", "conv4_block6_out"),
)

BACKBONES: dict[str, BackboneSpec] = {
    "resnet50": BackboneSpec(
        "ResNet50", "resnet", 32, "caffe", "conv1_conv", (*_RESNET_STAGES, ("conv5", "conv5_block3_out"))
    ),
    "resnet50v2": BackboneSpec(
        "ResNet50V2", "resnet_v2", 32, "tf", "conv1_conv", (*_RESNET_STAGES, ("conv5", "post_relu"))
    ),
    "mobilenetv2": BackboneSpec(
        "MobileNetV2",
        "mobilenet_v2",
        32,
        "tf",
        "Conv1",
        (
            ("stem", "expanded_conv_project_BN"),
            ("block_2", "block_2_add"),
            ("block_5", "block_5_add"),
            ("block_9", "block_9_add"),
            ("block_12", "block_12_add"),
            ("block_15", "block_15_add"),
            ("top", "out_relu"),
        ),
    ),
    "vgg16": BackboneSpec(
        "VGG16", "vgg16", 32, "caffe", "block1_conv1", tuple((f"block{i}", f"block{i}_pool") for i in range(1, 6))
    ),
    # EfficientNet rescales and normalises inside the model: its preprocess_input is the identity and
    # it expects 0-255 inputs; fed reflectance in [0, 1] it divides by 255 again (the report's "EfficientNet
    # incompatibility"). preprocessing='imagenet' scales the bands to 0-255 before it.
    "efficientnetb0": BackboneSpec(
        "EfficientNetB0",
        "efficientnet",
        32,
        "none",
        "stem_conv",
        (
            ("stem", "stem_activation"),
            *(
                (f"block{i}", last)
                for i, last in enumerate(
                    ("block1a_project_bn", "block2b_add", "block3b_add", "block4c_add", "block5c_add", "block6d_add"), 1
                )
            ),
            ("block7", "block7a_project_bn"),
            ("top", "top_activation"),
        ),
    ),
}


def true_colour_indices(band_names: list[str]) -> list[int]:
    """Where red, green and blue are among ``band_names`` (config validation made sure they are)."""
    return [band_names.index(band) for band in TRUE_COLOUR]


def _offline_error(name: str, reason: str) -> WeightsError:
    return WeightsError(
        f"cannot get ImageNet weights for {name} ({reason}); connect to the internet once so Keras "
        "caches them in ~/.keras/models, or pass --weights /path/to/weights.h5, or use --weights none"
    )


def check_input_size(name: str, input_shape: tuple[int, ...]) -> None:
    spec = BACKBONES[name]
    if input_shape[0] < spec.min_size or input_shape[1] < spec.min_size:
        raise ConfigError(
            f"{name} needs inputs of at least {spec.min_size}x{spec.min_size}, got "
            f"{input_shape[0]}x{input_shape[1]}; raise --upsample_factor or --input_size"
        )


def build_architecture(name: str, input_shape: tuple[int, int, int]):
    """The backbone without its classifier, randomly initialised (from the global seed)."""
    check_input_size(name, input_shape)
    return getattr(keras.applications, BACKBONES[name].constructor)(
        include_top=False, weights=None, input_shape=input_shape
    )


def weighted_layers(model) -> list:
    return [layer for layer in model.layers if layer.weights]


def all_layers(model):
    """Every layer of ``model``, those of nested models (the backbone) included."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def _imagenet_backbone(name: str, input_shape: tuple[int, int, int]):
    """ImageNet weights in the weights=None layout, so every source gives the same architecture.

    Keras' ImageNet EfficientNet has one extra weightless Rescaling layer after its Normalization
    (dividing by sqrt(stddev)); a weights=None build lacks it, so a weights file loaded there would
    silently change the model's function. Folding that rescaling into the normalisation variance
    (variance' = variance * stddev = variance ** 1.5, since variance = stddev ** 2) keeps the
    function identical while every later step rebuilds with weights=None.
    """
    spec = BACKBONES[name]
    constructor = getattr(keras.applications, spec.constructor)
    try:
        pretrained = constructor(include_top=False, weights="imagenet", input_shape=input_shape)
    except Exception as exc:  # Keras raises a bare Exception for failed downloads
        message = str(exc)
        if "URL fetch failure" in message or "hash does not match" in message:
            raise _offline_error(name, message.split(" -- ")[-1].strip() or message) from None
        raise
    model = build_architecture(name, input_shape)
    for target, source in zip(weighted_layers(model), weighted_layers(pretrained), strict=True):
        set_layer_weights(target, source.get_weights())
    if name == "efficientnetb0":
        fold_imagenet_rescaling(model)
    return model


def set_layer_weights(layer, values: list) -> None:
    """set_weights, plus what Keras' Normalization needs to use new statistics (it caches them)."""
    layer.set_weights(values)
    if isinstance(layer, keras.layers.Normalization):
        layer.finalize_state()


def fold_imagenet_rescaling(model) -> None:
    """See ``_imagenet_backbone``: fold the ImageNet-only Rescaling into the Normalization variance."""
    norm = next(layer for layer in model.layers if isinstance(layer, keras.layers.Normalization))
    mean, variance, count = norm.get_weights()
    set_layer_weights(norm, [mean, variance**1.5, count])


def check_weights_file(path: Path) -> None:
    """A weights file that HDF5 cannot open (an interrupted download or copy) fails in one line."""
    try:
        with h5py.File(path, "r"):
            pass
    except OSError as exc:
        reason = (str(exc).strip().splitlines() or [""])[0][:120]
        raise WeightsError(
            f"weights file {path} is truncated or not an HDF5 file ({reason}); an interrupted download or copy "
            "leaves a partial file: fetch or save it again, or use --weights none"
        ) from None


def load_backbone(name: str, weights: str, input_shape: tuple[int, int, int]):
    """Build backbone ``name`` without its classifier; returns ``(model, weights_source)``.

    ``weights`` is 'imagenet' (Keras' own download and cache), 'none' (random initialisation from the
    global seed) or the path of a weights file saved by step 02 (``backbone.weights.h5``) or from the
    same architecture built with ``weights=None``.
    """
    check_input_size(name, input_shape)
    if weights == "none":
        return build_architecture(name, input_shape), {"kind": "none"}
    if weights == "imagenet":
        model = _imagenet_backbone(name, input_shape)
        return model, {"kind": "imagenet", "cache_dir": str(Path(keras.config.keras_home()) / "models")}
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(f"weights file {path} not found; check --weights or use --weights none")
    check_weights_file(path)
    model = build_architecture(name, input_shape)
    try:
        model.load_weights(path)
    except Exception as exc:
        raise WeightsError(
            f"weights file {path} does not fit {name} without its top ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:160]}); save it from the same architecture with include_top=False"
        ) from None
    return model, {"kind": "file", "path": str(path.resolve()), "sha256": sha256_file(path)}
