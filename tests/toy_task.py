"""A toy restoration task, all in this one module: salt-and-pepper noise.

It proves that a task is one module: ``TASK`` below is everything the package needs (its
degradation and preset, its jitter, the classical methods that suit it, its wording);
``enhance.tasks.register(TASK)`` makes ``degrade``, ``bench`` and ``train`` take it.
"""

import numpy as np

from enhance.tasks import Task


def salt_and_pepper(x, rng, amount=0.05):
    """Set a fraction ``amount`` of the pixels to 0 or 1 (half each); the rest stay as they are.

    Draw order: which pixels are hit, then salt or pepper for each pixel.
    """
    x = np.asarray(x, dtype=np.float64)
    hit = rng.random(x.shape) < amount
    salt = rng.random(x.shape) < 0.5
    y = x.copy()
    y[hit & salt] = 1.0
    y[hit & ~salt] = 0.0
    return np.clip(y, 0.0, 1.0).astype(np.float32)


TASK = Task(
    name="toy",
    degradation=salt_and_pepper,
    presets={"toy10": {"amount": 0.10}},
    validation_preset="toy10",
    jitter={"amount": ("uniform", 0.02, 0.2)},
    baselines=("identity", "median"),
    model_input="the noisy image",
    words="salt-and-pepper noise",
    spec=None,
)
