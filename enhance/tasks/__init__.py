"""The restoration tasks: one module each, and the registry that lists them.

A task (:class:`~enhance.tasks.base.Task`) owns everything that differs between restoration
problems: its degradation presets and training jitter, what classical methods and models are
told, the noise estimate and noise-level map, the input transform and its inverse, its default
shipped model, its no-reference metrics, and the words of reports and exported models. The rest
of the package asks the task (:func:`get_task`) and never compares a task's name.

The built-in tasks, in order (:data:`TASKS`, the command line's ``--task`` choices):

``gaussian`` (:mod:`.gaussian`), ``lowlight`` (:mod:`.lowlight`), ``speckle`` (:mod:`.speckle`),
``rician`` (:mod:`.rician`), ``lowdose_ct`` (:mod:`.lowdose_ct`).

A new task is one module building a ``TASK`` object, named in :data:`BUILTIN` (or, outside the
package, passed to :func:`register`). Degradations are resolved here (:func:`resolve`,
:func:`degrade`): a preset of a task, or a task's name for its function with the function's
defaults; the parameters are drawn from ``rng`` first, then the degradation draws its noise from
the same ``rng``.
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np

from ..degrade import Degradation
from ..errors import EnhanceError, UnknownName
from .base import Task, finish_output as _finish

__all__ = [
    "Task",
    "BUILTIN",
    "TASKS",
    "DEFAULT_TASK",
    "NOISE_MAP_TASKS",
    "register",
    "unregister",
    "get_task",
    "check_task",
    "task_names",
    "all_tasks",
    "PRESETS",
    "BENCHMARK_DEGRADATIONS",
    "resolve",
    "degrade",
    "degradation_id",
    "JITTER",
    "VALIDATION_DEGRADATION",
    "sample_params",
    "validation_params",
    "make_training_pair",
    "noise_level_map",
    "context_margin",
    "inference_border",
    "prepare_input",
    "finish_output",
    "describe",
    "blind_spot_batch",
]

#: The modules of the built-in tasks, in their order (the one list of them).
BUILTIN = ("gaussian", "lowlight", "speckle", "rician", "lowdose_ct")

_REGISTRY: dict = {}

#: Every task's presets, name -> :class:`~enhance.degrade.Degradation`, in the tasks' order (a
#: preset's place here is its stable number, :func:`degradation_id`).
PRESETS: dict = {}
#: Task -> its jitter table (:attr:`Task.jitter`).
JITTER: dict = {}
#: Task -> the preset of its validation (and of ``jitter=False`` training).
VALIDATION_DEGRADATION: dict = {}


#: How a task's default model may be chosen (:attr:`Task.default_chosen_on`).
DEFAULT_CHOICES = ("validation", "real frames")


def register(task):
    """Add a :class:`Task` (after the built-in ones); its presets join :data:`PRESETS`.

    Raises
    ------
    EnhanceError
        The name, or one of its preset names, is taken.
    """
    if not isinstance(task, Task):
        raise EnhanceError(f"a task must be an enhance.tasks.Task, got {type(task).__name__}")
    taken = set(_REGISTRY) | set(PRESETS)
    clash = sorted(({task.name} | set(task.presets)) & taken)
    if clash:
        raise EnhanceError(f"task {task.name!r}: the names {clash} are taken")
    if task.validation_preset not in task.presets:
        raise EnhanceError(f"task {task.name!r}: its validation preset "
                           f"{task.validation_preset!r} is not one of its presets")
    if task.default_chosen_on not in DEFAULT_CHOICES:
        raise EnhanceError(f"task {task.name!r}: default_chosen_on must be one of "
                           f"{', '.join(DEFAULT_CHOICES)}, got {task.default_chosen_on!r}")
    accepted = set(inspect.signature(task.degradation).parameters) - {"x", "rng"}
    named = {"jitter": set(task.jitter), "told": set(task.told),
             **{f"jitter table {k!r}": set(v) for k, v in task.jitter_tables.items()},
             **{f"preset {k!r}": set(v) for k, v in task.presets.items()}}
    for where, names in named.items():
        if names - accepted:
            raise EnhanceError(f"task {task.name!r}: {where} names {sorted(names - accepted)}, "
                               f"which {task.degradation.__name__} does not take")
    _REGISTRY[task.name] = task
    for name, params in task.presets.items():
        PRESETS[name] = Degradation(name, task.name, dict(params), task.degradation)
    JITTER[task.name] = task.jitter
    VALIDATION_DEGRADATION[task.name] = task.validation_preset
    return task


def unregister(name):
    """Remove a task added by :func:`register` (tests); the built-in tasks stay."""
    if name in BUILTIN:
        raise EnhanceError(f"{name!r} is a built-in task")
    task = _REGISTRY.pop(name, None)
    if task is not None:
        for preset in task.presets:
            PRESETS.pop(preset, None)
        JITTER.pop(name, None)
        VALIDATION_DEGRADATION.pop(name, None)


def get_task(name):
    """The :class:`Task` called ``name``; :class:`~enhance.errors.UnknownName` lists the known."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownName(f"unknown task {name!r}; known: {', '.join(_REGISTRY)}") from None


def check_task(task):
    """Raise :class:`~enhance.errors.UnknownName` unless ``task`` is a known task; return it."""
    get_task(task)
    return task


def task_names():
    """The names of the tasks, built-in first (the command line's ``--task`` choices)."""
    return tuple(_REGISTRY)


def all_tasks():
    """The :class:`Task` objects, in order."""
    return tuple(_REGISTRY.values())


for _module in BUILTIN:
    register(importlib.import_module(f"{__name__}.{_module}").TASK)

#: The built-in tasks' names, in order.
TASKS = task_names()
#: The task ``enhance run`` restores when neither a model nor a task is given.
DEFAULT_TASK = TASKS[0]
#: The built-in tasks whose models may be conditioned on a noise-level map.
NOISE_MAP_TASKS = tuple(t.name for t in all_tasks() if t.noise_map)
#: The spec's v1 benchmark list, in its order (the ``d`` of the seed rule): the tasks'
#: benchmark presets.
BENCHMARK_DEGRADATIONS = tuple(p for t in all_tasks() for p in t.benchmark_presets)


# ------------------------------------------------------------------------------ degradations


def resolve(name, **params):
    """Return the :class:`~enhance.degrade.Degradation` for a preset or task name, with
    parameters overridden.

    ``resolve("gaussian25")``, ``resolve("speckle", looks=4)``, ``resolve("gaussian", sigma=0.1)``.
    A parameter that the function does not take raises :class:`~enhance.errors.EnhanceError`.
    """
    if name in PRESETS:
        base = PRESETS[name]
    elif name in _REGISTRY:
        base = Degradation(name, name, {}, _REGISTRY[name].degradation)
    else:
        known = ", ".join(sorted(set(PRESETS) | set(_REGISTRY)))
        raise UnknownName(f"unknown degradation {name!r}; known: {known}")
    accepted = set(inspect.signature(base.function).parameters) - {"x", "rng"}
    unknown = set(params) - accepted
    if unknown:
        raise EnhanceError(
            f"degradation {name!r} takes {sorted(accepted)}, not {sorted(unknown)}"
        )
    merged = {**base.params, **{k: v for k, v in params.items() if v is not None}}
    return Degradation(base.name if not params else name, base.task, merged, base.function)


def degrade(x, name, *, seed=None, rng=None, **params):
    """Degrade ``x`` with a named degradation (see :data:`PRESETS`).

    Give either ``seed`` (an int for :func:`numpy.random.default_rng`) or ``rng``.
    """
    if rng is None:
        rng = np.random.default_rng(seed)
    return resolve(name, **params)(x, rng)


def degradation_id(name):
    """Stable number of a degradation name: its position in :data:`PRESETS` (the spec's benchmark
    list comes first), or 100 + its task's position for a bare task name.

    Raises
    ------
    UnknownName
        ``name`` is neither (the message lists the known names).
    """
    if name in PRESETS:
        return list(PRESETS).index(name)
    if name in _REGISTRY:
        return 100 + list(_REGISTRY).index(name)
    resolve(name)  # raises UnknownName with the known names
    raise EnhanceError(f"unknown degradation {name!r}")


# ------------------------------------------------------------------------------ by task name


def sample_params(task, rng, jitter=True):
    """Degradation parameters for one training image (:meth:`Task.sample_params`).

    Parameters
    ----------
    task : str
    rng : numpy.random.Generator
    jitter : bool, optional
        Draw from the task's jitter (True) or return its validation preset's parameters.

    Returns
    -------
    dict
        Keyword arguments of the task's degradation function.
    """
    return get_task(task).sample_params(rng, jitter)


def validation_params(task):
    """All parameters of the task's validation preset (the function's defaults filled in)."""
    return get_task(task).validation_params()


def noise_level_map(task, model_input, params):
    """Noise standard deviation of each pixel of ``model_input``, in its own units
    (:meth:`Task.noise_level_map`): the extra input channel of a noise-conditioned model
    (FFDNet, Zhang et al. 2018)."""
    return get_task(task).noise_level_map(model_input, params)


def context_margin(task):
    """Pixels of context degraded around a training patch, then cropped (:attr:`Task.context_margin`)."""
    return get_task(task).context_margin


def inference_border(task):
    """Pixels of reflected context around a whole image at inference (:meth:`Task.inference_border`)."""
    return get_task(task).inference_border()


def prepare_input(noisy, task, *, exposure=None):
    """Turn a degraded image into the model's input (:meth:`Task.prepare_input`): float32,
    ``noisy / exposure`` for ``lowlight`` (the exposure required), ``noisy`` otherwise."""
    return get_task(task).prepare_input(noisy, exposure=exposure)


def finish_output(prediction, task, *, copy=True):
    """Turn the model's output into the restored image: float32 clipped to [0, 1].

    With ``copy=False`` a float32 ``prediction`` is clipped in place (and returned).
    """
    check_task(task)
    return _finish(prediction, copy=copy)


def describe(task, table=None, *, target_realizations=0):
    """The task's model-card entry: input convention, target, jitter ranges (of the jitter
    table ``table``, :meth:`Task.jitter_table`) and validation preset."""
    return get_task(task).describe(table, target_realizations=target_realizations)


def make_training_pair(clean_patch, rng, task, jitter=True, params=None, noise_map=False, *,
                       table=None, target_realizations=0):
    """Degrade a clean patch; return ``(model_input, target)`` as float32 arrays.

    Parameters
    ----------
    clean_patch : ndarray, shape (H, W)
        Clean image or patch, float in [0, 1].
    rng : numpy.random.Generator
        Draws the parameters (if jittered) and then the noise.
    task : str
        A task's name (:func:`task_names`).
    jitter : bool, optional
        Jittered parameters (training) or the validation preset's.
    params : dict, optional
        Explicit degradation parameters (then nothing is drawn for them).
    noise_map : bool, optional
        Stack :func:`noise_level_map` behind the input (a noise-conditioned model's input).
    table : str, optional, keyword-only
        Draw from the task's jitter table of that name (:meth:`Task.jitter_table`) instead of
        its own jitter.
    target_realizations : int, optional, keyword-only
        0 (default): the target is the clean patch. ``K > 0``: the target is the mean of ``K``
        further independent degradations of the clean patch with the same parameters (drawn
        from ``rng`` after the input's; each made into a model input, the noise map aside), as
        in Noise2Noise (Lehtinen et al. 2018): the network learns the degraded image's local
        mean -- the B-mode's echogenicity at the scanner's resolution, its clipping and thermal
        floor included -- so it keeps mean brightness by construction and does not deblur.

    Returns
    -------
    model_input : ndarray of float32, shape (H, W), or (H, W, 2) with ``noise_map``
    target : ndarray of float32, shape (H, W)
    """
    spec = get_task(task)
    if params is None:
        params = spec.sample_params(rng, jitter, table=table)
    clean = np.asarray(clean_patch, dtype=np.float32)
    degradation = resolve(task, **params)
    noisy = degradation(clean, rng)
    model_input = spec.prepare_input(noisy, exposure=params.get("exposure"))
    target = clean
    if target_realizations:
        total = np.zeros(clean.shape, dtype=np.float64)
        for _ in range(int(target_realizations)):
            total += spec.prepare_input(degradation(clean, rng), exposure=params.get("exposure"))
        target = (total / int(target_realizations)).astype(np.float32)
    if noise_map:
        model_input = np.stack([model_input, spec.noise_level_map(model_input, params)], axis=-1)
    return model_input, target


def blind_spot_batch(noisy, rng, fraction=0.01, radius=2, struct=None):
    """Noise2Void blind-spot masking of a batch of noisy patches.

    A random ``fraction`` of the pixels of each patch is replaced by a random other pixel from
    its ``(2 radius + 1)^2`` neighbourhood (Krull et al., CVPR 2019); the network must predict
    the original noisy value there, which it can only do from the surroundings.

    With ``struct = (rows, cols)`` the blind spot is structured (Struct-Noise2Void, Broaddus et
    al., ISBI 2020): every pixel of the ``rows x cols`` block centred on a blind-spot pixel
    (the blind spot included; parts outside the patch dropped) is replaced by the value of a
    random pixel of the same patch drawn from outside that block, so that the network cannot
    read the spatially correlated noise (speckle grain) around the blind spot. The loss is still
    taken at the blind-spot pixels only. ``radius`` is then unused.

    Parameters
    ----------
    noisy : ndarray, shape (B, H, W, C)
    rng : numpy.random.Generator
    fraction : float, optional
        Fraction of pixels masked per patch (at least one).
    radius : int, optional
        Neighbourhood radius of the replacement pixel (pixel-wise blind spot).
    struct : tuple of int (rows, cols), optional
        Odd sides of the structured blind-spot block, each less than half the patch's side;
        None (default): the pixel-wise blind spot.

    Returns
    -------
    masked_input : ndarray of float32, shape (B, H, W, C)
    target : ndarray of float32, shape (B, H, W, 2 C)
        The noisy patches stacked with the mask (1 at the blind-spot pixels only), for
        :func:`enhance.models.layers.noise2void_loss`.

    Raises
    ------
    EnhanceError
        ``struct`` is not two odd positive sides less than half the patch's.
    """
    noisy = np.asarray(noisy, dtype=np.float32)
    batch, height, width, channels = noisy.shape
    count = max(1, int(round(fraction * height * width)))
    if struct is not None:
        half = _struct_half(struct, height, width)
    masked = noisy.copy()
    mask = np.zeros_like(noisy)
    for index in range(batch):
        rows = rng.integers(0, height, count)
        cols = rng.integers(0, width, count)
        if struct is not None:
            _mask_blocks(masked[index], noisy[index], rows, cols, half, rng)
            mask[index, rows, cols, :] = 1.0
            continue
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


def _struct_half(struct, height, width):
    """The half-sides ``(rows // 2, cols // 2)`` of a structured blind spot, checked."""
    try:
        sides = tuple(int(side) for side in struct)
    except (TypeError, ValueError):
        sides = ()
    if (
        len(sides) != 2
        or any(side < 1 or side % 2 == 0 for side in sides)
        or sides[0] >= height / 2
        or sides[1] >= width / 2
    ):
        raise EnhanceError(
            f"a structured blind spot is two odd sides (rows, cols) less than half the patch's "
            f"{height} x {width}, got {struct!r}"
        )
    return sides[0] // 2, sides[1] // 2


def _mask_blocks(masked, noisy, rows, cols, half, rng):
    """Replace the blocks ``rows +- half[0], cols +- half[1]`` of ``masked`` (H, W, C) in place
    by pixels of ``noisy`` drawn at random from outside each pixel's own block."""
    height, width = noisy.shape[:2]
    dr, dc = np.meshgrid(
        np.arange(-half[0], half[0] + 1), np.arange(-half[1], half[1] + 1), indexing="ij"
    )
    block_rows = (rows[:, None] + dr.ravel()[None]).ravel()
    block_cols = (cols[:, None] + dc.ravel()[None]).ravel()
    centre_rows = np.repeat(rows, dr.size)
    centre_cols = np.repeat(cols, dr.size)
    inside = (block_rows >= 0) & (block_rows < height) & (block_cols >= 0) & (block_cols < width)
    block_rows, block_cols = block_rows[inside], block_cols[inside]
    centre_rows, centre_cols = centre_rows[inside], centre_cols[inside]
    src_rows = rng.integers(0, height, block_rows.size)
    src_cols = rng.integers(0, width, block_rows.size)
    # a source inside its own block moves half the patch down (cyclically): outside the block,
    # as a side is less than half the patch's
    own = (np.abs(src_rows - centre_rows) <= half[0]) & (np.abs(src_cols - centre_cols) <= half[1])
    src_rows = np.where(own, (src_rows + height // 2) % height, src_rows)
    masked[block_rows, block_cols, :] = noisy[src_rows, src_cols, :]
