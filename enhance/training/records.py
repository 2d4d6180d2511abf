"""What a run writes besides its network: the checkpoint state, ``history.csv`` and the model card.

``state/`` holds checkpoint.npz (network weights, optimizer variables) and state.json (step, the
data generator's NumPy state, best score, config); it is written to a staging folder and then
swapped in. A run resumes only with the same configuration, except ``steps``, ``val_every`` and
``log_every``. ``history.csv`` has a row per logged step (step, loss, learning rate, validation
PSNR/SSIM, wall time). The card and the task parameters go into the model directory.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import EnhanceError
from .networks import _optimizers

_RESUMABLE_CHANGES = {"steps", "val_every", "log_every"}


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


def _task_params(config):
    from ..tasks import describe

    from .data import conditioned

    described = describe(config.task)
    model_input = described["model_input"]
    if conditioned(config):
        model_input += (
            ", then its noise-level map (enhance.tasks.noise_level_map: per-pixel noise std in "
            "the same units)"
        )
    return {
        "mode": config.mode,
        "model_input": model_input,
        "training_jitter": described["training_jitter"] if config.jitter else None,
    }


def _card(config, dataset, data, out_dir, network_config, validation, extra):
    import keras

    from ..tasks import describe

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
