"""``enhance models``: the shipped models with their task, size and validation scores."""

import json

import click

from .common import library_errors


def _score(card, method="model"):
    results = (card.get("validation") or {}).get("results") or {}
    row = results.get(method) or {}
    return row.get("psnr"), row.get("ssim")


def _about(info):
    """The last column: validation scores vs the best classical method, or what the model makes."""
    card, config = info["card"], info["config"]
    if info["kind"] == "enhancer":
        results = (card.get("validation") or {}).get("results") or {}
        classical = [(v.get("psnr"), k) for k, v in results.items()
                     if k not in ("model", "noisy") and v.get("psnr") is not None]
        best = max(classical) if classical else None
        return "" if best is None else f"best classical {best[1]} {best[0]:.2f}"
    if info["kind"] == "generator":
        fd = (card.get("evaluation") or {}).get("fd") or {}
        text = f"{config.get('size')}x{config.get('size')}, classes {', '.join(config.get('class_names', []))}"
        if fd.get("generated") is not None and fd.get("gaussian") is not None:
            text += f"; FD {fd['generated']:.2f} (Gaussian baseline {fd['gaussian']:.2f})"
        return text
    if info["kind"] == "features":
        return f"{config.get('dim')}-d features of {config.get('size')}x{config.get('size')} images"
    return ""


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the model cards as JSON.")
def models(as_json):
    """List the shipped models with their kind (installed with the package, or $ENHANCE_WEIGHTS).

    \b
    kind enhancer:  restores images (enhance run IN OUT --model NAME)
    kind generator: makes synthetic images (enhance synth generate NAME OUT)
    kind features:  the feature network of enhance synth evaluate (--features NAME)

    For enhancers, PSNR/SSIM are the model's mean on its validation images under the task's spec
    degradation, beside the strongest classical baseline on the same images. A name given to
    any command always means the shipped model; give a directory as a path (./dir).
    """
    from ..shipped import DEFAULT_MODELS, read_model_info, shipped_model_dirs, weights_dir

    with library_errors():
        infos = [read_model_info(p) for p in shipped_model_dirs()]
    if as_json:
        click.echo(json.dumps([{**i, "path": str(i["path"])} for i in infos], indent=2, default=str))
        return
    if not infos:
        click.echo(f"no shipped models in {weights_dir()}")
        return
    defaults = set(DEFAULT_MODELS.values())
    width = max(len(i["name"]) for i in infos) + 1
    click.echo(f"{'name':<{width}} {'kind':<9} {'task':<9} {'arch':<6} {'size':>8}  "
               f"{'val PSNR':>8} {'SSIM':>6}  notes")
    for info in infos:
        psnr, ssim = _score(info["card"]) if info["kind"] == "enhancer" else (None, None)
        mark = "*" if info["name"] in defaults else " "
        click.echo(
            f"{info['name'] + mark:<{width}} {info['kind']:<9} {info['task'] or '-':<9} "
            f"{info['arch'] or '-':<6} {info['weights_bytes'] / 1e6:>6.2f}MB  "
            f"{'-' if psnr is None else f'{psnr:.2f}':>8} {'-' if ssim is None else f'{ssim:.3f}':>6}  "
            f"{_about(info)}"
        )
    click.echo("* the default model of its task (enhance run --task TASK)")
    from ..tasks import all_tasks

    for task in all_tasks():
        if task.default_model and task.default_chosen_on == "real frames":
            click.echo(f"* {task.name}'s default is chosen on real frames, not by val PSNR on the "
                       "synthetic degradation (its card's real_bmode; README)")
    click.echo(f"models in {weights_dir()}")
