"""``enhance denoise``: a folder through a classical denoiser."""

import click

from ..names import OUTPUT_FORMATS
from .common import anonymize_options, run_folder_job


def _list_methods(ctx, param, value):
    if not value or ctx.resilient_parsing:
        return
    from ..baselines import list_baselines

    entries = list_baselines()
    width = max(len(",".join(entry.tasks)) for entry in entries)
    for entry in entries:
        click.echo(f"{entry.name:<16} {','.join(entry.tasks):<{width}} {entry.description}")
    ctx.exit()


@click.command()
@click.argument("source")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--method", default="bm3d", show_default=True,
              help="A classical method (enhance denoise --list shows them).")
@click.option("--sigma", type=float, help="Noise std in [0, 1] units (default: estimated per image).")
@click.option("--exposure", type=float, help="Low-light methods: the known exposure (e.g. 0.1).")
@click.option("--format", "output_format", default="keep", show_default=True,
              type=click.Choice(OUTPUT_FORMATS),
              help="keep = each output in its input's format, dtype and header.")
@anonymize_options
@click.option("--overwrite", is_flag=True, help="Redo files whose output exists.")
@click.option("--dry-run", is_flag=True, help="List what would be done and stop.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--list", is_flag=True, is_eager=True, expose_value=False, callback=_list_methods,
              help="List the methods with the tasks they suit, and exit.")
def denoise(source, out_dir, method, sigma, exposure, output_format, anonymize, deid_key,
            overwrite, dry_run, quiet):
    """Denoise every image in SOURCE into OUT_DIR with a classical METHOD."""
    from ..jobs import denoise_folder

    run_folder_job(denoise_folder, source, out_dir=out_dir, method=method, sigma=sigma,
                   exposure=exposure, output_format=output_format, anonymize=anonymize,
                   deid_key=deid_key,
                   overwrite=overwrite, dry_run=dry_run, quiet=quiet)
