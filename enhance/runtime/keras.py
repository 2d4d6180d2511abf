"""The ``keras`` runtime: the Keras model on its backend (TensorFlow unless ``KERAS_BACKEND``
names another). What training builds, and the only runtime of the GANs' generators; importing
TensorFlow costs seconds of each process (``benchmarks/throughput.py`` measures it)."""

from __future__ import annotations

import dataclasses
import importlib.util
import weakref

import numpy as np

from ..modeldir import load_model_dir
from ..names import check_precision

__all__ = ["NAME", "available", "load", "with_precision", "KerasNetwork",
           "activation_bytes_per_pixel", "layer_output_specs"]

#: The runtime's name (:data:`enhance.names.RUNTIMES`).
NAME = "keras"

_ITEMSIZE = {"float32": 4, "bfloat16": 2, "float16": 2, "float64": 8}
#: keras model -> :func:`activation_bytes_per_pixel` (weak: forgotten with the model).
_BYTES_PER_PIXEL = weakref.WeakKeyDictionary()


def available():
    """Whether Keras is installed (it is a requirement of the package)."""
    return importlib.util.find_spec("keras") is not None


def layer_output_specs(keras_model, layers=None, *, side=64):
    """The output spec (shape, dtype) of each of ``layers`` for a ``side`` x ``side`` input.

    Parameters
    ----------
    keras_model : keras.Model
        A functional model with a ``(None, None, C)`` input.
    layers : list of keras.layers.Layer, optional
        Default: every layer but the input.

    Returns
    -------
    list of keras.KerasTensor
        Symbolic: nothing is computed.
    """
    import keras

    layers = keras_model.layers[1:] if layers is None else list(layers)
    probe = keras.Model(keras_model.inputs, [layer.output for layer in layers])
    channels = keras_model.inputs[0].shape[-1]
    specs = probe.compute_output_spec(keras.KerasTensor((1, side, side, channels)))
    return list(specs) if isinstance(specs, (list, tuple)) else [specs]


def activation_bytes_per_pixel(keras_model):
    """An upper bound on the network's activation memory per window pixel, in bytes.

    The sum, over every layer, of its output's elements per input pixel times its compute
    dtype's size: what one call holds if nothing were freed (runtimes free and reuse buffers, so
    the peak is lower: ``benchmarks/peak_memory.py`` measures it).

    Parameters
    ----------
    keras_model : keras.Model
        A functional model with a ``(None, None, C)`` input.

    Returns
    -------
    float
    """
    import keras

    side = 64
    total = 0.0
    for spec in layer_output_specs(keras_model, side=side):
        dtype = keras.backend.standardize_dtype(spec.dtype)
        total += float(np.prod(spec.shape)) * _ITEMSIZE.get(dtype, 4)
    return total / (side * side)


class KerasNetwork:
    """A Keras model as a :class:`enhance.runtime.Network`: ``network(batch) -> ndarray``.

    Parameters
    ----------
    keras_model : keras.Model
        Or any object called like one (``predict_on_batch`` on TensorFlow).
    """

    runtime = NAME

    def __init__(self, keras_model):
        self.keras_model = keras_model

    @property
    def precision(self):
        """``"bfloat16"`` when a layer computes in it (:func:`with_precision`), else float32."""
        layers = getattr(self.keras_model, "layers", ())
        return "bfloat16" if any(getattr(layer, "compute_dtype", None) == "bfloat16"
                                 for layer in layers) else "float32"

    @property
    def bytes_per_pixel(self):
        try:
            return _BYTES_PER_PIXEL[self.keras_model]
        except (KeyError, TypeError):
            value = activation_bytes_per_pixel(self.keras_model)
            try:
                _BYTES_PER_PIXEL[self.keras_model] = value
            except TypeError:  # not weakly referenceable: computed each time
                pass
            return value

    def __call__(self, batch):
        from ..backend_specific import predict_batch

        return predict_batch(self.keras_model, batch)


def with_precision(model, precision):
    """The same Keras model computing in ``precision``: ``model`` itself for ``float32``.

    Parameters
    ----------
    model : enhance.modeldir.LoadedModel
        On the Keras runtime.
    precision : {"float32", "bfloat16"}
        See :func:`enhance.models.registry.build_model`.

    Returns
    -------
    LoadedModel
        Same config, card and weights; the network rebuilt under the precision.
    """
    if check_precision(precision) == "float32":
        return model
    from ..models import registry

    network = registry.build_model(model.config, precision=precision)
    network.set_weights(model.keras_model.get_weights())
    return dataclasses.replace(model, network=network)


def load(path, *, precision="float32"):
    """An enhancer's model directory (a path, or :func:`enhance.modeldir.read_model_dir`'s
    result: not read again) as a Keras model in ``precision`` (weights verified)."""
    return with_precision(load_model_dir(path), precision)
