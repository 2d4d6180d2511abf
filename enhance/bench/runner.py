"""The benchmark's cells: plan, cache, run (serially or in a process pool).

A *cell* is one (image, degradation, method): the clean reference is degraded with the spec's
seed, restored by the method, and scored with PSNR and SSIM (``data_range=1.0``) against the
reference. Every finished cell is one small JSON file under ``REPORT_DIR/cells/``, named by the
hash of its key and written atomically; a cell whose file exists (and whose stored key matches)
is not recomputed. The key holds everything the numbers depend on: the image's relative path and
SHA-256, the degradation and its parameters, the seed, the method and its identity (for a
classical method a hash of its source code, for a model the weights' SHA-256 from its card and a
hash of its ``config.json``). Restored images are not cached, except those of the few images
shown in the report's grids (16-bit PNGs under ``REPORT_DIR/grid/``).

Methods (:class:`Method`) are the ``noisy`` row (the degraded input, unchanged; always present),
classical baselines (:mod:`enhance.baselines`) and model directories
(:func:`enhance.modeldir.load_model_dir`; Keras is imported only in the process that runs a
model cell). A method runs only on degradations of its task(s). Method-specific information
given to every method, per the spec: low light -- the known exposure (the degradation's
``exposure``, 0.1 by default); Gaussian -- classical methods get the true sigma (models are
blind); speckle -- nothing (baselines estimate their own level).

Seeds: the ``i``-th image (sorted by relative path, counting every discovered file, so an
unreadable file does not shift the others) under degradation ``d`` uses
``default_rng(1000 * d + i)``, or ``default_rng([S, d, i])`` with a user seed ``S``, where
``d`` is the degradation's position in the spec's benchmark list
(:data:`enhance.degrade.BENCHMARK_DEGRADATIONS`), whatever subset is run: a subset makes the
same noisy images as the full benchmark (and as ``enhance degrade``).

Reproducibility: scores do not depend on ``workers`` or on the order cells run in; the only
exception is BM3D itself (``bm3d``, ``gain_bm3d``, ``vst_bm3d``, ``bm3d_log``), whose reference
binary differs from call to call by ~1e-7 in pixel values (~1e-6 dB), even serially.

References: colour images are converted to grayscale by luminance
(:func:`skimage.color.rgb2gray`, Rec. 709 weights; an alpha channel is dropped), stacks
(multi-frame DICOM, multi-page TIFF, volumes) contribute their first frame only.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import EnhanceError, ModelError, UnknownName
from .. import shipped as shipped_models
from ..modeldir import file_sha256

__all__ = [
    "Method",
    "Reference",
    "Cell",
    "BenchResult",
    "METHOD_SETS",
    "SLOW_BASELINES",
    "DEFAULT_METHODS",
    "resolve_methods",
    "resolve_degradations",
    "load_reference",
    "run_benchmark",
]

CACHE_VERSION = 1
CELLS_DIR = "cells"
GRID_DIR = "grid"

#: Classical methods left out of the ``fast`` set: BM3D variants, 7-8 s per 256 x 256 image on
#: one CPU core (15 s at 384 x 384). ``vst_bm3d`` stays in: it is the spec's strongest classical
#: low-light recipe and the only one that denoises (1-12 s per image, one degradation).
SLOW_BASELINES = ("bm3d", "gain_bm3d", "bm3d_log")

#: Names accepted by ``methods`` that stand for sets of methods.
METHOD_SETS = ("all", "classical", "fast", "shipped")

#: The default method set: every shipped model and the fast classical methods.
DEFAULT_METHODS = "fast"


@dataclass(frozen=True)
class Method:
    """A row of the benchmark.

    Attributes
    ----------
    name : str
        Row label: ``noisy``, a baseline name, or a model directory's name.
    kind : str
        ``noisy``, ``classical`` or ``model``.
    tasks : tuple of str
        The restoration tasks it runs on (``gaussian``, ``lowlight``, ``speckle``).
    identity : str
        What the cache key records of the method: changes when its code or weights change.
    path : str or None
        The model directory (models only).
    """

    name: str
    kind: str
    tasks: tuple
    identity: str
    path: str | None = None

    def suits(self, task):
        return task in self.tasks


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


@dataclass
class BenchResult:
    """Everything a report needs: the plan, every cell, and what happened."""

    data: str
    out_dir: Path
    degradations: list
    methods: list
    references: list
    cells: list
    seed: int | None
    grid_images: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # (relpath, reason)
    notes: list = field(default_factory=list)
    computed: int = 0
    from_cache: int = 0
    wall_seconds: float = 0.0

    @property
    def failed(self):
        return [c for c in self.cells if c.error]

    def cells_for(self, degradation, method=None):
        return [
            c for c in self.cells
            if c.degradation == degradation and (method is None or c.method == method)
        ]


# ---------------------------------------------------------------------------------------------
# methods


def _sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def _classical_method(entry):
    try:
        source = inspect.getsource(entry.function)
    except (OSError, TypeError):
        source = entry.function.__qualname__
    digest = _sha256_bytes(source.encode())[:16]
    return Method(entry.name, "classical", tuple(entry.tasks), f"classical:{entry.name}:{digest}")


def model_method(path):
    """A :class:`Method` for a model directory, read from its JSON files (Keras is not imported)."""
    from ..baselines import TASKS

    path = Path(path)
    config_file, card_file = path / "config.json", path / "card.json"
    if not config_file.is_file():
        raise ModelError(f"{path}: not a model directory (no config.json)")
    try:
        config_bytes = config_file.read_bytes()
        config = json.loads(config_bytes)
        card = json.loads(card_file.read_text(encoding="utf-8")) if card_file.is_file() else {}
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: unreadable model files ({error})") from error
    task = config.get("task")
    if task not in TASKS:
        raise ModelError(f"{config_file}: task {task!r} is not one of {', '.join(TASKS)}")
    weights = card.get("weights_sha256")
    if not weights:
        raise ModelError(f"{card_file}: no weights_sha256")
    identity = f"model:{weights}:{_sha256_bytes(config_bytes)[:16]}"
    return Method(path.name, "model", (task,), identity, str(path.resolve()))


NOISY = Method("noisy", "noisy", ("gaussian", "lowlight", "speckle"), "noisy")


def resolve_methods(methods=DEFAULT_METHODS, models=(), *, weights_dir=None, notes=None):
    """Turn a ``--methods`` value and extra model directories into a list of :class:`Method`.

    Parameters
    ----------
    methods : str or iterable of str
        Comma-separated tokens: ``all`` (classical + shipped), ``classical`` (every baseline;
        each runs on the degradations of its tasks), ``fast`` (the classical methods not in
        :data:`SLOW_BASELINES`, plus shipped models; the default), ``shipped`` (every model directory under
        ``trained_weights/``), a baseline name, a model directory, or the name of a folder under
        ``trained_weights/``.
    models : iterable of str or Path
        More model directories.
    weights_dir : str or Path, optional
        Where shipped models live (default :func:`enhance.shipped.weights_dir`).
    notes : list, optional
        Receives human-readable notes (e.g. that no shipped model exists).

    Returns
    -------
    list of Method
        ``noisy`` first, then classical methods in registry order, then models; no duplicates.
    """
    from ..baselines import BASELINES

    if isinstance(methods, str):
        tokens = [t.strip() for t in methods.split(",") if t.strip()]
    else:
        tokens = [str(t).strip() for t in methods if str(t).strip()]
    if not tokens and not models:
        tokens = [DEFAULT_METHODS]
    notes = notes if notes is not None else []
    root = Path(weights_dir) if weights_dir is not None else shipped_models.weights_dir()

    classical, model_paths, shipped = [], [], []

    def add_shipped():
        if shipped:
            return
        for path in shipped_models.shipped_model_dirs(root):
            try:
                shipped.append(model_method(path))
            except ModelError as error:  # e.g. a feature network kept next to the models
                notes.append(f"not a restoration model, left out: {error}")
        if not shipped:
            shipped.append(None)
            notes.append(f"no shipped models under {root} (no model directory with a config.json "
                         "and a task): classical methods only")

    for token in tokens:
        if token == "noisy":
            continue
        if token in ("all", "classical", "fast"):
            classical.extend(
                n for n in BASELINES
                if n != "identity" and (token != "fast" or n not in SLOW_BASELINES)
            )
            if token in ("all", "fast"):
                add_shipped()
        elif token == "shipped":
            add_shipped()
        elif token in BASELINES:
            if token == "identity":
                continue  # the noisy row
            classical.append(token)
        elif (Path(token) / "config.json").is_file():
            model_paths.append(Path(token))
        elif (root / token / "config.json").is_file():
            model_paths.append(root / token)
        else:
            raise UnknownName(
                f"unknown method {token!r}: not a method set ({', '.join(METHOD_SETS)}), a "
                f"baseline ({', '.join(n for n in BASELINES if n != 'identity')}) or a model "
                "directory with a config.json"
            )
    for path in models:
        if str(path).strip():
            model_paths.append(Path(str(path).strip()))

    out = [NOISY]
    seen = {"noisy"}
    for name in BASELINES:  # registry order
        if name in classical and name not in seen:
            out.append(_classical_method(BASELINES[name]))
            seen.add(name)
    seen_paths = set()
    model_methods = [m for m in shipped if m is not None] + [model_method(p) for p in model_paths]
    for method in model_methods:
        if method.path in seen_paths:
            continue
        seen_paths.add(method.path)
        if method.name in seen:
            raise EnhanceError(
                f"two methods are named {method.name!r} ({method.path}); rename a model directory"
            )
        seen.add(method.name)
        out.append(method)
    return out


def resolve_degradations(names=None):
    """The :class:`~enhance.degrade.Degradation` objects of a comma-separated list (default: the spec's)."""
    from ..baselines import TASKS
    from ..degrade import BENCHMARK_DEGRADATIONS, PRESETS

    if names is None:
        names = list(BENCHMARK_DEGRADATIONS)
    elif isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    out = []
    for name in names:
        if name not in PRESETS or PRESETS[name].task not in TASKS:
            raise UnknownName(
                f"unknown benchmark degradation {name!r}; known: {', '.join(BENCHMARK_DEGRADATIONS)}"
            )
        if name not in [d.name for d in out]:
            out.append(PRESETS[name])
    if not out:
        raise EnhanceError("no degradation to benchmark")
    return out


def exposure_of(degradation):
    """The exposure of a low-light degradation (its parameter, else the function's default)."""
    if "exposure" in degradation.params:
        return float(degradation.params["exposure"])
    return float(inspect.signature(degradation.function).parameters["exposure"].default)


def cell_seed(degradation, index, seed=None):
    """The spec's seed (an int, or ``[S, d, i]`` with a user seed); ``d`` as in :func:`enhance.jobs.file_seed`."""
    from ..jobs import file_seed

    return file_seed(degradation.name, index, seed=seed)


# ---------------------------------------------------------------------------------------------
# references and cells (these run in the worker processes too)


def to_grayscale(pixels, *, is_stack=False):
    """First frame of a stack; colour by luminance (``rgb2gray``), alpha dropped. Returns float32 (H, W)."""
    import numpy as np

    pixels = np.asarray(pixels, dtype=np.float32)
    if is_stack:
        pixels = pixels[0]
    if pixels.ndim == 3:
        channels = pixels.shape[-1]
        if channels in (3, 4):
            from skimage.color import rgb2gray

            pixels = rgb2gray(pixels[..., :3])
        else:  # gray (+ alpha)
            pixels = pixels[..., 0]
    if pixels.ndim != 2:
        raise EnhanceError(f"cannot make a 2-D reference from pixels of shape {pixels.shape}")
    return np.ascontiguousarray(np.clip(pixels, 0.0, 1.0), dtype=np.float32)


_REF_MEMO = {}
_MODEL_MEMO = {}
_WARM = set()


def load_reference(path):
    """The clean reference of an image file, as the benchmark uses it (float32 (H, W) in [0, 1])."""
    key = str(path)
    if key not in _REF_MEMO:
        from ..io import read_image

        image = read_image(path)
        _REF_MEMO.clear()  # one image at a time is enough: cells come grouped by image
        _REF_MEMO[key] = to_grayscale(image.pixels, is_stack=image.meta.is_stack)
    return _REF_MEMO[key]


def make_noisy(reference, degradation, seed):
    """Degrade a reference with the spec's function and the cell's seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return degradation(reference, rng)


_NOISY_MEMO = {}


def _noisy_for(path, reference, degradation, seed):
    """:func:`make_noisy`, remembering the last result (cells come grouped by image)."""
    key = (str(path), degradation.name, json.dumps(degradation.params, sort_keys=True), json.dumps(seed))
    if key not in _NOISY_MEMO:
        _NOISY_MEMO.clear()
        _NOISY_MEMO[key] = make_noisy(reference, degradation, seed)
    return _NOISY_MEMO[key]


def _load_model(path):
    if path not in _MODEL_MEMO:
        from ..modeldir import load_model_dir

        _MODEL_MEMO[path] = load_model_dir(path)
    return _MODEL_MEMO[path]


def apply_method(method, noisy, degradation):
    """Restore ``noisy`` with ``method`` given what the spec says it is told; returns float32."""
    import numpy as np

    task = degradation.task
    if method.kind == "noisy":
        return np.asarray(noisy, dtype=np.float32)
    if method.kind == "classical":
        from ..baselines import denoise

        options = {}
        if task == "gaussian":
            options["sigma"] = float(degradation.params["sigma"])
        elif task == "lowlight":
            options["exposure"] = exposure_of(degradation)
        return np.asarray(denoise(noisy, method.name, **options), dtype=np.float32)
    if method.kind == "model":
        from ..predict import enhance_image

        model = _load_model(method.path)
        exposure = exposure_of(degradation) if task == "lowlight" else None
        return np.asarray(enhance_image(model, noisy, exposure=exposure), dtype=np.float32)
    raise EnhanceError(f"unknown method kind {method.kind!r}")


@dataclass(frozen=True)
class _Task:
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


def _run_cell_safe(task):
    """:func:`_run_cell`, with a library error turned into a failed cell (never cached)."""
    try:
        return _run_cell(task)
    except EnhanceError as error:
        h, w = task.reference.shape[:2]
        return Cell(task.reference.relpath, task.degradation.name, task.method.name,
                    task.method.kind, task.seed, int(h), int(w), error=str(error))


# ---------------------------------------------------------------------------------------------
# cache


def _normalise(value):
    return json.loads(json.dumps(value, sort_keys=True))


def cell_key(reference, degradation, method, seed):
    """The cache key of a cell (a JSON-able dict)."""
    return _normalise({
        "version": CACHE_VERSION,
        "image": reference.relpath,
        "image_sha256": reference.sha256,
        "reference": "grayscale-luminance/first-frame",
        "degradation": degradation.name,
        "task": degradation.task,
        "params": dict(degradation.params),
        "seed": seed,
        "method": method.name,
        "method_identity": method.identity,
    })


class CellCache:
    """One JSON file per finished cell under ``root/cells/``, named by the hash of its key."""

    def __init__(self, root):
        self.root = Path(root)
        self.cells_dir = self.root / CELLS_DIR
        self.grid_dir = self.root / GRID_DIR

    @staticmethod
    def digest(key):
        return _sha256_bytes(json.dumps(key, sort_keys=True).encode())[:32]

    def path(self, key):
        return self.cells_dir / f"{self.digest(key)}.json"

    def grid_path(self, key):
        return self.grid_dir / f"{self.digest(key)}.png"

    def load(self, key, *, need_grid=False):
        """The cached :class:`Cell` of ``key``, or None (missing, unreadable, other key, no grid image)."""
        path = self.path(key)
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or stored.get("key") != key:
            return None
        try:
            cell = Cell(**stored["cell"])
        except (KeyError, TypeError):
            return None
        if need_grid and not (cell.grid_png and (self.grid_dir / cell.grid_png).is_file()):
            return None
        cell.cached = True
        return cell

    def save(self, key, cell):
        from ..io.atomic import atomic_write

        payload = asdict(cell)
        payload.pop("cached", None)
        text = json.dumps({"key": key, "cell": payload}, sort_keys=True, indent=1)
        with atomic_write(self.path(key)) as stream:
            stream.write(text.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# the run


def pick_grid_images(references, count):
    """``count`` images spread evenly over the sorted list (first and last included)."""
    import numpy as np

    if count <= 0 or not references:
        return []
    if count >= len(references):
        return [r.relpath for r in references]
    positions = np.unique(np.round(np.linspace(0, len(references) - 1, count)).astype(int))
    return [references[p].relpath for p in positions]


def _execute(tasks, workers, on_result):
    """Run tasks serially (``workers == 1``) or in a process pool; call ``on_result(i, cell)``."""
    if workers <= 1 or len(tasks) <= 1:
        for i, task in enumerate(tasks):
            on_result(i, _run_cell_safe(task))
        return
    import multiprocessing
    import sys
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # fork is quick and needs no importable __main__, but TensorFlow does not survive a fork:
    # once this process has imported it, workers are spawned instead (workers import Keras
    # themselves, only for model cells)
    heavy = any(name in sys.modules for name in ("tensorflow", "keras", "jax", "torch"))
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() and not heavy else "spawn"
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(_run_cell_safe, task): i for i, task in enumerate(tasks)}
        try:
            for future in as_completed(futures):
                on_result(futures[future], future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def run_benchmark(
    data,
    out_dir,
    *,
    degradations=None,
    methods=DEFAULT_METHODS,
    models=(),
    seed=None,
    workers=1,
    grid_images=3,
    weights_dir=None,
    progress=None,
    log=None,
    write=True,
):
    """Benchmark every method on every image of ``data`` under every degradation; write the report.

    Parameters
    ----------
    data : str or Path
        A folder (recursive), file or glob of clean reference images.
    out_dir : str or Path
        The report folder: ``results.csv``, ``summary.md``, ``report.html`` and the cell cache.
    degradations : str or list of str, optional
        Names from the spec's benchmark list (default: all five, in its order).
    methods : str, optional
        See :func:`resolve_methods` (default ``fast``).
    models : iterable of paths, optional
        More model directories.
    seed : int, optional
        User seed ``S``: cells use ``default_rng([S, d, i])`` instead of ``1000 d + i``.
    workers : int, optional
        Processes computing cells in parallel (1: in this process). Scores do not depend on it.
    grid_images : int, optional
        How many images get an image grid in ``report.html`` (3).
    progress : callable, optional
        Called as ``progress(done, total, cell)`` after each computed cell.
    log : callable, optional
        Called with each note (one line of text).
    write : bool, optional
        Write the report files (``results.csv``, ``summary.md``, ``report.html``).

    Returns
    -------
    BenchResult
    """
    from .. import batch

    started = time.perf_counter()
    out_dir = Path(out_dir)
    workers = int(workers)
    if workers < 1:
        raise EnhanceError(f"workers must be at least 1, got {workers}")
    notes = []
    degs = resolve_degradations(degradations)
    method_list = resolve_methods(methods, models, weights_dir=weights_dir, notes=notes)
    root, files = batch.discover(data, exclude=[out_dir])
    if not files:
        raise EnhanceError(f"{data}: no image to benchmark")

    references, skipped = [], []
    for index, item in enumerate(files):
        try:
            pixels = load_reference(item.path)
            if min(pixels.shape) < 11:
                raise EnhanceError(f"{pixels.shape[1]}x{pixels.shape[0]} is smaller than SSIM's 11x11 window")
            references.append(Reference(index, str(item.relpath), str(item.path),
                                        file_sha256(item.path), tuple(pixels.shape)))
        except EnhanceError as error:
            skipped.append((str(item.relpath), str(error)))
    _REF_MEMO.clear()
    if not references:
        raise EnhanceError(f"{data}: no readable image to benchmark")
    for relpath, reason in skipped:
        notes.append(f"skipped {relpath}: {reason}")
    for d in degs:
        if all(m.kind == "noisy" or not m.suits(d.task) for m in method_list):
            notes.append(f"{d.name}: no selected method suits the {d.task} task; only the noisy row")

    grid = set(pick_grid_images(references, int(grid_images)))
    cache = CellCache(out_dir)
    plan, cells, todo = [], [], []
    for d in degs:
        for ref in references:
            s = cell_seed(d, ref.index, seed)
            for m in method_list:
                if not m.suits(d.task):
                    continue
                key = cell_key(ref, d, m, s)
                in_grid = ref.relpath in grid
                cached = cache.load(key, need_grid=in_grid)
                plan.append(key)
                cells.append(cached)
                if cached is None:
                    grid_png = str(cache.grid_path(key)) if in_grid else None
                    todo.append((len(plan) - 1, _Task(ref, d, m, s, grid_png)))

    for note in notes:
        if log:
            log(note)
    total = len(todo)
    done = [0]

    def on_result(i, cell):
        position = todo[i][0]
        if not cell.error:
            cache.save(plan[position], cell)
        cells[position] = cell
        done[0] += 1
        if progress:
            progress(done[0], total, cell)

    if todo:
        out_dir.mkdir(parents=True, exist_ok=True)
    try:
        _execute([t for _, t in todo], workers, on_result)
    finally:
        _REF_MEMO.clear()
        _NOISY_MEMO.clear()

    result = BenchResult(
        data=str(data),
        out_dir=out_dir,
        degradations=degs,
        methods=method_list,
        references=references,
        cells=cells,
        seed=seed,
        grid_images=[r.relpath for r in references if r.relpath in grid],
        skipped=skipped,
        notes=notes,
        computed=total,
        from_cache=len(plan) - total,
    )
    result.wall_seconds = time.perf_counter() - started
    if write:
        from .report import write_report

        write_report(result)
    return result
