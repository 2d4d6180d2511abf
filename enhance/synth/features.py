"""The feature network of the synthesis metrics (FD, KID, precision/recall), trained by the project.

Inception features (FID) come from ImageNet weights that cannot be downloaded here and know
nothing of grayscale medical images, so the project trains its own small CNN, self-supervised on a
rotation-prediction pretext (Gidaris et al., ICLR 2018): a 64 x 64 grayscale image is turned by
0, 90, 180 or 270 degrees and the network predicts which. Telling the orientation of anatomy needs
shape and texture features, with no labels.

Corpus (all shipped inside installed packages, none reserved, none of the pixels that the
repository's ``samples/`` shows): the ``train`` slices of the ``brain-mr64`` recipe (half of each
batch) and random 64 x 64 crops, at 1/1, 1/2 and 1/4 scale, of scikit-image's cell and
immunohistochemistry images (rows below 256) and microaneurysms, and pydicom's examples_overlay
(abdominal MR), examples_ybr_color (echo frames 1-29), examples_jpeg2k and examples_rgb_color
(ultrasound).

Every pretext image is shifted by up to 8 pixels (zero filled) and brain slices are flipped
left-right at random, so that the features describe content rather than its place in the frame.

Network: seven 3 x 3 convolutions (16-32-32-64-64-128-128 channels, three with stride 2, batch
normalisation, ReLU),
global average pooling, a 64-unit linear ``embedding`` layer (the features), ReLU, and a 4-way
softmax head. Images of another size are fitted to 64 x 64 (:func:`.data.fit_square`, crop).

Known limitation: the Fréchet distance between a set and its noisy copy grows with the noise up to
a standard deviation of about 0.1 (of the [0, 1] range), then falls back somewhat (features of
pure-noise-like images saturate), while staying far above the distance between real sets: the
figures rank generators, they are not a noise meter.

Shipped in ``trained_weights/synth-features-rot64/``: a model directory of kind ``features``
(:mod:`enhance.modeldir`; ``config.json``, ``features.weights.h5``, ``card.json`` with the
weights' sha256 and the held-out rotation accuracy).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..modeldir import KINDS, read_model_dir, write_model_files

__all__ = ["build_feature_net", "feature_corpus", "train_feature_net", "FeatureNet",
           "load_feature_net", "DEFAULT_FEATURES", "FEATURE_SIZE"]

FEATURE_SIZE = 64
#: Random shifts (pixels, zero filled) of the pretext images: without them the network learns
#: to tell rotations from where the content sits in the frame, and its features change more
#: with a 4-pixel shift than with a different brain.
MAX_SHIFT = 8
WEIGHTS_FILE = KINDS["features"].weights_file
FORMAT = KINDS["features"].format


def shipped_dir(name):
    """The shipped model directory ``name`` (:func:`enhance.shipped.weights_dir`)."""
    from ..shipped import weights_dir

    return weights_dir() / name


DEFAULT_FEATURES = "synth-features-rot64"


def build_feature_net(size=FEATURE_SIZE, dim=64):
    """Build the rotation-prediction CNN; returns (classifier, embedding model)."""
    import keras
    from keras import layers

    x_in = keras.Input((size, size, 1), name="image")
    h = layers.Rescaling(2.0, offset=-1.0, name="to_pm1")(x_in)
    for i, (ch, stride) in enumerate([(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2),
                                      (128, 1)]):
        h = layers.Conv2D(ch, 3, strides=stride, padding="same", use_bias=False,
                          name=f"conv{i}")(h)
        h = layers.BatchNormalization(name=f"bn{i}")(h)
        h = layers.ReLU(name=f"relu{i}")(h)
    h = layers.GlobalAveragePooling2D(name="pool")(h)
    emb = layers.Dense(dim, name="embedding")(h)
    logits = layers.Dense(4, name="rotation")(layers.ReLU(name="embedding_act")(emb))
    classifier = keras.Model(x_in, logits, name="rotation_net")
    embedder = keras.Model(x_in, emb, name="feature_net")
    return classifier, embedder


def _pyramid(image):
    from skimage.transform import rescale

    levels = [image]
    for factor in (2, 4):
        small = rescale(image, 1.0 / factor, anti_aliasing=True, preserve_range=True)
        if min(small.shape) >= FEATURE_SIZE:
            levels.append(small.astype(np.float32))
    return [lv for lv in levels if min(lv.shape) >= FEATURE_SIZE]


def feature_corpus():
    """The pretext corpus: (brain slices (N, 64, 64), list of other images (H, W) >= 64)."""
    import skimage.data as skd
    from pydicom.data import get_testdata_file

    from ..io import read_image
    from .data import to_gray
    from .recipes import brain_mr_slices

    brain = np.stack([im for split, _, _, im in brain_mr_slices(FEATURE_SIZE) if split == "train"])
    others = []
    # samples/ shows the top-left 256 x 256 of cell and immunohistochemistry: take other pixels
    for fn in (skd.cell, skd.immunohistochemistry, skd.microaneurysms):
        img = np.asarray(fn(), np.float32)
        img = to_gray(img / 255.0 if img.max() > 1 else img)
        others.append(img[256:] if min(img.shape) > 256 + FEATURE_SIZE else img)
    for name, frames in (("examples_overlay.dcm", None), ("examples_ybr_color.dcm", slice(1, None)),
                         ("examples_jpeg2k.dcm", None), ("examples_rgb_color.dcm", None)):
        path = get_testdata_file(name)
        if path is None:
            continue
        image = read_image(path)
        stack = list(image.pixels) if image.meta.is_stack else [image.pixels]
        others.extend(to_gray(f) for f in (stack[frames] if frames else stack))
    return brain, others


def _rotation_batch(rng, brain, levels, batch):
    x = np.empty((batch, FEATURE_SIZE, FEATURE_SIZE), np.float32)
    for i in range(batch):
        if rng.random() < 0.5:
            img = brain[rng.integers(len(brain))]
            if rng.random() < 0.5:
                img = img[:, ::-1]
        else:
            src = levels[rng.integers(len(levels))]
            top = rng.integers(0, src.shape[0] - FEATURE_SIZE + 1)
            left = rng.integers(0, src.shape[1] - FEATURE_SIZE + 1)
            img = src[top:top + FEATURE_SIZE, left:left + FEATURE_SIZE]
        dy, dx = (int(v) for v in rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, 2))
        x[i] = np.roll(img, (dy, dx), axis=(0, 1))
        if dy > 0:
            x[i, :dy] = 0
        elif dy < 0:
            x[i, dy:] = 0
        if dx > 0:
            x[i, :, :dx] = 0
        elif dx < 0:
            x[i, :, dx:] = 0
    k = rng.integers(0, 4, batch)
    x = np.stack([np.rot90(img, int(r)) for img, r in zip(x, k)])
    return x[..., None], k.astype(np.int32)


def train_feature_net(out_dir, *, steps=1500, batch_size=32, seed=0, progress=None):
    """Train the rotation-prediction network on the corpus and save it with a card.

    Returns
    -------
    dict
        The card written (held-out rotation accuracy on the brain ``holdout`` slices).
    """
    import keras

    from .recipes import brain_mr_slices

    keras.utils.set_random_seed(seed)
    brain, others = feature_corpus()
    levels = [lv for img in others for lv in _pyramid(img)]
    classifier, embedder = build_feature_net()
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       metrics=["accuracy"])
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for step in range(steps):
        if step == int(steps * 0.7):
            classifier.optimizer.learning_rate.assign(2e-4)
        x, y = _rotation_batch(rng, brain, levels, batch_size)
        logs = classifier.train_on_batch(x, y, return_dict=True)
        if callable(progress):
            progress(step + 1, steps, logs)
    holdout = np.stack([im for split, _, _, im in brain_mr_slices(FEATURE_SIZE)
                        if split == "holdout"])
    xs = np.concatenate([np.rot90(holdout, k, axes=(1, 2)) for k in range(4)])[..., None]
    ys = np.repeat(np.arange(4), len(holdout))
    acc = float(np.mean(np.argmax(classifier.predict(xs, verbose=0), axis=1) == ys))
    plain, _ = build_feature_net()  # uncompiled: the file holds no optimizer state
    plain.set_weights(classifier.get_weights())
    out_dir = Path(out_dir)
    card = {
        "name": out_dir.name,
        "kind": "feature network for FD/KID/precision-recall of synthetic images",
        "pretext": "rotation prediction (0/90/180/270 degrees), self-supervised",
        "features": "64-d output of the 'embedding' layer (before its ReLU)",
        "training_data": "brain-mr64 train slices + crops of scikit-image cell and "
                         "immunohistochemistry (rows >= 256), microaneurysms, pydicom "
                         "examples_overlay, examples_ybr_color frames 1-29, examples_jpeg2k, "
                         "examples_rgb_color (no pixels shown in samples/)",
        "steps": steps, "batch_size": batch_size, "seed": seed,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "holdout_rotation_accuracy": round(acc, 4),
        "holdout": f"{len(holdout)} brain-mr64 holdout slices x 4 rotations",
    }
    sha = write_model_files(out_dir, "features",
                            {"size": FEATURE_SIZE, "dim": int(embedder.output.shape[-1])}, card,
                            lambda tmp: plain.save_weights(str(tmp)), default=str)
    return {**card, "weights_sha256": sha}


class FeatureNet:
    """A loaded feature network: ``embed(images) -> (N, dim)`` features.

    Attributes
    ----------
    name : str
    card : dict
    """

    def __init__(self, embedder, name, card):
        self._embedder = embedder
        self.name = name
        self.card = card

    def embed(self, images, batch_size=128):
        """Features of (N, H, W) images in [0, 1] (fitted to 64 x 64 first), float64 (N, dim)."""
        from .data import fit_square

        images = np.asarray(images, np.float32)
        if images.shape[1:] != (FEATURE_SIZE, FEATURE_SIZE):
            images = np.stack([fit_square(im, FEATURE_SIZE) for im in images])
        out = [np.asarray(self._embedder.predict_on_batch(images[i:i + batch_size, ..., None]))
               for i in range(0, len(images), batch_size)]
        return np.concatenate(out).astype(np.float64)


def load_feature_net(path=None):
    """Load a feature network directory (default: the shipped ``synth-features-rot64``).

    Raises
    ------
    ModelError
        What :func:`enhance.modeldir.read_model_dir` refuses: missing files, another kind of
        model, or weights that do not match the card's sha256.
    """
    found = read_model_dir(path if path is not None else shipped_dir(DEFAULT_FEATURES),
                           kind="features")
    classifier, embedder = build_feature_net(found.config["size"], found.config["dim"])
    classifier.load_weights(str(found.weights))
    return FeatureNet(embedder, found.path.name, found.card)
