"""Degraded training pairs: K noisy copies of every image by the spec's degradation models.

:func:`augment_folder` reads every image of a folder (2-D; colour becomes luminance) and writes

* ``OUT/clean/<rel stem>.png`` -- the clean image as 16-bit PNG, or, with ``geometric`` or
  ``gamma``, ``OUT/clean/<rel stem>_<k>.png`` -- the clean image after copy k's transform;
* ``OUT/<degradation>/<rel stem>_<k>.png`` -- copy k (k = 0 .. K-1) degraded, 16-bit PNG; it pairs
  with the clean image above (the same ``k`` when transformed);
* ``OUT/manifest.jsonl`` -- one line per input (:mod:`enhance.batch`) with, per output, the
  degradation, its parameters, the noise seed and the transform;
* ``OUT/augment.json`` -- the settings; a rerun with other settings (degradations, copies, seed,
  transforms) into the same folder is refused.

Reproducing a pair: ``x = transform(clean)`` (rot90 ``k`` times counter-clockwise, then a
left-right flip, then ``x ** gamma``), then ``enhance.tasks.degrade(x, task,
seed=noise_seed, **params)``.

Seeds: with base seed ``S`` (0 by default), file index ``i`` (sorted by relative path), copy ``k``
and the degradation's stable number ``d`` (its place in :data:`enhance.tasks.PRESETS`; 100 + its
place among the functions for a bare function name): the transform is drawn from
``default_rng([S, i, k])``, the parameters from ``default_rng([S, i, k, d, 1])`` and the noise from
``default_rng([S, i, k, d, 2])``.

Parameters: each copy's are drawn from its task's jitter table (:attr:`enhance.tasks.Task.jitter`,
the ranges training draws from, e.g. gaussian ``sigma ~ U(0, 55/255)``; ``fixed=True`` keeps the
preset's values instead). A preset that sets its parameters (``gaussian15``, ``gaussian25``,
``gaussian50``) keeps them.

Transforms: ``geometric`` -- rot90 by k ~ {0, 1, 2, 3} and a left-right flip with probability
1/2; ``gamma`` -- gamma ~ logU(0.7, 1.4).
"""

from __future__ import annotations

import json
import math
from pathlib import Path, PurePosixPath

import numpy as np

from . import batch
from .errors import EnhanceError
from .io.formats import split_extension
from .planes import to_gray
from .tasks import degradation_id, degrade, get_task, resolve

__all__ = ["augment_folder", "draw_params", "draw_transform", "apply_transform",
           "degradation_id", "SETTINGS_FILE"]

SETTINGS_FILE = "augment.json"


def draw_params(name, rng, *, fixed=False):
    """Parameters of one degraded copy: the preset's (``fixed``, or a preset that sets them) or
    drawn from the task's jitter."""
    base = resolve(name)
    if fixed or base.params:
        return dict(base.params)
    return get_task(base.task).sample_params(rng)


def draw_transform(rng, *, geometric=False, gamma=False):
    """The transform of one copy: ``{"rot90": k, "flip": bool, "gamma": g}`` (identity parts kept)."""
    t = {"rot90": 0, "flip": False, "gamma": 1.0}
    if geometric:
        t["rot90"] = int(rng.integers(0, 4))
        t["flip"] = bool(rng.random() < 0.5)
    if gamma:
        t["gamma"] = float(math.exp(rng.uniform(math.log(0.7), math.log(1.4))))
    return t


def apply_transform(x, t):
    """rot90 (counter-clockwise, ``t['rot90']`` times), then left-right flip, then ``x ** gamma``."""
    x = np.rot90(x, t["rot90"])
    if t["flip"]:
        x = x[:, ::-1]
    if t["gamma"] != 1.0:
        x = np.clip(x, 0.0, 1.0) ** t["gamma"]
    return np.ascontiguousarray(x, dtype=np.float32)


def _gray(path):
    from .io import read_image

    image = read_image(path)
    if image.meta.is_stack:
        raise EnhanceError(f"{path}: augment takes 2-D images, not a stack of "
                           f"{image.pixels.shape[0]} (write the slices out first)")
    x = image.pixels
    if x.ndim == 3:
        x = to_gray(x) if x.shape[-1] >= 3 else x[..., 0]
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def _stem(relpath):
    rel = PurePosixPath(relpath)
    return rel.with_name(split_extension(rel.name)[0])


def _out(out_dir, sub, relpath, k=None):
    stem = _stem(relpath)
    name = f"{stem.name}_{k}.png" if k is not None else f"{stem.name}.png"
    return batch.output_path(Path(out_dir) / sub, stem.with_name(name))


def _check_settings(out_dir, settings):
    path = Path(out_dir) / SETTINGS_FILE
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        diff = sorted(k for k in set(old) | set(settings)
                      if k != "source" and old.get(k) != settings.get(k))
        if diff:
            raise EnhanceError(f"{out_dir} was made with other settings ({', '.join(diff)}); "
                               "choose another output folder")
    else:
        from .synth.modeldir import write_json

        write_json(path, settings)


def augment_folder(source, out_dir, degradations, *, copies=1, seed=0, geometric=False,
                   gamma=False, fixed=False, overwrite=False, progress=None):
    """Write clean/degraded pairs of every image of ``source`` (see the module docstring).

    Parameters
    ----------
    source : str or Path
        Folder (recursive), file or glob.
    out_dir : str or Path
    degradations : list of str
        Preset or task names (:func:`enhance.tasks.resolve`).
    copies : int
        K, degraded copies per image and degradation.
    seed : int
    geometric, gamma : bool
        Transform the clean image of each copy first (saved in ``OUT/clean``).
    fixed : bool
        Use the presets' parameters instead of drawing them.
    overwrite : bool
        Redo inputs whose outputs exist.
    progress : callable, optional
        ``progress(done, total, file_result)`` after each input image (first
        ``progress(0, total, None)``); see :func:`enhance.batch.run_batch`.

    Returns
    -------
    enhance.batch.BatchResult
    """
    from .io import write_image

    degradations = [d.strip() for d in degradations if d.strip()]
    if not degradations:
        raise EnhanceError("give at least one degradation")
    if len(set(degradations)) != len(degradations) or "clean" in degradations:
        raise EnhanceError(f"degradations must be distinct and not 'clean': {degradations}")
    for name in degradations:
        resolve(name)
    copies, seed = int(copies), int(seed)
    if copies < 1:
        raise EnhanceError(f"copies must be at least 1, got {copies}")
    root, files = batch.discover_for(source, out_dir)
    settings = {"degradations": degradations, "copies": copies, "seed": seed,
                "geometric": bool(geometric), "gamma": bool(gamma), "fixed": bool(fixed),
                "source": str(source)}
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    _check_settings(out_dir, settings)
    transformed = geometric or gamma
    index = {f.relpath: i for i, f in enumerate(files)}

    def output_for(item):  # written last: its existence means the input is finished
        return _out(out_dir, degradations[-1], item.relpath, copies - 1)

    def process_and_write(item, target):
        # degrade everything first, then write; the sentinel (output_for) is written last
        i = index[item.relpath]
        x = _gray(item.path)
        pairs, writes = [], []
        clean_fixed = None if transformed else _out(out_dir, "clean", item.relpath)
        if clean_fixed is not None:
            writes.append((clean_fixed, x))
        for k in range(copies):
            t = draw_transform(np.random.default_rng([seed, i, k]), geometric=geometric,
                               gamma=gamma)
            xk = apply_transform(x, t)
            clean_path = clean_fixed if clean_fixed is not None else _out(out_dir, "clean",
                                                                          item.relpath, k)
            if clean_fixed is None:
                writes.append((clean_path, xk))
            for name in degradations:
                d = degradation_id(name)
                params = draw_params(name, np.random.default_rng([seed, i, k, d, 1]), fixed=fixed)
                noise_seed = [seed, i, k, d, 2]
                task = resolve(name).task
                y = degrade(xk, task, seed=noise_seed, **params)
                path = _out(out_dir, name, item.relpath, k)
                writes.append((path, y))
                root_out = Path(out_dir).resolve()
                pairs.append({"file": path.relative_to(root_out).as_posix(),
                              "clean": clean_path.relative_to(root_out).as_posix(),
                              "degradation": name, "task": task, "k": k, "params": params,
                              "noise_seed": noise_seed, "transform": t})
        writes.sort(key=lambda w: w[0] == target)
        for path, pixels in writes:
            write_image(path, pixels, dtype=np.uint16)
        return {"index": i, "pairs": pairs}

    return batch.run_batch(files, out_dir, process_and_write, output_for=output_for,
                           overwrite=overwrite, progress=progress)
