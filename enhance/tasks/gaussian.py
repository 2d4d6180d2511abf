"""Additive white Gaussian noise: the image as it is, blind or told the sigma.

Input: the noisy image. Trained over ``sigma ~ U(0, 55/255)``. Classical methods (and
noise-conditioned models) are told the sigma; a conditioned model not told it estimates it with
:func:`enhance.metrics.estimate_noise` (:data:`SIGMA_ESTIMATOR`).
"""

from __future__ import annotations

import numpy as np

from .. import degrade
from .base import Task

__all__ = ["TASK", "SIGMA_ESTIMATOR"]

#: How a sigma that is not told is estimated (recorded in manifests and cards).
SIGMA_ESTIMATOR = (
    "estimated by enhance.metrics.estimate_noise(mid_range=True) (the classical methods' Haar-MAD "
    "on blocks away from the clip)"
)


class GaussianTask(Task):
    def describe_degradation(self, params):
        return (f"additive Gaussian noise, sigma = {params['sigma'] * 255:g}/255 "
                "(classical methods and noise-conditioned models told sigma)")

    def noise_condition(self, image, *, sigma=None, exposure=None, photons=None,
                        read_noise=None):
        if sigma is not None:
            return {"sigma": float(sigma), "source": "given"}
        from ..metrics import estimate_noise

        return {"sigma": float(estimate_noise(image, mid_range=True)), "source": SIGMA_ESTIMATOR}

    def noise_level_map(self, model_input, params):
        model_input = np.asarray(model_input, dtype=np.float32)
        return np.full(model_input.shape, float(params["sigma"]), dtype=np.float32)

    def constant_noise_level(self, condition):
        return float(condition["sigma"])

    def export_io(self, transform=None):
        return {
            "image": "the noisy image, float in [0, 1]",
            "noise_level": "the Gaussian noise std sigma in [0, 1] units, constant (e.g. 25/255)",
            "pre": "none (pixels mapped to float in [0, 1])",
            "post": "clip to [0, 1]",
        }


TASK = GaussianTask(
    name="gaussian",
    degradation=degrade.gaussian,
    presets={"gaussian15": {"sigma": 15 / 255}, "gaussian25": {"sigma": 25 / 255},
             "gaussian50": {"sigma": 50 / 255}},
    validation_preset="gaussian25",
    benchmark_presets=("gaussian15", "gaussian25", "gaussian50"),
    jitter={"sigma": ("uniform", 0.0, 55 / 255)},
    baselines=("identity", "gaussian_filter", "median", "bilateral", "nlm", "wavelet", "tv",
               "bm3d"),
    told=("sigma",),
    model_input="the noisy image",
    words="Gaussian noise",
    default_model="dae-gaussian-sigma-20k",
    noise_map=True,
    grid_modalities=("CT", "MR"),
    grid_rank=2,
)
