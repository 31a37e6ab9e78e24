"""The process-wide runtime of a step: TensorFlow's thread counts, one seed for everything, and Keras'
saving caches."""

from __future__ import annotations

import random
from typing import Any

import numpy as np


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed every random generator; with ``deterministic``, also use deterministic TF kernels."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)  # seeds Python's random, NumPy and TensorFlow together
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def prepare_runtime(config: dict[str, Any], uses_tensorflow: bool = True) -> None:
    """Apply the config's thread counts, which TensorFlow accepts only before its runtime starts
    (seeding starts it), then seed, then let Keras cache what its saving looks up (io.py). A step
    without TensorFlow seeds Python and NumPy only, and never imports it."""
    if not uses_tensorflow:
        random.seed(config["seed"])
        np.random.seed(config["seed"])
        return
    from .distribute import configure_threads
    from .io import cache_keras_saving_skipsets

    configure_threads(config)
    seed_everything(config["seed"], config["deterministic"])
    cache_keras_saving_skipsets()
