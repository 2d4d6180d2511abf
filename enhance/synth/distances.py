"""Distances between two sets of image features: Fréchet distance, KID, precision/recall.

* :func:`frechet_distance` -- ``|mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2))`` between Gaussians
  fitted to the two sets (Heusel et al. 2017, "FID" with Inception features; here with the
  project's own features, :mod:`.features`). The trace of the matrix square root is computed as
  ``sum sqrt(eig(C1^(1/2) C2 C1^(1/2)))`` (symmetric, so stable). Biased for small sets: compare
  only figures computed with the same set sizes.
* :func:`kernel_inception_distance` -- the unbiased MMD^2 with the cubic polynomial kernel
  ``k(x, y) = (x.y / d + 1)^3`` (Binkowski et al. 2018), mean and standard deviation over random
  subsets; unbiased, so usable with a hundred images.
* :func:`precision_recall` -- improved precision and recall (Kynkäänniemi et al. 2019): each set is
  a union of balls around its points with radius the distance to the k-th nearest neighbour;
  precision is the fraction of generated points inside the real manifold, recall the fraction of
  real points inside the generated one.
"""

from __future__ import annotations

import numpy as np

from ..errors import EnhanceError

__all__ = ["frechet_distance", "kernel_inception_distance", "precision_recall"]


def _check(a, b, minimum=2):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise EnhanceError(f"feature sets must be (N, d) with the same d, got {a.shape}, {b.shape}")
    if len(a) < minimum or len(b) < minimum:
        raise EnhanceError(f"need at least {minimum} samples per set, got {len(a)} and {len(b)}")
    return a, b


def _sqrt_psd(matrix):
    w, v = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(features_a, features_b):
    """Fréchet distance between Gaussians fitted to two feature sets (N, d).

    Returns
    -------
    float
        >= 0; 0 for identical sets (up to rounding).
    """
    a, b = _check(features_a, features_b)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a = np.cov(a, rowvar=False)
    cov_b = np.cov(b, rowvar=False)
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    tr_sqrt = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2.0), 0.0, None))))
    fd = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * tr_sqrt)
    return max(fd, 0.0)


def _mmd2_unbiased(x, y):
    d = x.shape[1]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2.0 * kxy.mean())


def kernel_inception_distance(features_a, features_b, *, subsets=50, subset_size=100, seed=0):
    """Kernel distance (KID): unbiased MMD^2, cubic polynomial kernel, over random subsets.

    Parameters
    ----------
    features_a, features_b : ndarray (N, d)
    subsets : int
    subset_size : int
        Capped at the smaller set's size.
    seed : int

    Returns
    -------
    (float, float)
        Mean and standard deviation over the subsets (can be slightly negative: unbiased).
    """
    a, b = _check(features_a, features_b)
    m = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    values = [
        _mmd2_unbiased(a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)])
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


def _knn_radii(x, k):
    from scipy.spatial.distance import cdist

    dist = cdist(x, x)
    return np.sort(dist, axis=1)[:, k]  # column 0 is the point itself


def precision_recall(real_features, fake_features, *, k=3):
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN balls.

    Returns
    -------
    (float, float)
        Precision (generated points inside the real manifold) and recall (real points inside the
        generated manifold), in [0, 1].
    """
    from scipy.spatial.distance import cdist

    real, fake = _check(real_features, fake_features, minimum=k + 1)
    real_radii = _knn_radii(real, k)
    fake_radii = _knn_radii(fake, k)
    dist = cdist(fake, real)  # (n_fake, n_real)
    precision = float(np.mean(np.any(dist <= real_radii[None, :], axis=1)))
    recall = float(np.mean(np.any(dist.T <= fake_radii[None, :], axis=1)))
    return precision, recall
