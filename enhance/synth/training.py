"""Train a synthesis GAN on a folder of images: batches, checkpoints, resume, sample grids.

:func:`train` reads the folder (:func:`enhance.synth.data.load_folder`), builds the networks
(:mod:`.models`) and the :class:`~enhance.synth.gan.SynthGAN`, and runs ``train_on_batch`` on
random batches (uniform over images, random left-right flips). Every ``checkpoint_every`` steps
(and at the end, and when ``max_minutes`` runs out) it

* writes ``checkpoint/`` -- generator, EMA generator and discriminator weights, both optimizers'
  variables, the seed generator's state, the NumPy batch sampler's state and the step -- with
  :class:`enhance.training.checkpoint.Checkpoint`, the enhancement trainer's format and writer
  (a kill leaves the previous checkpoint whole);
* exports the model directory (:mod:`.modeldir`): config, EMA generator, discriminator, card.

Run again with the same folder and output directory, training continues from the checkpoint
(to ``steps`` in all; a larger ``steps`` trains further). A checkpoint made with other data or
another architecture is refused. Sample grids (one row per class, fixed latents) go to
``samples/step_NNNNNN.png``; losses to ``train_log.jsonl``.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from ..errors import EnhanceError
from ..training.checkpoint import Checkpoint
from . import modeldir

__all__ = ["train", "TrainResult", "data_fingerprint", "write_grid"]

CHECKPOINT = "checkpoint"
ARCH_KEYS = ("size", "latent_dim", "width", "embed_dim", "channels", "max_width", "class_names",
             "fit", "batch_size", "policy", "ema_decay", "data_sha256", "seed")


class TrainResult(dict):
    """What :func:`train` did: ``step``, ``steps``, ``resumed_from``, ``seconds``, ``sha256``."""


def data_fingerprint(imageset):
    """SHA-256 of a training set's pixels, labels and class names (to refuse a foreign resume)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(imageset.images, np.float32).tobytes())
    digest.update(np.asarray(imageset.labels, np.int32).tobytes())
    digest.update(json.dumps(imageset.class_names).encode())
    return digest.hexdigest()


def _sample_batch(rng, images, labels, batch_size, flips):
    idx = rng.integers(0, len(images), batch_size)
    x = images[idx].copy()
    if flips:
        flip = rng.random(batch_size) < 0.5
        x[flip] = x[flip][:, :, ::-1]
    return (x[..., None] * 2.0 - 1.0).astype(np.float32), labels[idx].reshape(-1, 1)


def grid_latents(config, per_class=8):
    """The fixed latents and labels of the sample grids (one row per class)."""
    n_classes = len(config["class_names"])
    z = np.random.default_rng([int(config["seed"]), 7]).standard_normal(
        (n_classes * per_class, config["latent_dim"])).astype(np.float32)
    labels = np.repeat(np.arange(n_classes, dtype=np.int32), per_class).reshape(-1, 1)
    return z, labels


def write_grid(path, images, cols, *, pad=2):
    """Tile (N, H, W) images in [0, 1] into one 8-bit PNG, ``cols`` per row."""
    from ..io import write_image

    images = np.asarray(images, np.float32)
    n, h, w = images.shape
    rows = -(-n // cols)
    canvas = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad), np.float32)
    for k in range(n):
        r, c = divmod(k, cols)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h,
               pad + c * (w + pad): pad + c * (w + pad) + w] = images[k]
    return write_image(path, canvas, dtype=np.uint8)


def _generate(model, z, labels, batch=64):
    out = [np.asarray(model.predict_on_batch([z[i:i + batch], labels[i:i + batch]]))
           for i in range(0, len(z), batch)]
    return np.clip((np.concatenate(out)[..., 0] + 1.0) / 2.0, 0.0, 1.0)


def _card(config, imageset, data, state, steps, command):
    import keras

    counts = {name or "(all)": int(np.sum(imageset.labels == i))
              for i, name in enumerate(imageset.class_names)}
    return {
        "name": Path(state.get("out_dir", "generator")).name,
        "kind": "class-conditional GAN generator" if imageset.conditional else "GAN generator",
        "method": "hinge-loss DCGAN, spectral-norm discriminator with class projection, "
                  f"DiffAugment ({config['policy']}), EMA generator (decay {config['ema_decay']})",
        "training_data": {"folder": str(data), "images": int(len(imageset.images)),
                          "per_class": counts, "bit_depth": imageset.bit_depth,
                          "fit": config["fit"], "flips": True},
        "steps": int(state["step"]), "steps_planned": int(steps),
        "complete": int(state["step"]) >= int(steps),
        "batch_size": config["batch_size"], "wall_seconds": round(state["seconds"], 1),
        "keras": keras.__version__, "backend": keras.config.backend(),
        "command": command, "weights": "the EMA of the generator's weights",
    }


def train(data, out_dir, *, size=64, steps=2000, seed=0, batch_size=16, width=16,
          latent_dim=64, embed_dim=16, max_width=128, fit="crop", policy=None, ema_decay=0.999,
          lr=2e-4, checkpoint_every=250, sample_every=250, log_every=10, max_minutes=None,
          progress=None, command=None, imageset=None):
    """Train (or resume training) a generator on a folder of images.

    Parameters
    ----------
    data : str or Path
        Folder of training images (first-level subfolders are classes).
    out_dir : str or Path
        Model directory (created; holds the checkpoint for resume).
    size : int
        Image side (a power of two >= 8; the command line offers 64 and 128).
    steps : int
        Total training steps (one discriminator and one generator update each).
    seed : int
        Seed of weights, latents, augmentation and batches.
    batch_size, width, latent_dim, embed_dim, max_width : int
        Batch and network sizes (see :mod:`.models`).
    fit : {"crop", "pad"}
        How non-square images become square (:func:`enhance.synth.data.fit_square`).
    policy : str, optional
        DiffAugment policy (default :data:`enhance.synth.diffaug.DEFAULT_POLICY`).
    ema_decay, lr : float
    checkpoint_every, sample_every, log_every : int
        Periods in steps.
    max_minutes : float, optional
        Stop (with a checkpoint) after this much wall time; run again to continue.
    progress : callable, optional
        ``progress(done, total, logs)`` after each step (the package's one progress protocol;
        ``enhance synth train`` draws a bar from it).
    command : str, optional
        Recorded in the card.
    imageset : ImageSet, optional
        Already loaded images (``data`` is then only recorded).

    Returns
    -------
    TrainResult
    """
    import keras

    from .data import load_folder
    from .diffaug import DEFAULT_POLICY
    from .gan import SynthGAN
    from .models import build_discriminator, build_generator

    out_dir = Path(out_dir)
    if imageset is None:
        imageset = load_folder(data, size, fit=fit)
    if steps < 1:
        raise EnhanceError(f"steps must be positive, got {steps}")
    config = {
        "size": int(size), "latent_dim": int(latent_dim), "width": int(width),
        "embed_dim": int(embed_dim), "channels": 1, "max_width": int(max_width),
        "class_names": list(imageset.class_names), "bit_depth": int(imageset.bit_depth),
        "fit": fit, "batch_size": int(batch_size), "policy": policy or DEFAULT_POLICY,
        "ema_decay": float(ema_decay), "lr": float(lr), "seed": int(seed),
        "data_sha256": data_fingerprint(imageset), "pixel_range": "tanh [-1, 1] -> [0, 1]",
    }
    checkpoint = Checkpoint(out_dir / CHECKPOINT)
    saved = checkpoint.read_state() if checkpoint.exists() else None
    if saved is not None:
        diff = [k for k in ARCH_KEYS if saved["config"].get(k) != config.get(k)]
        if diff:
            raise EnhanceError(
                f"{out_dir} holds a checkpoint of another training run (differs in "
                f"{', '.join(diff)}); choose a new output folder or delete {checkpoint.path}"
            )
    keras.utils.set_random_seed(int(seed))
    n_classes = len(imageset.class_names)
    generator = build_generator(size, n_classes, latent_dim=latent_dim, width=width,
                                embed_dim=embed_dim, max_width=max_width)
    discriminator = build_discriminator(size, n_classes, width=width, max_width=max_width)
    gan = SynthGAN(generator, discriminator, latent_dim, n_classes, policy=config["policy"],
                   ema_decay=ema_decay, seed=int(seed))
    gan.compile(d_optimizer=keras.optimizers.Adam(lr, beta_1=0.5, beta_2=0.999),
                g_optimizer=keras.optimizers.Adam(lr, beta_1=0.5, beta_2=0.999))
    parts = {"networks": gan.networks(), "optimizers": gan.optimizers(),
             "seed_generator": gan.seed_generator}
    rng = np.random.default_rng([seed, 1])
    if saved is not None:
        state = checkpoint.restore(rng=rng, **parts)
    else:
        state = {"step": 0, "seconds": 0.0, "config": config}
    state["out_dir"] = str(out_dir)
    resumed_from = int(state["step"])
    images = imageset.images
    labels = imageset.labels.astype(np.int32)
    z_grid, y_grid = grid_latents(config)
    per_class = len(z_grid) // n_classes
    log = out_dir / "train_log.jsonl"
    out_dir.mkdir(parents=True, exist_ok=True)

    def export():
        checkpoint.save(rng=rng, state=state, **parts)
        card = _card(config, imageset, data, state, steps, command)
        return modeldir.save_generator_dir(out_dir, gan.ema_generator, config, card,
                                           discriminator=gan.discriminator)

    start = time.perf_counter()
    base_seconds = float(state["seconds"])
    sha = None
    while state["step"] < steps:
        x, y = _sample_batch(rng, images, labels, batch_size, flips=True)
        logs = gan.train_on_batch(x, y, return_dict=True)
        state["step"] += 1
        state["seconds"] = base_seconds + time.perf_counter() - start
        step = state["step"]
        if callable(progress):
            progress(step, int(steps), logs)
        if step % log_every == 0:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"step": step, "seconds": round(state["seconds"], 2),
                                     **{k: float(v) for k, v in logs.items()}}) + "\n")
        if step % sample_every == 0 or step == steps:
            write_grid(out_dir / "samples" / f"step_{step:06d}.png",
                       _generate(gan.ema_generator, z_grid, y_grid), per_class)
        out_of_time = max_minutes is not None and time.perf_counter() - start > 60 * max_minutes
        if step % checkpoint_every == 0 or step == steps or out_of_time:
            sha = export()
        if out_of_time:
            break
    if sha is None:  # nothing to do: already trained to `steps`
        sha = modeldir.file_sha256(out_dir / modeldir.GENERATOR_FILE)
    return TrainResult(step=int(state["step"]), steps=int(steps), resumed_from=resumed_from,
                       seconds=float(state["seconds"]), sha256=sha)
