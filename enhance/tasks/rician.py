"""Magnitude MR (Rician) noise: the magnitude image, no noise level told.

Input: the noisy magnitude image. Jittered with ``sigma ~ U(0.01, 0.1)``; validated on the spec
preset ``rician`` (sigma 0.05). No model is shipped yet; the classical methods are the Gaussian
denoisers, which estimate their own level.
"""

from __future__ import annotations

from .. import degrade
from .base import Task

__all__ = ["TASK"]


class RicianTask(Task):
    def describe_degradation(self, params):
        return (f"magnitude MR (Rician) noise, sigma = {params['sigma']:g} per channel "
                "(no noise level given)")

    def export_io(self, transform=None):
        return {**super().export_io(transform), "image": "the noisy magnitude image, float in [0, 1]"}


TASK = RicianTask(
    name="rician",
    degradation=degrade.rician,
    presets={"rician": {}},
    validation_preset="rician",
    jitter={"sigma": ("uniform", 0.01, 0.1)},
    baselines=("identity", "gaussian_filter", "median", "bilateral", "nlm", "wavelet", "tv",
               "bm3d"),
    model_input="the noisy magnitude image",
    words="magnitude MR (Rician) noise",
)
