"""Differentiable augmentation (DiffAugment, Zhao et al., NeurIPS 2020) with ``keras.ops`` only.

The same random transformations are applied to real and generated images before the
discriminator sees them, so that a discriminator trained on a few hundred images does not
memorise them, while gradients still flow to the generator. Images are (B, H, W, C) in [-1, 1].

Policies (comma-separated in :func:`diff_augment`):

* ``color`` -- brightness: add U(-0.5, 0.5) (in the [-1, 1] units of the images, i.e. +-0.25
  of the [0, 1] range); contrast: scale the deviation from the image mean by U(0.5, 1.5)
  (DiffAugment's saturation is left out: the images are grayscale);
* ``translation`` -- shift by up to 1/8 of the side in each direction, zero filled (done as
  products with per-sample shift matrices, differentiable);
* ``cutout`` -- zero a square of half the side at a random centre.
"""

from __future__ import annotations

from ..errors import EnhanceError

__all__ = ["diff_augment", "POLICIES", "DEFAULT_POLICY"]

DEFAULT_POLICY = "color,translation,cutout"


def _color(x, seed):
    import keras
    from keras import ops

    b = ops.shape(x)[0]
    brightness = keras.random.uniform((b, 1, 1, 1), -0.5, 0.5, seed=seed)
    x = x + brightness
    mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
    contrast = keras.random.uniform((b, 1, 1, 1), 0.5, 1.5, seed=seed)
    return (x - mean) * contrast + mean


def _shift_matrix(shift, n):
    """(B, n, n) matrices S with (S v)[i] = v[i + shift] (zero outside)."""
    from keras import ops

    idx = ops.arange(n, dtype="int32")[None, :] + ops.cast(shift, "int32")[:, None]  # (B, n)
    valid = ops.cast((idx >= 0) & (idx < n), "float32")
    onehot = ops.one_hot(ops.clip(idx, 0, n - 1), n)  # (B, n, n)
    return onehot * valid[:, :, None]


def _translation(x, seed, ratio=0.125):
    import keras
    from keras import ops

    b, h, w = ops.shape(x)[0], x.shape[1], x.shape[2]
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = ops.floor(keras.random.uniform((b,), -sh, sh + 1, seed=seed))
    dx = ops.floor(keras.random.uniform((b,), -sw, sw + 1, seed=seed))
    rows = _shift_matrix(dy, h)
    cols = _shift_matrix(dx, w)
    return ops.einsum("bij,bjkc,blk->bilc", rows, x, cols)


def _cutout(x, seed, ratio=0.5):
    import keras
    from keras import ops

    b, h, w = ops.shape(x)[0], x.shape[1], x.shape[2]
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = ops.floor(keras.random.uniform((b, 1, 1), 0, h + (1 - ch % 2), seed=seed))
    cx = ops.floor(keras.random.uniform((b, 1, 1), 0, w + (1 - cw % 2), seed=seed))
    yy = ops.cast(ops.arange(h), "float32")[None, :, None]
    xx = ops.cast(ops.arange(w), "float32")[None, None, :]
    inside = (ops.abs(yy - cy) < ch / 2) & (ops.abs(xx - cx) < cw / 2)
    mask = 1.0 - ops.cast(inside, x.dtype)
    return x * mask[..., None]


POLICIES = {"color": _color, "translation": _translation, "cutout": _cutout}


def diff_augment(x, policy=DEFAULT_POLICY, *, seed=None):
    """Apply the policies in order, with fresh random parameters per image.

    Parameters
    ----------
    x : tensor, shape (B, H, W, C)
    policy : str or sequence of str
        Names from :data:`POLICIES` (``""`` or empty: no augmentation).
    seed : keras.random.SeedGenerator or int, optional

    Returns
    -------
    tensor, shape (B, H, W, C)
    """
    names = [p.strip() for p in policy.split(",")] if isinstance(policy, str) else list(policy)
    for name in filter(None, names):
        if name not in POLICIES:
            raise EnhanceError(f"unknown DiffAugment policy {name!r}; known: {', '.join(POLICIES)}")
        x = POLICIES[name](x, seed)
    return x
