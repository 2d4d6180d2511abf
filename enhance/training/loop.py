"""The training loop: :func:`train` sets a run up (or resumes it), steps, validates and checkpoints.

Keras is imported when :func:`train` runs, not when this module is imported.
"""

from __future__ import annotations

import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from ..tasks import context_margin
from .checkpoint import Checkpoint
from .config import TrainResult
from .data import conditioned, relative_mse_weights, resolve_data, training_batch
from .networks import build_trainer, current_lr, optimizers_of
from .records import (
    append_history,
    check_resumable,
    history_columns,
    make_card,
    read_history,
    task_params,
    write_history,
)
from .validation import evaluate, validation_items

__all__ = ["train"]


def _progress_reporter(progress, total):
    if not callable(progress):
        return lambda step, logs: None
    return lambda step, logs: progress(step, total, logs)


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
        ``progress(done, total, logs)`` after each step (the package's one progress protocol;
        ``enhance train`` draws a bar from it); None or False: silent.

    Returns
    -------
    TrainResult
    """
    import keras

    from ..datasets import PatchSampler
    from ..modeldir import make_config, save_model_dir, write_card
    from .. import backend_specific

    session_start = time.perf_counter()
    config.check()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run_state, model_dir, history_path = (
        Checkpoint(out_dir / "state"),
        out_dir / "model",
        out_dir / "history.csv",
    )
    if not resume:
        run_state.remove()
        shutil.rmtree(model_dir, ignore_errors=True)
        history_path.unlink(missing_ok=True)
    dataset = resolve_data(data)

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        backend_specific.enable_determinism()
    trainer, network, parts = build_trainer(config)
    saved_parts = {
        "networks": parts,
        "optimizers": optimizers_of(trainer),
        "seed_generator": getattr(trainer, "seed_generator", None),
    }
    rng = np.random.default_rng(config.seed)
    network_config = make_config(
        config.arch,
        config.task,
        arch_params=config.arch_params,
        task_params=task_params(config),
    )
    columns = history_columns(config)

    step, best_psnr, wall_before, best_info = 0, None, 0.0, {}
    started_from = {}
    if config.init_weights is not None:
        started_from = {"init_weights": initial_weights(network, config)}
    if resume and run_state.exists():
        saved_config = run_state.read_state()["config"]
        check_resumable(saved_config, config)
        if saved_config.get("steps") != config.steps and config.lr_schedule != "constant":
            warnings.warn(
                f"{out_dir}: steps changed from {saved_config.get('steps')} to {config.steps}; the "
                f"{config.lr_schedule} learning-rate schedule is recomputed over the new total, so "
                "the rate at the resumed step differs from the one it stopped at (a warm restart)",
                stacklevel=2,
            )
        saved = run_state.restore(rng=rng, **saved_parts)
        step, best_psnr = saved["step"], saved.get("best_psnr")
        wall_before, best_info = saved.get("wall_s", 0.0), saved.get("best", {})
    history = read_history(history_path, step)
    write_history(history_path, columns, history)

    preset, items = (None, [])
    if not config.noisy_data and dataset.get("validation"):
        preset, items = validation_items(
            dataset["validation"], config.task, noise_map=conditioned(config),
            table=config.jitter_table, target_realizations=config.target_realizations,
        )
    sampler = PatchSampler(
        dataset["train"],
        config.patch + 2 * (0 if config.noisy_data else context_margin(config.task)),
        rng,
        augment=config.augment,
    )
    report = _progress_reporter(progress, config.steps)

    def validation_entry(scores):
        return {
            "degradation": preset,
            "seed_rule": "numpy.random.default_rng(1000 * d + i): d = enhance.tasks.degradation_id "
            "of the degradation (its index in the spec's benchmark list), i = index of the "
            "validation image",
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
            card = make_card(
                config,
                dataset,
                data,
                out_dir,
                network_config,
                best_info["validation"],
                {"best_step": best_info["best_step"], "steps_done": step, "wall_time_s": round(wall, 1),
                 **started_from},
            )
            if improved:
                save_model_dir(model_dir, network, network_config, card)
            else:
                write_card(model_dir, card)
        run_state.save(
            rng=rng,
            state={"step": step, "config": config.to_dict(), "best_psnr": best_psnr,
                   "best": best_info, "wall_s": wall},
            **saved_parts,
        )
        return scores, wall

    sums, count = {}, 0
    if step >= config.steps and not (model_dir / "card.json").is_file():
        checkpoint(final=True)
    while step < config.steps:
        x, y = training_batch(sampler, rng, config)
        weights = relative_mse_weights(x, y) if config.loss == "relative_mse" else None
        logs = trainer.train_on_batch(x, y, sample_weight=weights, return_dict=True)
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
                "lr": current_lr(trainer),
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
            append_history(history_path, columns, row)
    wall = wall_before + time.perf_counter() - session_start
    wall = run_state.read_state().get("wall_s", wall)
    return TrainResult(model_dir, read_history(history_path, step), best_psnr, step, wall)


def initial_weights(network, config):
    """Load ``config.init_weights``' weights into ``network`` (a checkpoint restored after it
    replaces them when the run resumes); returns the card's entry ``{"path", "sha256"}``.

    Raises
    ------
    ModelError
        One line: not a model directory, weights not matching its card, or a model of another
        architecture, builder parameters or task than the run's.
    """
    from ..errors import ModelError
    from ..modeldir import read_model_dir
    from ..models import registry

    found = read_model_dir(config.init_weights, kind="enhancer")
    theirs = {"arch": found.config.get("arch"), "task": found.config.get("task"),
              "arch_params": registry.resolve_params(found.config)}
    ours = {"arch": config.arch, "task": config.task,
            "arch_params": registry.resolve_params({"arch": config.arch,
                                                    "arch_params": config.arch_params})}
    differ = sorted(k for k in ours if ours[k] != theirs[k])
    if differ:
        raise ModelError(f"{found.path}: its {', '.join(differ)} differ from this run's "
                         f"({', '.join(f'{k}={theirs[k]!r}' for k in differ)}); --init-weights "
                         "needs the same network and task")
    try:
        with warnings.catch_warnings():
            # the compiled network has an optimizer, the saved one none: nothing to load there
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            network.load_weights(str(found.weights))
    except Exception as error:  # h5py / Keras raise many kinds on a mismatched file
        raise ModelError(f"{found.weights}: weights do not fit the network ({error})") from error
    return {"path": str(config.init_weights), "sha256": found.sha256}
