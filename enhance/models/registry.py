"""The architectures by name, and how to build one from a model directory's ``config.json``.

A *config* is a dict with ``arch`` (a key of :data:`ARCHITECTURES`), optional ``arch_params``
(keyword arguments of the builder; omitted ones take the builder's defaults) and optional
``channels``. The builder alone decides the network, so weights never decide the architecture.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

from ..errors import EnhanceError, UnknownName
from ..names import check_precision
from . import dae as _dae
from . import dncnn as _dncnn
from . import gan as _gan
from . import nafnet as _nafnet

__all__ = [
    "Architecture",
    "ARCHITECTURES",
    "get_architecture",
    "resolve_params",
    "build_model",
    "size_factor",
    "receptive_field",
]


@dataclass(frozen=True)
class Architecture:
    """One registered architecture.

    Attributes
    ----------
    name : str
    builder : callable
        Returns the keras.Model used for enhancement (for ``gan``, the generator).
    size_factor : callable
        ``size_factor(**params) -> int``: image sides must be multiples of it.
    receptive_field : callable
        ``receptive_field(**params) -> int``: pixels of input that one output pixel sees.
    description : str
    """

    name: str
    builder: Callable
    size_factor: Callable
    receptive_field: Callable
    description: str

    def defaults(self):
        """The builder's keyword arguments and their default values."""
        return {
            name: p.default
            for name, p in inspect.signature(self.builder).parameters.items()
            if p.default is not inspect.Parameter.empty
        }


ARCHITECTURES = {
    "dncnn": Architecture(
        "dncnn",
        _dncnn.dncnn,
        _dncnn.size_factor,
        _dncnn.receptive_field,
        "residual DnCNN (Zhang et al. 2017): predicts the noise and subtracts it",
    ),
    "dae": Architecture(
        "dae",
        _dae.dae,
        _dae.size_factor,
        _dae.receptive_field,
        "convolutional denoising autoencoder (skip=False: the plain autoencoder)",
    ),
    "gan": Architecture(
        "gan",
        _gan.unet_generator,
        _gan.size_factor,
        _gan.receptive_field,
        "pix2pix: U-Net generator trained with L1 + PatchGAN adversarial loss",
    ),
    "nafnet": Architecture(
        "nafnet",
        _nafnet.nafnet,
        _nafnet.size_factor,
        _nafnet.receptive_field,
        "NAFNet-style residual U-Net (Chen et al. 2022): simple-gate blocks, no global attention",
    ),
}


def get_architecture(name):
    """Return the :class:`Architecture` called ``name``; :class:`UnknownName` if none."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise UnknownName(
            f"unknown architecture {name!r}; known: {', '.join(sorted(ARCHITECTURES))}"
        ) from None


def resolve_params(config):
    """The full builder parameters of ``config``: defaults, then ``arch_params``, then ``channels``.

    Raises :class:`~enhance.errors.EnhanceError` for a parameter the builder does not take.
    """
    arch = get_architecture(config["arch"])
    params = arch.defaults()
    given = dict(config.get("arch_params") or {})
    unknown = set(given) - set(params)
    if unknown:
        raise EnhanceError(
            f"architecture {arch.name!r} takes {sorted(params)}, not {sorted(unknown)}"
        )
    params.update(given)
    if config.get("channels") is not None:
        params["channels"] = int(config["channels"])
    return params


def build_model(config, *, precision="float32"):
    """Build the enhancement network described by ``config`` (for ``gan``: the generator).

    Parameters
    ----------
    config : dict
    precision : {"float32", "bfloat16"}, optional, keyword-only
        ``bfloat16`` builds the layers under Keras' ``mixed_bfloat16`` policy (variables in
        float32, so the same weights load; convolutions computed in bfloat16), except the
        trailing layers that form the output (those with the output's channel count: the last
        convolution and a residual addition), which compute in float32 so that the restored
        image is not rounded to bfloat16's 8-bit mantissa.

    Returns
    -------
    keras.Model
        Fresh, randomly initialised weights; input ``(None, None, channels)``.
    """
    builder = get_architecture(config["arch"]).builder
    params = resolve_params(config)
    if check_precision(precision) == "float32":
        return builder(**params)
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = builder(**params)
    finally:
        keras.config.set_dtype_policy(previous)
    out_channels = model.outputs[0].shape[-1]
    for layer in reversed(model.layers):
        if layer.output.shape[-1] != out_channels or isinstance(layer, keras.layers.InputLayer):
            break
        layer.dtype_policy = keras.dtype_policies.DTypePolicy("float32")
    return model


def size_factor(config):
    """Image sides given to the network must be multiples of this."""
    return int(get_architecture(config["arch"]).size_factor(**resolve_params(config)))


def receptive_field(config):
    """Receptive field of the network in pixels (the tiling overlap must cover half of it)."""
    return int(get_architecture(config["arch"]).receptive_field(**resolve_params(config)))
