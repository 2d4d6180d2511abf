"""``enhance degrade``: noisy copies of a folder by the spec's degradation models."""

import click

from ..names import DEGRADE_FORMATS
from .common import run_folder_job


@click.command()
@click.argument("source")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--kind", "kind", default="gaussian25", show_default=True,
              help="gaussian15|gaussian25|gaussian50|lowlight|speckle|rician|lowdose_ct, "
                   "or gaussian with --sigma.")
@click.option("--seed", type=int, default=None,
              help="Base seed. Default: the spec's rule 1000*d + i (d: the degradation's "
                   "place in the benchmark list, i: the file's place by relative path).")
@click.option("--sigma", type=float, help="gaussian/rician: noise std in [0, 1] units.")
@click.option("--exposure", type=float, help="lowlight: fraction of the light seen.")
@click.option("--photons", type=float, help="lowlight: photons of a full-scale pixel.")
@click.option("--read-noise", type=float, help="lowlight: read-noise std.")
@click.option("--looks", type=int, help="speckle: independent looks compounded.")
@click.option("--psf-sigma", type=(float, float), default=None, help="speckle: PSF sigma (axial lateral).")
@click.option("--thermal", type=float, help="speckle: thermal-noise std.")
@click.option("--i0", type=float, help="lowdose_ct: incident photons per detector bin.")
@click.option("--format", "output_format", default="png16", show_default=True,
              type=click.Choice(DEGRADE_FORMATS),
              help="Output format; keep = the input's own format and dtype.")
@click.option("--overwrite", is_flag=True, help="Redo files whose output exists.")
@click.option("--dry-run", is_flag=True, help="List what would be done and stop.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def degrade(source, out_dir, kind, seed, output_format, overwrite, dry_run, quiet, **params):
    """Write a degraded copy of every image in SOURCE to OUT_DIR (same layout).

    SOURCE is a folder (searched recursively), a file or a quoted glob. OUT_DIR gets a
    manifest.jsonl with every file's seed and parameters.
    """
    from ..jobs import degrade_folder

    params = {k: v for k, v in params.items() if v is not None}
    run_folder_job(degrade_folder, source, out_dir=out_dir, degradation=kind, seed=seed,
                   output_format=output_format, overwrite=overwrite, dry_run=dry_run,
                   quiet=quiet, **params)
