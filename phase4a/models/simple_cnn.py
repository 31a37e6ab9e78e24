"""The Week 3 SimpleCNN baseline: a small CNN on the 8x8 patches themselves (no upsampling).

The report gives only its size (about 54K parameters); this is a plausible reconstruction for 8x8x6
inputs with 53,605 parameters: two 3x3 convolutions (32, 64 filters) with BatchNorm, 2x2 max pooling,
and a 32-unit dense layer. With ``standardise`` a Normalization layer (``input_standardise``, 13
non-trainable numbers for six bands: mean, variance, count) comes first; its per-band statistics are
set from the training split (models/normalisation.py). Reflectance in [0, 1] has per-band spreads of
about 0.01-0.1, which leaves the BatchNorm moving statistics far from the batch statistics for many
steps; standardised, this network trains on real data instead of collapsing onto one class.
"""

from __future__ import annotations

import keras

from . import normalisation


def build_simple_cnn(
    patch_shape: tuple[int, int, int], n_classes: int, dropout: float = 0.3, standardise: bool = False
) -> keras.Model:
    inputs = keras.Input(shape=patch_shape, name="patches")
    x = normalisation.standardise(inputs) if standardise else inputs
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Dropout(0.25, name="pool_dropout")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(32, activation="relu", name="dense")(x)
    x = keras.layers.Dropout(dropout, name="dense_dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="simple_cnn")
