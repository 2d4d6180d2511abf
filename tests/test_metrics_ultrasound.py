"""No-reference ultrasound metrics (enhance.metrics_ultrasound) on images whose answer is known."""

import math

import numpy as np
import pytest
from scipy import ndimage as ndi

from enhance import metrics_ultrasound as mu
from enhance.errors import EnhanceError, ShapeMismatch


def intensity_speckle(clean, looks, seed):
    """L-look intensity speckle: ``clean * Gamma(L, 1/L)``; ENL of a homogeneous region = L."""
    return clean * np.random.default_rng(seed).gamma(looks, 1.0 / looks, clean.shape)


@pytest.mark.parametrize("looks", [1, 3, 8])
def test_enl_of_l_look_speckle_is_l(looks):
    noisy = intensity_speckle(np.full((256, 256), 0.2), looks, seed=looks)
    regions = mu.homogeneous_regions(noisy, size=32, count=12)
    assert mu.enl(noisy, regions) == pytest.approx(looks, rel=0.08)
    # speckle SNR: mean / std = sqrt(L) per region
    assert mu.speckle_snr(noisy, regions) == pytest.approx(math.sqrt(looks), rel=0.05)


def test_rayleigh_envelope_has_the_textbook_speckle_snr():
    amplitude = 0.3 * np.sqrt(np.random.default_rng(0).exponential(1.0, (256, 256)))
    regions = mu.homogeneous_regions(amplitude, size=32, count=12)
    assert mu.speckle_snr(amplitude, regions) == pytest.approx(1.91, rel=0.04)


def test_homogeneous_regions_avoid_edges_background_and_text():
    clean = np.full((128, 128), 0.3)
    clean[:, 64:] = np.linspace(0.3, 0.9, 64)[None, :]  # a ramp: not homogeneous
    clean[:16, :] = 0.0                                  # black background above the sector
    clean[100:110, 10:40] = 1.0                          # burned-in text
    noisy = np.clip(intensity_speckle(clean, 8, seed=1), 0, 1)
    noisy[100:110, 10:40] = 1.0
    labels = mu.homogeneous_regions(noisy, size=16, count=6)
    assert labels.max() == 6 and (labels > 0).sum() == 6 * 256
    chosen = labels > 0
    assert not chosen[:16].any()             # background
    assert not chosen[:, 64:].any()          # the ramp
    assert not chosen[96:112, 0:48].any()    # the text
    with pytest.raises(EnhanceError, match="mask"):
        mu.homogeneous_regions(np.zeros((64, 64)))


def test_a_mask_is_split_into_its_connected_regions():
    image = np.full((64, 64), 0.5)
    image[:, 32:] = 0.1
    rng = np.random.default_rng(0)
    image = image * rng.gamma(4, 0.25, image.shape)
    mask = np.zeros((64, 64), bool)
    mask[4:28, 4:28] = mask[4:28, 36:60] = True
    # one region per component: each ENL ~4, not the union's (two means mixed: far lower)
    assert mu.enl(image, mask) == pytest.approx(4, rel=0.2)
    union = image[mask]
    assert union.mean() ** 2 / union.var() < 2.5


def test_gcnr_disjoint_identical_and_monotone_invariant():
    rng = np.random.default_rng(0)
    image = np.empty((100, 100))
    target = np.zeros((100, 100), bool)
    target[:, :50] = True
    image[target] = rng.uniform(0.6, 0.9, target.sum())
    image[~target] = rng.uniform(0.1, 0.4, (~target).sum())
    assert mu.gcnr(image, target, ~target) == 1.0
    same = rng.normal(0.5, 0.1, (100, 100))
    assert mu.gcnr(same, target, ~target, bins=32) < 0.06
    # half overlapping uniform distributions: OVL = 0.5
    half = np.where(target, rng.uniform(0.0, 1.0, (100, 100)), rng.uniform(0.5, 1.5, (100, 100)))
    assert mu.gcnr(half, target, ~target, bins=50) == pytest.approx(0.5, abs=0.05)
    # a monotonic grey-level map (log compression) leaves gCNR as it is, not CNR
    assert mu.gcnr(np.log(half + 1.0), target, ~target, bins=50) == pytest.approx(
        mu.gcnr(half, target, ~target, bins=50), abs=0.05)


def test_cnr_of_two_gaussians():
    rng = np.random.default_rng(1)
    target = np.zeros((200, 200), bool)
    target[:100] = True
    image = np.where(target, rng.normal(0.7, 0.1, target.shape), rng.normal(0.4, 0.1, target.shape))
    assert mu.cnr(image, target, ~target) == pytest.approx(0.3 / math.sqrt(0.02), rel=0.03)
    flat = np.where(target, 0.7, 0.4)
    assert mu.cnr(flat, target, ~target) == math.inf
    assert mu.cnr(np.full((200, 200), 0.5), target, ~target) == 0.0


def test_identical_images_keep_every_edge_and_give_a_unit_ratio():
    noisy = intensity_speckle(np.full((64, 64), 0.2), 2, seed=3)
    assert mu.edge_keeping(noisy, noisy) == pytest.approx(1.0)
    assert mu.sattar_beta(noisy, noisy) == pytest.approx(1.0)
    np.testing.assert_array_equal(mu.ratio_image(noisy, noisy), np.ones_like(noisy))
    regions = mu.homogeneous_regions(noisy)
    assert mu.ssi(noisy, noisy, mask=regions > 0) == pytest.approx(1.0)
    assert mu.smpi(noisy, noisy) == pytest.approx(1.0)
    assert mu.mean_ratio(noisy, noisy) == pytest.approx(1.0)


def test_edge_keeping_falls_with_blur_and_beta_is_the_plain_laplacian():
    rng = np.random.default_rng(2)
    clean = np.full((96, 96), 0.2)
    clean[:, 48:] = 0.8
    noisy = intensity_speckle(clean, 4, seed=2)
    keeps = [mu.edge_keeping(noisy, ndi.gaussian_filter(noisy, s)) for s in (0.5, 1.0, 2.0, 4.0)]
    assert all(a > b for a, b in zip(keeps, keeps[1:])), keeps
    # beta: the 3 x 3 Laplacians' correlation, as written out
    out = ndi.uniform_filter(noisy, 3)
    a, b = ndi.laplace(noisy, mode="reflect"), ndi.laplace(out, mode="reflect")
    a, b = a - a.mean(), b - b.mean()
    assert mu.sattar_beta(noisy, out) == pytest.approx((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))
    # a brightness gain keeps every edge (correlation ignores scale); the mean ratio sees it
    assert mu.edge_keeping(noisy, 1.2 * noisy) == pytest.approx(1.0)
    assert mu.mean_ratio(noisy, 1.2 * noisy) == pytest.approx(1.2)
    del rng


def test_ssi_and_smpi_of_a_known_smoothing():
    noisy = intensity_speckle(np.full((128, 128), 0.3), 2, seed=5)
    out = ndi.uniform_filter(noisy, 4, mode="reflect")  # 16 independent pixels: std / 4
    inner = np.zeros(noisy.shape, bool)
    inner[8:-8, 8:-8] = True
    assert mu.ssi(noisy, out, mask=inner) == pytest.approx(0.25, rel=0.1)
    shifted = out + 0.1  # the mean moved: SMPI grows by (1 + 0.1)
    assert mu.smpi(noisy, shifted, mask=inner) == pytest.approx(1.1 * mu.smpi(noisy, out, mask=inner), rel=1e-3)


def test_ratio_score_prefers_the_true_backscatter_to_a_blur_and_the_identity():
    """The ideal despeckler (the clean image) leaves pure speckle in the ratio: a small score;
    a 9 x 9 box filter leaves the edges in the ratio (structure: delta_h up), a flat output the
    whole scene, and the identity leaves no speckle (first-order term at its cap)."""
    clean = np.full((128, 128), 0.2)
    clean[32:96, 32:96] = 0.6
    yy, xx = np.mgrid[:128, :128]
    clean[(yy - 64) ** 2 + (xx - 64) ** 2 < 15 ** 2] = 0.9
    noisy = intensity_speckle(clean, 4, seed=6)
    regions = mu.homogeneous_regions(noisy, size=16, count=8)
    ideal = mu.ratio_image_score(noisy, clean, regions)
    blur = mu.ratio_image_score(noisy, ndi.uniform_filter(noisy, 9), regions)
    flat = mu.ratio_image_score(noisy, np.full_like(noisy, noisy.mean()), regions)
    same = mu.ratio_image_score(noisy, noisy, regions)
    assert ideal["first_order"] < 0.1 and ideal["delta_h"] < 1.0, ideal
    assert blur["delta_h"] > 3 * ideal["delta_h"] and blur["score"] > ideal["score"], (blur, ideal)
    assert flat["delta_h"] > 5 * blur["delta_h"], (flat, blur)
    assert same["first_order"] == pytest.approx(0.5)  # |ENL_i - inf| / ENL_i capped at 1, mean 1
    assert same["score"] > ideal["score"]


def test_ratio_score_reads_the_grain_of_correlated_speckle():
    """The limit the README states: on PSF-correlated B-mode speckle (the spec's, and the grain
    fitted to real frames) the second-order term measures the speckle's own grain, so the ideal
    despeckler scores worse than a sigma = 3 Gaussian blur; on uncorrelated speckle it does not."""
    from enhance import degrade

    clean = np.full((256, 256), 0.4, np.float32)
    yy, xx = np.mgrid[:256, :256]
    clean[(yy - 80) ** 2 + (xx - 80) ** 2 < 30 ** 2] = 0.8
    clean[(yy - 170) ** 2 + (xx - 170) ** 2 < 35 ** 2] = 0.1
    scores = {}
    for psf in ((0.01, 0.01), (1.0, 1.5), (1.5, 2.9)):
        noisy = degrade.speckle(clean, np.random.default_rng(0), looks=3, psf_sigma=psf,
                                thermal=0.0).astype(np.float64)
        regions = mu.homogeneous_regions(noisy, size=16, count=8)
        scores[psf] = (mu.ratio_image_score(noisy, clean, regions)["score"],
                       mu.ratio_image_score(noisy, ndi.gaussian_filter(noisy, 3), regions)["score"])
    ideal, blur = scores[(0.01, 0.01)]
    assert ideal < 2 and blur > ideal
    for psf in ((1.0, 1.5), (1.5, 2.9)):
        ideal, blur = scores[psf]
        assert ideal > 30 and ideal > blur, (psf, ideal, blur)


def test_report_keys_and_errors():
    noisy = intensity_speckle(np.full((64, 80), 0.2), 3, seed=7)
    alone = mu.despeckling_report(noisy)
    assert set(alone) == {"enl", "snr", "cnr", "gcnr"}
    pair = mu.despeckling_report(noisy, ndi.uniform_filter(noisy, 3))
    assert list(pair) == list(mu.REPORT_KEYS)
    assert pair["enl_gain"] == pytest.approx(pair["enl"] / alone["enl"])
    with pytest.raises(ShapeMismatch):
        mu.edge_keeping(noisy, noisy[:10])
    with pytest.raises(EnhanceError, match="no homogeneous region"):
        mu.enl(noisy, np.zeros(noisy.shape, int))
    with pytest.raises(EnhanceError):
        mu.enl(np.full((8, 8), np.nan), np.ones((8, 8), int))
