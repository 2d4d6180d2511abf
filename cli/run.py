"""``enhance run``: enhance a folder of images with a model (the main job)."""

import json
import sys

import click

from ..names import OUTPUT_FORMATS, PRECISIONS, RUNTIMES
from .common import (MemorySize, RayOptionsCommand, TaskChoice, anonymize_options,
                     file_progress_bar, library_errors, ray_options)


@click.command(cls=RayOptionsCommand)
@click.argument("source")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--model", default=None,
              help="A shipped model's name (enhance models) or a model directory. "
                   "Default: the shipped default of --task.")
@click.option("--task", type=TaskChoice(), default=None,
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
@click.option("--tile", type=int,
              help="Tile size in pixels, at least 32 (default: large images are tiled automatically).")
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
@click.option("--overwrite", is_flag=True,
              help="Redo files whose output exists. Without it, finished outputs of the same "
                   "recipe are skipped and outputs of another recipe (model, noise level, "
                   "precision, self-ensemble, format, anonymize) are refused.")
@click.option("--preview/--no-preview", default=True, show_default=True,
              help="Write OUT_DIR/preview.png: input | output (| reference) of a few images, "
                   "with PSNR before/after where a reference exists (samples/README.md).")
@click.option("--dry-run", is_flag=True, help="List what would be done and stop.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: one file at a time in this process; ray: on the actors of a Ray cluster "
                   "(pip install 'enhance[ray]'; SOURCE and OUT_DIR on storage every node sees).")
@ray_options
@click.option("--store", metavar="ROOT", default=None,
              help="A DICOMweb service root (http(s)://HOST[:PORT]/dicom-web): store each derived "
                   "DICOM output there (STOW-RS), one new series per source series in the source's "
                   "study. Credentials: ENHANCE_DICOMWEB_USER and ENHANCE_DICOMWEB_PASSWORD (or "
                   "ENHANCE_DICOMWEB_TOKEN), else a netrc file ($NETRC, default ~/.netrc).")
@click.option("--ca-bundle", type=click.Path(dir_okay=False), default=None,
              help="DICOMweb over HTTPS: trust these certificate authorities (PEM; default: the "
                   "system's).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="DICOMweb: seconds to wait for a connection and for each read.")
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
              help="DICOMweb: further attempts after a connection error, a timeout or a busy server "
                   "(waiting 1, 2, 4... s).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True,
              help="Machine-readable: one JSON object per file, then a summary object, on stdout.")
def run(source, out_dir, *, quiet, as_json, address=None, actors=None, cpus_per_actor=1.0,
        gpus_per_actor=0.0, **fields):
    """Enhance every image in SOURCE into OUT_DIR with a Keras model.

    SOURCE is a folder (recursive), a file, a quoted glob, or a DICOMweb study or series URL
    (http(s)://HOST[:PORT]/dicom-web/studies/UID[/series/UID]: its instances are retrieved into
    OUT_DIR/.retrieved); OUT_DIR mirrors its layout and gets a manifest.jsonl (for a single file
    OUT_DIR may be beside it). With --store, each DICOM output is also stored into its source's
    study (README: "Enhance a study from Orthanc"). Finished outputs are skipped
    when the run is started again, if they were made with the same recipe (model, noise level,
    precision, self-ensemble, format, anonymize); outputs of another recipe are refused
    (--overwrite redoes them). A file that cannot be read is reported and the run goes on; the
    exit status is 1 when any file failed, 130 after Ctrl-C. Colour images are restored channel
    by channel. The summary (model, OUT_DIR, counts, failures) goes to stdout whether the run
    succeeded, failed or was interrupted; OUT_DIR/preview.png shows a few inputs beside their
    outputs (--no-preview: none).
    """
    from ..pipeline import RunInterrupted, enhance_folder
    from ..run_options import RunOptions

    engine = fields.setdefault("engine", "local")
    ray_only = {"--address": address, "--actors": actors,
                "--cpus-per-actor": cpus_per_actor != 1.0 or None, "--gpus-per-actor": gpus_per_actor or None}
    if engine != "ray" and any(v is not None for v in ray_only.values()):
        given = ", ".join(k for k, v in ray_only.items() if v is not None)
        raise click.UsageError(f"{given}: only with --engine ray")
    if engine == "ray":
        fields["engine_options"] = {"address": address, "actors": actors,
                                    "cpus_per_actor": cpus_per_actor, "gpus_per_actor": gpus_per_actor}
    fields["max_pixels"] = fields.get("max_pixels") or None  # 0: no limit
    # --ca-bundle, --timeout, --retries: one Connection of the options (checked there)
    fields["connection"] = {k: fields.pop(k, None) for k in ("ca_bundle", "timeout", "retries")}
    dry_run = fields.get("dry_run", False)

    def emit(result):
        from ..batch import json_safe

        click.echo(json.dumps(json_safe(result.as_record()), sort_keys=True))

    def emit_progress(done, total, result):  # --json: one line per file as it finishes
        if result is not None:
            emit(result)

    interrupted = False
    with library_errors():
        options = RunOptions.from_dict(fields)  # checked: one line for a bad value
        on_progress, on_fraction, close = file_progress_bar(quiet=quiet or as_json or dry_run)
        try:
            result = enhance_folder(source, out_dir, options,
                                    progress=emit_progress if as_json else on_progress,
                                    file_progress=None if as_json else on_fraction)
        except RunInterrupted as stop:
            result, interrupted = stop.result, True
        finally:
            close()
    _report(result, out_dir, as_json=as_json, dry_run=dry_run, emit=emit)
    if interrupted:
        sys.exit(130)  # as a shell reports a command stopped by SIGINT
    if not result.ok:
        sys.exit(1)


def _report(result, out_dir, *, as_json, dry_run, emit):
    """The summary on stdout: one JSON object (--json) or the lines of the run."""
    ref = result.model
    if as_json:
        if dry_run:
            for r in result.results:
                emit(r)
        counts = {s: result.count(s) for s in ("done", "skipped", "failed", "planned")}
        click.echo(json.dumps({"summary": counts, "model": ref.name, "model_path": str(ref.path),
                               "out": str(out_dir), "preview": result.preview,
                               "interrupted": result.interrupted,
                               "failed": [r.error for r in result.failed]}))
        return
    if dry_run:
        click.echo(f"model: {ref.label}, task {ref.task}")
        for r in result.results:
            click.echo(f"{r.status}: {r.input} -> {r.output}")
    prefix = "dry run: " if dry_run else ""
    click.echo(f"{prefix}model {ref.label} -> {out_dir}: {result.summary()}")
    if result.preview:
        click.echo(f"preview: {result.preview}{result.preview_note}")
    elif result.preview_note:
        click.echo(f"preview: {result.preview_note}")
