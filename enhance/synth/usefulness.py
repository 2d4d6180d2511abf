"""Are the synthetic images useful? A small classifier trained on real vs real + synthetic images.

The same small CNN (three strided 3 x 3 convolutions of 16, 32 and 64 channels, global average
pooling, a linear layer) is trained for the same number of steps (batches of 32 with random
left-right flips, Adam 1e-3) on (a) the real training images and (b) the real training images plus
the synthetic ones, with the classes of their folders; both are scored on held-out real images
(accuracy), repeated with a few seeds. Synthetic images are useful for this task if (b) beats (a).
"""

from __future__ import annotations

import numpy as np

from ..errors import EnhanceError

__all__ = ["build_classifier", "train_and_score", "usefulness"]


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


def train_and_score(train_x, train_y, test_x, test_y, num_classes, *, steps=300, seed=0):
    """Train the classifier for ``steps`` batches, return its accuracy on the test images."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_classifier(train_x.shape[1], num_classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        idx = rng.integers(0, len(train_x), 32)
        x = train_x[idx].copy()
        flip = rng.random(32) < 0.5
        x[flip] = x[flip][:, :, ::-1]
        model.train_on_batch(x[..., None], train_y[idx])
    pred = np.argmax(np.asarray(model.predict(test_x[..., None], verbose=0)), axis=1)
    return float(np.mean(pred == test_y))


def usefulness(real_x, real_y, synth_x, synth_y, test_x, test_y, num_classes, *, steps=300,
               repeats=3, seed=0):
    """Held-out accuracy of the classifier trained on real vs on real + synthetic images.

    Returns
    -------
    dict
        ``real_only`` and ``real_plus_synthetic``: mean accuracy over ``repeats`` seeds, with the
        per-seed values, the set sizes and the settings.
    """
    if num_classes < 2:
        raise EnhanceError("the usefulness test needs at least two classes")
    if len(test_x) == 0:
        raise EnhanceError("the usefulness test needs held-out real images")
    mixed_x = np.concatenate([real_x, synth_x]).astype(np.float32)
    mixed_y = np.concatenate([real_y, synth_y]).astype(np.int32)
    runs = {"real_only": [], "real_plus_synthetic": []}
    for r in range(repeats):
        runs["real_only"].append(train_and_score(real_x.astype(np.float32), real_y.astype(np.int32),
                                                 test_x, test_y, num_classes, steps=steps,
                                                 seed=seed + r))
        runs["real_plus_synthetic"].append(train_and_score(mixed_x, mixed_y, test_x, test_y,
                                                           num_classes, steps=steps, seed=seed + r))
    return {
        "real_only": float(np.mean(runs["real_only"])),
        "real_plus_synthetic": float(np.mean(runs["real_plus_synthetic"])),
        "runs": runs, "train_real": int(len(real_x)), "train_synthetic": int(len(synth_x)),
        "test_real": int(len(test_x)), "steps": steps, "repeats": repeats,
    }
