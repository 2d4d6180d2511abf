"""Run a loaded model on an image of any size: tiles, batches, out-of-memory back-off.

Keras (and its backend) is imported only when a model actually runs.
"""

from __future__ import annotations

import numpy as np

from .errors import EnhanceError
from .names import check_precision  # noqa: F401 - re-exported
from .runtime import as_network, with_precision  # noqa: F401 - re-exported
from .runtime.keras import activation_bytes_per_pixel, layer_output_specs  # noqa: F401
from .tasks import finish_output, get_task
from .tasks import gaussian as _gaussian_task
from .tasks import lowlight as _lowlight_task
from .tiling import margin_for, plan_tiles

__all__ = [
    "enhance_image",
    "noise_parameters",
    "run_network",
    "dihedral_transforms",
    "with_precision",
    "check_precision",
    "activation_bytes_per_pixel",
    "layer_output_specs",
    "plan_windows",
    "DEFAULT_MAX_MEMORY",
    "MIN_AUTO_TILE",
    "MIN_TILE",
]

#: Default memory for the work on one image, beyond the runtime and the model: the image's own
#: arrays (:data:`IMAGE_BYTES_PER_PIXEL`) and the network's activations for one call. Tiles and
#: windows per call are sized to stay within it (:func:`plan_windows`);
#: ``benchmarks/peak_memory.py`` measures a run's peak.
DEFAULT_MAX_MEMORY = 1 << 30
#: Bytes per image pixel that one grayscale image holds while it is restored, beside the network's
#: windows: the input, the model's input, its padded copy and the output (float32 each).
#: :func:`enhance_image` counts each channel (colour, a noise-level map) as it is held.
IMAGE_BYTES_PER_PIXEL = 16
#: Automatic tiles are never smaller than this core, whatever the budget.
MIN_AUTO_TILE = 256
#: The out-of-memory back-off never goes below this core size.
MIN_TILE = 32


def _is_out_of_memory(error):
    """Whether ``error`` is an accelerator or host out-of-memory error, on any backend."""
    if isinstance(error, MemoryError):
        return True
    name = type(error).__name__
    text = str(error)
    return (
        name in ("ResourceExhaustedError", "OutOfMemoryError")
        or "RESOURCE_EXHAUSTED" in text
        or "out of memory" in text.lower()
        or "bad_alloc" in text  # OpenVINO's CPU plugin
    )


def run_network(keras_model, images, *, tile=None, batch_size=8, margin=0, size_factor=1,
                border=0, progress=None, constant_channel=None):
    """Apply a fully convolutional network to images through a tile plan.

    Parameters
    ----------
    keras_model : enhance.runtime.Network or keras.Model
        Maps ``(B, h, w, C)`` to ``(B, h, w, C)`` (:func:`enhance.runtime.as_network`).
    images : list of ndarray, each (H, W, C)
        Model inputs, all of one shape.
    tile : int or (int, int), optional
        Core size of a tile; ``None`` processes each image in one window.
    batch_size : int, optional
        Windows per network call.
    margin : int, optional
        Overlap (at least the receptive-field radius for seamless results).
    size_factor : int, optional
    border : int, optional
        Reflected context around the image (:func:`enhance.tiling.plan_tiles`).
    progress : callable, optional
        Called as ``progress(done, total)`` (windows) after each network call.
    constant_channel : float, optional
        Append a channel of this value to every window (a constant noise-level map), so that
        no full-size copy of the image with its map is made.

    Returns
    -------
    list of ndarray, each (H, W, C_out)
    """
    network = as_network(keras_model)
    plan = plan_tiles(images[0].shape, tile, margin, size_factor, border)
    per_call = max(int(batch_size), 1)
    padded = [plan.pad(np.asarray(image, dtype=np.float32)) for image in images]
    results = [None] * len(images)
    jobs = [(index, tile_) for index in range(len(images)) for tile_ in plan.tiles]
    # stream: each batch's cores go straight into the result, so memory holds one batch of
    # windows, not every tile's output
    for start in range(0, len(jobs), per_call):
        chunk = jobs[start : start + per_call]
        windows = np.stack([padded[i][t.window] for i, t in chunk])
        if constant_channel is not None:
            level = np.full(windows.shape[:-1] + (1,), constant_channel, dtype=np.float32)
            windows = np.concatenate([windows, level], axis=-1)
        outputs = network(windows)
        for (index, tile_), output in zip(chunk, outputs):
            if results[index] is None:
                results[index] = np.empty(tuple(plan.shape) + output.shape[2:], dtype=np.float32)
            results[index][tile_.core] = output[tile_.crop]
        if progress is not None:
            progress(start + len(chunk), len(jobs))
    return results


def plan_windows(shape, *, margin, size_factor, bytes_per_pixel, max_memory=DEFAULT_MAX_MEMORY,
                 batch_size=8, tile=None, border=0, image_bytes_per_pixel=IMAGE_BYTES_PER_PIXEL):
    """Tile core and windows per network call for an image, from a memory budget.

    The image's own arrays (:data:`IMAGE_BYTES_PER_PIXEL` per pixel) are counted first; what
    is left bounds one call's activations (``bytes_per_pixel`` per window pixel, see
    :func:`activation_bytes_per_pixel`). The image goes through whole when it fits (padded only
    to the size factor and by ``border``: no margin is computed around a whole image);
    otherwise in the largest tiles that fit (never below :data:`MIN_AUTO_TILE`), equal in size
    so that little is padded, with as many windows per call as fit (at most ``batch_size``).
    Larger windows waste less on margins and calls.

    Parameters
    ----------
    shape : tuple of int
        (H, W, ...) of the image.
    margin, size_factor : int
        The tile plan's overlap and grid (:func:`enhance.tiling.plan_tiles`).
    bytes_per_pixel : float
    max_memory : int, optional
        Bytes for this image's work, beyond the runtime and the model.
    batch_size : int, optional
        At most this many windows per call.
    tile : int, optional
        A core size chosen by the user: kept; only the windows per call are planned.
    border : int, optional
        Reflected context around the image (:func:`enhance.tiling.plan_tiles`).
    image_bytes_per_pixel : float, optional
        What the image's own arrays hold per pixel (default: one grayscale plane).

    Returns
    -------
    tile : None or (int, int)
        ``None``: the whole image in one window.
    per_call : int
    """
    import math

    height, width = int(shape[0]), int(shape[1])
    factor = max(int(size_factor), 1)

    def up(value):
        return int(math.ceil(value / factor) * factor)

    budget = max_memory - image_bytes_per_pixel * height * width
    max_window = max(budget / max(bytes_per_pixel, 1.0), (up(MIN_AUTO_TILE) + 2 * margin) ** 2)
    if tile is None:
        if up(height + 2 * border) * up(width + 2 * border) <= max_window:  # one window
            return None, 1
        side = max(int(math.isqrt(int(max_window))) - 2 * margin, MIN_AUTO_TILE)
        # equal tiles: as few as the side allows, each just large enough
        cores = tuple(up(math.ceil(n / math.ceil(n / side))) for n in (height, width))
    else:
        cores = (up(min(int(tile), height)), up(min(int(tile), width)))
    window = (cores[0] + 2 * margin) * (cores[1] + 2 * margin)
    per_call = max(1, min(max(int(batch_size), 1), int(max_window // window)))
    return cores, per_call


def dihedral_transforms():
    """The eight flips and 90-degree rotations of an image, each with its inverse.

    Returns
    -------
    list of (forward, inverse)
        Functions of an ``(H, W, ...)`` array; ``inverse(forward(x))`` is ``x``. The first
        pair is the identity.
    """

    def make(k, flip):
        def forward(x):
            x = np.rot90(x, k, axes=(0, 1))
            return x[:, ::-1] if flip else x

        def inverse(y):
            y = y[:, ::-1] if flip else y
            return np.rot90(y, -k, axes=(0, 1))

        return forward, inverse

    return [make(k, flip) for flip in (False, True) for k in range(4)]


def _run_ensembled(keras_model, inputs, *, self_ensemble, progress=None, **options):
    """:func:`run_network`, averaged over the dihedral transforms when ``self_ensemble``.

    ``progress(fraction)`` is called after each network call with the fraction done (0..1).
    """

    def passed(k, passes):
        if progress is None:
            return None
        return lambda done, total: progress((k + done / max(total, 1)) / passes)

    if not self_ensemble:
        return run_network(keras_model, inputs, progress=passed(0, 1), **options)
    total = None
    for k, (forward, inverse) in enumerate(dihedral_transforms()):
        outputs = run_network(
            keras_model, [np.ascontiguousarray(forward(x)) for x in inputs],
            progress=passed(k, 8), **options
        )
        outputs = [inverse(y) for y in outputs]
        total = outputs if total is None else [t + y for t, y in zip(total, outputs)]
    return [np.ascontiguousarray(t / 8.0, dtype=np.float32) for t in total]


#: :func:`noise_parameters` estimates the noise level on the central square of this side.
ESTIMATE_REGION = 2048
#: How :func:`noise_parameters` estimates what it is not told (the tasks' own words).
SIGMA_ESTIMATOR = _gaussian_task.SIGMA_ESTIMATOR
POISSON_ESTIMATOR = _lowlight_task.POISSON_ESTIMATOR


def noise_parameters(model, image, *, sigma=None, exposure=None, photons=None, read_noise=None):
    """The noise level a noise-conditioned model is told about ``image``: given, else estimated.

    Parameters
    ----------
    model : LoadedModel
    image : ndarray, shape (H, W) or (H, W, C)
        The degraded image, float in [0, 1] (for low light: the dark image as acquired).
    sigma : float, optional
        Gaussian noise std in [0, 1] units (``gaussian`` models).
    exposure, photons, read_noise : float, optional
        Low light: the exposure (required), photons at full scale and read-noise std in [0, 1]
        units of the dark image.

    Returns
    -------
    dict or None
        None for a blind model. ``{"sigma", "source"}`` for ``gaussian``; ``{"exposure",
        "photons", "read_noise", "source"}`` for ``lowlight``. ``source`` is ``"given"`` or
        names the estimator (:data:`SIGMA_ESTIMATOR`, :data:`POISSON_ESTIMATOR`): the classical
        methods' when they are not told (for sigma restricted to blocks away from the clip, see
        :func:`enhance.metrics.estimate_noise`).
    """
    if not model.noise_map:
        return None
    image = np.asarray(image, dtype=np.float32)
    # the level is estimated on the central ESTIMATE_REGION square (bounded time and memory)
    top, left = (max(0, (n - ESTIMATE_REGION) // 2) for n in image.shape[:2])
    image = image[top : top + ESTIMATE_REGION, left : left + ESTIMATE_REGION]
    return get_task(model.task).noise_condition(
        image, sigma=sigma, exposure=exposure, photons=photons, read_noise=read_noise
    )


def enhance_image(model, image, *, tile=None, batch_size=8, exposure=None, self_ensemble=False,
                  sigma=None, photons=None, read_noise=None, max_memory=None, progress=None):
    """Restore an image with a model.

    Parameters
    ----------
    model : LoadedModel or str or Path
        From :func:`enhance.modeldir.load_model_dir` (a path is loaded).
    image : ndarray, shape (H, W) or (H, W, C)
        Degraded image, float in [0, 1]. A colour image given to a one-channel model is
        restored channel by channel (each channel as a grayscale image); a model with C
        channels takes C-channel images whole.
    tile : int, optional
        Core size of a tile (rounded up to the model's size factor). ``None`` plans tiles from
        ``max_memory`` (:func:`plan_windows`): the image whole when it fits, else the largest
        equal tiles that fit. Tiles overlap by the model's receptive-field radius and only
        their centres are kept, so tiling leaves no seams. On an out-of-memory error the
        windows per call, then the tile, are halved (down to :data:`MIN_TILE`) and the image
        retried.
    batch_size : int, optional
        At most this many tiles per network call (8); fewer when the budget says so.
    max_memory : int, optional
        Bytes for this image's work beyond the runtime and the model (default
        :data:`DEFAULT_MAX_MEMORY`).
    exposure : float, optional
        The acquisition's exposure; required by ``lowlight`` models, ignored by the others.
    self_ensemble : bool, optional
        Run the network on the eight flips and 90-degree rotations of the image and average
        the eight restorations mapped back (the "x8 self-ensemble" of Lim et al. 2017): eight
        times the compute, usually a few tenths of a dB more PSNR (the shipped model cards
        give the measured gain on the validation images).
    sigma, photons, read_noise : float, optional
        The noise level told to a noise-conditioned model (see :func:`noise_parameters`;
        estimated from the image when not given); blind models ignore them.
    progress : callable, optional
        Called as ``progress(fraction)`` after each network call, with the fraction of this
        image's tiles (and ensemble passes) done, 0..1 (it may start again after an
        out-of-memory retry).

    Returns
    -------
    ndarray of float32
        Same shape as ``image``, in [0, 1].
    """
    from .modeldir import LoadedModel, load_model_dir

    if not isinstance(model, LoadedModel):
        model = load_model_dir(model)
    image = np.asarray(image)
    if image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        raise EnhanceError(f"expected an (H, W) or (H, W, C) image, got shape {image.shape}")
    if not np.issubdtype(image.dtype, np.floating):
        raise EnhanceError(f"expected a float image in [0, 1], got dtype {image.dtype}")
    planes = image[..., None] if image.ndim == 2 else image
    channels = planes.shape[-1]
    if channels == model.channels:
        inputs = [planes]
    elif model.channels == 1:
        inputs = [planes[..., c : c + 1] for c in range(channels)]
    else:
        raise EnhanceError(
            f"model {model.name!r} takes {model.channels}-channel images, got {channels} channels"
        )
    condition = noise_parameters(model, image, sigma=sigma, exposure=exposure, photons=photons,
                                 read_noise=read_noise)
    task = get_task(model.task)
    transform = task.input_transform(model.input_transform, condition, exposure=exposure)
    inputs = [transform.forward(x) for x in inputs]
    constant = None
    if condition is not None:
        constant = transform.constant_level(condition)  # a constant map: added window by window
        if constant is None:
            inputs = [
                np.concatenate([x, task.noise_level_map(x[..., 0], condition)[..., None]], axis=-1)
                for x in inputs
            ]
    margin = margin_for(model.receptive_field, model.size_factor)
    # the image's own border, with the context the model was trained to see beyond a patch
    border = task.inference_border()
    # the image, the model's inputs and their padded copies, the outputs: float32 per channel
    held = planes.shape[-1] * 2 + 2 * sum(x.shape[-1] for x in inputs)
    tile, per_call = plan_windows(
        planes.shape, margin=margin, size_factor=model.size_factor, border=border,
        image_bytes_per_pixel=IMAGE_BYTES_PER_PIXEL / 4 * held,
        bytes_per_pixel=as_network(model.network).bytes_per_pixel,
        max_memory=DEFAULT_MAX_MEMORY if max_memory is None else int(max_memory),
        batch_size=batch_size, tile=tile,
    )
    while True:
        try:
            outputs = _run_ensembled(
                model.network,
                inputs,
                self_ensemble=self_ensemble,
                tile=tile,
                batch_size=per_call,
                margin=margin,
                size_factor=model.size_factor,
                border=border,
                progress=progress,
                constant_channel=constant,
            )
            break
        except Exception as error:
            if not _is_out_of_memory(error):
                raise
            current = max(tile) if tile is not None else max(planes.shape[:2])
            if current <= MIN_TILE and per_call == 1:
                raise EnhanceError(
                    f"out of memory even with {current}-pixel tiles: {error}"
                ) from error
            if per_call > 1:
                per_call //= 2
            else:
                tile = (max(current // 2, MIN_TILE),) * 2
    outputs = [transform.inverse(y) for y in outputs]
    restored = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=-1)
    if image.ndim == 2:
        restored = restored[..., 0]
    return finish_output(restored, model.task, copy=False)  # our own array: clip in place
