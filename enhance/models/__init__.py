"""Keras 3 enhancement networks: DnCNN, a denoising autoencoder and a pix2pix GAN.

Importing this package imports Keras (and its backend) but builds, trains and loads nothing.
Build a network by name with :func:`build_model`; see :mod:`enhance.models.registry`.
"""

from .registry import ARCHITECTURES, build_model, receptive_field, size_factor

__all__ = ["ARCHITECTURES", "build_model", "receptive_field", "size_factor"]
