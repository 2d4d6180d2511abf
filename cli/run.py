"""``enhance run``: enhance a folder of images with a model (the main job)."""

import json
import sys

import click

from .common import library_errors, progress_bar


@click.command()
@click.argument("source")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--model", default=None,
              help="A shipped model's name (enhance models) or a model directory. "
                   "Default: the shipped default of --task.")
@click.option("--task", type=click.Choice(["gaussian", "lowlight", "speckle"]), default=None,
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
@click.option("--batch-size", type=int, default=8, show_default=True, help="Tiles per network call.")
@click.option("--self-ensemble", is_flag=True,
              help="Average the model's outputs on the 8 flips/rotations of each image (8x slower, "
                   "a little more PSNR; the model cards give the measured gain).")
@click.option("--format", "output_format", default="keep", show_default=True,
              type=click.Choice(["keep", "png16", "tiff16", "npy"]),
              help="keep = each output in its input's format, dtype, range and header.")
@click.option("--max-pixels", type=click.IntRange(min=0), default=2**28, show_default=True,
              help="Refuse files whose header claims more pixels (height x width x frames), "
                   "before decoding them; 0: no limit.")
@click.option("--anonymize", is_flag=True,
              help="De-identify DICOM outputs (PS3.15 basic profile: UIDs remapped consistently "
                   "within the run, dates shifted, private tags dropped; the key stays in OUT_DIR).")
@click.option("--overwrite", is_flag=True, help="Redo files whose output exists.")
@click.option("--dry-run", is_flag=True, help="List what would be done and stop.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True,
              help="Machine-readable: one JSON object per file, then a summary object, on stdout.")
def run(source, out_dir, model, task, exposure, sigma, photons, read_noise, tile, batch_size, self_ensemble, output_format,
        max_pixels, anonymize, overwrite, dry_run, quiet, as_json):
    """Enhance every image in SOURCE into OUT_DIR with a Keras model.

    SOURCE is a folder (recursive), a file or a quoted glob; OUT_DIR mirrors its layout and gets
    a manifest.jsonl. Finished outputs are skipped when the run is started again (--overwrite
    redoes them); a file that cannot be read is reported and the run goes on; the exit status is
    1 when any file failed. Colour images are restored channel by channel.
    """
    from .. import batch
    from ..pipeline import enhance_folder

    def emit(result):
        click.echo(json.dumps(result.as_record(), sort_keys=True))

    with library_errors():
        _, files = batch.discover(source, exclude=[out_dir])
        update, close = progress_bar(len(files), quiet=quiet or as_json)
        try:
            result = enhance_folder(
                source, out_dir, model=model, task=task, exposure=exposure, sigma=sigma,
                photons=photons, read_noise=read_noise, tile=tile,
                batch_size=batch_size, self_ensemble=self_ensemble, output_format=output_format, overwrite=overwrite,
                dry_run=dry_run, progress=emit if as_json else update,
                max_pixels=max_pixels or None, anonymize=anonymize,
            )
        finally:
            close()
    if as_json:
        if dry_run:
            for r in result.results:
                emit(r)
        click.echo(json.dumps({"summary": {s: result.count(s) for s in ("done", "skipped", "failed", "planned")},
                               "failed": [r.error for r in result.failed]}))
    else:
        if dry_run:
            for r in result.results:
                click.echo(f"{r.status}: {r.input} -> {r.output}")
        click.echo(result.summary(), err=not result.ok)
    if not result.ok:
        sys.exit(1)
