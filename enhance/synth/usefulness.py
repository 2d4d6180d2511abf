"""Are the synthetic images useful? A small classifier trained with and without them, against
classical augmentation, over seeds.

The same small CNN (three strided 3 x 3 convolutions of 16, 32 and 64 channels, global average
pooling, a linear layer) is trained for the same number of steps (batches of 32 drawn with
replacement, Adam 1e-3) in four arms (:data:`ARMS`):

* ``real`` -- the real training images, as they are;
* ``real+classical`` -- the same with each batch transformed by the classical augmentation of
  :mod:`.classical` (flips, small shifts and rotations, elastic deformation, gain/gamma);
* ``real+synthetic`` -- the real plus the synthetic images (with the classes they were generated
  for), as they are;
* ``real+classical+synthetic`` -- the real plus the synthetic images, classical augmentation on.

Every arm is scored on held-out real images (accuracy) and repeated over ``seeds`` seeds: seed
``s`` fixes the network's initialisation, the batches and the augmentation draws, and (given a
``synthetic`` callable) draws a fresh synthetic set, so seed ``s`` of every arm shares them and
differences between arms are paired by seed. Per arm: the mean and its Student-t 95% interval
over the seeds (:func:`enhance.metrics.mean_ci`); per pair of arms: the mean of the per-seed
differences ``a - b`` and the Student-t 95% interval of that mean (the seeds' differences as the
sample). Synthetic images earn their place if ``real+classical+synthetic - real+classical`` has an
interval above zero.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..errors import EnhanceError

__all__ = ["ARMS", "build_classifier", "train_and_score", "usefulness", "arm_statistics"]

ARMS = ("real", "real+classical", "real+synthetic", "real+classical+synthetic")
INTERVAL = ("Student-t 95% interval of the mean over seeds (mean +- t_0.975,n-1 s / sqrt(n)); "
            "differences a - b paired by seed (the same initialisation, batches, augmentation "
            "and synthetic draw), t-interval of the per-seed differences")


def build_classifier(size, num_classes):
    """The small CNN classifier (logits)."""
    import keras
    from keras import layers

    x_in = keras.Input((size, size, 1))
    h = layers.Rescaling(2.0, offset=-1.0)(x_in)
    for ch in (16, 32, 64):
        h = layers.Conv2D(ch, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.GlobalAveragePooling2D()(h)
    return keras.Model(x_in, layers.Dense(num_classes)(h), name="usefulness_classifier")


def train_and_score(train_x, train_y, test_x, test_y, num_classes, *, steps=300, seed=0,
                    classical=False):
    """Train the classifier for ``steps`` batches, return its accuracy on the test images.

    ``classical`` transforms each batch by :func:`.classical.augment_batch` (draws from
    ``numpy.random.default_rng([seed, 1])``); the batches are drawn from
    ``numpy.random.default_rng(seed)`` and the initialisation from ``keras.utils.set_random_seed``.
    """
    import keras

    from .classical import augment_batch

    keras.utils.set_random_seed(seed)
    model = build_classifier(train_x.shape[1], num_classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(seed)
    aug = np.random.default_rng([seed, 1])
    for _ in range(steps):
        idx = rng.integers(0, len(train_x), 32)
        x, y = train_x[idx], train_y[idx]
        if classical:
            x, y = augment_batch(x, y, seed=aug)
        model.train_on_batch(np.asarray(x, np.float32)[..., None], y)
    pred = np.argmax(np.asarray(model.predict(test_x[..., None], verbose=0)), axis=1)
    return float(np.mean(pred == test_y))


def _summary(values):
    from ..metrics import mean_ci

    mean, low, high = mean_ci(values)
    return {"mean": mean, "ci95": [low, high], "seeds": len(values),
            "values": [float(v) for v in values]}


def arm_statistics(runs):
    """Per-arm means with t-intervals and the paired differences between arms.

    Parameters
    ----------
    runs : dict
        Arm name -> per-seed scores (the same seeds, in the same order, for every arm).

    Returns
    -------
    arms : dict
        Arm -> ``{"mean", "ci95": [lo, hi], "seeds", "values"}``.
    differences : dict
        ``"a - b"`` (for each pair, ``a`` the later arm in :data:`ARMS` order, else in the order
        given) -> the same fields for the per-seed differences ``a[s] - b[s]``.
    """
    lengths = {len(v) for v in runs.values()}
    if len(lengths) != 1:
        raise EnhanceError(f"arm_statistics: the arms have different numbers of seeds "
                           f"({sorted(lengths)}); differences are paired by seed")
    order = sorted(runs, key=lambda a: ARMS.index(a) if a in ARMS else len(ARMS))
    arms = {arm: _summary(np.asarray(runs[arm], np.float64)) for arm in order}
    differences = {
        f"{a} - {b}": _summary(np.asarray(runs[a], np.float64) - np.asarray(runs[b], np.float64))
        for b, a in itertools.combinations(order, 2)}
    return arms, differences


def usefulness(real_x, real_y, synthetic, test_x, test_y, num_classes, *, arms=ARMS, seeds=5,
               steps=300, seed=0):
    """Held-out accuracy of the classifier in each arm, over seeds, with intervals.

    Parameters
    ----------
    real_x, real_y : ndarray (N, H, W), (N,)
        The real training images in [0, 1] and their class indices.
    synthetic : tuple (ndarray, ndarray) or callable
        The synthetic images and class indices, or ``synthetic(s)`` returning them for seed ``s``
        (a fresh draw per seed).
    test_x, test_y : ndarray
        Held-out real images and class indices.
    num_classes : int
    arms : sequence of str
        A subset of :data:`ARMS`.
    seeds : int
        Seeds ``seed, seed + 1, ...``; at least 2 for an interval.
    steps : int
    seed : int

    Returns
    -------
    dict
        ``arms`` and ``differences`` (:func:`arm_statistics`), ``runs`` (per-seed accuracies),
        the set sizes, the settings, ``interval`` (how the intervals are made) and
        ``classical`` (the augmentation policy).
    """
    from .classical import POLICY

    if num_classes < 2:
        raise EnhanceError("the usefulness test needs at least two classes")
    if len(test_x) == 0:
        raise EnhanceError("the usefulness test needs held-out real images")
    unknown = [a for a in arms if a not in ARMS]
    if unknown or not arms:
        raise EnhanceError(f"unknown usefulness arm(s) {unknown}; arms: {', '.join(ARMS)}")
    if int(seeds) < 1:
        raise EnhanceError(f"the usefulness test needs at least one seed, got {seeds}")
    real_x, real_y = np.asarray(real_x, np.float32), np.asarray(real_y, np.int32)
    runs = {arm: [] for arm in arms}
    n_synthetic = None
    for s in range(seed, seed + int(seeds)):
        if any("synthetic" in arm for arm in arms):
            synth_x, synth_y = synthetic(s) if callable(synthetic) else synthetic
            n_synthetic = int(len(synth_x))
            mixed_x = np.concatenate([real_x, np.asarray(synth_x, np.float32)])
            mixed_y = np.concatenate([real_y, np.asarray(synth_y, np.int32)])
        for arm in arms:
            x, y = (mixed_x, mixed_y) if "synthetic" in arm else (real_x, real_y)
            runs[arm].append(train_and_score(x, y, test_x, test_y, num_classes, steps=steps,
                                             seed=s, classical="classical" in arm))
    arm_stats, differences = arm_statistics(runs)
    return {
        "arms": arm_stats, "differences": differences, "runs": runs,
        "train_real": int(len(real_x)), "train_synthetic": n_synthetic,
        "synthetic_draws": ("a fresh draw per seed" if callable(synthetic)
                            else "the same images for every seed"),
        "test_real": int(len(test_x)), "steps": int(steps), "seeds": int(seeds),
        "first_seed": int(seed), "metric": "accuracy on the held-out real images",
        "interval": INTERVAL, "classical": POLICY,
    }
