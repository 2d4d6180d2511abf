"""Inference runtimes: where an enhancer's network runs when it restores images.

Every runtime offers the predict path a :class:`Network` (``network(batch) -> ndarray``, its
``runtime``, ``precision`` and ``bytes_per_pixel``); :mod:`enhance.predict` uses nothing else.
A runtime is one module of this package with ``NAME``, ``available()``, ``load(path, *,
precision)`` and ``with_precision(model, precision)``, listed in :data:`RUNTIME_MODULES` (and its
name in :data:`enhance.names.RUNTIMES`, which the command line offers):

``openvino`` (:mod:`enhance.runtime.openvino`)
    The network converted once to an OpenVINO IR, kept by :mod:`enhance.runtime.cache` (checked
    against the SHA-256 of the files converted at every load) and run by OpenVINO's CPU plugin:
    no TensorFlow import once converted.
``keras`` (:mod:`enhance.runtime.keras`)
    The Keras model on its backend (TensorFlow unless ``KERAS_BACKEND`` names another).
``auto`` (the default)
    ``keras`` when ``KERAS_BACKEND`` is set (the user named a Keras backend: the network runs on
    it) or an NVIDIA GPU is visible (OpenVINO's CPU plugin does not use it), or OpenVINO is not
    installed; else ``openvino``, and ``keras`` when the conversion fails. The manifest of
    ``enhance run`` records the runtime each file ran on.

``benchmarks/throughput.py`` measures the runtimes against each other (the README gives the
figures).
"""

from __future__ import annotations

import os

from ..errors import EnhanceError, ModelError
from ..names import RUNTIMES, check_precision
from ..quiet import tensorflow_quietly
from . import keras, openvino
from .cache import CACHE_ENV, IR_INFO, cache_root, openvino_ir, write_openvino_ir
from .keras import KerasNetwork
from .network import Network
from .openvino import COMPILED_SHAPES, THREADS_ENV, OpenVINONetwork

__all__ = [
    "RUNTIMES",
    "RUNTIME_MODULES",
    "Network",
    "CACHE_ENV",
    "THREADS_ENV",
    "COMPILED_SHAPES",
    "IR_INFO",
    "cache_root",
    "choose_runtime",
    "as_network",
    "openvino_ir",
    "write_openvino_ir",
    "OpenVINONetwork",
    "KerasNetwork",
    "load_enhancer",
    "with_precision",
]

#: Runtime name -> its module, in the order ``auto`` prefers them.
RUNTIME_MODULES = {module.NAME: module for module in (openvino, keras)}


def _nvidia_gpu_visible():
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1"):
        return False
    return os.path.exists("/proc/driver/nvidia/version")


def choose_runtime(runtime="auto"):
    """The runtime that ``runtime`` means on this machine: ``"openvino"`` or ``"keras"``.

    ``auto`` is ``keras`` when ``KERAS_BACKEND`` is set (a user who names a Keras backend gets
    the network run on it), when an NVIDIA GPU is visible, or when OpenVINO is not installed;
    else ``openvino``.

    Raises
    ------
    EnhanceError
        An unknown name, or a runtime asked for that is not installed.
    """
    if runtime not in RUNTIMES:
        raise EnhanceError(f"unknown runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
    if runtime != "auto":
        if not RUNTIME_MODULES[runtime].available():
            raise EnhanceError(f"the {runtime} runtime needs {runtime}: pip install {runtime}")
        return runtime
    if os.environ.get("KERAS_BACKEND", "").strip():
        return keras.NAME
    return openvino.NAME if openvino.available() and not _nvidia_gpu_visible() else keras.NAME


def as_network(network):
    """``network`` as a :class:`Network`: itself, or a Keras model in a :class:`KerasNetwork`."""
    return network if isinstance(network, Network) else KerasNetwork(network)


def with_precision(model, precision):
    """The same model computing in ``precision``: ``model`` itself when it already does.

    Parameters
    ----------
    model : enhance.modeldir.LoadedModel
    precision : {"float32", "bfloat16"}
        On Keras, :func:`enhance.models.registry.build_model`'s precision; on OpenVINO the
        plugin's inference precision. bfloat16 is faster on CPUs with bfloat16 instructions
        (AVX512-BF16, AMX) and on recent GPUs, at a small PSNR cost (the README gives the
        measured figures), and slower on CPUs without them.

    Returns
    -------
    enhance.modeldir.LoadedModel
        Same config, card and weights; ``config["precision"]`` is not set (the config stays
        the directory's).
    """
    check_precision(precision)
    return RUNTIME_MODULES[model.runtime].with_precision(model, precision)


def load_enhancer(path, *, precision="float32", runtime="auto"):
    """Load an enhancer's model directory for inference on a runtime.

    Parameters
    ----------
    path : str or Path or enhance.modeldir.ModelDir
        A model directory (weights verified against the card), or what
        :func:`enhance.modeldir.read_model_dir` read of one (not read again).
    precision : {"float32", "bfloat16"}, keyword-only
    runtime : {"auto", "openvino", "keras"}, keyword-only
        See the module's description.

    Returns
    -------
    enhance.modeldir.LoadedModel
        Its ``runtime`` says which runtime it runs on.

    Raises
    ------
    ModelError
        What :func:`enhance.modeldir.load_model_dir` refuses; for a runtime asked by name (not
        ``auto``) its own failure (a failed conversion).
    """
    check_precision(precision)  # before any conversion
    chosen = choose_runtime(runtime)
    # a first conversion or the Keras runtime imports TensorFlow: without its banner
    with tensorflow_quietly():
        if chosen != keras.NAME:
            try:
                return RUNTIME_MODULES[chosen].load(path, precision=precision)
            except ModelError:
                if runtime == chosen:
                    raise
        return keras.load(path, precision=precision)
