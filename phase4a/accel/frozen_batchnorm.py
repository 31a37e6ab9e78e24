"""Frozen BatchNormalization layers as TensorFlow's fused batch-norm kernel.

A frozen (non-trainable) Keras 3 BatchNormalization layer runs in inference mode: a per-channel
affine map from its moving statistics. Keras builds it from about 19 graph operations (variable
reads, reshapes, rsqrt, multiplies, adds), and the gradient tape adds about 20 more. The report's
model has 45 frozen BatchNorm layers, a quarter of its training step's graph, and TensorFlow traces
that graph in Python and optimises it before the first epoch can run. ``FusedBatchNormV3`` in
inference mode is one operation, with a one-operation gradient: tracing and optimising the step
take less time, and a steady step is the same (docs/performance.md).

It is the same function to float rounding (tests/accel/test_frozen_batchnorm.py). Only the layer
instances' ``call`` is replaced, never their class or config, so saved models are plain Keras.
Trainable BatchNorm layers, which normalise with batch statistics while training, keep Keras' own.
So does training with deterministic kernels on a GPU (``trains_fused``).
"""

from __future__ import annotations

import types

import keras
import tensorflow as tf

from ..models.backbones import all_layers


def _is_fusable(layer, inputs, mask) -> bool:
    return (
        not layer.trainable
        and mask is None
        and len(inputs.shape) == 4
        and layer.axis in (-1, 3)
        and inputs.dtype == tf.float32
        and layer.compute_dtype == "float32"
    )


def _fused_call(layer, inputs, training=None, mask=None):
    if not _is_fusable(layer, inputs, mask):
        return keras.layers.BatchNormalization.call(layer, inputs, training=training, mask=mask)
    channels = inputs.shape[-1]
    outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
        inputs,
        scale=layer.gamma if layer.scale else tf.ones([channels]),
        offset=layer.beta if layer.center else tf.zeros([channels]),
        mean=layer.moving_mean,
        variance=layer.moving_variance,
        epsilon=layer.epsilon,
        is_training=False,
    )
    return outputs


def missing_requirement() -> str | None:
    """What the fused layer needs and this Keras or TensorFlow lacks, or None."""
    if not hasattr(tf.compat.v1.nn, "fused_batch_norm"):
        return "TensorFlow has no fused_batch_norm"
    layer = keras.layers.BatchNormalization
    if not callable(getattr(layer, "call", None)):
        return "Keras' BatchNormalization has no call method"
    return None


def trains_fused(deterministic: bool) -> bool:
    """Whether training may use the fused kernel. TensorFlow has no deterministic GPU implementation
    of its gradient in inference mode (under op determinism it raises UnimplementedError), so
    deterministic training on a GPU keeps Keras' layer; the forward pass alone is deterministic."""
    return not (deterministic and tf.config.list_logical_devices("GPU"))


def use_fused_frozen_batchnorm(model: keras.Model) -> int:
    """Give every BatchNormalization layer in ``model`` (nested models included) the fused kernel for
    when it is frozen; whether it is, is decided each time the layer is traced. Call before the
    training or prediction function is traced; idempotent. Returns how many layers have it."""
    layers = [layer for layer in all_layers(model) if type(layer) is keras.layers.BatchNormalization]
    for layer in layers:
        layer.call = types.MethodType(_fused_call, layer)
    return len(layers)
