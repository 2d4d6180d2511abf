"""A NAFNet-style U-Net (Chen, Chu, Zhang and Sun 2022, "Simple Baselines for Image Restoration").

The restoration block that gives NAFNet its PSNR per FLOP: a per-pixel layer normalisation, a
1x1 expansion, a 3x3 depthwise convolution, the *simple gate* (the expanded channels split in
two halves that are multiplied, in place of a nonlinear activation), a 1x1 projection and a
learned per-channel scale on the residual branch (initialised at zero, so each block starts as
the identity); then the same gated feed-forward part. No batch normalisation, no activations.

One change from the paper: the *simplified channel attention* (a global average over the whole
image) is left out by default (``channel_attention=False``). A global average makes every output
pixel depend on every input pixel, so a tiled prediction would differ from an untiled one and
the receptive field (which sets the tiles' margins) would be unbounded; the paper's own test-time
fix (TLC) replaces it by local statistics anyway.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from .dae import path_receptive_field
from .layers import ChannelSlice

__all__ = ["NAFBlock", "SimpleGate", "nafnet", "size_factor", "receptive_field"]


@keras.saving.register_keras_serializable(package="enhance")
class SimpleGate(layers.Layer):
    """Split the channels in two halves and multiply them (NAFNet's activation-free gate)."""

    def call(self, inputs):
        first, second = ops.split(inputs, 2, axis=-1)
        return first * second

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] // 2,)


@keras.saving.register_keras_serializable(package="enhance")
class NAFBlock(layers.Layer):
    """One NAFNet block: a gated depthwise-convolution part, then a gated feed-forward part.

    Parameters
    ----------
    channels : int
        Channels in and out.
    expansion : int, optional
        Expansion of the depthwise part (2, as in the paper); the gate halves it.
    ffn_expansion : int, optional
        Expansion of the feed-forward part (2).
    channel_attention : bool, optional
        Multiply by the simplified channel attention (a global average, then a 1x1 convolution).
        False by default: see the module docstring.
    **kwargs
        Passed to :class:`keras.layers.Layer`.
    """

    def __init__(self, channels, expansion=2, ffn_expansion=2, channel_attention=False, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.expansion = int(expansion)
        self.ffn_expansion = int(ffn_expansion)
        self.channel_attention = bool(channel_attention)
        policy = self.dtype_policy
        wide = self.channels * self.expansion
        self.norm1 = layers.LayerNormalization(axis=-1, epsilon=1e-6, dtype=policy)
        self.expand = layers.Conv2D(wide, 1, dtype=policy)
        self.depthwise = layers.DepthwiseConv2D(3, padding="same", dtype=policy)
        self.gate = SimpleGate(dtype=policy)
        self.attention = layers.Conv2D(wide // 2, 1, dtype=policy) if self.channel_attention else None
        self.project = layers.Conv2D(self.channels, 1, dtype=policy)
        self.norm2 = layers.LayerNormalization(axis=-1, epsilon=1e-6, dtype=policy)
        self.ffn_expand = layers.Conv2D(self.channels * self.ffn_expansion, 1, dtype=policy)
        self.ffn_project = layers.Conv2D(self.channels, 1, dtype=policy)

    def build(self, input_shape):
        shape = tuple(input_shape)
        wide_shape = shape[:-1] + (self.channels * self.expansion,)
        gated_shape = shape[:-1] + (self.channels * self.expansion // 2,)
        self.norm1.build(shape)
        self.expand.build(shape)
        self.depthwise.build(wide_shape)
        if self.attention is not None:
            self.attention.build(shape[:1] + (1, 1) + gated_shape[-1:])
        self.project.build(gated_shape)
        self.norm2.build(shape)
        self.ffn_expand.build(shape)
        self.ffn_project.build(shape[:-1] + (self.channels * self.ffn_expansion // 2,))
        self.beta = self.add_weight(name="beta", shape=(self.channels,), initializer="zeros")
        self.gamma = self.add_weight(name="gamma", shape=(self.channels,), initializer="zeros")
        self.built = True

    def call(self, inputs):
        x = self.gate(self.depthwise(self.expand(self.norm1(inputs))))
        if self.attention is not None:
            x = x * self.attention(ops.mean(x, axis=(1, 2), keepdims=True))
        y = inputs + self.project(x) * ops.cast(self.beta, x.dtype)
        x = self.ffn_project(self.gate(self.ffn_expand(self.norm2(y))))
        return y + x * ops.cast(self.gamma, x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            channels=self.channels,
            expansion=self.expansion,
            ffn_expansion=self.ffn_expansion,
            channel_attention=self.channel_attention,
        )
        return config


def _blocks(x, channels, count, name):
    for index in range(count):
        x = NAFBlock(channels, name=f"{name}_{index}")(x)
    return x


def nafnet(width=32, levels=2, blocks=2, middle_blocks=2, channels=1, noise_map=False):
    """Build a NAFNet-style residual U-Net.

    Parameters
    ----------
    width : int, optional
        Channels at full resolution (32), doubled at each level.
    levels : int, optional
        Number of 2x downsamplings (2); image sides must be multiples of ``2**levels``.
    blocks : int, optional
        NAF blocks per encoder level and per decoder level (2).
    middle_blocks : int, optional
        NAF blocks at the lowest resolution (2).
    channels : int, optional
        Image channels in and out (1).
    noise_map : bool, optional
        The input carries one more channel, the per-pixel noise standard deviation (as
        :func:`enhance.models.dae.dae`'s ``noise_map``).

    Returns
    -------
    keras.Model
        Input ``(None, None, channels [+ 1])``, output ``(None, None, channels)``: the input image
        plus the network's correction.
    """
    inputs = keras.Input((None, None, channels + int(bool(noise_map))), name="image")
    image = ChannelSlice(0, channels, name="image_channels")(inputs) if noise_map else inputs
    x = layers.Conv2D(width, 3, padding="same", name="intro")(inputs)
    skips = []
    for level in range(levels):
        filters = width * 2**level
        x = _blocks(x, filters, blocks, f"enc{level}")
        skips.append(x)
        x = layers.Conv2D(2 * filters, 3, strides=2, padding="same", name=f"down{level}")(x)
    x = _blocks(x, width * 2**levels, middle_blocks, "middle")
    for level in reversed(range(levels)):
        filters = width * 2**level
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"upsample{level}")(x)
        x = layers.Conv2D(filters, 1, name=f"up{level}")(x)
        x = layers.Add(name=f"skip{level}")([x, skips[level]])
        x = _blocks(x, filters, blocks, f"dec{level}")
    correction = layers.Conv2D(channels, 3, padding="same", name="correction")(x)
    restored = layers.Add(name="restored")([image, correction])
    return keras.Model(inputs, restored, name="nafnet")


def size_factor(levels=2, **params):
    """Image sides must be multiples of ``2**levels``."""
    return 2 ** int(levels)


def receptive_field(levels=2, blocks=2, middle_blocks=2, **params):
    """Receptive field in pixels, as ``2 * radius + 1`` (interval arithmetic, as in ``dae``).

    The path: a 3x3 intro convolution; per level ``blocks`` 3x3 depthwise convolutions and a
    stride-2 3x3 convolution; ``middle_blocks`` depthwise convolutions; per level back up a
    nearest upsampling (1x1 convolution) and ``blocks`` depthwise convolutions; a 3x3 output
    convolution. 1x1 convolutions and the skips widen nothing beyond the deepest path.
    """
    levels, blocks, middle_blocks = int(levels), int(blocks), int(middle_blocks)
    forward = ["conv"]
    for _ in range(levels):
        forward += ["conv"] * blocks + ["down"]
    forward += ["conv"] * middle_blocks
    for _ in range(levels):
        forward += ["up"] + ["conv"] * blocks
    forward += ["conv"]
    return path_receptive_field(forward, levels)
