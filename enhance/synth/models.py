"""Generator and discriminator builders of the synthesis GAN (DCGAN-style, class-conditional).

Generator: latent ``z`` concatenated with a learned class embedding -> dense 4 x 4 map ->
``log2(size / 4)`` blocks of (nearest 2x upsampling, 3 x 3 convolution, group normalisation,
ReLU) -> 3 x 3 convolution with ``tanh`` (pixels in [-1, 1]). Group normalisation instead of batch
normalisation: the network computes the same function in training and inference, so saved and
reloaded generators give bit-identical images whatever the batch.

Discriminator: ``log2(size / 4)`` strided 4 x 4 convolutions with spectral normalisation
(Miyato et al. 2018) and LeakyReLU(0.2), then a linear output plus a class projection term
(Miyato & Koyama 2018: ``<embed(y), features>``) when there is more than one class.

Both take ``[images_or_z, labels]`` with ``labels`` int32 of shape (batch, 1), so an
unconditional model is the one-class case of the same architecture.
"""

from __future__ import annotations

import math

from ..errors import EnhanceError

__all__ = ["build_generator", "build_discriminator", "check_size", "DEFAULTS"]

#: Architecture defaults (the shipped 64 x 64 generator uses these).
DEFAULTS = {"latent_dim": 64, "width": 32, "embed_dim": 16, "channels": 1, "max_width": 256}


def check_size(size):
    """Return the number of 2x resolution steps between 4 x 4 and ``size`` (a power of two >= 8)."""
    size = int(size)
    steps = int(round(math.log2(size / 4))) if size > 0 else -1
    if size < 8 or 4 * 2**steps != size:
        raise EnhanceError(f"image size must be a power of two of at least 8, not {size}")
    return steps


def _width_at(level, width, max_width):
    """Channels of a feature map at ``level`` halvings below full resolution."""
    return int(min(max_width, width * 2**level))


def build_generator(size=64, num_classes=1, *, latent_dim=64, width=32, embed_dim=16,
                    channels=1, max_width=256):
    """Build the generator ``[z (B, latent_dim), labels (B, 1) int32] -> images (B, size, size, C)``.

    Parameters
    ----------
    size : int
        Output side, a power of two >= 8.
    num_classes : int
        Number of classes (1: unconditional).
    latent_dim, width, embed_dim, channels, max_width : int
        Latent size; channels at full resolution (doubled per halving up to ``max_width``);
        class-embedding size; image channels.

    Returns
    -------
    keras.Model
    """
    import keras
    from keras import layers

    steps = check_size(size)
    z = keras.Input((latent_dim,), name="z")
    label = keras.Input((1,), dtype="int32", name="label")
    e = layers.Flatten(name="label_flat")(layers.Embedding(num_classes, embed_dim, name="embed")(label))
    h = layers.Concatenate(name="z_label")([z, e])
    ch = _width_at(steps, width, max_width)
    h = layers.Dense(4 * 4 * ch, name="project")(h)
    h = layers.Reshape((4, 4, ch), name="to_map")(h)
    h = layers.GroupNormalization(groups=min(8, ch), name="project_norm")(h)
    h = layers.ReLU(name="project_act")(h)
    for i in range(steps):
        ch = _width_at(steps - 1 - i, width, max_width)
        h = layers.UpSampling2D(2, interpolation="nearest", name=f"up{i}")(h)
        h = layers.Conv2D(ch, 3, padding="same", name=f"conv{i}")(h)
        h = layers.GroupNormalization(groups=min(8, ch), name=f"norm{i}")(h)
        h = layers.ReLU(name=f"act{i}")(h)
    out = layers.Conv2D(channels, 3, padding="same", activation="tanh", name="to_image")(h)
    return keras.Model([z, label], out, name="generator")


def build_discriminator(size=64, num_classes=1, *, width=32, channels=1, max_width=256, **_):
    """Build the discriminator ``[images (B, size, size, C), labels (B, 1)] -> logits (B, 1)``.

    Parameters
    ----------
    size : int
        Image side, a power of two >= 8.
    num_classes : int
        Number of classes (1: no projection term).
    width, channels, max_width : int
        Channels of the first convolution (doubled per halving up to ``max_width``); image
        channels. Other keywords (generator-only settings) are ignored.

    Returns
    -------
    keras.Model
    """
    import keras
    from keras import layers

    sn = layers.SpectralNormalization
    steps = check_size(size)
    image = keras.Input((size, size, channels), name="image")
    label = keras.Input((1,), dtype="int32", name="label")
    h = image
    for i in range(steps):
        ch = _width_at(i, width, max_width)
        h = sn(layers.Conv2D(ch, 4, strides=2, padding="same"), name=f"down{i}")(h)
        h = layers.LeakyReLU(0.2, name=f"act{i}")(h)
    features = layers.Flatten(name="features")(h)
    out = sn(layers.Dense(1), name="logit")(features)
    if num_classes > 1:
        dim = 4 * 4 * _width_at(steps - 1, width, max_width)
        e = layers.Flatten(name="label_flat")(layers.Embedding(num_classes, dim, name="embed")(label))
        projection = layers.Dot(axes=1, name="projection")([features, e])
        out = layers.Add(name="logit_plus_projection")([out, projection])
    return keras.Model([image, label], out, name="discriminator")
