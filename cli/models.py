"""``enhance models``: the shipped models with their task, size and validation scores."""

import json

import click

from .common import library_errors


def _score(card, method="model"):
    results = (card.get("validation") or {}).get("results") or {}
    row = results.get(method) or {}
    return row.get("psnr"), row.get("ssim")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the model cards as JSON.")
def models(as_json):
    """List the shipped models (trained_weights/, or $ENHANCE_WEIGHTS).

    PSNR/SSIM are the model's mean on its validation images under the task's spec
    degradation; `best classical` is the strongest classical baseline on the same images.
    """
    from enhance.shipped import DEFAULT_MODELS, read_model_info, shipped_model_dirs, weights_dir

    with library_errors():
        infos = [read_model_info(p) for p in shipped_model_dirs()]
    infos = [i for i in infos if i["task"] in DEFAULT_MODELS]
    if as_json:
        click.echo(json.dumps([{**i, "path": str(i["path"])} for i in infos], indent=2, default=str))
        return
    if not infos:
        click.echo(f"no shipped models in {weights_dir()}")
        return
    defaults = set(DEFAULT_MODELS.values())
    click.echo(f"{'name':<18} {'task':<9} {'arch':<6} {'size':>8}  {'val PSNR':>8} {'SSIM':>6}  best classical")
    for info in infos:
        card = info["card"]
        psnr, ssim = _score(card)
        results = (card.get("validation") or {}).get("results") or {}
        classical = [(v.get("psnr"), k) for k, v in results.items() if k != "model" and v.get("psnr") is not None]
        best = max(classical) if classical else None
        mark = "*" if info["name"] in defaults else " "
        click.echo(
            f"{info['name'] + mark:<18} {info['task']:<9} {info['arch']:<6} "
            f"{info['weights_bytes'] / 1e6:>6.2f}MB  "
            f"{psnr if psnr is None else f'{psnr:8.2f}'} {ssim if ssim is None else f'{ssim:6.3f}'}  "
            f"{'' if best is None else f'{best[1]} {best[0]:.2f}'}"
        )
    click.echo("* the default model of its task (enhance run --task TASK)")
