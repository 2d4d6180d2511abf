"""Low-dose CT: the filtered back-projection of noisy counts, no noise level told.

Input: the reconstructed low-dose image. Jittered with ``i0`` log-uniform in [5e3, 5e4];
validated on the spec preset ``lowdose_ct`` (i0 = 1e4, 360 angles). No model is shipped yet;
the classical methods are the Gaussian denoisers, which estimate their own level.
"""

from __future__ import annotations

from .. import degrade
from .base import Task

__all__ = ["TASK"]


class LowdoseCTTask(Task):
    def describe_degradation(self, params):
        return (f"low-dose CT: {params['i0']:g} incident photons per bin, {params['angles']} "
                "angles, filtered back-projection (no noise level given)")

    def export_io(self, transform=None):
        return {**super().export_io(transform),
                "image": "the low-dose reconstruction, float in [0, 1]"}


TASK = LowdoseCTTask(
    name="lowdose_ct",
    degradation=degrade.lowdose_ct,
    presets={"lowdose_ct": {}},
    validation_preset="lowdose_ct",
    jitter={"i0": ("log-uniform", 5e3, 5e4)},
    baselines=("identity", "gaussian_filter", "median", "bilateral", "nlm", "wavelet", "tv",
               "bm3d"),
    model_input="the low-dose reconstruction",
    words="low-dose CT noise",
)
