"""Pretrained backbones from ``keras.applications`` and the resolution of their weights.

Keras is imported lazily so that config validation and ``--help`` stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, WeightsError
from ..io import sha256_file


@dataclass(frozen=True)
class BackboneSpec:
    constructor: str  # the class name in keras.applications
    module: str  # the keras.applications submodule that holds its preprocess_input
    min_size: int  # smallest square input the architecture accepts


BACKBONES: dict[str, BackboneSpec] = {
    "resnet50": BackboneSpec("ResNet50", "resnet", 32),
}


def check_backbone_config(config: dict[str, Any]) -> None:
    if config["backbone"] not in BACKBONES:
        raise ConfigError(f"--backbone {config['backbone']!r} is not one of: {', '.join(BACKBONES)}")
    weights = config["weights"]
    if weights not in ("imagenet", "none") and not Path(weights).is_file():
        raise ConfigError(
            f"--weights {weights!r} is neither 'imagenet', 'none' nor an existing file; "
            "give the path to a saved weights file (.h5 or .weights.h5)"
        )


def _offline_error(name: str, reason: str) -> WeightsError:
    return WeightsError(
        f"cannot get ImageNet weights for {name} ({reason}); connect to the internet once so Keras "
        "caches them in ~/.keras/models, or pass --weights /path/to/weights.h5, or use --weights none"
    )


def load_backbone(name: str, weights: str, input_shape: tuple[int, int, int]):
    """Build backbone ``name`` without its classifier; returns ``(model, weights_source)``.

    ``weights`` is 'imagenet' (Keras' own download and cache), 'none' (random initialisation from the
    global seed) or the path of a weights file saved from the same architecture.
    """
    import keras

    spec = BACKBONES[name]
    constructor = getattr(keras.applications, spec.constructor)
    if input_shape[0] < spec.min_size or input_shape[1] < spec.min_size:
        raise ConfigError(
            f"{name} needs inputs of at least {spec.min_size}x{spec.min_size}, got "
            f"{input_shape[0]}x{input_shape[1]}; raise --upsample_factor"
        )
    if weights == "none":
        return constructor(include_top=False, weights=None, input_shape=input_shape), {"kind": "none"}
    if weights == "imagenet":
        try:
            model = constructor(include_top=False, weights="imagenet", input_shape=input_shape)
        except Exception as exc:  # Keras raises a bare Exception for failed downloads
            message = str(exc)
            if "URL fetch failure" in message or "hash does not match" in message:
                raise _offline_error(name, message.split(" -- ")[-1].strip() or message) from None
            raise
        return model, {"kind": "imagenet", "cache_dir": str(Path(keras.config.keras_home()) / "models")}
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(f"weights file {path} not found; check --weights or use --weights none")
    model = constructor(include_top=False, weights=None, input_shape=input_shape)
    try:
        model.load_weights(path)
    except Exception as exc:
        raise WeightsError(
            f"weights file {path} does not fit {name} without its top ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:160]}); save it from the same architecture with include_top=False"
        ) from None
    return model, {"kind": "file", "path": str(path.resolve()), "sha256": sha256_file(path)}
