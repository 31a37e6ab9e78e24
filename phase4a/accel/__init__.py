"""Every speed-up of training and prediction, behind one seam.

Training calls :func:`prepare_training` once the model is compiled; prediction calls :func:`predict`;
step 04 asks :func:`feature_cache_plan` whether the head can train on cached features. A step hands
the model it saved to the next with :func:`keep_saved_model`; the next gets it with
:func:`take_saved_model` (to train or extend it) or :func:`load_prediction_model` (to predict).
With every switch ``false`` the pipeline is plain Keras. Each switch is ``auto`` by default: on where
the benchmark measured it faster (CPU), off on a GPU until it has been measured there; ``true`` or
``false`` force it.

The speed-ups that replace a method of one Keras object (``types.MethodType``) do it here and only
here, on instances, never on classes or configs: a saved model is plain Keras. Each checks the library
feature it needs first and, where it is missing, keeps Keras' own code with a one-line notice.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..config import SWITCHES as SWITCHES  # the speed-ups' config keys, each auto | true | false
from ..io import load_keras_model
from . import conv_gradient, feature_cache, frozen_batchnorm, fused_adam, prediction, saved_model

_noticed: set[str] = set()


def notice(message: str) -> None:
    """Say once per process, in one line, that a speed-up fell back to plain Keras, and why."""
    if message not in _noticed:
        _noticed.add(message)
        print(f"note: {message}", file=sys.stderr)


def on_gpu() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


def enabled(config: dict[str, Any], key: str) -> bool:
    """Whether the speed-up ``key`` applies: ``auto`` means on the CPU only (where it was measured)."""
    value = str(config.get(key, "auto"))
    return not on_gpu() if value == "auto" else value == "true"


def prepare_training(model: keras.Model, config: dict[str, Any]) -> dict[str, int | bool]:
    """Give a compiled ``model`` the training speed-ups its config allows, before ``fit`` traces the step;
    idempotent. Returns what each one changed (layers or optimizers given it)."""
    applied: dict[str, int | bool] = {}
    if enabled(config, "fast_conv_gradient"):
        missing = conv_gradient.missing_requirement()
        if missing:
            notice(f"fast_conv_gradient off: {missing}; Keras' convolution gradient is used")
        else:
            applied["fast_conv_gradient"] = conv_gradient.use_fast_conv_gradients(model, config["batch_size"])
    if enabled(config, "fused_batchnorm") and frozen_batchnorm.trains_fused(config["deterministic"]):
        applied["fused_batchnorm"] = _fused_batchnorm(model)
    if enabled(config, "fused_adam"):
        missing = fused_adam.missing_requirement(model.optimizer)
        if missing:
            notice(f"fused_adam off: {missing}; Keras' Adam update is used")
        else:
            applied["fused_adam"] = fused_adam.use_fused_adam(model.optimizer)
    return applied


def _fused_batchnorm(model: keras.Model) -> int:
    missing = frozen_batchnorm.missing_requirement()
    if missing:
        notice(f"fused_batchnorm off: {missing}; Keras' BatchNormalization is used")
        return 0
    return frozen_batchnorm.use_fused_frozen_batchnorm(model)


def prepare_prediction(model: keras.Model, config: dict[str, Any]) -> None:
    """A trained model as it predicts: frozen BatchNorm layers as one fused kernel, where allowed."""
    if enabled(config, "fused_batchnorm"):
        _fused_batchnorm(model)


def predict(model: keras.Model, x: np.ndarray, batch_size: int, config: dict[str, Any]) -> np.ndarray:
    """``model``'s outputs for ``x`` in inference mode: in calls of one fixed shape (one traced graph,
    reused by every later call) where allowed, else Keras' ``predict``."""
    if enabled(config, "fixed_shape_prediction"):
        return prediction.predict_probabilities(model, x, batch_size)
    return model.predict(x, batch_size=batch_size, verbose=0)


def predictor(model: keras.Model, batch_size: int, config: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
    """A function of patches to ``model``'s outputs for callers that predict many batches of up to
    ``batch_size`` (a scene's windows): every call padded to that size where allowed, one traced graph."""
    if enabled(config, "fixed_shape_prediction"):
        return lambda x: prediction.predict_padded(model, x, batch_size)
    return lambda x: model.predict(x, batch_size=batch_size, verbose=0)


def feature_cache_plan(model: keras.Model, config: dict[str, Any]) -> feature_cache.CachePlan | None:
    """Where to cut ``model`` so that its head trains on features computed once, or None."""
    return feature_cache.plan_cache(model) if enabled(config, "cache_features") else None


def keep_saved_model(model: keras.Model, path: str | os.PathLike, config: dict[str, Any]) -> None:
    """Hand ``model``, just saved at ``path``, to later steps of this process that load that file, where allowed."""
    if enabled(config, "reuse_saved_model"):
        saved_model.keep(model, path)


def load_prediction_model(path: str | os.PathLike, remedy: str, config: dict[str, Any]) -> keras.Model:
    """The uncompiled model saved at ``path``: the one this process saved there while the file is
    unchanged, where allowed, else read from the file (``remedy`` names the fix for a damaged one)."""
    kept = saved_model.kept(path) if enabled(config, "reuse_saved_model") else None
    return kept if kept is not None else load_keras_model(path, remedy)


def take_saved_model(path: str | os.PathLike, config: dict[str, Any]) -> keras.Model | None:
    """The model this process saved at ``path`` while the file is unchanged, for the caller to train
    (forgotten here), where allowed; else None."""
    return saved_model.take(path) if enabled(config, "reuse_saved_model") else None
