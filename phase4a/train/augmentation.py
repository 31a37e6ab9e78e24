"""Training-split augmentation for land-cover patches: flips, 90-degree rotations, small brightness changes.

Land cover has no preferred orientation seen from above, so flips and quarter turns give new, valid
patches; a brightness factor of 1 +- brightness_delta on all bands imitates illumination and
atmospheric differences without changing the spectral shape that separates the classes.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf


def make_augment(brightness_delta: float) -> Callable:
    """A tf.data map function ``(patch, label) -> (patch, label)`` for one unbatched, square patch."""

    def augment(patch, label):
        patch = tf.image.random_flip_left_right(patch)
        patch = tf.image.random_flip_up_down(patch)
        patch = tf.image.rot90(patch, k=tf.random.uniform([], 0, 4, dtype=tf.int32))
        patch = patch * tf.random.uniform([], 1.0 - brightness_delta, 1.0 + brightness_delta, dtype=patch.dtype)
        return patch, label

    return augment
