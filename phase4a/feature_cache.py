"""Feature extraction with cached backbone features: run the frozen part once, train only the head.

When the backbone and every layer before it are frozen (no trainable weights, BatchNorm therefore
in inference mode) and nothing random (dropout, augmentation) sits in front of it, the backbone's
output for a given patch never changes during training. Then ``fit_with_cached_features`` computes
those features once (``training=False``), and fits the head (the layers after the cut, the very same
layer objects) on them: later epochs cost a few dense layers instead of a ResNet50 forward pass.
The full model shares the head's weights, so saving it (ModelCheckpoint, step 04) saves the trained
full model.

The cut is found on the model's layer sequence, which is a chain for every model step 03 builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def cached_feature_plan(model: keras.Model, config: dict[str, Any]) -> CachePlan | None:
    """Step 04's plan for ``model`` when its config trains on cached features, else None."""
    from .training import needs_full_model_fit

    if not config["cache_features"] or needs_full_model_fit(config):
        return None
    return plan_cache(model)


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


def fit_with_cached_features(
    model: keras.Model,
    data,
    config: dict[str, Any],
    callbacks: list,
    plan: CachePlan,
    verbose: int | str = "auto",
    global_batch_size: int | None = None,
):
    """Compute features once, fit the head on them; returns (keras History, info dict)."""
    import math
    import time

    from .training import compile_model, keras_validation, make_datasets

    batch = global_batch_size or config["batch_size"]
    started = time.perf_counter()
    extractor, head = split_model(model, plan)
    features_train = compute_features(extractor, data.X_train, batch)
    features_val = compute_features(extractor, data.X_val, batch)
    feature_seconds = time.perf_counter() - started
    # A head step takes well under a millisecond of arithmetic: one call per epoch instead of one per
    # batch halves a later epoch here (about 60 -> 30 ms).
    compile_model(head, config, steps_per_execution=math.ceil(len(features_train) / batch))
    # ModelCheckpoint calls ``self.model.save``: saving "the model" during fit saves the full model
    # (whose head is the head being trained), with the optimizer that trains it: the frozen part has
    # no trainable weights, so the two models' trainable weights are the same list. Weights-only saves
    # (BackupAndRestore) stay the head's.
    model.optimizer = head.optimizer
    object.__setattr__(head, "save", model.save)
    for callback in callbacks:
        # Callbacks that predict on the validation patches themselves (CollapseMonitor) now drive the
        # head, so they get the cached validation features instead: the same predictions.
        x_val = getattr(callback, "x_val", None)
        if x_val is not None and getattr(x_val, "shape", None) == data.X_val.shape:
            callback.x_val = features_val
    train, val = make_datasets(features_train, data.y_train, features_val, data.y_val, batch, config["seed"])
    history = head.fit(
        train,
        validation_data=keras_validation(val, callbacks),
        epochs=config["epochs"],
        callbacks=callbacks,
        shuffle=False,
        verbose=verbose,
    )
    info = {
        "used": True,
        "cut_after": plan.frozen_layers[-1],
        "backbone": plan.backbone,
        "feature_shape": list(features_train.shape[1:]),
        "feature_seconds": round(feature_seconds, 3),
        "head_layers": plan.head_layers,
    }
    return history, info
