"""Train an enhancement network: on-the-fly degraded patches, validation, checkpoints, resume.

``train(config, data=..., out_dir=...)`` writes under ``out_dir``::

    model/         the best model so far by validation PSNR (a model directory, see
                   enhance.modeldir), with its card
    state/         the last checkpoint: checkpoint.npz (network weights, optimizer variables)
                   and state.json (step, the data generator's NumPy state, best score, config);
                   resume continues from here
    history.csv    step, loss, learning rate, validation PSNR/SSIM, wall time

Training patches are random crops of the clean training images (flipped and rotated), degraded
on the fly by :func:`enhance.tasks.make_training_pair` with jittered parameters. Validation
degrades each whole validation image once, with the task's spec preset and the spec's seed rule
(``default_rng(1000 d + i)``, ``d`` the preset's index in
:data:`enhance.degrade.BENCHMARK_DEGRADATIONS`, ``i`` the image's index), and scores the model
with PSNR and SSIM (``data_range=1``; SSIM with a Gaussian window, sigma 1.5, population
covariance, as the spec says).

``mode="noise2void"`` trains without clean targets (Krull et al. 2019): the network sees a
degraded patch with a few pixels replaced by neighbours and must predict the degraded values
there (:func:`enhance.tasks.blind_spot_batch`, :func:`enhance.models.layers.noise2void_loss`).
Blind-spot training assumes pixel-wise independent noise: it suits ``gaussian`` and
``lowlight``, not the spatially correlated ``speckle``.

Keras is imported when :func:`train` runs, not when this module is imported.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shlex
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from .errors import EnhanceError
from .tasks import TASKS, blind_spot_batch, check_task, context_margin, make_training_pair

__all__ = ["TrainConfig", "TrainResult", "train", "resolve_data", "evaluate"]

MODES = ("supervised", "noise2void")
SCHEDULES = ("cosine", "step", "constant")
LOSSES = ("mse", "l1")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
_RESUMABLE_CHANGES = {"steps", "val_every", "log_every"}


@dataclass
class TrainConfig:
    """Everything that decides a training run (with the data and the seed, the run itself).

    Attributes
    ----------
    arch : str
        ``dncnn``, ``dae`` or ``gan``.
    arch_params : dict
        Builder parameters (``depth``, ``width``, ``levels``, ``skip``, ...); defaults omitted.
    task : str
        ``gaussian``, ``lowlight`` or ``speckle``.
    mode : str
        ``supervised`` (clean targets) or ``noise2void`` (blind-spot, noisy data only).
    steps : int
        Optimizer steps.
    patch : int
        Side of a training patch (a multiple of the architecture's size factor).
    batch : int
        Patches per step.
    lr : float or None
        Initial learning rate; ``None`` means 1e-3 (2e-4 for ``gan``).
    lr_schedule : str
        ``cosine`` (to 1% of ``lr`` at the last step), ``step`` (x0.1 at 50% and 75%) or
        ``constant``.
    loss : str
        ``mse`` or ``l1`` for supervised ``dncnn``/``dae`` (the GAN uses L1 + adversarial).
    gan_l1_weight : float
        Weight of the L1 term of the GAN generator loss.
    seed : int
        Seeds Keras (weights, dropout), the backend and the NumPy data generator.
    val_every : int
        Validate (and checkpoint) every this many steps, and at the last step.
    log_every : int
        Write a history row every this many steps.
    augment : bool
        Random flips and 90-degree rotations of the patches.
    jitter : bool
        Jitter the degradation parameters (see :data:`enhance.tasks.JITTER`); False trains
        on the spec preset only.
    noisy_data : bool
        The training images are already noisy (``noise2void`` on real noisy data): they are
        not degraded, and there is no PSNR validation.
    n2v_fraction : float
        Fraction of blind-spot pixels per patch (``noise2void``).
    jit_compile : bool or str
        Passed to ``compile``. ``"auto"``: XLA only on an accelerator; on CPU XLA made
        TensorFlow training slower here (dncnn 12x48: 0.36 vs 0.52 steps/s).
    precision : str
        ``float32``, ``mixed_float16`` or ``mixed_bfloat16`` (Keras dtype policies);
        ``"auto"``: ``mixed_float16`` for dncnn/dae on an accelerator, else ``float32`` (CPU
        training stays float32). The saved model directory always holds float32 weights.
    deterministic : bool
        Ask the backend for deterministic kernels (same seed, same weights).
    """

    arch: str = "dncnn"
    arch_params: dict = field(default_factory=dict)
    task: str = "gaussian"
    mode: str = "supervised"
    steps: int = 2000
    patch: int = 48
    batch: int = 32
    lr: float | None = None
    lr_schedule: str = "cosine"
    loss: str = "mse"
    gan_l1_weight: float = 100.0
    seed: int = 0
    val_every: int = 250
    log_every: int = 10
    augment: bool = True
    jitter: bool = True
    noisy_data: bool = False
    n2v_fraction: float = 0.01
    jit_compile: bool | str = "auto"
    precision: str = "auto"
    deterministic: bool = True

    @property
    def learning_rate(self):
        """The initial learning rate, with the architecture's default filled in."""
        if self.lr is not None:
            return float(self.lr)
        return 2e-4 if self.arch == "gan" else 1e-3

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def check(self):
        """Raise :class:`~enhance.errors.EnhanceError` for an inconsistent configuration."""
        from .models import registry

        check_task(self.task)
        registry.resolve_params({"arch": self.arch, "arch_params": self.arch_params})
        for name, value, allowed in (
            ("mode", self.mode, MODES),
            ("lr_schedule", self.lr_schedule, SCHEDULES),
            ("loss", self.loss, LOSSES),
            ("precision", self.precision, PRECISIONS),
        ):
            if value not in allowed:
                raise EnhanceError(f"{name} must be one of {allowed}, got {value!r}")
        if self.steps < 1 or self.batch < 1 or self.val_every < 1 or self.log_every < 1:
            raise EnhanceError("steps, batch, val_every and log_every must be positive")
        factor = registry.size_factor({"arch": self.arch, "arch_params": self.arch_params})
        if self.patch < factor or self.patch % factor:
            raise EnhanceError(f"patch {self.patch} must be a multiple of {factor} for {self.arch}")
        if self.mode == "noise2void" and self.arch == "gan":
            raise EnhanceError("noise2void trains dncnn or dae, not the gan")
        if self.arch == "gan" and self.precision.startswith("mixed"):
            raise EnhanceError("the gan trains in float32 (its train_step does no loss scaling)")
        if self.noisy_data and (self.mode != "noise2void" or self.task == "lowlight"):
            raise EnhanceError("noisy_data needs mode='noise2void' and task gaussian or speckle")

    def command(self, out_dir, data="medical-v1"):
        """The ``enhance train`` command line that reproduces this run."""
        words = [
            "enhance",
            "train",
            "--arch",
            self.arch,
            "--task",
            self.task,
            "--steps",
            str(self.steps),
            "--seed",
            str(self.seed),
            "--out",
            str(out_dir),
        ]
        if not (isinstance(data, str) and data == "medical-v1"):
            words += [
                "--data",
                data if isinstance(data, (str, os.PathLike)) else "<in-memory data>",
            ]
        default = TrainConfig()
        for f in fields(self):
            if f.name in ("arch", "task", "steps", "seed"):
                continue
            value = getattr(self, f.name)
            if value != getattr(default, f.name):
                text = json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
                words += [f"--{f.name.replace('_', '-')}", text]
        return " ".join(shlex.quote(str(w)) for w in words)


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model_dir : Path
        The best model directory (``out_dir / "model"``).
    history : list of dict
        The rows of ``history.csv``.
    best_psnr : float or None
        Validation PSNR of the saved model (None without validation).
    steps_done : int
    wall_time_s : float
        Training time over all sessions of this run.
    """

    model_dir: Path
    history: list
    best_psnr: float | None
    steps_done: int
    wall_time_s: float


def resolve_data(data):
    """Training data from a recipe name, a folder, or a dict with ``train`` (and ``validation``)."""
    from . import datasets

    if isinstance(data, dict):
        resolved = {"name": "in-memory", "validation": [], "provenance": [], **data}
        resolved["train"] = [np.asarray(x, dtype=np.float32) for x in resolved["train"]]
        return resolved
    if isinstance(data, str) and data in datasets.RECIPES:
        return datasets.load_recipe(data)
    if isinstance(data, (str, os.PathLike)) and Path(data).is_dir():
        return datasets.load_folder(data)
    if isinstance(data, (str, os.PathLike)) and str(data).endswith(".npz") and Path(data).is_file():
        return datasets.load_recipe_snapshot(data)
    raise EnhanceError(
        f"data must be a recipe ({', '.join(datasets.RECIPES)}), a folder, a recipe snapshot "
        f"(.npz) or a dict; got {data!r}"
    )


# --------------------------------------------------------------------------------------------
# the networks and their optimizers


def _schedule(config):
    import keras

    lr = config.learning_rate
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=config.steps, alpha=0.01)
    if config.lr_schedule == "step":
        bounds = [max(1, config.steps // 2), max(2, (3 * config.steps) // 4)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, [lr, lr / 10, lr / 100])
    return lr


def _jit_compile(config):
    if config.jit_compile != "auto":
        return bool(config.jit_compile)
    from .backend_specific import accelerator_available

    return accelerator_available()


def _precision(config):
    if config.precision != "auto":
        return config.precision
    from .backend_specific import accelerator_available

    return "mixed_float16" if config.arch != "gan" and accelerator_available() else "float32"


def _build_network(config):
    import keras

    from .models import registry

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(_precision(config))
    try:
        return registry.build_model({"arch": config.arch, "arch_params": config.arch_params})
    finally:
        keras.config.set_dtype_policy(previous)


def _build_trainer(config):
    """Return ``(trainer, network, parts)``: trained model, saved network, checkpointed parts."""
    import keras

    from .models import registry
    from .models.layers import noise2void_loss

    network = _build_network(config)
    if config.arch == "gan":
        from .models.gan import Pix2PixEnhancer, patch_discriminator

        width = registry.resolve_params({"arch": "gan", "arch_params": config.arch_params})["width"]
        discriminator = patch_discriminator(width=width, levels=3, channels=1)
        trainer = Pix2PixEnhancer(network, discriminator, config.gan_l1_weight, seed=config.seed)
        trainer.compile(
            g_optimizer=keras.optimizers.Adam(_schedule(config), beta_1=0.5),
            d_optimizer=keras.optimizers.Adam(_schedule(config), beta_1=0.5),
            jit_compile=_jit_compile(config),
        )
        parts = {"generator": network, "discriminator": discriminator}
        return trainer, network, parts
    if config.mode == "noise2void":
        loss = noise2void_loss
    else:
        loss = (
            keras.losses.MeanSquaredError()
            if config.loss == "mse"
            else keras.losses.MeanAbsoluteError()
        )
    network.compile(
        optimizer=keras.optimizers.Adam(_schedule(config)),
        loss=loss,
        jit_compile=_jit_compile(config),
    )
    return network, network, {"network": network}


def _optimizers(trainer):
    if hasattr(trainer, "g_optimizer"):
        return trainer.optimizers()
    return [(trainer.optimizer, trainer.trainable_variables)]


def _current_lr(trainer):
    from keras import ops

    optimizer = _optimizers(trainer)[0][0]
    return float(ops.convert_to_numpy(optimizer.learning_rate))


# --------------------------------------------------------------------------------------------
# data


def _training_batch(sampler, rng, config):
    margin = 0 if config.noisy_data else context_margin(config.task)
    inputs, targets = [], []
    for _ in range(config.batch):
        crop = sampler.crop()
        if config.noisy_data:
            x = y = crop
        else:
            x, y = make_training_pair(crop, rng, config.task, jitter=config.jitter)
        if margin:
            x, y = x[margin:-margin, margin:-margin], y[margin:-margin, margin:-margin]
        inputs.append(x)
        targets.append(y)
    x = np.stack(inputs)[..., None]
    y = np.stack(targets)[..., None]
    if config.mode == "noise2void":
        return blind_spot_batch(x, rng, fraction=config.n2v_fraction)
    return x, y


def _validation_items(validation, task):
    """Degrade each validation image once, with the spec preset and the spec's seed rule."""
    from .degrade import BENCHMARK_DEGRADATIONS, benchmark_seed
    from .tasks import VALIDATION_DEGRADATION, validation_params

    preset = VALIDATION_DEGRADATION[task]
    index = BENCHMARK_DEGRADATIONS.index(preset)
    items = []
    for number, (name, clean) in enumerate(validation):
        rng = np.random.default_rng(benchmark_seed(index, number))
        model_input, target = make_training_pair(clean, rng, task, params=validation_params(task))
        items.append((name, model_input, target))
    return preset, items


def evaluate(network, items, task, receptive_field, size_factor):
    """PSNR and SSIM of ``network`` on ``(name, model_input, clean)`` items.

    Returns
    -------
    dict
        ``psnr`` and ``ssim`` (means) and ``per_image`` ``{name: {"psnr", "ssim"}}``.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from .predict import run_network
    from .tasks import finish_output
    from .tiling import margin_for

    margin = margin_for(receptive_field, size_factor)
    per_image = {}
    for name, model_input, clean in items:
        output = run_network(
            network, [model_input[..., None]], margin=margin, size_factor=size_factor, batch_size=1
        )[0][..., 0]
        restored = finish_output(output, task).astype(np.float64)
        clean = np.asarray(clean, dtype=np.float64)
        per_image[name] = {
            "psnr": float(peak_signal_noise_ratio(clean, restored, data_range=1.0)),
            "ssim": float(
                structural_similarity(
                    clean,
                    restored,
                    data_range=1.0,
                    gaussian_weights=True,
                    sigma=1.5,
                    use_sample_covariance=False,
                )
            ),
        }
    return {
        "psnr": float(np.mean([v["psnr"] for v in per_image.values()])),
        "ssim": float(np.mean([v["ssim"] for v in per_image.values()])),
        "per_image": per_image,
    }


# --------------------------------------------------------------------------------------------
# checkpoints


def _save_state(state_dir, trainer, parts, rng, step, extra):
    from keras import ops

    staging = state_dir.with_name(state_dir.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    arrays = {}
    for name, part in parts.items():
        for index, weight in enumerate(part.get_weights()):
            arrays[f"{name}_{index}"] = weight
    for i, (optimizer, _) in enumerate(_optimizers(trainer)):
        for j, variable in enumerate(optimizer.variables):
            arrays[f"optimizer{i}_{j}"] = ops.convert_to_numpy(variable)
    if hasattr(trainer, "seed_generator"):
        arrays["seed_generator"] = ops.convert_to_numpy(trainer.seed_generator.state)
    np.savez(staging / "checkpoint.npz", **arrays)
    state = {"step": step, "rng": rng.bit_generator.state, **extra}
    with open(staging / "state.json", "w", encoding="utf-8") as stream:
        json.dump(state, stream, indent=2, default=str)
    old = state_dir.with_name(state_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if state_dir.exists():
        os.replace(state_dir, old)
    os.replace(staging, state_dir)
    shutil.rmtree(old, ignore_errors=True)


def _load_state(state_dir, trainer, parts, rng):
    with open(state_dir / "state.json", encoding="utf-8") as stream:
        state = json.load(stream)
    arrays = np.load(state_dir / "checkpoint.npz")
    for name, part in parts.items():
        part.set_weights([arrays[f"{name}_{index}"] for index in range(len(part.weights))])
    for i, (optimizer, variables) in enumerate(_optimizers(trainer)):
        if not optimizer.built:
            optimizer.build(variables)
        for j, variable in enumerate(optimizer.variables):
            variable.assign(arrays[f"optimizer{i}_{j}"])
    if hasattr(trainer, "seed_generator") and "seed_generator" in arrays:
        trainer.seed_generator.state.assign(arrays["seed_generator"])
    rng.bit_generator.state = state["rng"]
    return state


def _check_resumable(saved, config):
    current = config.to_dict()
    changed = {k for k in set(saved) | set(current) if saved.get(k) != current.get(k)}
    if changed - _RESUMABLE_CHANGES:
        raise EnhanceError(
            f"the run in this folder has a different configuration ({', '.join(sorted(changed))}); "
            "use another output folder or resume=False"
        )


# --------------------------------------------------------------------------------------------
# history


def _history_columns(config):
    extra = ["d_loss", "l1", "adversarial"] if config.arch == "gan" else []
    return ["step", "loss", *extra, "lr", "val_psnr", "val_ssim", "wall_s"]


def _read_history(path, up_to_step):
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as stream:
        return [row for row in csv.DictReader(stream) if int(row["step"]) <= up_to_step]


def _write_history(path, columns, rows):
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temporary, path)


def _append_history(path, columns, row):
    with open(path, "a", newline="", encoding="utf-8") as stream:
        csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore").writerow(row)


# --------------------------------------------------------------------------------------------
# the run


def _progress_reporter(progress, total, start):
    if progress is False:
        return lambda step, logs: None, lambda: None
    if callable(progress):
        return lambda step, logs: progress(step, total, logs), lambda: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)

    def report(step, logs):
        bar.update(1)
        if step % 10 == 0:
            bar.set_postfix(loss=f"{logs.get('loss', float('nan')):.4g}")

    return report, bar.close


def _task_params(config):
    from .tasks import describe

    described = describe(config.task)
    return {
        "mode": config.mode,
        "model_input": described["model_input"],
        "training_jitter": described["training_jitter"] if config.jitter else None,
    }


def _card(config, dataset, data, out_dir, network_config, validation, extra):
    import keras

    from .tasks import describe

    return {
        "name": Path(out_dir).name,
        "arch": config.arch,
        "arch_params": network_config["arch_params"],
        "receptive_field": network_config["receptive_field"],
        "size_factor": network_config["size_factor"],
        "task": describe(config.task),
        "mode": config.mode,
        "train_config": config.to_dict(),
        "training_data": {
            "recipe": dataset.get("name"),
            "train_images": len(dataset["train"]),
            "validation_images": [name for name, _ in dataset.get("validation", [])],
            "provenance": dataset.get("provenance", []),
            **({"read_from_snapshot_sha256": dataset["snapshot_sha256"]}
               if "snapshot_sha256" in dataset else {}),
        },
        "steps": config.steps,
        "seed": config.seed,
        # a snapshot holds its recipe's very pixels: the command names the recipe
        "command": config.command(out_dir, dataset["name"] if "snapshot_sha256" in dataset else data),
        "software": {
            "keras": keras.__version__,
            "backend": keras.config.backend(),
            "numpy": np.__version__,
        },
        "validation": validation,
        **extra,
    }


def train(config, *, data="medical-v1", out_dir, resume=True, progress=None):
    """Train a network and write its best model directory under ``out_dir``.

    Parameters
    ----------
    config : TrainConfig
    data : str, Path or dict, optional
        A recipe name (``"medical-v1"``), a folder of images (see
        :func:`enhance.datasets.load_folder`), a recipe snapshot (``.npz`` of
        :func:`enhance.datasets.save_recipe_snapshot`) or a dict with ``train`` (list of clean
        2-D float arrays in [0, 1]) and optionally ``validation`` (list of ``(name, array)``).
    out_dir : str or Path
    resume : bool, optional
        Continue the run saved in ``out_dir/state`` (same configuration, ``steps`` may grow);
        False starts over, discarding that run.
    progress : callable, False or None, optional
        ``progress(step, total, logs)`` after each step; None shows a tqdm bar; False: silent.

    Returns
    -------
    TrainResult
    """
    import keras

    from .datasets import PatchSampler
    from .modeldir import make_config, save_model_dir, write_card
    from . import backend_specific

    session_start = time.perf_counter()
    config.check()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_dir, model_dir, history_path = (
        out_dir / "state",
        out_dir / "model",
        out_dir / "history.csv",
    )
    interrupted_swap = state_dir.with_name(state_dir.name + ".old")
    if resume and not state_dir.exists() and (interrupted_swap / "state.json").is_file():
        os.replace(interrupted_swap, state_dir)  # killed while replacing the checkpoint
    if not resume:
        for stale in (state_dir, model_dir):
            shutil.rmtree(stale, ignore_errors=True)
        history_path.unlink(missing_ok=True)
    dataset = resolve_data(data)

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        backend_specific.enable_determinism()
    trainer, network, parts = _build_trainer(config)
    rng = np.random.default_rng(config.seed)
    network_config = make_config(
        config.arch,
        config.task,
        arch_params=config.arch_params,
        task_params=_task_params(config),
    )
    columns = _history_columns(config)

    step, best_psnr, wall_before, best_info = 0, None, 0.0, {}
    if resume and (state_dir / "state.json").is_file():
        with open(state_dir / "state.json", encoding="utf-8") as stream:
            _check_resumable(json.load(stream)["config"], config)
        saved = _load_state(state_dir, trainer, parts, rng)
        step, best_psnr = saved["step"], saved.get("best_psnr")
        wall_before, best_info = saved.get("wall_s", 0.0), saved.get("best", {})
    history = _read_history(history_path, step)
    _write_history(history_path, columns, history)

    preset, items = (None, [])
    if not config.noisy_data and dataset.get("validation"):
        preset, items = _validation_items(dataset["validation"], config.task)
    sampler = PatchSampler(
        dataset["train"],
        config.patch + 2 * (0 if config.noisy_data else context_margin(config.task)),
        rng,
        augment=config.augment,
    )
    report, close = _progress_reporter(progress, config.steps, step)

    def validation_entry(scores):
        return {
            "degradation": preset,
            "seed_rule": "numpy.random.default_rng(1000 * d + i): d = index of the degradation in "
            "enhance.degrade.BENCHMARK_DEGRADATIONS, i = index of the validation image",
            "images": [name for name, _, _ in items],
            "results": {"model": scores} if scores else {},
        }

    def checkpoint(final):
        nonlocal best_psnr, best_info
        wall = wall_before + time.perf_counter() - session_start
        scores = None
        if items:
            scores = evaluate(
                network,
                items,
                config.task,
                network_config["receptive_field"],
                network_config["size_factor"],
            )
        improved = scores is None or best_psnr is None or scores["psnr"] > best_psnr
        if improved:
            best_psnr = scores["psnr"] if scores else None
            best_info = {"best_step": step, "validation": validation_entry(scores)}
        if improved or final:
            card = _card(
                config,
                dataset,
                data,
                out_dir,
                network_config,
                best_info["validation"],
                {"best_step": best_info["best_step"], "steps_done": step, "wall_time_s": round(wall, 1)},
            )
            if improved:
                save_model_dir(model_dir, network, network_config, card)
            else:
                write_card(model_dir, card)
        _save_state(
            state_dir,
            trainer,
            parts,
            rng,
            step,
            {"config": config.to_dict(), "best_psnr": best_psnr, "best": best_info, "wall_s": wall},
        )
        return scores, wall

    sums, count = {}, 0
    try:
        if step >= config.steps and not (model_dir / "card.json").is_file():
            checkpoint(final=True)
        while step < config.steps:
            x, y = _training_batch(sampler, rng, config)
            logs = trainer.train_on_batch(x, y, return_dict=True)
            step += 1
            count += 1
            for key, value in logs.items():
                sums[key] = sums.get(key, 0.0) + float(value)
            report(step, logs)
            validate = step % config.val_every == 0 or step == config.steps
            if validate or step % config.log_every == 0:
                row = {
                    "step": step,
                    **{k: v / count for k, v in sums.items()},
                    "lr": _current_lr(trainer),
                }
                sums, count = {}, 0
                if validate:
                    scores, wall = checkpoint(final=step == config.steps)
                    row.update(
                        val_psnr=scores and scores["psnr"], val_ssim=scores and scores["ssim"]
                    )
                row["wall_s"] = round(wall_before + time.perf_counter() - session_start, 2)
                row = {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
                history.append(row)
                _append_history(history_path, columns, row)
    finally:
        close()
    wall = wall_before + time.perf_counter() - session_start
    with open(state_dir / "state.json", encoding="utf-8") as stream:
        wall = json.load(stream).get("wall_s", wall)
    return TrainResult(model_dir, _read_history(history_path, step), best_psnr, step, wall)
