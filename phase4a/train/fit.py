"""Compiling and fitting: the report's optimiser, loss and input pipeline, the feature-cached head, and
the epoch budget. The training path is the keras-io transfer-learning guide's: compile, ``fit`` on
``tf.data``, callbacks; ``accel.prepare_training`` is the one place where speed-ups enter it."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import accel
from ..accel.feature_cache import CachePlan, compute_features, split_model
from ..config import uses_xla
from ..data.dataset import Dataset
from .augmentation import make_augment
from .callbacks import BestCheckpoint
from .collapse import CollapseMonitor


def compile_model(model: keras.Model, config: dict[str, Any], steps_per_execution: int = 1) -> None:
    """Compile for training with Adam and sparse categorical cross-entropy, then let the speed-ups the
    config allows into the model and optimizer (accel), before ``fit`` traces the step.

    ``steps_per_execution``: batches per call of the traced train function (Keras), for models whose
    steps are so small that the per-call cost dominates (the head on cached features)."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config["learning_rate"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        # Keras ignores XLA, with a warning, while op determinism is enabled (config.uses_xla).
        jit_compile=uses_xla(config),
        steps_per_execution=steps_per_execution,
    )
    accel.prepare_training(model, config)


def make_datasets(X_train, y_train, X_val, y_val, batch_size: int, seed: int, augment: Callable | None = None):
    """tf.data input: in-memory tensors, cached, reshuffled each epoch (seeded), batched, prefetched.

    ``batch_size`` is the global batch (per-replica batch x replicas under a distribution strategy).
    ``augment`` maps single training patches (after the cache, so every epoch draws new variants);
    the validation split is never augmented.
    """
    train = (
        tf.data.Dataset.from_tensor_slices((X_train, y_train))
        .cache()
        .shuffle(len(X_train), seed=seed, reshuffle_each_iteration=True)
    )
    if augment is not None:
        train = train.map(augment)  # sequential: seeded random ops stay reproducible
    train = train.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    val = tf.data.Dataset.from_tensor_slices((X_val, y_val)).batch(batch_size).cache().prefetch(tf.data.AUTOTUNE)
    return train, val


def build_training_variables(model: keras.Model, data: Dataset) -> None:
    """Create the optimizer's and metrics' variables before ``fit`` traces the train step.

    Without a distribution strategy Keras creates them inside the first trace, and a tf.function
    that creates variables is traced twice, which is the largest part of a first epoch's tracing.
    """
    if model.optimizer.built:
        return
    with model.distribute_strategy.scope():
        model.optimizer.build(model.trainable_variables)
        x, y = data.X_train[:1], data.y_train[:1]
        model.compute_metrics(x, y, model(x, training=False), sample_weight=None)
        model.reset_metrics()


def fit(
    model: keras.Model,
    data: Dataset,
    config: dict[str, Any],
    callbacks: list,
    verbose: int | str = "auto",
    global_batch_size: int | None = None,
    initial_epoch: int = 0,
):
    augment = make_augment(config["brightness_delta"]) if config["augment"] else None
    train, val = make_datasets(
        data.X_train,
        data.y_train,
        data.X_val,
        data.y_val,
        global_batch_size or config["batch_size"],
        config["seed"],
        augment,
    )
    build_training_variables(model, data)
    # shuffle=False: tf.data already reshuffles every epoch (Keras would only warn about it).
    return model.fit(
        train,
        validation_data=keras_validation(val, callbacks),
        epochs=config["epochs"],
        initial_epoch=initial_epoch,
        class_weight=class_weight_map(data.y_train, len(data.class_names), config["class_weights"]),
        callbacks=callbacks,
        shuffle=False,
        verbose=verbose,
    )


def keras_validation(val, callbacks: list):
    """``val`` for Keras' own validation pass, or None when a CollapseMonitor computes ``val_loss`` and
    ``val_accuracy`` from the prediction it makes anyway: one forward pass per epoch instead of two, and
    one traced graph fewer."""
    return None if any(isinstance(callback, CollapseMonitor) for callback in callbacks) else val


def class_weight_map(y, n_classes: int, mode: str) -> dict[int, float] | None:
    """'balanced': n / (classes x count), so every class weighs the same in the loss; 'none': None."""
    if mode == "none":
        return None
    counts = np.bincount(np.asarray(y, dtype=int), minlength=n_classes)
    return {c: float(len(y) / (n_classes * counts[c])) if counts[c] else 0.0 for c in range(n_classes)}


def needs_full_model_fit(config: dict[str, Any]) -> bool:
    """Augmentation, class weights and progressive phases live in ``fit``: no cached-feature shortcut."""
    return config["augment"] or config["class_weights"] != "none" or config["progressive_stages"] > 0


def uses_cached_features(model: keras.Model, config: dict[str, Any]) -> CachePlan | None:
    """Step 04's plan for ``model`` when its config trains on cached features, else None."""
    if needs_full_model_fit(config):
        return None
    return accel.feature_cache_plan(model, config)


def fit_with_cached_features(
    model: keras.Model,
    data: Dataset,
    config: dict[str, Any],
    callbacks: list,
    plan: CachePlan,
    verbose: int | str = "auto",
    global_batch_size: int | None = None,
    initial_epoch: int = 0,
):
    """Compute the frozen part's features once, fit the head on them; returns (keras History, info dict).

    The head is the full model's own layers, so the full model is trained with it; the checkpoint saves
    the full model, with the optimizer that trains the head (the frozen part has no trainable weights)."""
    batch = global_batch_size or config["batch_size"]
    started = time.perf_counter()
    extractor, head = split_model(model, plan)
    features_train = compute_features(extractor, data.X_train, batch)
    features_val = compute_features(extractor, data.X_val, batch)
    feature_seconds = time.perf_counter() - started
    # A head step takes well under a millisecond of arithmetic: one call per epoch instead of one per
    # batch, so the per-call cost does not dominate.
    compile_model(head, config, steps_per_execution=math.ceil(len(features_train) / batch))
    model.optimizer = head.optimizer
    for callback in callbacks:
        if isinstance(callback, BestCheckpoint):
            callback.saved_model = model
        if isinstance(callback, CollapseMonitor):
            # It now drives the head, so it gets the cached validation features: the same predictions.
            callback.x_val = features_val
    train, val = make_datasets(features_train, data.y_train, features_val, data.y_val, batch, config["seed"])
    build_training_variables(head, dataclasses.replace(data, X_train=features_train, X_val=features_val))
    history = head.fit(
        train,
        validation_data=keras_validation(val, callbacks),
        epochs=config["epochs"],
        initial_epoch=initial_epoch,
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
