"""What a run writes besides its network and checkpoint: ``history.csv`` and the model card.

The checkpoint (``state/``) is :mod:`.checkpoint`'s; a run resumes from it only with the same
configuration, except ``steps``, ``val_every`` and ``log_every`` (:func:`check_resumable`).
``history.csv`` has a row per logged step (step, loss, learning rate, validation PSNR/SSIM, wall
time). The card and the task parameters go into the model directory.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import numpy as np

from ..errors import EnhanceError

__all__ = [
    "check_resumable",
    "history_columns",
    "read_history",
    "write_history",
    "append_history",
    "task_params",
    "make_card",
]

#: The settings a run may change when it resumes.
RESUMABLE_CHANGES = {"steps", "val_every", "log_every"}


def check_resumable(saved, config):
    """Refuse to resume a run saved with ``saved`` (a config dict) under another ``config``.

    Raises
    ------
    EnhanceError
        The configurations differ in more than :data:`RESUMABLE_CHANGES`.
    """
    current = config.to_dict()
    # a field added since the run was saved counts as its default (which is the old behaviour)
    defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(config)}
    saved = {**{k: v for k, v in defaults.items() if k not in saved}, **saved}
    changed = {k for k in set(saved) | set(current) if saved.get(k) != current.get(k)}
    if changed - RESUMABLE_CHANGES:
        raise EnhanceError(
            f"the run in this folder has a different configuration ({', '.join(sorted(changed))}); "
            "use another output folder or resume=False"
        )


def history_columns(config):
    """The columns of ``history.csv`` (the GAN's losses as well for ``arch="gan"``)."""
    extra = ["d_loss", "l1", "adversarial"] if config.arch == "gan" else []
    return ["step", "loss", *extra, "lr", "val_psnr", "val_ssim", "wall_s"]


def read_history(path, up_to_step):
    """The rows of ``history.csv`` up to ``up_to_step`` (dicts of strings; none if no file)."""
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as stream:
        return [row for row in csv.DictReader(stream) if int(row["step"]) <= up_to_step]


def write_history(path, columns, rows):
    """Write ``history.csv`` afresh with ``rows``, atomically."""
    from ..io.atomic import atomic_write

    with atomic_write(path) as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
        writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        text.flush()
        text.detach()  # atomic_write closes the file itself


def append_history(path, columns, row):
    """Append one row to ``history.csv``."""
    with open(path, "a", newline="", encoding="utf-8") as stream:
        csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore").writerow(row)


def task_params(config):
    """The ``task_params`` of a trained network's ``config.json``."""
    from ..tasks import describe

    from .data import conditioned

    described = describe(config.task, config.jitter_table,
                     target_realizations=config.target_realizations)
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
        **({"jitter_table": config.jitter_table} if config.jitter_table else {}),
    }


def make_card(config, dataset, data, out_dir, network_config, validation, extra):
    """The model card of a run's best network (``extra``: best step, steps done, wall time)."""
    import keras

    from ..tasks import describe

    return {
        "name": Path(out_dir).name,
        "arch": config.arch,
        "arch_params": network_config["arch_params"],
        "receptive_field": network_config["receptive_field"],
        "size_factor": network_config["size_factor"],
        "task": describe(config.task, config.jitter_table,
                     target_realizations=config.target_realizations),
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
