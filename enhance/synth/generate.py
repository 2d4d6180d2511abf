"""Generate images with a trained generator: reproducible per-image seeds and a manifest.

Image ``i`` of a run with seed ``S`` has the latent ``numpy.random.default_rng([S, i])
.standard_normal(latent_dim)`` and the class given (``--class``), or class ``i mod C`` when none
is given (equal numbers per class). The manifest records ``[S, i]``, so any single image can be
made again (:func:`image_for_seed`). Images are written as PNG, 16-bit when the training data
had more than 8 bits (``config.json``'s ``bit_depth``), under ``OUT/<class>/`` for a
class-conditional generator (so the output is itself a class folder) or ``OUT/`` otherwise, with
``OUT/manifest.jsonl``: one line per image (file, seed, class, model_sha256).

``reject_copies``: every candidate is compared with the training images (:mod:`.copies`); a
near-copy (SSIM >= threshold) is not written but logged in ``OUT/rejected.jsonl``, and further
seeds are drawn until ``n`` images are written (at most ``20 n`` candidates).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EnhanceError
from .copies import COPY_THRESHOLD

__all__ = ["latent_for", "sample", "image_for_seed", "generate_images", "generate_folder",
           "file_name"]


def latent_for(seed, latent_dim):
    """The latent of one image: ``default_rng(seed).standard_normal(latent_dim)`` (float32)."""
    return np.random.default_rng(seed).standard_normal(int(latent_dim)).astype(np.float32)


def sample(generator, seeds, labels, *, batch_size=64):
    """Images (N, H, W) in [0, 1] for per-image seeds and class indices."""
    z = np.stack([latent_for(s, generator.config["latent_dim"]) for s in seeds])
    y = np.asarray(labels, np.int32).reshape(-1, 1)
    out = []
    for i in range(0, len(z), batch_size):
        x = np.asarray(generator.model.predict_on_batch([z[i:i + batch_size], y[i:i + batch_size]]))
        out.append(x[..., 0])
    return np.clip((np.concatenate(out) + 1.0) / 2.0, 0.0, 1.0).astype(np.float32)


def image_for_seed(generator, seed, class_name=None):
    """Make one image again from a manifest's seed and class."""
    label = generator.class_index(class_name) if class_name else 0
    return sample(generator, [list(seed) if isinstance(seed, (list, tuple)) else seed], [label])[0]


def _labels(generator, class_name, indices):
    if class_name is not None:
        return np.full(len(indices), generator.class_index(class_name), np.int32)
    return np.asarray(indices, np.int32) % len(generator.class_names)


def generate_images(generator, n, *, class_name=None, seed=0, start=0):
    """``n`` images with seeds ``[seed, start]`` ... ; returns (images, labels, seeds)."""
    indices = list(range(start, start + int(n)))
    labels = _labels(generator, class_name, indices)
    seeds = [[int(seed), i] for i in indices]
    return sample(generator, seeds, labels), labels, seeds


def file_name(generator, label, index):
    """Relative output path of image ``index`` of class ``label``."""
    name = f"synth_{index:06d}.png"
    cls = generator.class_names[label]
    return f"{cls}/{name}" if cls else name


def generate_folder(model_dir, n, out_dir, *, class_name=None, seed=0, reject_copies=False,
                    real=None, threshold=COPY_THRESHOLD, batch_size=64, progress=None):
    """Write ``n`` generated images and their manifest to ``out_dir``.

    Parameters
    ----------
    model_dir : str or Path
        A generator directory (:mod:`.modeldir`).
    n : int
    out_dir : str or Path
    class_name : str, optional
        Only this class (an unknown name raises :class:`~enhance.errors.UnknownName`).
    seed : int
    reject_copies : bool
        Leave out near-copies of the training images in ``real``.
    real : str or Path, optional
        The training images (required with ``reject_copies``).
    threshold : float
        SSIM at or above which an image is a near-copy.
    progress : callable, optional
        The package's progress protocol: ``progress(done, n, path)`` after each image written
        (``done`` images written so far, ``path`` the file just written).

    Returns
    -------
    dict
        ``written``, ``rejected``, ``candidates``, ``model_sha256``, ``manifest``.
    """
    from ..batch import Manifest
    from ..io import write_image
    from .copies import nearest_training
    from .data import load_folder
    from .modeldir import load_generator

    n = int(n)
    if n < 1:
        raise EnhanceError(f"-n must be positive, got {n}")
    generator = load_generator(model_dir)
    if class_name is not None:
        generator.class_index(class_name)
    train = train_names = None
    if reject_copies:
        if real is None:
            raise EnhanceError("--reject-copies needs the training images: give --real DATA")
        train_set = load_folder(real, generator.size, fit=generator.config.get("fit", "crop"))
        train, train_names = train_set.images, train_set.names
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path, rejected_path = out_dir / "manifest.jsonl", out_dir / "rejected.jsonl"
    for p in (manifest_path, rejected_path):
        p.unlink(missing_ok=True)
    manifest, rejected_log = Manifest(manifest_path), Manifest(rejected_path)
    dtype = np.uint16 if int(generator.config.get("bit_depth", 16)) > 8 else np.uint8
    written = rejected = index = 0
    while written < n:
        if index >= 20 * n:
            raise EnhanceError(f"gave up after {index} candidates: {rejected} were near-copies of "
                               f"the training images (SSIM >= {threshold}); wrote {written}")
        count = min(batch_size, n - written) if not reject_copies else batch_size
        images, labels, seeds = generate_images(generator, count, class_name=class_name,
                                                seed=seed, start=index)
        index += count
        match = nearest_training(images, train) if reject_copies else None
        for k, (image, label, s) in enumerate(zip(images, labels, seeds)):
            if written >= n:
                break
            record = {"seed": s, "class": generator.class_names[label],
                      "model_sha256": generator.sha256}
            if match is not None:
                record.update(nearest_ssim=round(float(match.ssim[k]), 4),
                              nearest_train=train_names[int(match.index[k])],
                              nearest_flipped=bool(match.flipped[k]))
                if match.ssim[k] >= threshold:
                    rejected += 1
                    rejected_log.append({**record, "threshold": threshold})
                    continue
            rel = file_name(generator, int(label), s[1])
            write_image(out_dir / rel, image, dtype=dtype)
            manifest.append({"file": rel, **record})
            written += 1
            if progress is not None:
                progress(written, n, out_dir / rel)
    return {"written": written, "rejected": rejected, "candidates": index,
            "model_sha256": generator.sha256, "manifest": str(manifest_path)}
