"""``enhance train``: train a denoiser (dncnn, dae, gan) into a model directory.

Every field of :class:`enhance.training.TrainConfig` is an option, so the command a model card
records (``TrainConfig.command``) runs again as it is.
"""

import dataclasses
import json

import click

from ..names import TASKS
from .common import library_errors, step_bar

#: TrainConfig fields that are plain arguments of the command.
_MAIN = ("arch", "task", "steps", "seed")


def _config_fields():
    # enhance.training imports keras only inside functions, so --help stays light
    from ..training import TrainConfig

    return [f for f in dataclasses.fields(TrainConfig) if f.name not in _MAIN]


def _parse(field, text):
    if text is None:
        return None
    default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
    if isinstance(default, dict):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise click.BadParameter(f"not JSON: {error}", param_hint=f"--{field.name}") from None
        if not isinstance(value, dict):
            raise click.BadParameter("expected a JSON object", param_hint=f"--{field.name}")
        return value
    if isinstance(default, bool) or field.name == "jit_compile":
        low = text.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        if field.name == "jit_compile" and low == "auto":
            return "auto"
        raise click.BadParameter(f"expected true or false, got {text!r}", param_hint=f"--{field.name}")
    if isinstance(default, int) and not isinstance(default, bool):
        return int(text)
    if isinstance(default, float) or field.name == "lr":
        return float(text)
    return text


#: Values of the text options that take one of a few words.
_CHOICES = {
    "mode": "supervised|noise2void",
    "lr_schedule": "cosine|step|constant",
    "loss": "mse|l1|relative_mse",
    "precision": "auto|float32|mixed_float16|mixed_bfloat16",
    "jit_compile": "auto|true|false",
}


def _field_docs():
    """Each TrainConfig field's description, from the class docstring's Attributes section."""
    import inspect
    import re

    from ..training import TrainConfig

    docs, name = {}, None
    for line in inspect.getdoc(TrainConfig).splitlines():
        match = re.match(r"^(\w+) : ", line)
        if match:
            name = match.group(1)
            docs[name] = []
        elif name and line.startswith("    "):
            docs[name].append(line.strip())
        elif name and line.strip() and not line.startswith(" "):
            name = None
    text = {k: " ".join(v).replace("``", "") for k, v in docs.items()}
    return {k: re.sub(r":\w+:`~?([^`]+)`", r"\1", v) for k, v in text.items()}


def _metavar(field, default):
    if field.name in _CHOICES:
        return _CHOICES[field.name]
    if isinstance(default, dict):
        return "JSON"
    if isinstance(default, bool):
        return "true|false"
    if isinstance(default, int):
        return "INTEGER"
    if isinstance(default, float) or field.name == "lr":
        return "FLOAT"
    return "TEXT"


def _with_config_options(command):
    docs = _field_docs()
    for field in reversed(_config_fields()):
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        shown = json.dumps(default) if isinstance(default, dict) else default
        if isinstance(default, bool):
            shown = str(default).lower()
        text = docs.get(field.name, "").rstrip(".")
        command = click.option(
            f"--{field.name.replace('_', '-')}", field.name, default=None,
            metavar=_metavar(field, default),
            help=f"{text} (default: {shown}).",
        )(command)
    return command


@click.command()
@click.option("--arch", type=click.Choice(["dncnn", "dae", "gan"]), default="dncnn", show_default=True)
@click.option("--task", type=click.Choice(TASKS), default="gaussian",
              show_default=True)
@click.option("--data", default="medical-v1", show_default=True,
              help="A recipe of offline medical images (medical-v1, medical-v2), a folder of clean "
                   "images, or a recipe snapshot (.npz, enhance.datasets.save_recipe_snapshot).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Run folder: the best model directory, checkpoints and history.csv go here.")
@click.option("--steps", type=int, default=2000, show_default=True, help="Optimizer steps.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds Keras (weights), the backend and the data generator.")
@click.option("--restart", is_flag=True, help="Discard a saved run in --out instead of resuming it.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_with_config_options
def train(arch, task, data, out_dir, steps, seed, restart, quiet, **options):
    """Train a network on clean images degraded on the fly by the spec's models.

    A run started again with the same --out resumes from its last checkpoint. The best model by
    validation PSNR is written as a model directory (config.json, model.weights.h5, card.json)
    that `enhance run --model` and `enhance bench --models` take.
    """
    from ..training import TrainConfig, train as run_training

    fields = {f.name: f for f in _config_fields()}
    values = {name: _parse(fields[name], text) for name, text in options.items() if text is not None}
    callback, close = step_bar(quiet=quiet)
    with library_errors():
        config = TrainConfig(arch=arch, task=task, steps=steps, seed=seed, **values)
        try:
            result = run_training(config, data=data, out_dir=out_dir, resume=not restart,
                                  progress=callback)
        finally:
            close()
    best = "n/a" if result.best_psnr is None else f"{result.best_psnr:.3f} dB"
    click.echo(
        f"{result.steps_done} steps in {result.wall_time_s:.0f} s; best validation PSNR {best}; "
        f"model directory: {result.model_dir}"
    )
