"""Building blocks shared by the architectures: registered layers and losses.

Everything here uses ``keras`` and ``keras.ops`` only, so it runs on any Keras 3 backend. Every
layer takes ``**kwargs``, implements ``get_config`` and is registered under the package name
``enhance``, so that models saved as ``.keras`` files load back without custom-object scopes.
"""

from __future__ import annotations

import keras
from keras import layers, ops

__all__ = ["ConvBlock", "UpsampleBlock", "ChannelSlice", "noise2void_loss"]


def _activation_layer(name):
    if name in (None, "linear"):
        return layers.Identity()
    if name == "leaky_relu":
        return layers.LeakyReLU(negative_slope=0.2)
    return layers.Activation(name)


@keras.saving.register_keras_serializable(package="enhance")
class ConvBlock(layers.Layer):
    """A 2-D convolution ("same" padding), optional batch normalisation, then an activation.

    Parameters
    ----------
    filters : int
        Number of output channels.
    kernel_size : int, optional
        Square kernel size (3).
    strides : int, optional
        Convolution stride (1); 2 halves the spatial size.
    batchnorm : bool, optional
        Insert :class:`keras.layers.BatchNormalization` after the convolution (the convolution
        then has no bias).
    activation : str, optional
        ``"relu"`` (default), ``"leaky_relu"`` (slope 0.2) or any Keras activation name.
    **kwargs
        Passed to :class:`keras.layers.Layer` (``name``, ``dtype``, ...).
    """

    def __init__(
        self, filters, kernel_size=3, strides=1, batchnorm=False, activation="relu", **kwargs
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.batchnorm = bool(batchnorm)
        self.activation = activation
        self.conv = layers.Conv2D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding="same",
            use_bias=not self.batchnorm,
            kernel_initializer="he_normal",
            dtype=self.dtype_policy,
        )
        self.norm = layers.BatchNormalization(dtype=self.dtype_policy) if self.batchnorm else None
        self.act = _activation_layer(activation)

    def build(self, input_shape):
        self.conv.build(input_shape)
        if self.norm is not None:
            self.norm.build(self.conv.compute_output_shape(input_shape))
        self.built = True

    def call(self, inputs, training=None):
        x = self.conv(inputs)
        if self.norm is not None:
            x = self.norm(x, training=training)
        return self.act(x)

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            batchnorm=self.batchnorm,
            activation=self.activation,
        )
        return config


@keras.saving.register_keras_serializable(package="enhance")
class UpsampleBlock(layers.Layer):
    """Nearest-neighbour 2x upsampling followed by a :class:`ConvBlock`.

    Resize-then-convolve avoids the checkerboard artefacts of transposed convolutions.

    Parameters
    ----------
    filters : int
        Number of output channels.
    batchnorm : bool, optional
        Batch normalisation inside the convolution block.
    activation : str, optional
        Activation of the convolution block (``"relu"``).
    **kwargs
        Passed to :class:`keras.layers.Layer`.
    """

    def __init__(self, filters, batchnorm=False, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.batchnorm = bool(batchnorm)
        self.activation = activation
        self.upsample = layers.UpSampling2D(2, interpolation="nearest", dtype=self.dtype_policy)
        self.block = ConvBlock(
            self.filters,
            batchnorm=self.batchnorm,
            activation=activation,
            dtype=self.dtype_policy,
        )

    def build(self, input_shape):
        self.upsample.build(input_shape)
        self.block.build(self.upsample.compute_output_shape(input_shape))
        self.built = True

    def call(self, inputs, training=None):
        return self.block(self.upsample(inputs), training=training)

    def compute_output_shape(self, input_shape):
        return self.block.compute_output_shape(self.upsample.compute_output_shape(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, batchnorm=self.batchnorm, activation=self.activation)
        return config


@keras.saving.register_keras_serializable(package="enhance")
class ChannelSlice(layers.Layer):
    """Channels ``start:stop`` of the input (the image part of an image + noise-map input).

    Parameters
    ----------
    start, stop : int
        Python slice bounds on the last axis.
    **kwargs
        Passed to :class:`keras.layers.Layer`.
    """

    def __init__(self, start, stop, **kwargs):
        super().__init__(**kwargs)
        self.start = int(start)
        self.stop = int(stop)

    def call(self, inputs):
        return inputs[..., self.start : self.stop]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.stop - self.start,)

    def get_config(self):
        config = super().get_config()
        config.update(start=self.start, stop=self.stop)
        return config


@keras.saving.register_keras_serializable(package="enhance")
def noise2void_loss(y_true, y_pred):
    """Noise2Void blind-spot loss: the mean squared error on the masked pixels only.

    Parameters
    ----------
    y_true : tensor, shape (B, H, W, 2C)
        The noisy target (channels ``:C``) stacked with the blind-spot mask (channels ``C:``,
        1 where a pixel was replaced in the input, 0 elsewhere), as made by
        :func:`enhance.tasks.blind_spot_batch`.
    y_pred : tensor, shape (B, H, W, C)
        The network's prediction from the masked input.

    Returns
    -------
    tensor, shape (B,)
        Per-sample loss (Keras averages over the batch).
    """
    channels = ops.shape(y_pred)[-1]
    target = y_true[..., :channels]
    mask = y_true[..., channels:]
    squared = ops.square(ops.cast(target, y_pred.dtype) - y_pred) * ops.cast(mask, y_pred.dtype)
    masked_sum = ops.sum(squared, axis=(1, 2, 3))
    count = ops.maximum(ops.sum(ops.cast(mask, y_pred.dtype), axis=(1, 2, 3)), 1.0)
    return masked_sum / count
