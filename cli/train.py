"""``enhance train``: train a denoiser (dncnn, dae, nafnet, gan) into a model directory.

Every field of :class:`enhance.training.TrainConfig` is an option, declared below with its type
(:data:`OPTIONS`; the help is the field's description in the class docstring), so the command a
model card records (``TrainConfig.command``) runs again as it is: tests/test_shipped.py parses each
shipped card's command with this command and gets the card's ``train_config`` back.
"""

import dataclasses
import json

import click

from .common import TaskChoice, library_errors, step_bar


class JsonObject(click.ParamType):
    """A JSON object (``--arch-params '{"width": 32}'``)."""

    name = "JSON"

    def convert(self, value, param, ctx):
        if isinstance(value, dict):
            return value
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            self.fail(f"not JSON: {error}", param, ctx)
        if not isinstance(value, dict):
            self.fail("expected a JSON object", param, ctx)
        return value


class TrueFalse(click.ParamType):
    """``true``/``false`` (also 1/0, yes/no, any case); with ``auto=True`` also ``auto``."""

    def __init__(self, auto=False):
        self.auto = auto
        self.name = "auto|true|false" if auto else "true|false"

    def convert(self, value, param, ctx):
        if isinstance(value, bool):
            return value
        low = str(value).strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        if self.auto and low == "auto":
            return "auto"
        self.fail(f"expected {self.name}, got {value!r}", param, ctx)


def _words(values):
    """A metavar listing the allowed words; the library checks the value (one error policy)."""
    return "|".join(values)


def _options():
    """TrainConfig field -> (click type, metavar): every field but the main arguments.

    The text options with a few allowed words stay text: :meth:`TrainConfig.check` refuses
    another word with the library's one-line error, as for the Python API.
    """
    from ..training.config import LOSSES, MODES, PRECISIONS, SCHEDULES

    return {
        "arch_params": (JsonObject(), "JSON"),
        "mode": (str, _words(MODES)),
        "patch": (int, "INTEGER"),
        "batch": (int, "INTEGER"),
        "lr": (float, "FLOAT"),
        "lr_schedule": (str, _words(SCHEDULES)),
        "loss": (str, _words(LOSSES)),
        "gan_l1_weight": (float, "FLOAT"),
        "val_every": (int, "INTEGER"),
        "log_every": (int, "INTEGER"),
        "augment": (TrueFalse(), "true|false"),
        "jitter": (TrueFalse(), "true|false"),
        "jitter_table": (str, "NAME"),
        "init_weights": (str, "DIR"),
        "target_realizations": (int, "K"),
        "noisy_data": (TrueFalse(), "true|false"),
        "n2v_fraction": (float, "FLOAT"),
        "n2v_struct": (str, "ROWSxCOLS"),
        "jit_compile": (TrueFalse(auto=True), "auto|true|false"),
        "precision": (str, _words(PRECISIONS)),
        "deterministic": (TrueFalse(), "true|false"),
    }


#: TrainConfig fields that are the command's main options (declared with the command).
MAIN = ("arch", "task", "steps", "seed")


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


def _with_config_options(command):
    # enhance.training imports keras only inside functions, so --help stays light
    from ..training import TrainConfig

    docs, options = _field_docs(), _options()
    # the fields' defaults, not TrainConfig(): its check imports the model registry (Keras)
    fields = {f.name: f for f in dataclasses.fields(TrainConfig) if f.name not in MAIN}
    if sorted(fields) != sorted(options):  # a new TrainConfig field needs its option here
        raise RuntimeError(f"enhance train declares {sorted(options)}, TrainConfig has {sorted(fields)}")
    for name in reversed(list(fields)):
        kind, metavar = options[name]
        field = fields[name]
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        shown = json.dumps(default) if isinstance(default, (dict, bool)) else default
        command = click.option(
            f"--{name.replace('_', '-')}", name, type=kind, default=None, metavar=metavar,
            help=f"{docs.get(name, '').rstrip('.')} (default: {shown}).",
        )(command)
    return command


@click.command()
@click.option("--arch", type=click.Choice(["dncnn", "dae", "nafnet", "gan"]), default="dncnn", show_default=True)
@click.option("--task", type=TaskChoice(), default="gaussian",
              show_default=True)
@click.option("--data", default="medical-v1", show_default=True,
              help="A recipe of offline medical images (medical-v1, medical-v2, medical-v3; ultrasound-real-v1: "
                   "real B-mode frames for noise2void), a folder of clean "
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

    values = {name: value for name, value in options.items() if value is not None}
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
