"""Keras' Adam update in TensorFlow's fused kernel (``ResourceApplyAdam``): one pass per variable.

Keras 3's Adam updates each variable with about ten separate element-wise operations (subtract,
multiply, square, sqrt, divide, three assignments), each a full pass over the variable's memory. On
the report model, which trains 10.3M weights (ResNet50's last layers, the head and the band
adapter), those passes cost several times the fused kernel's time per training step
(docs/performance.md). TensorFlow's
``ResourceApplyAdam`` does the same update in one pass, with the same formula
(``m += (g - m)(1 - b1)``, ``v += (g^2 - v)(1 - b2)``, ``w -= m * alpha / (sqrt(v) + eps)``), so the
weights agree to float rounding (tests/accel/test_fused_adam.py).

Only the optimizer instance changes, never its class or config: a saved model still holds a plain
Keras Adam. Variants the fused kernel does not cover keep Keras' update: AMSGrad, sparse gradients,
and variables mirrored by a multi-replica ``tf.distribute`` strategy.
"""

from __future__ import annotations

import types
from collections import Counter

import keras
import tensorflow as tf


def slot_name(variable, slot: str) -> str:
    """The name Keras gives an optimizer variable made from ``variable`` (``add_variable_from_reference``):
    its path, from a Keras variable or from the TensorFlow variable that holds it (``path:0``)."""
    path = getattr(variable, "path", None) or variable.name.split(":")[0]
    return f"{path.replace('/', '_')}_{slot}"


def _slots(optimizer, variable):
    """(momentum, velocity) of ``variable`` among the optimizer's public variables, or None.

    A name that two variables share (paths ``a_b/kernel`` and ``a/b/kernel`` both give ``a_b_kernel``)
    cannot say whose moments are whose: those variables keep Keras' update."""
    names = Counter(slot.name for slot in optimizer.variables)
    by_name = {slot.name: slot for slot in optimizer.variables if names[slot.name] == 1}
    found = [by_name.get(slot_name(variable, slot)) for slot in ("momentum", "velocity")]
    if any(slot is None or tuple(slot.shape) != tuple(variable.shape) for slot in found):
        return None
    return found


def _fused_update_step(optimizer, gradient, variable, learning_rate):
    # Checked while tracing: under a tf.distribute strategy's scope the variables may be mirrored.
    plain = isinstance(gradient, tf.IndexedSlices) or tf.distribute.has_strategy()
    slots = None if plain else _slots(optimizer, variable)
    if slots is None:
        return type(optimizer).update_step(optimizer, gradient, variable, learning_rate)
    momentum, velocity = slots
    dtype = variable.dtype
    local_step = tf.cast(optimizer.iterations + 1, dtype)
    beta_1, beta_2 = tf.cast(optimizer.beta_1, dtype), tf.cast(optimizer.beta_2, dtype)
    tf.raw_ops.ResourceApplyAdam(
        var=variable.handle,
        m=momentum.handle,
        v=velocity.handle,
        beta1_power=tf.pow(beta_1, local_step),
        beta2_power=tf.pow(beta_2, local_step),
        lr=tf.cast(learning_rate, dtype),
        beta1=beta_1,
        beta2=beta_2,
        epsilon=tf.cast(optimizer.epsilon, dtype),
        grad=tf.cast(gradient, dtype),
    )


def missing_requirement(optimizer) -> str | None:
    """What the fused update needs and this Keras or TensorFlow lacks, or None."""
    if type(optimizer) is not keras.optimizers.Adam or optimizer.amsgrad:
        return None  # not an error: use_fused_adam leaves other optimizers alone
    if not hasattr(tf.raw_ops, "ResourceApplyAdam"):
        return "TensorFlow has no ResourceApplyAdam"
    if not callable(getattr(keras.optimizers.Adam, "update_step", None)):
        return "Keras' Adam has no update_step"
    return None


def use_fused_adam(optimizer: keras.optimizers.Optimizer) -> bool:
    """Give a Keras Adam optimizer (not AMSGrad) the fused update; returns whether it now has it.

    Call before the training function is traced (before ``fit``); idempotent. A variable whose
    moments Keras names otherwise than ``slot_name`` expects keeps Keras' update.
    """
    if type(optimizer) is not keras.optimizers.Adam or optimizer.amsgrad:
        return False
    optimizer.update_step = types.MethodType(_fused_update_step, optimizer)
    return True
