"""The ``openvino`` runtime: an enhancer converted once, by Keras' own
``model.export(format="openvino")``, to an OpenVINO IR (kept by :mod:`enhance.runtime.cache`)
and run by OpenVINO's CPU plugin. A run on a cached model imports neither TensorFlow nor Keras.

A small window shape's first call runs on one dynamic-shape compile, its later calls (and every
call of a large window) on a static compile of that shape (at most :data:`COMPILED_SHAPES` stay
compiled). float32 outputs equal Keras' (``tests/test_runtime.py`` holds them within 1e-5); ``bfloat16``
is OpenVINO's bf16 inference precision on CPUs that have it (AVX512-BF16, AMX; elsewhere the
plugin computes in float32). Converting needs the Keras model, so the first run of a model on a
machine imports TensorFlow. ``benchmarks/throughput.py`` measures it against Keras.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..errors import ModelError, one_line
from ..modeldir import LoadedModel, ModelDir, read_model_dir
from ..names import check_precision
from .cache import openvino_ir

__all__ = ["NAME", "THREADS_ENV", "COMPILED_SHAPES", "available", "load", "with_precision",
           "OpenVINONetwork"]

#: The runtime's name (:data:`enhance.names.RUNTIMES`).
NAME = "openvino"
#: Environment variable bounding the threads of the OpenVINO runtime (the Ray engine sets it
#: to each actor's CPUs); unset: every core.
THREADS_ENV = "ENHANCE_NUM_THREADS"
#: Window shapes kept compiled by one :class:`OpenVINONetwork` (least recently used dropped).
COMPILED_SHAPES = 2
#: Window shapes remembered as called once (their next call compiles them statically).
SEEN_SHAPES = 64
#: Largest window (batch x height x width) whose first call runs on the dynamic compile.
DYNAMIC_MAX_PIXELS = 512 * 512


def available():
    """Whether OpenVINO is installed."""
    return importlib.util.find_spec("openvino") is not None


class OpenVINONetwork:
    """An enhancer's network on OpenVINO's CPU plugin, a :class:`enhance.runtime.Network`:
    ``network(batch) -> ndarray`` for a float32 ``(B, h, w, C)`` batch.

    Parameters
    ----------
    xml : str or Path
        The IR (:func:`enhance.runtime.cache.openvino_ir`).
    precision : {"float32", "bfloat16"}
    bytes_per_pixel : float
        :func:`enhance.runtime.keras.activation_bytes_per_pixel` of the float32 network.
    keep : object, optional
        Kept referenced while the network lives (a temporary IR folder).
    """

    runtime = NAME

    def __init__(self, xml, *, precision="float32", bytes_per_pixel, keep=None):
        import openvino as ov

        check_precision(precision)
        self.xml, self.precision, self._keep = Path(xml), precision, keep
        self._float32_bytes_per_pixel = float(bytes_per_pixel)
        self._core = ov.Core()
        self._model = self._core.read_model(str(self.xml))
        self._options = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bfloat16" else "f32",
                         "PERFORMANCE_HINT": "LATENCY"}
        threads = os.environ.get(THREADS_ENV, "").strip()
        if threads.isdigit() and int(threads) > 0:
            self._options["INFERENCE_NUM_THREADS"] = int(threads)
        self._requests = OrderedDict()  # window shape -> infer request of a static compile
        self._dynamic = None  # the infer request of the dynamic-shape compile
        self._seen = OrderedDict()  # window shapes called once (run on the dynamic compile)

    @property
    def bytes_per_pixel(self):
        """Activation bytes per window pixel in this precision (bfloat16: half of float32's)."""
        return self._float32_bytes_per_pixel / (2 if self.precision == "bfloat16" else 1)

    def with_precision(self, precision):
        """The same IR computing in ``precision`` (``self`` when it already does)."""
        if precision == self.precision:
            return self
        return OpenVINONetwork(self.xml, precision=precision, keep=self._keep,
                               bytes_per_pixel=self._float32_bytes_per_pixel)

    def _request(self, shape):
        """A small shape's first call runs on the dynamic compile (a static compile is a large
        part of a small window's call, wasted on a shape seen once: images of varied sizes); from
        its second call on, a static compile (faster per call: tiles, equal images). Windows of
        more than :data:`DYNAMIC_MAX_PIXELS` are compiled statically at once: the compile is a
        small part of their call, and the dynamic compile's buffers, sized for the largest shape
        it ran, would stay beside the static one's. ``benchmarks/throughput.py`` and
        ``benchmarks/peak_memory.py`` measure both choices."""
        request = self._requests.pop(shape, None)
        if (request is None and shape not in self._seen
                and int(np.prod(shape[:-1])) <= DYNAMIC_MAX_PIXELS):
            self._seen[shape] = None
            while len(self._seen) > SEEN_SHAPES:
                self._seen.popitem(last=False)
            if self._dynamic is None:
                self._dynamic = self._core.compile_model(
                    self._model, "CPU", self._options).create_infer_request()
            return self._dynamic
        if request is None:
            while len(self._requests) >= COMPILED_SHAPES:
                self._requests.popitem(last=False)  # frees its buffers
            model = self._model.clone()
            model.reshape(list(shape))
            request = self._core.compile_model(model, "CPU", self._options).create_infer_request()
        self._requests[shape] = request
        return request

    def __call__(self, batch):
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        result = self._request(tuple(batch.shape)).infer({0: batch})
        return np.array(result[0], dtype=np.float32, copy=True)  # its buffer is reused


def with_precision(model, precision):
    """The same IR computing in ``precision`` (a :class:`enhance.modeldir.LoadedModel`)."""
    return dataclasses.replace(model, network=model.network.with_precision(precision))


def load(path, *, precision="float32"):
    """An enhancer's model directory (a path, or :func:`enhance.modeldir.read_model_dir`'s
    result: not read again) on OpenVINO: its cached IR (converted first when missing or not
    the one converted).

    Raises
    ------
    ModelError
        What :func:`enhance.modeldir.read_model_dir` refuses, a failed conversion, or an IR
        that OpenVINO cannot read.
    """
    found = path if isinstance(path, ModelDir) else read_model_dir(path, kind="enhancer")
    folder, info, keep = openvino_ir(found)
    try:
        network = OpenVINONetwork(folder / "model.xml", precision=precision, keep=keep,
                                  bytes_per_pixel=info["activation_bytes_per_pixel"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:  # OpenVINO raises RuntimeError
        raise ModelError(f"{folder}: OpenVINO cannot read the converted model "
                         f"({type(error).__name__}: {one_line(error)})") from error
    return LoadedModel(network, found.config, found.card, found.path)
