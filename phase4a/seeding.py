"""The process-wide runtime of a step: TensorFlow's thread counts and one seed for everything."""

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


def configure_threads(config: dict[str, Any]) -> bool:
    """Apply ``intra_op_threads``/``inter_op_threads`` (0: TensorFlow's choice, all cores).

    TensorFlow accepts them only before its runtime starts; returns False when that was too late.
    """
    import tensorflow as tf

    intra, inter = int(config.get("intra_op_threads", 0)), int(config.get("inter_op_threads", 0))
    if not (intra or inter):
        return True
    try:
        if intra:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
        if inter:
            tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:
        return False
    return True


def prepare_runtime(config: dict[str, Any], uses_tensorflow: bool = True) -> None:
    """Apply the config's thread counts, which TensorFlow accepts only before its runtime starts
    (seeding starts it), then seed. A step without TensorFlow seeds Python and NumPy only, and never
    imports it."""
    if not uses_tensorflow:
        random.seed(config["seed"])
        np.random.seed(config["seed"])
        return
    configure_threads(config)
    seed_everything(config["seed"], config["deterministic"])
