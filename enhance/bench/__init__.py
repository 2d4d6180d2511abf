"""Benchmark restoration methods on clean reference images: ``enhance bench``.

>>> from enhance.bench import run_benchmark
>>> result = run_benchmark("samples/", "/tmp/report", methods="fast")     # doctest: +SKIP
>>> result.out_dir / "report.html"                                         # doctest: +SKIP

Every image is degraded by the spec's models (:mod:`enhance.degrade`) with the spec's seeds,
restored by every method suited to the degradation's task, and scored with PSNR and SSIM
(``data_range=1.0``) against the clean image. The report folder gets ``results.csv`` (one row per
cell), ``summary.md`` (per degradation: means with 95% intervals, paired difference to the best
classical method, speed) and a self-contained ``report.html`` (tables, plots, image grids).
Finished cells are cached there, so a rerun computes only what is missing.

Modules: :mod:`.methods` (methods, degradations, seeds), :mod:`.cells` (references, one cell),
:mod:`.cache` (the cell cache), :mod:`.runner` (the run, process pool), :mod:`.stats` (summary
rows), :mod:`.report` (the files). Importing this package imports nothing heavy; Keras is imported only
by a process that runs a model.
"""

import importlib

__all__ = [
    "run_benchmark",
    "resolve_methods",
    "resolve_degradations",
    "summarize",
    "write_report",
    "BenchResult",
    "Cell",
    "Method",
    "SLOW_BASELINES",
    "DEFAULT_METHODS",
]

_WHERE = {
    "run_benchmark": "runner",
    "resolve_methods": "methods",
    "resolve_degradations": "methods",
    "BenchResult": "runner",
    "Cell": "cells",
    "Method": "methods",
    "SLOW_BASELINES": "methods",
    "DEFAULT_METHODS": "methods",
    "summarize": "stats",
    "write_report": "report",
}


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'enhance.bench' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
