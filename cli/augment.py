"""``enhance augment``: clean/degraded training pairs by the spec's degradation models."""

import click


@click.command()
@click.argument("source")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--degradations", default="gaussian25,lowlight,speckle", show_default=True,
              help="Comma-separated presets or functions: gaussian15|gaussian25|gaussian50|"
                   "gaussian|lowlight|speckle|rician|lowdose_ct.")
@click.option("--copies", "-k", type=click.IntRange(min=1), default=1, show_default=True,
              help="Degraded copies per image and degradation.")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed.")
@click.option("--geometric", is_flag=True,
              help="Random rot90 and left-right flip of the clean image per copy.")
@click.option("--gamma", is_flag=True, help="Random gamma in [0.7, 1.4] per copy.")
@click.option("--fixed", is_flag=True,
              help="Use the presets' parameters instead of drawing them from the ranges.")
@click.option("--overwrite", is_flag=True, help="Redo inputs whose outputs exist.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def augment(source, out_dir, degradations, copies, seed, geometric, gamma, fixed, overwrite,
            quiet):
    """Write K degraded copies of every image in SOURCE, with the clean image, to OUT_DIR.

    Layout: OUT_DIR/clean/<rel stem>.png (or <rel stem>_<k>.png with --geometric/--gamma, the
    transformed clean image of copy k) and OUT_DIR/<degradation>/<rel stem>_<k>.png, all 16-bit
    PNG; OUT_DIR/manifest.jsonl lists every output with its parameters, noise seed and
    transform. Parameters are drawn from documented ranges (see enhance.augment); a rerun
    finishes what is missing.
    """
    import sys

    from ..augment import augment_folder

    from .common import library_errors, progress_bar

    with library_errors():
        update, close = progress_bar(quiet=quiet)
        try:
            result = augment_folder(source, out_dir, degradations.split(","), copies=copies,
                                    seed=seed, geometric=geometric, gamma=gamma, fixed=fixed,
                                    overwrite=overwrite, progress=update)
        finally:
            close()
    click.echo(result.summary(), err=not result.ok)
    if not result.ok:
        sys.exit(1)
