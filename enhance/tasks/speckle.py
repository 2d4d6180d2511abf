"""Ultrasound speckle: the speckled B-mode image, no noise level told.

Input: the speckled image. Trained with ``looks`` in {1, 2, 3, 4}, ``psf_sigma`` =
(U(0.7, 1.3), U(1.1, 1.9)) pixels (axial, lateral) around the spec's (1.0, 1.5), and
``thermal ~ U(0, 0.04)``. Training patches are degraded with 8 pixels of context (the PSF's
reach), so at inference the image gets 16 pixels of reflected context: measured on the 8
validation images (dae-speckle), no border 26.81 dB, 8 px 26.98, 16 px 26.99.
"""

from __future__ import annotations

from .. import degrade
from ..metrics_ultrasound import REPORT_KEYS
from .base import Task

__all__ = ["TASK"]


class SpeckleTask(Task):
    def describe_degradation(self, params):
        return (f"ultrasound speckle: {params['looks']} looks, PSF sigma "
                f"{tuple(params['psf_sigma'])} px, thermal noise {params['thermal']:g} "
                "(no noise level given)")

    def export_io(self, transform=None):
        return {**super().export_io(transform), "image": "the speckled image, float in [0, 1]"}


TASK = SpeckleTask(
    name="speckle",
    degradation=degrade.speckle,
    presets={"speckle": {}},
    validation_preset="speckle",
    benchmark_presets=("speckle",),
    jitter={
        "looks": ("choice", [1, 2, 3, 4]),
        "psf_sigma": ("uniform-pair", (0.7, 1.3), (1.1, 1.9)),
        "thermal": ("uniform", 0.0, 0.04),
    },
    baselines=("identity", "gaussian_filter", "median", "bilateral", "nlm", "box", "lee", "frost",
               "srad", "nlm_log", "obnlm", "bm3d_log"),
    model_input="the speckled image",
    words="ultrasound speckle",
    default_model="dae-speckle",
    context_margin=8,
    grid_modalities=("ultrasound",),
    grid_rank=0,
    no_reference_metrics=REPORT_KEYS,  # enhance.metrics_ultrasound.despeckling_report's keys
)
