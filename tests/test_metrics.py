"""Scores, noise estimation and benchmark statistics (enhance.metrics)."""

import math

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import data, transform
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from enhance.errors import EnhanceError, ShapeMismatch
from enhance.metrics import estimate_noise, mean_ci, paired_difference, psnr, ssim


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    a = rng.random((64, 48))
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    return a, b


@pytest.fixture(scope="module")
def smooth_phantom():
    x = transform.resize(data.shepp_logan_phantom(), (128, 128), anti_aliasing=True)
    return ndi.gaussian_filter(x, 2.0) * 0.8 + 0.1  # smooth, away from the clip limits


def test_psnr_matches_skimage_and_formula(pair):
    a, b = pair
    expected = peak_signal_noise_ratio(a, b, data_range=1.0)
    assert psnr(a, b, data_range=1.0) == pytest.approx(expected, abs=1e-10)
    assert psnr(a, b, data_range=1.0) == pytest.approx(10 * math.log10(1 / np.mean((a - b) ** 2)))
    # data_range enters as data_range**2
    assert psnr(a * 255, b * 255, data_range=255) == pytest.approx(expected, abs=1e-9)


def test_psnr_identical_is_inf(pair):
    assert psnr(pair[0], pair[0].copy(), data_range=1.0) == math.inf


def test_ssim_matches_skimage_gray_and_colour(pair):
    a, b = pair
    ref = structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, K1=0.01, K2=0.03)
    assert ssim(a, b, data_range=1.0) == pytest.approx(ref, abs=1e-12)
    assert ssim(a, a, data_range=1.0) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    c = rng.random((40, 40, 3))
    d = np.clip(c + 0.05 * rng.standard_normal(c.shape), 0, 1)
    ref_c = structural_similarity(c, d, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False, channel_axis=-1)
    assert ssim(c, d, data_range=1.0) == pytest.approx(ref_c, abs=1e-12)
    # the default (uniform 7x7, sample covariance) differs: we really use the spec's settings
    assert abs(structural_similarity(a, b, data_range=1.0) - ref) > 1e-4


@pytest.mark.parametrize("score", [psnr, ssim])
def test_data_range_is_required(pair, score):
    a, b = pair
    with pytest.raises(TypeError):
        score(a, b)
    with pytest.raises(EnhanceError):
        score(a, b, data_range=None)
    with pytest.raises(EnhanceError):
        score(a, b, data_range=0)
    with pytest.raises(TypeError):
        score(a, b, 1.0)  # keyword-only


@pytest.mark.parametrize("score", [psnr, ssim])
def test_shape_mismatch_names_both_shapes(score):
    with pytest.raises(ShapeMismatch) as info:
        score(np.zeros((32, 32)), np.zeros((32, 31)), data_range=1.0)
    assert "(32, 32)" in str(info.value) and "(32, 31)" in str(info.value)
    assert isinstance(info.value, EnhanceError)


@pytest.mark.parametrize("sigma", [10 / 255, 25 / 255])
def test_estimate_noise_within_15_percent(smooth_phantom, sigma):
    for seed in range(3):
        rng = np.random.default_rng(seed)
        y = np.clip(smooth_phantom + sigma * rng.standard_normal(smooth_phantom.shape), 0, 1)
        assert estimate_noise(y) == pytest.approx(sigma, rel=0.15)


def test_estimate_noise_ignores_clipped_black_background():
    # Shepp-Logan has a large black background where clip() removes half of the noise.
    x = transform.resize(data.shepp_logan_phantom(), (128, 128), anti_aliasing=True)
    sigma = 25 / 255
    y = np.clip(x + sigma * np.random.default_rng(0).standard_normal(x.shape), 0, 1)
    assert estimate_noise(y) == pytest.approx(sigma, rel=0.15)


def test_estimate_noise_colour_is_channel_mean(smooth_phantom):
    rng = np.random.default_rng(3)
    sig = np.array([0.02, 0.05, 0.08])
    y = smooth_phantom[..., None] + sig * rng.standard_normal(smooth_phantom.shape + (3,))
    per = [estimate_noise(y[..., k]) for k in range(3)]
    assert estimate_noise(y) == pytest.approx(np.mean(per))
    assert estimate_noise(y) == pytest.approx(sig.mean(), rel=0.15)
    assert estimate_noise(smooth_phantom) < 0.003


def test_mean_ci_known_values():
    m, lo, hi = mean_ci([1, 2, 3, 4, 5])
    # t_{0.975, 4} = 2.7764451, s = sqrt(2.5)
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)
    assert m == 3.0
    assert lo == pytest.approx(3 - half, abs=1e-9) and hi == pytest.approx(3 + half, abs=1e-9)
    m, lo, hi = mean_ci([1, 2, 3, 4, 5], confidence=0.5)
    assert hi - lo < 2 * half / 2  # a 50 % interval is much narrower
    assert mean_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    m, lo, hi = mean_ci([7.0])
    assert m == 7.0 and math.isnan(lo) and math.isnan(hi)
    with pytest.raises(EnhanceError):
        mean_ci([])


def test_paired_difference():
    rng = np.random.default_rng(0)
    b = rng.normal(30, 3, size=40)
    a = b + 0.5 + rng.normal(0, 0.2, size=40)  # a is better by 0.5 on every image
    m, lo, hi = paired_difference(a, b)
    assert m == pytest.approx(np.mean(a - b))
    assert 0 < lo < m < hi  # paired: the image-to-image spread (3 dB) cancels
    assert hi - lo < 0.2
    assert paired_difference(a, b) == paired_difference(a, b)  # seeded: reproducible
    # the unpaired interval would straddle zero: the pairing is what matters
    assert mean_ci(a).low < mean_ci(b).high
    m2, lo2, hi2 = paired_difference(b, a)
    assert m2 == pytest.approx(-m) and hi2 < 0
    assert paired_difference([1.0, 2.0], [0.0, 1.0]) == (1.0, 1.0, 1.0)
    with pytest.raises(ShapeMismatch):
        paired_difference([1.0, 2.0], [1.0])


def test_estimate_noise_of_8_bit_images_near_one_grey_level():
    from enhance.metrics import estimate_noise

    rng = np.random.default_rng(0)
    ramp = np.tile(np.linspace(0.3, 0.5, 256), (256, 1))
    for grey_levels in (0.5, 0.75, 1.0, 2.0, 4.0):
        noisy = ramp + grey_levels / 255 * rng.standard_normal(ramp.shape)
        quantised = np.round(noisy * 255) / 255
        estimate = estimate_noise(quantised) * 255
        # the rounding adds its own 1/sqrt(12) grey level of noise
        truth = np.hypot(grey_levels, 1 / np.sqrt(12)) if grey_levels < 1 else grey_levels
        assert estimate == pytest.approx(truth, rel=0.12), grey_levels
    flat = np.round((0.4 + 0.2 / 255 * rng.standard_normal((128, 128))) * 255) / 255
    assert estimate_noise(flat) > 0  # was 0: most Haar coefficients are exactly 0
    continuous = ramp + 0.02 * rng.standard_normal(ramp.shape)  # off the lattice: plain median
    assert estimate_noise(continuous) == pytest.approx(0.02, rel=0.05)


def test_mid_range_noise_estimate_is_not_pulled_down_by_the_clip():
    """A CT-like image: half dark background (clipped at 0 by the noise), half mid-grey tissue."""
    from enhance.tasks import degrade
    from enhance.metrics import estimate_noise

    image = np.full((256, 256), 0.03, np.float32)
    image[:, 128:] = np.linspace(0.3, 0.7, 128, dtype=np.float32)
    for preset, sigma in (("gaussian15", 15 / 255), ("gaussian25", 25 / 255), ("gaussian50", 50 / 255)):
        noisy = degrade(image, preset, seed=0)
        plain, middle = estimate_noise(noisy), estimate_noise(noisy, mid_range=True)
        assert plain < 0.96 * sigma  # truncated noise next to the clip pulls it down
        assert middle == pytest.approx(sigma, rel=0.05) and middle > plain
