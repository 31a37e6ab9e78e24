"""One seed for Python, NumPy and TensorFlow."""

from __future__ import annotations


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed every random generator; with ``deterministic``, also use deterministic TF kernels."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)  # seeds Python's random, NumPy and TensorFlow together
    if deterministic:
        tf.config.experimental.enable_op_determinism()
