"""Feature extraction with cached backbone features: run the frozen part once, train only the head.

When the backbone and every layer before it are frozen (no trainable weights, BatchNorm therefore
in inference mode) and nothing random (dropout, augmentation) sits in front of it, the backbone's
output for a given patch never changes during training. Then training (train/fit.py,
``fit_with_cached_features``) computes those features once (``training=False``) and fits the head (the
layers after the cut, the very same layer objects) on them: later epochs cost a few dense layers instead
of a ResNet50 forward pass. The full model shares the head's weights, so saving it saves the trained
full model.

The cut is found on the model's layer sequence, which is a chain for every model step 03 builds.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

# Layers whose output in training differs from inference by chance: caching would skip them.
_RANDOM_LAYER_PREFIXES = ("Dropout", "SpatialDropout", "GaussianNoise", "GaussianDropout", "AlphaDropout", "Random")


@dataclass(frozen=True)
class CachePlan:
    cut: int  # index into model.layers of the last frozen layer (the features are its output)
    backbone: str  # name of the nested backbone inside the frozen prefix
    frozen_layers: list[str]
    head_layers: list[str]


def _is_random(layer) -> bool:
    return type(layer).__name__.startswith(_RANDOM_LAYER_PREFIXES)


def _is_frozen(layer) -> bool:
    return not layer.trainable_weights


def plan_cache(model: keras.Model) -> CachePlan | None:
    """Where to cut ``model`` for cached features, or None when caching would change training."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    cut = -1
    for index, layer in enumerate(layers):
        if _is_random(layer) or not _is_frozen(layer):
            break
        if isinstance(layer, keras.Model) and any(_is_random(inner) for inner in layer.layers):
            break
        cut = index
    if cut < 0 or cut == len(layers) - 1:
        return None  # nothing frozen, or nothing left to train
    backbones = [layer.name for layer in layers[: cut + 1] if isinstance(layer, keras.Model)]
    if not backbones:
        return None  # caching an upsampling layer alone is not worth it
    offset = len(model.layers) - len(layers)
    return CachePlan(
        cut=cut + offset,
        backbone=backbones[-1],
        frozen_layers=[layer.name for layer in layers[: cut + 1]],
        head_layers=[layer.name for layer in layers[cut + 1 :]],
    )


def split_model(model: keras.Model, plan: CachePlan) -> tuple[keras.Model, keras.Model]:
    """(feature extractor, head): two chains over the same layer objects as ``model``."""
    layers = list(model.layers)
    frozen = [layer for layer in layers[: plan.cut + 1] if not isinstance(layer, keras.layers.InputLayer)]
    head = layers[plan.cut + 1 :]
    extractor = keras.Sequential([keras.Input(shape=model.input_shape[1:]), *frozen], name="cached_features")
    feature_shape = extractor.output_shape[1:]
    head_model = keras.Sequential([keras.Input(shape=feature_shape), *head], name="head_on_cached_features")
    return extractor, head_model


def compute_features(extractor: keras.Model, X, batch_size: int):
    """The frozen part's output for ``X`` in inference mode (``predict`` calls with training=False)."""
    return extractor.predict(X, batch_size=batch_size, verbose=0)
