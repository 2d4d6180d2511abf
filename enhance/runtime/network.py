"""What the predict path asks of a network, whatever runtime runs it: :class:`Network`."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Network"]


@runtime_checkable
class Network(Protocol):
    """An enhancer's network as :mod:`enhance.predict` calls it.

    A runtime's module (:mod:`enhance.runtime.openvino`, :mod:`enhance.runtime.keras`) returns
    networks that offer these; the predict path uses nothing else (tiles, batches and the memory
    plan are its own).

    Attributes
    ----------
    runtime : str
        The runtime's name (one of :data:`enhance.names.RUNTIMES` but ``"auto"``); the manifest
        of ``enhance run`` records it.
    precision : str
        One of :data:`enhance.names.PRECISIONS`: the arithmetic the network computes in.
    bytes_per_pixel : float
        Activation bytes per window pixel of one call in that precision:
        :func:`enhance.predict.plan_windows` sizes tiles and windows per call from it.
    """

    runtime: str
    precision: str

    @property
    def bytes_per_pixel(self) -> float: ...

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The outputs of a float32 ``(B, h, w, C)`` batch of windows: float32
        ``(B, h, w, C_out)``, an array the caller may keep (not a reused buffer)."""
        ...
