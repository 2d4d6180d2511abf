"""One benchmark cell: load the clean reference, degrade it, restore it, score it.

A *cell* is one (image, degradation, method): the clean reference is degraded with the spec's
seed, restored by the method, and scored with PSNR and SSIM (``data_range=1.0``) against the
reference. This module holds the records (:class:`Reference`, :class:`Cell`, :class:`Task`),
the per-process memos (the last reference and degraded image, the loaded models;
:func:`clear_image_memos` forgets the images), and :func:`run_cell_safe`, which the worker
processes run (it and :class:`Task` stay top-level so that a process pool can pickle them by
name); nothing heavy is imported until a cell runs. The 16-bit PNGs of the report's grid images
are written and read here too.

References: colour images are converted to grayscale by luminance
(:func:`enhance.planes.to_gray`, Rec. 709 weights; an alpha channel is dropped), stacks
(multi-frame DICOM, multi-page TIFF, volumes) contribute their first frame only.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass

from ..planes import to_grayscale  # noqa: F401 - the benchmark's references (re-exported)
from ..errors import EnhanceError
from .methods import Method

__all__ = [
    "Reference",
    "Cell",
    "Task",
    "run_cell_safe",
    "clear_image_memos",
    "to_grayscale",
    "load_reference",
    "make_noisy",
    "apply_method",
    "write_png16",
    "read_png16",
]


@dataclass(frozen=True)
class Reference:
    """A clean reference image of the benchmark (``index`` is its position in the sorted listing)."""

    index: int
    relpath: str
    path: str
    sha256: str
    shape: tuple


@dataclass
class Cell:
    """One (image, degradation, method) result. ``error`` is set (and the scores NaN) on failure."""

    image: str
    degradation: str
    method: str
    kind: str
    seed: object
    height: int
    width: int
    psnr: float = math.nan
    ssim: float = math.nan
    seconds: float = math.nan
    cached: bool = False
    error: str | None = None
    grid_png: str | None = None

    @property
    def megapixels(self):
        return self.height * self.width / 1e6

    @property
    def megapixels_per_s(self):
        if not self.seconds or not math.isfinite(self.seconds) or self.seconds <= 0:
            return math.nan
        return self.megapixels / self.seconds


class _LastValue:
    """The value computed for the last key asked (cells come grouped by image: one is enough)."""

    def __init__(self):
        self.clear()

    def clear(self):
        self._key, self._value = None, None

    def get(self, key, compute):
        if self._value is None or self._key != key:
            self._key, self._value = key, compute()
        return self._value


# this process's memos: a worker keeps them from one cell to the next
_REFERENCES = _LastValue()
_NOISY = _LastValue()
_MODELS = {}
_WARM = set()


def clear_image_memos():
    """Forget this process's remembered reference and degraded image (loaded models are kept)."""
    _REFERENCES.clear()
    _NOISY.clear()


def load_reference(path):
    """The clean reference of an image file, as the benchmark uses it (float32 (H, W) in [0, 1])."""

    def read():
        from ..io import read_image

        image = read_image(path)
        return to_grayscale(image.pixels, is_stack=image.meta.is_stack)

    return _REFERENCES.get(str(path), read)


def make_noisy(reference, degradation, seed):
    """Degrade a reference with the spec's function and the cell's seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return degradation(reference, rng)


def _noisy_for(path, reference, degradation, seed):
    """:func:`make_noisy`, remembering the last result (cells come grouped by image)."""
    key = (str(path), degradation.name, json.dumps(degradation.params, sort_keys=True), json.dumps(seed))
    return _NOISY.get(key, lambda: make_noisy(reference, degradation, seed))


def _load_model(method):
    key = (method.path, method.runtime)
    if key not in _MODELS:
        from ..runtime import load_enhancer

        _MODELS[key] = load_enhancer(method.path, runtime=method.runtime or "keras")
    return _MODELS[key]


def apply_method(method, noisy, degradation):
    """Restore ``noisy`` with ``method`` given what the spec says it is told; returns float32."""
    import numpy as np

    if method.kind == "noisy":
        return np.asarray(noisy, dtype=np.float32)
    from ..tasks import get_task

    # what the spec says every method is told (Gaussian: the sigma, low light: the exposure); a
    # blind model ignores a sigma
    told = get_task(degradation.task).told_params(degradation)
    if method.kind == "classical":
        from ..baselines import denoise

        return np.asarray(denoise(noisy, method.name, **told), dtype=np.float32)
    if method.kind == "model":
        from ..predict import enhance_image

        model = _load_model(method)
        return np.asarray(enhance_image(model, noisy, **told), dtype=np.float32)
    raise EnhanceError(f"unknown method kind {method.kind!r}")


@dataclass(frozen=True)
class Task:
    """What a worker needs to compute one cell (picklable)."""

    reference: Reference
    degradation: object
    method: Method
    seed: object
    grid_png: str | None


def write_png16(path, image):
    """Write a [0, 1] image as a 16-bit grayscale PNG, atomically."""
    import cv2
    import numpy as np

    from ..io.atomic import atomic_write

    raw = np.round(np.clip(image, 0.0, 1.0) * 65535.0).astype(np.uint16)
    ok, encoded = cv2.imencode(".png", raw)
    if not ok:
        raise EnhanceError(f"{path}: PNG encoding failed")
    with atomic_write(path) as stream:
        stream.write(encoded.tobytes())


def read_png16(path):
    import cv2
    import numpy as np

    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise EnhanceError(f"{path}: unreadable grid image")
    return raw.astype(np.float32) / 65535.0


def _warm_up(method, noisy, degradation):
    """Run a method once per process on a 32 x 32 corner, untimed: imports, model loading and
    first-call set-up are not charged to the first image."""
    key = (method.identity, degradation.task)
    if method.kind == "noisy" or key in _WARM:
        return
    _WARM.add(key)
    try:
        apply_method(method, noisy[:32, :32], degradation)
    except EnhanceError:
        pass  # the real call reports it


def _run_cell(task):
    """Compute one cell: degrade, restore (timed), score, and write the grid PNG if asked."""
    from ..metrics import psnr, ssim

    ref = task.reference
    reference = load_reference(ref.path)
    noisy = _noisy_for(ref.path, reference, task.degradation, task.seed)
    _warm_up(task.method, noisy, task.degradation)
    given = noisy.copy()  # the memo stays intact whatever a method does to its input
    start = time.perf_counter()
    restored = apply_method(task.method, given, task.degradation)
    seconds = 0.0 if task.method.kind == "noisy" else time.perf_counter() - start
    cell = Cell(
        image=ref.relpath,
        degradation=task.degradation.name,
        method=task.method.name,
        kind=task.method.kind,
        seed=task.seed,
        height=int(reference.shape[0]),
        width=int(reference.shape[1]),
        psnr=psnr(reference, restored, data_range=1.0),
        ssim=ssim(reference, restored, data_range=1.0),
        seconds=seconds,
    )
    if task.grid_png:
        write_png16(task.grid_png, restored)
        cell.grid_png = os.path.basename(task.grid_png)
    return cell


def run_cell_safe(task):
    """Compute the cell of a :class:`Task`; a library error gives a failed cell (never cached).

    Parameters
    ----------
    task : Task

    Returns
    -------
    Cell
        Scored, or with ``error`` set and NaN scores.
    """
    try:
        return _run_cell(task)
    except EnhanceError as error:
        h, w = task.reference.shape[:2]
        return Cell(task.reference.relpath, task.degradation.name, task.method.name,
                    task.method.kind, task.seed, int(h), int(w), error=str(error))
