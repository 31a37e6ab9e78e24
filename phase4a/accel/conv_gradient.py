"""A faster input gradient for Conv2D on CPU, the cost that dominates training the report's model.

TensorFlow's CPU kernel for a convolution's input gradient (``Conv2DBackpropInput``) costs time in
proportion to batch x kernel size rather than to the arithmetic, so on ResNet50's last stages (1x1
and 2x2 feature maps of 32x32 inputs, 512-2048 channels) it runs 50-100x slower than the forward
convolution (docs/performance.md gives the measured figures). The same gradient is a forward
convolution of the output gradient with the flipped, transposed kernel, which runs at forward speed.
``use_fast_conv_gradients`` makes a model's Conv2D layers compute it that way; the numbers agree
with TensorFlow's own gradient to float rounding (tests/accel/test_conv_gradient.py) and the saved
model is unchanged, since only the layer instances' ``convolution_op`` is replaced, never their
class or config.

Stride-1 1x1 convolutions, most of ResNet50's, are matmuls over pixels and get both gradients as
matmuls (``pointwise_gradients``), as does a 3x3 kernel on a 1x1 map, where only its centre tap
meets a pixel. Strided 1x1 convolutions (ResNet's downsampling shortcuts) become a strided slice
followed by a stride-1 convolution, which is the same function. Other strided kernels (ResNet's 7x7 stem, on
large maps where TensorFlow's kernel is fast), dilated and grouped convolutions keep TensorFlow's own
gradient. docs/performance.md has the measured speed-up.
"""

from __future__ import annotations

import types

import keras
import tensorflow as tf

from ..models.backbones import all_layers


def _same_padding_before(size: int, kernel: int, stride: int) -> int:
    """Rows TensorFlow's SAME padding adds before the input (it puts the odd one after)."""
    out = -(-size // stride)
    return max((out - 1) * stride + kernel - size, 0) // 2


def input_gradient(dy, kernel, input_shape, strides: tuple[int, int], padding: str):
    """d(loss)/d(input) of ``tf.nn.conv2d(x, kernel, strides, padding)`` (NHWC) from ``dy``.

    Zeros are inserted between output-gradient pixels for strides > 1; after padding by the kernel
    size less the forward padding, a VALID correlation with the spatially flipped kernel, in and out
    channels swapped, gives the input gradient, exactly as Conv2DBackpropInput defines it.
    """
    kh, kw = kernel.shape[0], kernel.shape[1]
    sh, sw = strides
    height, width = input_shape[1], input_shape[2]
    ho, wo = dy.shape[1], dy.shape[2]
    if sh > 1 or sw > 1:
        n, c = tf.shape(dy)[0], tf.shape(dy)[3]
        dy = tf.reshape(dy, [n, ho, 1, wo, 1, c])
        dy = tf.pad(dy, [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]])
        dy = tf.reshape(dy, [n, ho * sh, wo * sw, c])[:, : (ho - 1) * sh + 1, : (wo - 1) * sw + 1]
    top = _same_padding_before(height, kh, sh) if padding == "SAME" else 0
    left = _same_padding_before(width, kw, sw) if padding == "SAME" else 0
    dilated_h, dilated_w = (ho - 1) * sh + 1, (wo - 1) * sw + 1
    rows = [kh - 1 - top, height + top - dilated_h]
    cols = [kw - 1 - left, width + left - dilated_w]
    dy = tf.pad(dy, [[0, 0], rows, cols, [0, 0]])
    flipped = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])
    return tf.nn.conv2d(dy, flipped, 1, "VALID")


def pointwise_gradients(dy, x, kernel, batch_size: int, kernel_gradient: bool = True):
    """Both gradients of a stride-1 1x1 convolution, which is a matmul over pixels (rows); the
    kernel's is None when ``kernel_gradient`` is False.

    No transposed copy of the kernel is made (on ResNet50's large 1x1 kernels those copies took about
    a fifth of the report model's step) and TensorFlow's ``Conv2DBackpropFilter``, slow on these
    shapes too, is not used. ``batch_size`` stands in for the batch dimension when it is unknown, as
    when Keras traces ``fit``'s step.
    """
    cin, cout = kernel.shape[2], kernel.shape[3]
    rows = (x.shape[0] or batch_size) * x.shape[1] * x.shape[2]
    dy_rows = tf.reshape(dy, [-1, cout])
    matrix = tf.reshape(kernel, [cin, cout])
    if rows < cout:  # few pixels: transposing the product is cheaper than MatMul's transposed kernel
        dx = tf.transpose(tf.linalg.matmul(matrix, dy_rows, transpose_b=True))
    else:
        dx = tf.linalg.matmul(dy_rows, matrix, transpose_b=True)
    dx = tf.reshape(dx, tf.shape(x))
    if not kernel_gradient:
        return dx, None
    dk = tf.linalg.matmul(tf.reshape(x, [-1, cin]), dy_rows, transpose_a=True)
    return dx, tf.reshape(dk, [1, 1, cin, cout])


def conv2d(
    x,
    kernel,
    strides: tuple[int, int],
    padding: str,
    batch_size: int,
    centre_tap: bool = False,
    kernel_gradient: bool = True,
):
    """``tf.nn.conv2d`` whose input gradient is ``input_gradient`` (``pointwise_gradients`` for 1x1).

    ``centre_tap``: convolve with the kernel's centre tap only (a 1x1 convolution); its gradient
    comes back zero-padded to the whole kernel. ``batch_size``: see ``pointwise_gradients``.
    ``kernel_gradient=False`` (a frozen kernel): the kernel gets no gradient (None), and its ops are
    never traced; the report model's train step has 323 fewer of them, its trace about 10% less time.
    """
    kh, kw = kernel.shape[0], kernel.shape[1]
    pointwise = centre_tap or (kh == kw == 1 and tuple(strides) == (1, 1))

    @tf.custom_gradient
    def convolve(x, kernel):
        taps = kernel[kh // 2 : kh // 2 + 1, kw // 2 : kw // 2 + 1] if centre_tap else kernel

        def gradient(dy):
            if pointwise:
                dx, dk = pointwise_gradients(dy, x, taps, batch_size, kernel_gradient)
            else:
                dx, dk = input_gradient(dy, kernel, x.shape, strides, padding), None
                if kernel_gradient:
                    dk = tf.raw_ops.Conv2DBackpropFilter(
                        input=x,
                        filter_sizes=tf.shape(kernel),
                        out_backprop=dy,
                        strides=[1, *strides, 1],
                        padding=padding,
                    )
            if centre_tap and dk is not None:
                dk = tf.pad(dk, [[kh // 2, (kh - 1) // 2], [kw // 2, (kw - 1) // 2], [0, 0], [0, 0]])
            return dx, dk

        return tf.nn.conv2d(x, taps, strides, padding), gradient

    # A tensor, not the layer's variable: custom_gradient would otherwise want variable gradients too.
    return convolve(x, tf.convert_to_tensor(kernel))


def _is_eligible(layer) -> bool:
    return (
        type(layer) is keras.layers.Conv2D
        and layer.data_format == "channels_last"
        and layer.groups == 1
        and tuple(layer.dilation_rate) == (1, 1)
        and (tuple(layer.strides) == (1, 1) or tuple(layer.kernel_size) == (1, 1))
    )


def _fast_convolution_op(layer, inputs, kernel, batch_size: int):
    if None in inputs.shape[1:3]:  # the padding arithmetic needs the feature map's size
        return keras.layers.Conv2D.convolution_op(layer, inputs, kernel)
    strides, padding = tuple(layer.strides), layer.padding.upper()
    kh, kw = layer.kernel_size
    # Read when the step is traced; Keras retraces after a recompile, which a change of trainable needs.
    trained = layer.trainable and layer.kernel.trainable
    if tuple(inputs.shape[1:3]) == (1, 1) and padding == "SAME" and kh % 2 and kw % 2:
        # On a 1x1 map (ResNet50's last stage at 32x32) only the centre tap ever meets a pixel:
        # a 1x1 convolution with it is the same function at a ninth of a 3x3 kernel's work.
        return conv2d(inputs, kernel, (1, 1), "VALID", batch_size, centre_tap=True, kernel_gradient=trained)
    if strides != (1, 1):  # a 1x1 kernel: SAME and VALID both sample every stride-th pixel from the first
        inputs = inputs[:, :: strides[0], :: strides[1]]
        return conv2d(inputs, kernel, (1, 1), "VALID", batch_size, kernel_gradient=trained)
    return conv2d(inputs, kernel, strides, padding, batch_size, kernel_gradient=trained)


def missing_requirement() -> str | None:
    """What the fast gradient needs and this Keras lacks, or None: it replaces Conv2D's convolution_op."""
    if not callable(getattr(keras.layers.Conv2D, "convolution_op", None)):
        return "Keras' Conv2D has no convolution_op"
    return None


def use_fast_conv_gradients(model: keras.Model, batch_size: int) -> int:
    """Give every eligible Conv2D layer in ``model`` (nested models included) the fast input gradient.

    ``batch_size``: the batch the model will be trained with (it picks the cheaper matmul layout).
    Call before the training function is traced (before ``fit``); idempotent. Returns how many layers
    use it. Serialization is untouched: a saved model loads as plain Keras layers.
    """

    def convolution_op(layer, inputs, kernel):
        return _fast_convolution_op(layer, inputs, kernel, batch_size)

    layers = [layer for layer in all_layers(model) if _is_eligible(layer)]
    for layer in layers:
        layer.convolution_op = types.MethodType(convolution_op, layer)
    return len(layers)
