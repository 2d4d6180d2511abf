"""DnCNN: a residual denoising CNN (Zhang et al., IEEE TIP 2017).

The network predicts the noise and subtracts it from its input (``restored = input - noise``).
Batch normalisation, part of the original design, is off by default: on short CPU training runs
its moving statistics lag the weights and the network collapses at inference.
"""

from __future__ import annotations

import keras
from keras import layers

from .layers import ConvBlock

__all__ = ["dncnn", "size_factor", "receptive_field"]


def dncnn(depth=12, width=48, channels=1, batchnorm=False):
    """Build a DnCNN.

    Parameters
    ----------
    depth : int, optional
        Number of 3x3 convolution layers, the first and last included (12; the paper uses 17).
    width : int, optional
        Feature channels of the hidden layers (48; the paper uses 64).
    channels : int, optional
        Image channels in and out (1).
    batchnorm : bool, optional
        Batch normalisation in the hidden layers (off by default).

    Returns
    -------
    keras.Model
        Input ``(None, None, channels)``, output of the same shape; any spatial size works.
    """
    if depth < 2:
        raise ValueError(f"DnCNN needs depth >= 2, got {depth}")
    image = keras.Input((None, None, channels), name="image")
    x = ConvBlock(width, name="head")(image)
    for index in range(depth - 2):
        x = ConvBlock(width, batchnorm=batchnorm, name=f"body_{index}")(x)
    noise = layers.Conv2D(channels, 3, padding="same", name="noise")(x)
    restored = layers.Subtract(name="restored")([image, noise])
    return keras.Model(image, restored, name="dncnn")


def size_factor(**params):
    """DnCNN takes any image size: 1."""
    return 1


def receptive_field(depth=12, **params):
    """Receptive field in pixels: ``2 * depth + 1`` (``depth`` 3x3 convolutions)."""
    return 2 * int(depth) + 1
