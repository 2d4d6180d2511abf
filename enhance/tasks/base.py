"""The :class:`Task` object: everything that differs between restoration tasks, in one place.

A task is one restoration problem (a degradation of the spec and what undoes it). Its object says
which degradation presets are its own, how training jitters their parameters, what classical
methods and models are told, how the noise level is estimated and mapped, what the network sees
(the input transform and its inverse), the default shipped model, the no-reference metrics, and
the words of the benchmark report and of exported models. Code outside :mod:`enhance.tasks` asks
the task (:func:`enhance.tasks.get_task`) and never compares a task's name.

A task module builds one instance (``TASK``), of :class:`Task` or of a subclass that overrides
the methods where the task differs (the noise estimate, the noise-level map, the wording).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import EnhanceError

__all__ = ["Task", "Direct", "draw", "finish_output"]


def draw(spec, rng):
    """One value of a jitter entry ``(distribution, arguments...)`` drawn from ``rng``.

    ``("uniform", lo, hi)``, ``("log-uniform", lo, hi)``, ``("choice", [values])``,
    ``("uniform-pair", (lo, hi), (lo, hi))`` (a tuple of two uniform draws).
    """
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


def centre(spec):
    """The central value of a jitter entry (:func:`draw`'s distributions): the middle choice,
    the midpoint of a uniform range, the geometric midpoint of a log-uniform one."""
    kind = spec[0]
    if kind == "uniform":
        return (spec[1] + spec[2]) / 2
    if kind == "log-uniform":
        return math.sqrt(spec[1] * spec[2])
    if kind == "choice":
        return spec[1][(len(spec[1]) - 1) // 2]
    if kind == "uniform-pair":
        return tuple((lo + hi) / 2 for lo, hi in spec[1:])
    raise ValueError(f"unknown distribution {kind!r}")


class Direct:
    """The task's own input convention (:meth:`Task.prepare_input`); the output as the network
    gives it. The input transform ``gain`` of a model's ``task_params`` (the default)."""

    def __init__(self, task, *, exposure=None):
        self.task, self.exposure = task, exposure

    def forward(self, plane):
        return self.task.prepare_input(plane, exposure=self.exposure)

    def inverse(self, output):
        return output

    def constant_level(self, condition):
        """The noise-level map as one number when it is constant, else None (a map is made)."""
        return self.task.constant_noise_level(condition)


@dataclass(frozen=True, eq=False)
class Task:
    """One restoration task (see the module docstring).

    Attributes
    ----------
    name : str
        The task's name (``enhance run --task``, a model's ``config.json``).
    degradation : callable
        The spec's function ``f(x, rng, **params)`` (:mod:`enhance.degrade`), or the task's own.
    presets : dict
        Preset name -> parameters: the task's named degradations (``enhance degrade --kind``).
    validation_preset : str
        The preset of validation and of ``jitter=False`` training.
    jitter : dict
        Parameter -> ``(distribution, arguments...)`` (:func:`draw`): training and ``augment``
        draw each training copy's parameters from it.
    baselines : tuple of str
        The classical methods (:mod:`enhance.baselines` names) that suit the task.
    model_input : str
        What a model of the task sees (its card).
    words : str
        What the task removes, in a sentence of an exported model's documentation.
    benchmark_presets : tuple of str
        The task's presets in the spec's benchmark list (:data:`BENCHMARK_DEGRADATIONS`).
    told : tuple of str
        The degradation parameters every method is told (the spec: Gaussian the sigma, low
        light the exposure).
    needs_exposure : bool
        A model must be told the acquisition's exposure.
    default_model : str or None
        The shipped model ``enhance run --task`` uses.
    default_chosen_on : str
        How :attr:`default_model` was chosen: ``"validation"``, the shipped model of the task
        with the best PSNR on the recipe's validation images under the task's validation
        degradation; ``"real frames"``, on real images without reference (speckle: the card's
        ``real_bmode``, ``benchmarks/ultrasound_real.py``), where the synthetic degradation
        and the real one part ways.
    context_margin : int
        Pixels of context degraded around a training patch (then cropped); the image gets twice
        that of reflected context at inference (:meth:`inference_border`).
    noise_map : bool
        Models may be conditioned on a noise-level map (:meth:`noise_level_map`).
    noisy_training_data : bool
        ``noise2void`` may train on already-noisy images of the task (the input is the image).
    grid_modalities : tuple of str
        The modalities whose images show the task best (the benchmark report's grids).
    grid_rank : int
        Order in which tasks pick their grid image (lowest first).
    no_reference_metrics : tuple
        The names of the no-reference quality measures of the task's restorations (keys of
        :func:`enhance.metrics_ultrasound.despeckling_report` for speckle; empty: the task has
        none, and ``enhance score FOLDER`` / ``enhance bench --no-reference`` refuse it).
    spec : str or None
        The spec the degradation follows (the model card says it).
    jitter_tables : dict
        Name -> a jitter table like :attr:`jitter`: alternative training distributions of the
        same degradation (``enhance train --jitter-table NAME``), e.g. parameter ranges fitted
        to real images instead of the spec's. The task's own :attr:`jitter` stays the default.
    default_strength : float
        How much of the model's correction ``enhance run`` applies when ``--strength`` is not
        given (:meth:`blend`): 1.0, the model's output as it is, unless the task's real images
        measured otherwise.
    """

    name: str
    degradation: Callable
    presets: dict
    validation_preset: str
    jitter: dict
    baselines: tuple
    model_input: str
    words: str
    benchmark_presets: tuple = ()
    told: tuple = ()
    needs_exposure: bool = False
    default_model: str | None = None
    default_chosen_on: str = "validation"
    context_margin: int = 0
    noise_map: bool = False
    noisy_training_data: bool = True
    grid_modalities: tuple = ()
    grid_rank: int = 99
    no_reference_metrics: tuple = ()
    spec: str | None = "spec v1"
    input_transforms: dict = field(default_factory=dict)
    default_strength: float = 1.0
    jitter_tables: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ degradations, training
    def defaults(self):
        """The degradation function's default parameters."""
        return {
            k: p.default
            for k, p in inspect.signature(self.degradation).parameters.items()
            if k not in ("x", "rng") and p.default is not inspect.Parameter.empty
        }

    def validation_params(self, table=None):
        """All parameters of the validation preset (the function's defaults filled in); with a
        jitter ``table`` (:meth:`jitter_table`), the centre of its ranges instead (the middle
        choice, the midpoint of each uniform range): what a run trained on it validates on."""
        if table is None:
            return {**self.defaults(), **self.presets[self.validation_preset]}
        return {**self.defaults(), **{name: centre(spec)
                                      for name, spec in self.jitter_table(table).items()}}

    def jitter_table(self, name=None):
        """The jitter table called ``name`` (:attr:`jitter_tables`); None: :attr:`jitter`."""
        if name is None:
            return self.jitter
        if name not in self.jitter_tables:
            known = sorted(self.jitter_tables) or ["none"]
            raise EnhanceError(f"task {self.name!r} has no jitter table {name!r} "
                               f"(its tables: {', '.join(known)})")
        return self.jitter_tables[name]

    def sample_params(self, rng, jitter=True, *, table=None):
        """Degradation parameters of one training image: drawn from :attr:`jitter` (or the
        jitter table ``table``, :meth:`jitter_table`) or the validation preset's."""
        if not jitter:
            return self.validation_params()
        return {name: draw(spec, rng) for name, spec in self.jitter_table(table).items()}

    def describe(self, table=None, *, target_realizations=0):
        """The model card's entry: input convention, target (the clean image, or with
        ``target_realizations`` K the mean of K further degradations: :func:`enhance.tasks.
        make_training_pair`), jitter ranges (of the jitter table ``table``, default the task's
        own) and validation preset."""
        function = f"{self.degradation.__module__}.{self.degradation.__name__}"
        return {
            "task": self.name,
            "model_input": self.model_input,
            "target": "the clean image" if not target_realizations else (
                f"the mean of {int(target_realizations)} further independent degradations of the "
                "clean image with the same parameters (the degraded image's local mean)"),
            "degradation": f"{function} ({self.spec})" if self.spec else function,
            "training_jitter": {name: list(spec)
                                for name, spec in self.jitter_table(table).items()},
            **({"jitter_table": table} if table is not None else {}),
            "validation_degradation": {
                "name": self.validation_preset if table is None else table,
                "params": self.validation_params(table),
            },
        }

    def inference_border(self):
        """Pixels of reflected context around a whole image at inference: twice
        :attr:`context_margin` (what the network was trained to see beyond a patch's edge)."""
        return 2 * self.context_margin

    # ------------------------------------------------------------------ what methods are told
    def told_params(self, degradation):
        """``{parameter: value}`` every method is told about ``degradation`` (:attr:`told`)."""
        params = degradation.resolved_params
        return {name: float(params[name]) for name in self.told}

    def describe_degradation(self, params):
        """The benchmark report's description of a degradation with these (complete) params."""
        return ", ".join(f"{k}={v}" for k, v in params.items())

    # ------------------------------------------------------------------ input, noise level
    def prepare_input(self, noisy, *, exposure=None):
        """The model's input made from a degraded image (float32); the image itself here."""
        return np.asarray(noisy, dtype=np.float32)

    def input_transform(self, name, condition=None, *, exposure=None):
        """The transform of a model's input (``task_params.input_transform``) and its inverse.

        ``gain`` (the default) is :class:`Direct`; other names are the task's
        :attr:`input_transforms`, built from the noise ``condition``.
        """
        if name in (None, "gain"):
            return Direct(self, exposure=exposure)
        if name not in self.input_transforms:
            raise EnhanceError(f"task {self.name!r} has no input transform {name!r}")
        return self.input_transforms[name](condition)

    def noise_condition(self, image, *, sigma=None, exposure=None, photons=None,
                        read_noise=None):
        """The noise level a noise-conditioned model is told: given, else estimated."""
        raise EnhanceError(f"a noise-map model for task {self.name!r} is not supported")

    def noise_level_map(self, model_input, params):
        """Noise standard deviation of each pixel of ``model_input``, in its own units."""
        raise EnhanceError(f"task {self.name!r} has no noise-level map")

    def constant_noise_level(self, condition):
        """The noise-level map as one number when it is constant everywhere, else None."""
        return None

    # ------------------------------------------------------------------ the restored frame
    def blend(self, frame, restored, strength=None):
        """``frame + strength * (restored - frame)`` (float32): how much of the model's
        correction is applied; ``strength`` None is :attr:`default_strength`. At 1.0
        ``restored`` itself is returned (the same bytes as without a strength)."""
        strength = self.default_strength if strength is None else strength
        if strength == 1.0:
            return restored
        frame = np.asarray(frame, dtype=np.float32)
        change = np.asarray(restored, dtype=np.float32) - frame
        return (frame + np.float32(strength) * change).astype(np.float32)

    def keep_unrestored(self, frame, restored):
        """``restored`` with ``frame``'s own pixels written back where the task restores
        nothing (the speckle task: outside the imaging sector, on burned-in text and graphics);
        here every pixel is restored and ``restored`` is returned as it is."""
        return restored

    # ------------------------------------------------------------------ exported models
    def export_io(self, transform=None):
        """Texts of an exported model's input: ``image``, ``noise_level``, ``pre``, ``post``.

        ``transform`` is the model's input transform (``task_params.input_transform``).
        """
        return {
            "image": f"the degraded image ({self.name}), float in [0, 1]",
            "noise_level": "the noise-level map of the task",
            "pre": "none (pixels mapped to float in [0, 1])",
            "post": "clip to [0, 1]",
        }


def finish_output(prediction, *, copy=True):
    """Turn a model's output into the restored image: float32 clipped to [0, 1].

    With ``copy=False`` a float32 ``prediction`` is clipped in place (and returned).
    """
    prediction = np.asarray(prediction, dtype=np.float32)
    return np.clip(prediction, 0.0, 1.0, out=None if copy else prediction)
