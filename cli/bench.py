"""``enhance bench``: benchmark classical methods and models on clean reference images."""

import sys
import time

import click

from ..names import RUNTIMES
from .common import RayOptionsCommand, library_errors, progress_bar, ray_options

#: The spec's benchmark list (``enhance.tasks.BENCHMARK_DEGRADATIONS``), spelled out here so
#: that ``enhance bench --help`` imports nothing but click.
DEFAULT_DEGRADATIONS = "gaussian15,gaussian25,gaussian50,lowlight,speckle"


def _split(value):
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _previous_report(out_dir):
    """Degradations and methods of the results.csv already in ``out_dir`` (empty sets if none)."""
    import csv
    from pathlib import Path

    path = Path(out_dir) / "results.csv"
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, ValueError, csv.Error):
        return set(), set()
    return ({r.get("degradation") for r in rows} - {None, ""},
            {r.get("method") for r in rows} - {None, ""})


def _dropped(previous, result):
    """One line naming what the previous report had and this one leaves out, or ''."""
    degradations = sorted(previous[0] - {d.name for d in result.degradations})
    methods = sorted(previous[1] - {m.name for m in result.methods})
    parts = []
    if degradations:
        parts.append(f"degradations {', '.join(degradations)}")
    if methods:
        parts.append(f"methods {', '.join(methods)}")
    if not parts:
        return ""
    return (f"the previous report in this folder also had {' and '.join(parts)}; this report "
            "covers only this run's (their cells stay cached: name them again, e.g. "
            "--degradations, to show them)")


@click.command(cls=RayOptionsCommand)
@click.argument("data")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Report folder: results.csv, summary.md, report.html and the cell cache.")
@click.option("--degradations", default=DEFAULT_DEGRADATIONS, show_default=True,
              help="Comma-separated degradations of the spec's benchmark list.")
@click.option("--methods", default="fast", show_default=True,
              help="Comma-separated: fast (shipped models + every classical method but the "
                   "slow bm3d, gain_bm3d, bm3d_log, nlm_log, obnlm), classical (every classical method), shipped "
                   "(model directories under "
                   "trained_weights/), all (classical + shipped), baseline names or model "
                   "directories. The noisy input is always a row.")
@click.option("--models", default="",
              help="Comma-separated model directories to add to the methods.")
@click.option("--seed", type=int, default=None,
              help="Seed S: image i under degradation d uses default_rng([S, d, i]) "
                   "(default: the spec's 1000*d + i).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes computing cells in parallel; scores do not depend on it.")
@click.option("--grid-images", type=click.IntRange(min=0), default=3, show_default=True,
              help="How many images get an image grid in report.html.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this process (--workers); ray: the cells as tasks on the actors of a Ray "
                   "cluster (pip install 'enhance[ray]'; DATA and --out on storage every node sees).")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="auto", show_default=True,
              help="Where the models' networks run, as for enhance run (auto: OpenVINO when "
                   "installed and no NVIDIA GPU is visible, else Keras); scores agree to ~1e-7, "
                   "timings do not (part of the cache key).")
@click.option("--no-reference", "no_reference", is_flag=True,
              help="DATA holds real noisy ultrasound frames without references: restore each with "
                   "every speckle method (each classical despeckler over its parameter range) and "
                   "score it against its input without a reference (ENL gain, edge keeping, SSI, "
                   "SMPI, brightness, ratio-image test); the report draws each classical filter's "
                   "trade-off curve and the models' points.")
@ray_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def bench(ctx, data, out_dir, degradations, methods, models, seed, workers, grid_images, quiet, engine="local",
          address=None, actors=None, cpus_per_actor=1.0, gpus_per_actor=0.0, runtime="auto",
          no_reference=False):
    """Degrade every clean image of DATA by the spec, restore it with every method, score it.

    Each image (colour: grayscale by luminance; stacks: first frame) is degraded with the spec's
    seed (the i-th image by relative path under the d-th degradation of the spec's list:
    1000*d + i), restored by every method suited to the degradation's task (low light: every
    method is told the exposure; Gaussian: classical methods and noise-conditioned models are told
    sigma) and scored with PSNR and SSIM (data_range 1.0). Finished cells are cached in the report folder: running
    again computes only what is missing. The default method set (fast) does "samples/*" (the 8
    clean samples, 5 degradations, 520 cells) in minutes on two CPU cores, most of it
    vst_bm3d; --methods all adds bm3d, gain_bm3d, bm3d_log (seconds per image each), nlm_log and obnlm. Into a report folder that holds degradations or methods this
    run leaves out, the new report says which it dropped (their cells stay cached).

    With --no-reference, DATA's images are real noisy frames (nothing is degraded): see that
    option; --degradations, --seed, --workers, --grid-images and the Ray options do not apply.
    """
    if no_reference:
        return _bench_no_reference(ctx, data, out_dir, methods, models, quiet, runtime)
    from ..bench import run_benchmark

    progress, close = progress_bar(quiet=quiet, unit="cell",
                                   describe=lambda cell: f"{cell.degradation}/{cell.method}")

    ray_only = {"--address": address, "--actors": actors,
                "--cpus-per-actor": cpus_per_actor != 1.0 or None, "--gpus-per-actor": gpus_per_actor or None}
    if engine != "ray" and any(v is not None for v in ray_only.values()):
        given = ", ".join(k for k, v in ray_only.items() if v is not None)
        raise click.UsageError(f"{given}: only with --engine ray")
    if engine == "ray" and workers > 1:
        raise click.UsageError("--workers is for the local engine; with --engine ray, --actors")
    started = time.perf_counter()
    previous = _previous_report(out_dir)
    with library_errors():
        try:
            result = run_benchmark(
                data, out_dir,
                degradations=_split(degradations),
                methods=_split(methods),
                models=_split(models),
                seed=seed,
                workers=workers,
                grid_images=grid_images,
                progress=progress,
                log=lambda note: click.echo(note, err=True),
                write=False,
                engine=engine,
                engine_options={"address": address, "actors": actors, "cpus_per_actor": cpus_per_actor,
                                "gpus_per_actor": gpus_per_actor},
                runtime=runtime,
            )
        finally:
            close()
        dropped = _dropped(previous, result)
        if dropped:
            result.notes.append(dropped)
        from ..bench.report import write_report

        write_report(result)
    elapsed = time.perf_counter() - started
    ran = [m for m in result.methods if any(m.suits(d.task) for d in result.degradations)]
    unused = len(result.methods) - len(ran)
    click.echo(
        f"{len(result.references)} images x {len(result.degradations)} degradations; "
        f"{len(ran)} methods: {', '.join(m.name for m in ran)}"
        + (f" ({unused} other{'s' if unused > 1 else ''} suit none of these degradations)"
           if unused else "")
    )
    click.echo(
        f"{len(result.cells)} cells: {result.computed} computed, {result.from_cache} from the cache, "
        f"{len(result.failed)} failed; {elapsed:.1f} s"
    )
    out = result.out_dir
    click.echo(f"report: {out / 'report.html'} (also {out / 'summary.md'}, {out / 'results.csv'})")
    if dropped:
        click.echo(f"note: {dropped}")
    if result.failed:
        for cell in result.failed:
            click.echo(f"failed: {cell.image} / {cell.degradation} / {cell.method}: {cell.error}",
                       err=True)
        sys.exit(1)


def _bench_no_reference(ctx, data, out_dir, methods, models, quiet, runtime):
    from click.core import ParameterSource

    given = [f"--{name.replace('_', '-')}" for name in
             ("degradations", "seed", "workers", "grid_images", "engine", "address", "actors",
              "cpus_per_actor", "gpus_per_actor")
             if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)]
    if given:
        raise click.UsageError(f"{', '.join(given)}: not with --no-reference")
    from ..bench.noref import run_noreference_benchmark

    progress, close = progress_bar(quiet=quiet, unit="run",
                                   describe=lambda row: f"{row.method} {row.setting}".strip())
    started = time.perf_counter()
    with library_errors():
        try:
            result = run_noreference_benchmark(
                data, out_dir, methods=_split(methods), models=_split(models), progress=progress,
                log=lambda note: click.echo(note, err=True), runtime=runtime)
        finally:
            close()
    click.echo(f"{len(result.images)} images, no reference; methods: {', '.join(result.methods)}")
    click.echo(f"{len(result.rows)} runs, {len(result.failed)} failed; "
               f"{time.perf_counter() - started:.1f} s")
    out = result.out_dir
    click.echo(f"report: {out / 'report.html'} (also {out / 'summary.md'}, {out / 'results.csv'})")
    if result.failed:
        for row in result.failed:
            click.echo(f"failed: {row.image} / {row.method} {row.setting}: {row.error}", err=True)
        sys.exit(1)
