"""What a model sees and returns for each restoration task, and how training pairs are made.

Tasks
-----
``gaussian``
    Input: the noisy image. Blind: trained over ``sigma ~ U(0, 55/255)``.
``lowlight``
    The exposure is known (spec) and every method is told it. Input: ``noisy / exposure``
    (the gain that restores the brightness); target: the well-exposed clean image. Trained
    with ``exposure`` log-uniform in [0.05, 0.3], ``photons`` log-uniform in [300, 5000] (the
    photon count is not given to the model) and ``read_noise ~ U(0, 0.004)``.
``speckle``
    Input: the speckled image. Trained with ``looks`` in {1, 2, 3, 4}, ``psf_sigma`` =
    (U(0.7, 1.3), U(1.1, 1.9)) pixels (axial, lateral) around the spec's (1.0, 1.5), and
    ``thermal ~ U(0, 0.04)``.

Degradations are made with :mod:`enhance.degrade`'s functions, exactly as the spec says; the
parameters are drawn from ``rng`` first, then the degradation draws its noise from the same
``rng``. :data:`JITTER` holds the ranges (they go into the model card).
"""

from __future__ import annotations

import math

import numpy as np

from .degrade import resolve as resolve_degradation
from .errors import EnhanceError, UnknownName
from .names import TASKS

__all__ = [
    "TASKS",
    "JITTER",
    "VALIDATION_DEGRADATION",
    "check_task",
    "sample_params",
    "validation_params",
    "make_training_pair",
    "noise_level_map",
    "NOISE_MAP_TASKS",
    "context_margin",
    "inference_border",
    "prepare_input",
    "finish_output",
    "describe",
    "blind_spot_batch",
]

#: Per task, each jittered parameter: (distribution, arguments).
JITTER = {
    "gaussian": {"sigma": ("uniform", 0.0, 55 / 255)},
    "lowlight": {
        "exposure": ("log-uniform", 0.05, 0.3),
        "photons": ("log-uniform", 300.0, 5000.0),
        "read_noise": ("uniform", 0.0, 0.004),
    },
    "speckle": {
        "looks": ("choice", [1, 2, 3, 4]),
        "psf_sigma": ("uniform-pair", (0.7, 1.3), (1.1, 1.9)),
        "thermal": ("uniform", 0.0, 0.04),
    },
}

#: The spec preset each task's validation (and ``jitter=False`` training) uses.
VALIDATION_DEGRADATION = {"gaussian": "gaussian25", "lowlight": "lowlight", "speckle": "speckle"}


def check_task(task):
    """Raise :class:`~enhance.errors.UnknownName` unless ``task`` is a known task."""
    if task not in TASKS:
        raise UnknownName(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    return task


def _draw(spec, rng):
    kind = spec[0]
    if kind == "uniform":
        return float(rng.uniform(spec[1], spec[2]))
    if kind == "log-uniform":
        return float(math.exp(rng.uniform(math.log(spec[1]), math.log(spec[2]))))
    if kind == "choice":
        return spec[1][int(rng.integers(len(spec[1])))]
    if kind == "uniform-pair":
        return tuple(float(rng.uniform(lo, hi)) for lo, hi in spec[1:])
    raise ValueError(f"unknown distribution {kind!r}")


def sample_params(task, rng, jitter=True):
    """Degradation parameters for one training image.

    Parameters
    ----------
    task : str
    rng : numpy.random.Generator
    jitter : bool, optional
        Draw from :data:`JITTER` (True) or return the spec preset's parameters.

    Returns
    -------
    dict
        Keyword arguments of the task's :mod:`enhance.degrade` function.
    """
    check_task(task)
    if not jitter:
        return validation_params(task)
    return {name: _draw(spec, rng) for name, spec in JITTER[task].items()}


def validation_params(task):
    """All parameters of the task's validation preset (the function's defaults filled in)."""
    import inspect

    preset = resolve_degradation(VALIDATION_DEGRADATION[check_task(task)])
    params = {
        name: p.default
        for name, p in inspect.signature(preset.function).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    params.update(preset.params)
    return params


#: Tasks whose models can be conditioned on a noise-level map (``arch_params.noise_map``).
NOISE_MAP_TASKS = ("gaussian", "lowlight")


def noise_level_map(task, model_input, params):
    """Noise standard deviation of each pixel of ``model_input``, in its own units.

    The extra input channel of a noise-conditioned model (FFDNet, Zhang et al. 2018).

    Parameters
    ----------
    task : str
        ``gaussian`` or ``lowlight`` (:data:`NOISE_MAP_TASKS`).
    model_input : ndarray, shape (H, W)
        What :func:`prepare_input` returns.
    params : dict
        The degradation parameters: ``sigma`` for ``gaussian``; ``exposure``, ``photons`` and
        ``read_noise`` for ``lowlight``.

    Returns
    -------
    ndarray of float32, shape (H, W)
        ``sigma`` everywhere for ``gaussian``. For ``lowlight``, whose input is
        ``noisy / exposure``, ``sqrt(x / (exposure photons) + (read_noise / exposure)^2)`` with
        ``x`` the input smoothed by a 5 x 5 mean and clipped at 0 (the clean level is not known
        at inference, so training uses the same estimate).
    """
    if task not in NOISE_MAP_TASKS:
        raise EnhanceError(
            f"task {task!r} has no noise-level map; noise-conditioned models are for "
            f"{', '.join(NOISE_MAP_TASKS)}"
        )
    model_input = np.asarray(model_input, dtype=np.float32)
    if task == "gaussian":
        return np.full(model_input.shape, float(params["sigma"]), dtype=np.float32)
    from scipy.ndimage import uniform_filter

    exposure, photons = float(params["exposure"]), float(params["photons"])
    level = np.maximum(uniform_filter(model_input, 5, mode="reflect"), 0.0)
    variance = level / (exposure * photons) + (float(params.get("read_noise", 0.0)) / exposure) ** 2
    return np.sqrt(variance).astype(np.float32)


def make_training_pair(clean_patch, rng, task, jitter=True, params=None, noise_map=False):
    """Degrade a clean patch; return ``(model_input, target)`` as float32 arrays.

    Parameters
    ----------
    clean_patch : ndarray, shape (H, W)
        Clean image or patch, float in [0, 1].
    rng : numpy.random.Generator
        Draws the parameters (if jittered) and then the noise.
    task : str
        One of :data:`TASKS`.
    jitter : bool, optional
        Jittered parameters (training) or the spec preset's (validation).
    params : dict, optional
        Explicit degradation parameters (then nothing is drawn for them).
    noise_map : bool, optional
        Stack :func:`noise_level_map` behind the input (a noise-conditioned model's input).

    Returns
    -------
    model_input : ndarray of float32, shape (H, W), or (H, W, 2) with ``noise_map``
    target : ndarray of float32, shape (H, W)
    """
    if params is None:
        params = sample_params(task, rng, jitter)
    clean = np.asarray(clean_patch, dtype=np.float32)
    noisy = resolve_degradation(task, **params)(clean, rng)
    model_input = prepare_input(noisy, task, exposure=params.get("exposure"))
    if noise_map:
        model_input = np.stack([model_input, noise_level_map(task, model_input, params)], axis=-1)
    return model_input, clean


def context_margin(task):
    """Pixels of context to degrade around a training patch (then cropped): the speckle PSF's reach.

    Training patches of ``speckle`` are degraded with this context, so the network expects
    content beyond a window's edge: at inference the image is given reflected context
    (:func:`inference_border`).
    """
    return 8 if task == "speckle" else 0


def inference_border(task):
    """Pixels of reflected context around a whole image at inference (:func:`enhance.predict.enhance_image`).

    Twice the training context (:func:`context_margin`): measured on the 8 validation images
    (dae-speckle), no border 26.81 dB, 8 px 26.98, 16 px 26.99 (what the old 32 px tile margin
    gave); the other tasks are best seeing the image's own border (0).
    """
    return 2 * context_margin(task)


def prepare_input(noisy, task, *, exposure=None):
    """Turn a degraded image into the model's input.

    Parameters
    ----------
    noisy : ndarray
        Degraded image, float in [0, 1].
    task : str
    exposure : float, optional
        Required for ``lowlight`` (the acquisition's exposure, 0 < exposure <= 1); ignored
        by the other tasks.

    Returns
    -------
    ndarray of float32
        ``noisy / exposure`` for ``lowlight``, ``noisy`` otherwise.
    """
    check_task(task)
    noisy = np.asarray(noisy, dtype=np.float32)
    if task != "lowlight":
        return noisy
    if exposure is None:
        raise EnhanceError(
            "a lowlight model must be told the exposure (e.g. --exposure 0.1, exposure=0.1)"
        )
    exposure = float(exposure)
    if not 0.0 < exposure <= 1.0:
        raise EnhanceError(f"exposure must be in (0, 1], got {exposure}")
    return (noisy / exposure).astype(np.float32)


def finish_output(prediction, task, *, copy=True):
    """Turn the model's output into the restored image: float32 clipped to [0, 1].

    With ``copy=False`` a float32 ``prediction`` is clipped in place (and returned).
    """
    check_task(task)
    prediction = np.asarray(prediction, dtype=np.float32)
    return np.clip(prediction, 0.0, 1.0, out=None if copy else prediction)


def describe(task):
    """The task's model-card entry: input convention, jitter ranges and validation preset."""
    check_task(task)
    inputs = {
        "gaussian": "the noisy image",
        "lowlight": "noisy / exposure (the exposure must be given)",
        "speckle": "the speckled image",
    }[task]
    return {
        "task": task,
        "model_input": inputs,
        "target": "the clean image",
        "degradation": f"enhance.degrade.{task} (spec v1)",
        "training_jitter": {name: list(spec) for name, spec in JITTER[task].items()},
        "validation_degradation": {
            "name": VALIDATION_DEGRADATION[task],
            "params": validation_params(task),
        },
    }


def blind_spot_batch(noisy, rng, fraction=0.01, radius=2):
    """Noise2Void blind-spot masking of a batch of noisy patches.

    A random ``fraction`` of the pixels of each patch is replaced by a random other pixel from
    its ``(2 radius + 1)^2`` neighbourhood (Krull et al., CVPR 2019); the network must predict
    the original noisy value there, which it can only do from the surroundings.

    Parameters
    ----------
    noisy : ndarray, shape (B, H, W, C)
    rng : numpy.random.Generator
    fraction : float, optional
        Fraction of pixels masked per patch (at least one).
    radius : int, optional
        Neighbourhood radius of the replacement pixel.

    Returns
    -------
    masked_input : ndarray of float32, shape (B, H, W, C)
    target : ndarray of float32, shape (B, H, W, 2 C)
        The noisy patches stacked with the mask, for
        :func:`enhance.models.layers.noise2void_loss`.
    """
    noisy = np.asarray(noisy, dtype=np.float32)
    batch, height, width, channels = noisy.shape
    count = max(1, int(round(fraction * height * width)))
    masked = noisy.copy()
    mask = np.zeros_like(noisy)
    for index in range(batch):
        rows = rng.integers(0, height, count)
        cols = rng.integers(0, width, count)
        dy = rng.integers(-radius, radius + 1, count)
        dx = rng.integers(-radius, radius + 1, count)
        same = (dy == 0) & (dx == 0)
        dx[same] = 1  # never replace a pixel by itself
        src_rows = np.clip(rows + dy, 0, height - 1)
        src_cols = np.clip(cols + dx, 0, width - 1)
        src_cols = np.where((src_rows == rows) & (src_cols == cols), np.abs(cols - 1), src_cols)
        masked[index, rows, cols, :] = noisy[index, src_rows, src_cols, :]
        mask[index, rows, cols, :] = 1.0
    return masked, np.concatenate([noisy, mask], axis=-1)
