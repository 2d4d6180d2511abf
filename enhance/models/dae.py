"""Convolutional denoising autoencoder (encoder-decoder), with or without skip connections.

``skip=True`` concatenates each encoder level's features into the decoder (a small U-Net); with
``skip=False`` it is the plain autoencoder, whose bottleneck must carry the whole image. By
default the network outputs the restored image directly; ``residual=True`` adds its output to the
input (it then learns the correction, as DnCNN learns the noise), which trains several times
faster on short runs.
"""

from __future__ import annotations

import keras
from keras import layers

from .layers import ChannelSlice, ConvBlock, UpsampleBlock

__all__ = ["dae", "encoder_decoder", "size_factor", "receptive_field"]


def encoder_decoder(x, width, levels, skip=True, encoder_activation="relu", prefix=""):
    """Apply an encoder-decoder to the symbolic tensor ``x``; return the decoder's features.

    Each encoder level applies two 3x3 convolutions and a stride-2 3x3 convolution (doubling the
    width); the bottleneck two convolutions; each decoder level a nearest upsampling with a
    convolution, the level's skip features (if ``skip``), then two convolutions.

    Parameters
    ----------
    x : KerasTensor
        Input features.
    width : int
        Channels at full resolution; level ``l`` has ``width * 2**l``.
    levels : int
        Number of 2x downsamplings.
    skip : bool, optional
        Concatenate encoder features into the decoder.
    encoder_activation : str, optional
        Activation of the encoder blocks (``"relu"``; pix2pix uses ``"leaky_relu"``).
    prefix : str, optional
        Prefix of the layer names.

    Returns
    -------
    KerasTensor
        Decoder features at full resolution with ``width`` channels.
    """
    skips = []
    for level in range(levels):
        filters = width * 2**level
        for index in range(2):
            x = ConvBlock(
                filters, activation=encoder_activation, name=f"{prefix}enc{level}_{index}"
            )(x)
        skips.append(x)
        x = ConvBlock(
            width * 2 ** (level + 1),
            strides=2,
            activation=encoder_activation,
            name=f"{prefix}down{level}",
        )(x)
    for index in range(2):
        x = ConvBlock(width * 2**levels, name=f"{prefix}bottleneck_{index}")(x)
    for level in reversed(range(levels)):
        filters = width * 2**level
        x = UpsampleBlock(filters, name=f"{prefix}up{level}")(x)
        if skip:
            x = layers.Concatenate(name=f"{prefix}skip{level}")([x, skips[level]])
        for index in range(2):
            x = ConvBlock(filters, name=f"{prefix}dec{level}_{index}")(x)
    return x


def dae(width=32, levels=2, skip=True, channels=1, residual=False, noise_map=False):
    """Build a convolutional denoising autoencoder.

    Parameters
    ----------
    width : int, optional
        Channels at full resolution (32), doubled at each level.
    levels : int, optional
        Number of 2x downsamplings (2); image sides must be multiples of ``2**levels``.
    skip : bool, optional
        Skip connections from encoder to decoder (True); False gives the plain autoencoder.
    channels : int, optional
        Image channels in and out (1).
    residual : bool, optional
        Add the network's output to its input (False: the output is the restored image).
    noise_map : bool, optional
        Non-blind (FFDNet-style, Zhang et al. 2018): the input carries one more channel, the
        noise standard deviation of each pixel (in the units of the image channels), that the
        network is conditioned on (False: blind).

    Returns
    -------
    keras.Model
        Input ``(None, None, channels)`` (``channels + 1`` with ``noise_map``: the image, then
        the noise map), output ``(None, None, channels)``.
    """
    inputs = keras.Input((None, None, channels + int(bool(noise_map))), name="image")
    image = ChannelSlice(0, channels, name="image_channels")(inputs) if noise_map else inputs
    features = encoder_decoder(inputs, width, levels, skip=skip)
    if residual:
        correction = layers.Conv2D(channels, 1, name="correction")(features)
        restored = layers.Add(name="restored")([image, correction])
    else:
        restored = layers.Conv2D(channels, 1, name="restored")(features)
    return keras.Model(inputs, restored, name="dae" if skip else "autoencoder")


def size_factor(levels=2, **params):
    """Image sides must be multiples of ``2**levels``."""
    return 2 ** int(levels)


def encoder_decoder_receptive_field(levels):
    """Receptive field (pixels) of :func:`encoder_decoder`, as ``2 * radius + 1``.

    ``radius`` is the farthest (in rows or columns) an input pixel can be from an output pixel
    that it influences. It is found by walking the deepest path backwards with interval
    arithmetic for every alignment of the output pixel to the ``2**levels`` grid: a 3x3
    convolution widens ``[lo, hi]`` by one on each side; a stride-2 convolution maps it to
    ``[2 lo - 1, 2 hi + 2]`` (either "same"-padding convention); a nearest 2x upsampling to
    ``[lo // 2, hi // 2]``.
    """
    forward = []
    for _ in range(levels):
        forward += ["conv", "conv", "down"]
    forward += ["conv", "conv"]
    for _ in range(levels):
        forward += ["up", "conv", "conv", "conv"]
    return path_receptive_field(forward, levels)


def path_receptive_field(forward, levels):
    """Receptive field (``2 * radius + 1``) of a path of ``"conv"`` (3x3), ``"down"`` (stride-2
    3x3) and ``"up"`` (nearest 2x) steps, input to output, through ``levels`` downsamplings
    (see :func:`encoder_decoder_receptive_field`)."""
    radius = 0
    for position in range(2**levels):
        lo = hi = position
        for kind in reversed(forward):
            if kind == "conv":
                lo, hi = lo - 1, hi + 1
            elif kind == "down":
                lo, hi = 2 * lo - 1, 2 * hi + 2
            else:
                lo, hi = lo // 2, hi // 2
        radius = max(radius, position - lo, hi - position)
    return 2 * radius + 1


def receptive_field(levels=2, **params):
    """Receptive field in pixels (see :func:`encoder_decoder_receptive_field`)."""
    return encoder_decoder_receptive_field(int(levels))
