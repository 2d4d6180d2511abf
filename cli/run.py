"""``enhance run``: enhance a folder of images with a model (the main job)."""

import json
import sys

import click

from ..names import OUTPUT_FORMATS, PRECISIONS, RUNTIMES, TASKS
from .common import MemorySize, anonymize_options, file_progress_bar, library_errors, ray_options


@click.command()
@click.argument("source")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--model", default=None,
              help="A shipped model's name (enhance models) or a model directory. "
                   "Default: the shipped default of --task.")
@click.option("--task", type=click.Choice(TASKS), default=None,
              help="Choose the shipped default model of this task (default gaussian).")
@click.option("--exposure", type=float, help="Low-light models: the acquisition's exposure (e.g. 0.1).")
@click.option("--sigma", type=float,
              help="Noise-conditioned Gaussian models: the noise std in [0, 1] units (e.g. 0.098 "
                   "for 25/255); estimated from each image when omitted (the manifest says which).")
@click.option("--photons", type=float,
              help="Noise-conditioned low-light models: photons at full scale (estimated when omitted).")
@click.option("--read-noise", type=float,
              help="Noise-conditioned low-light models: read-noise std in [0, 1] units of the dark "
                   "image (estimated when omitted).")
@click.option("--tile", type=int, help="Tile size in pixels (default: large images are tiled automatically).")
@click.option("--batch-size", type=int, default=8, show_default=True, help="At most this many tiles per network call.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="float32", show_default=True,
              help="bfloat16: about twice as fast on CPUs with bfloat16 instructions (AVX512-BF16, "
                   "AMX) and recent GPUs, a few hundredths of a dB lower PSNR (README); slower "
                   "on CPUs without them.")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="auto", show_default=True,
              help="Where the network runs. auto: OpenVINO when installed and no NVIDIA GPU is "
                   "visible (the model converted once and cached: no TensorFlow start-up), else "
                   "Keras. The manifest records the runtime used.")
@click.option("--max-memory", type=MemorySize(), default=None,
              help="Memory for one image's work beyond the runtime and the model (e.g. 512M, "
                   "2G; default 1G): tiles and tiles per call are sized from it.")
@click.option("--self-ensemble", is_flag=True,
              help="Average the model's outputs on the 8 flips/rotations of each image (8x slower, "
                   "a little more PSNR; the model cards give the measured gain).")
@click.option("--format", "output_format", default="keep", show_default=True,
              type=click.Choice(OUTPUT_FORMATS),
              help="keep = each output in its input's format, dtype, range and header.")
@click.option("--max-pixels", type=click.IntRange(min=0), default=2**28, show_default=True,
              help="Refuse files whose header claims more pixels (height x width x frames), "
                   "before decoding them; 0: no limit.")
@anonymize_options
@click.option("--overwrite", is_flag=True, help="Redo files whose output exists.")
@click.option("--preview/--no-preview", default=True, show_default=True,
              help="Write OUT_DIR/preview.png: input | output (| reference) of a few images, "
                   "with PSNR before/after where a reference exists (samples/README.md).")
@click.option("--dry-run", is_flag=True, help="List what would be done and stop.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: one file at a time in this process; ray: on the actors of a Ray cluster "
                   "(pip install 'enhance[ray]'; SOURCE and OUT_DIR on storage every node sees).")
@ray_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True,
              help="Machine-readable: one JSON object per file, then a summary object, on stdout.")
def run(source, out_dir, model, task, exposure, sigma, photons, read_noise, tile, batch_size, precision, runtime, max_memory,
        self_ensemble, output_format,
        max_pixels, anonymize, deid_key, overwrite, preview, dry_run, quiet, as_json, engine="local", address=None,
        actors=None, cpus_per_actor=1.0, gpus_per_actor=0.0):
    """Enhance every image in SOURCE into OUT_DIR with a Keras model.

    SOURCE is a folder (recursive), a file or a quoted glob; OUT_DIR mirrors its layout and gets
    a manifest.jsonl. Finished outputs are skipped when the run is started again (--overwrite
    redoes them); a file that cannot be read is reported and the run goes on; the exit status is
    1 when any file failed. Colour images are restored channel by channel. The summary (model,
    OUT_DIR, counts, failures) goes to stdout whether the run succeeded or not; OUT_DIR/preview.png
    shows a few inputs beside their outputs (--no-preview: none).
    """
    from ..pipeline import enhance_folder
    from ..shipped import describe_model, read_model_info, resolve_model

    def emit(result):
        click.echo(json.dumps(result.as_record(), sort_keys=True))

    def emit_progress(done, total, result):  # --json: one line per file as it finishes
        if result is not None:
            emit(result)

    ray_only = {"--address": address, "--actors": actors,
                "--cpus-per-actor": cpus_per_actor != 1.0 or None, "--gpus-per-actor": gpus_per_actor or None}
    if engine != "ray" and any(v is not None for v in ray_only.values()):
        given = ", ".join(k for k, v in ray_only.items() if v is not None)
        raise click.UsageError(f"{given}: only with --engine ray")
    engine_options = {"address": address, "actors": actors, "cpus_per_actor": cpus_per_actor,
                      "gpus_per_actor": gpus_per_actor}
    with library_errors():
        model_dir = resolve_model(model, task=task, kind="enhancer")
        info = read_model_info(model_dir)
        model_name = info["card"].get("name") or info["name"]
        source_kind = describe_model(model, model_dir)["model_source"]
        chosen = f"{model_name} ({'shipped' if source_kind == 'shipped' else model_dir})"
        on_progress, on_fraction, close = file_progress_bar(quiet=quiet or as_json or dry_run)
        try:
            result = enhance_folder(
                source, out_dir, model=model, task=task, exposure=exposure, sigma=sigma,
                photons=photons, read_noise=read_noise, tile=tile,
                batch_size=batch_size, self_ensemble=self_ensemble, output_format=output_format, overwrite=overwrite,
                dry_run=dry_run, progress=emit_progress if as_json else on_progress,
                max_pixels=max_pixels or None, file_progress=None if as_json else on_fraction,
                anonymize=anonymize, deid_key=deid_key, engine=engine, engine_options=engine_options,
                precision=precision, max_memory=max_memory, runtime=runtime,
            )
        finally:
            close()
    preview_file, preview_note = None, ""
    finished = [(r.input, r.output) for r in result.results if r.status in ("done", "skipped")]
    if preview and not dry_run and finished and anonymize:  # its labels are input names
        preview_note = "none drawn (--anonymize: it would show input names)"
    elif preview and not dry_run and finished:
        preview_file, preview_note = _write_preview(out_dir, finished, result.root, chosen)
    if as_json:
        if dry_run:
            for r in result.results:
                emit(r)
        click.echo(json.dumps({"summary": {s: result.count(s) for s in ("done", "skipped", "failed", "planned")},
                               "model": model_name, "model_path": str(model_dir), "out": str(out_dir),
                               "preview": preview_file, "failed": [r.error for r in result.failed]}))
    else:
        if dry_run:
            click.echo(f"model: {chosen}, task {info['task']}")
            for r in result.results:
                click.echo(f"{r.status}: {r.input} -> {r.output}")
        prefix = "dry run: " if dry_run else ""
        click.echo(f"{prefix}model {chosen} -> {out_dir}: {result.summary()}")
        if preview_file or preview_note:
            click.echo(f"preview: {preview_file}{preview_note}" if preview_file
                       else f"preview: {preview_note}")
    if not result.ok:
        sys.exit(1)


def _write_preview(out_dir, finished, root, chosen):
    """Write OUT/preview.png; returns (its path and a note, or None and why not). Never fails
    the run."""
    from pathlib import Path

    from ..errors import EnhanceError
    from ..preview import PREVIEW_NAME, write_preview

    path = Path(out_dir) / PREVIEW_NAME
    try:
        rows = write_preview(path, finished, root=root,
                             title=f"enhance run --model {chosen.split(' (')[0]}: input | output")
    except (EnhanceError, OSError) as error:
        return None, f"not written: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
    if not rows:
        return None, "not written: no finished image could be read back"
    refs = sum(r.psnr_before is not None for r in rows)
    note = f" ({len(rows)} images: input | output" + (f", {refs} with PSNR against a reference)" if refs else ")")
    return str(path), note
