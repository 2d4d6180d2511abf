"""The benchmark run: plan the cells, take what the cache has, compute the rest, report.

:func:`run_benchmark` resolves the methods and degradations (:mod:`.methods`), loads the clean
references, plans one cell per (image, degradation, method) that suits it, looks each up in the
cell cache (:mod:`.cache`), computes the missing ones (:mod:`.cells`) serially or in a process
pool, and writes the report (:mod:`.report`). :class:`BenchResult` is what it returns.

Reproducibility: scores do not depend on ``workers`` or on the order cells run in; the only
exception is BM3D itself (``bm3d``, ``gain_bm3d``, ``vst_bm3d``, ``bm3d_log``), whose reference
binary differs from call to call in the last bits of float32 pixel values, even serially.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EnhanceError
from ..modeldir import file_sha256
from .cache import CellCache, cell_key
from .cells import Reference, Task, clear_image_memos, load_reference, run_cell_safe
from .methods import DEFAULT_METHODS, cell_seed, resolve_degradations, resolve_methods

__all__ = ["BenchResult", "pick_grid_images", "run_benchmark"]


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


def pick_grid_images(references, count):
    """``count`` images: one of each task's own modality (ultrasound for speckle, ...), then
    spread evenly over the sorted list (see :func:`enhance.bench.grids.pick_grid_images`)."""
    from .grids import pick_grid_images as pick

    return pick(references, count)


def with_runtime(method_list, runtime):
    """The methods with ``runtime`` resolved (:func:`enhance.runtime.choose_runtime`) on each
    model; an unknown or missing runtime is one line, and only when a model needs it."""
    if not any(m.kind == "model" for m in method_list):
        return method_list
    from ..runtime import choose_runtime

    chosen = choose_runtime(runtime)
    return [dataclasses.replace(m, runtime=chosen) if m.kind == "model" else m for m in method_list]


def _execute(tasks, workers, on_result, engine=None):
    """Run tasks serially (``workers == 1``), in a process pool, or on a Ray cluster
    (``engine(function, tasks)`` yields ``(i, function(task))`` as each completes: a
    :meth:`enhance.ray_engine.RayEngine.map`); call ``on_result(i, cell)`` as each completes."""
    if engine is not None:
        for i, cell in engine(run_cell_safe, tasks):
            on_result(i, cell)
        return
    if workers <= 1 or len(tasks) <= 1:
        for i, task in enumerate(tasks):
            on_result(i, run_cell_safe(task))
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
        futures = {pool.submit(run_cell_safe, task): i for i, task in enumerate(tasks)}
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
    engine="local",
    engine_options=None,
    runtime="auto",
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
    engine : {"local", "ray"}, optional
        ``ray``: the cells to compute are Ray tasks on the actors of a cluster (``workers`` is
        then not used; :class:`enhance.ray_engine.RayEngine`); the cache and the report stay
        here. ``data`` and ``out_dir`` must be on storage every node sees (the actors read the
        images and write the grid images). Scores do not depend on it.
    engine_options : dict, optional
        For ``ray``: ``address``, ``actors``, ``cpus_per_actor``, ``gpus_per_actor``.
    runtime : {"auto", "openvino", "keras"}, optional
        Where the models' networks run (:mod:`enhance.runtime`; ``auto``: what ``enhance run``
        uses). Part of a model cell's cache key: scores agree to ~1e-7, timings do not.

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
    if engine not in ("local", "ray"):
        raise EnhanceError(f"unknown engine {engine!r}; known: local, ray")
    ray_engine = None
    if engine == "ray":
        from ..ray_engine import RayEngine

        ray_engine = RayEngine(**(engine_options or {}))  # Ray missing, bad options: one line
    notes = []
    degs = resolve_degradations(degradations)
    method_list = with_runtime(resolve_methods(methods, models, weights_dir=weights_dir, notes=notes),
                               runtime)
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
    clear_image_memos()
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
                    todo.append((len(plan) - 1, Task(ref, d, m, s, grid_png)))

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
    tasks, mapper = [t for _, t in todo], None
    if ray_engine is not None:  # the actors find the images and the grid folder by absolute path
        tasks = [dataclasses.replace(
            t, reference=dataclasses.replace(t.reference, path=os.path.abspath(t.reference.path)),
            grid_png=os.path.abspath(t.grid_png) if t.grid_png else None) for t in tasks]
        mapper = functools.partial(ray_engine.map, shared=[root, out_dir])
    try:
        _execute(tasks, workers, on_result, engine=mapper)
    finally:
        clear_image_memos()

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
