import math

import numpy as np
import pytest

from enhance import degrade as dg
from enhance import tasks
from enhance.errors import EnhanceError, UnknownName


def rng(seed=0):
    return np.random.default_rng(seed)


def constant(value, shape=(256, 256)):
    return np.full(shape, value, dtype=np.float64)


def test_gaussian_statistics_and_formula():
    x = constant(0.5)
    y = dg.gaussian(x, rng(1), sigma=0.1)
    assert y.dtype == np.float32
    assert abs(y.mean() - 0.5) < 0.002
    assert abs(y.std() - 0.1) < 0.002
    expected = np.clip(x + 0.1 * rng(1).standard_normal(x.shape), 0, 1)
    np.testing.assert_allclose(y, expected, atol=1e-7)


def test_gaussian_clips_to_unit_range():
    y = dg.gaussian(constant(0.0, (64, 64)), rng(2), sigma=0.5)
    assert y.min() == 0.0 and y.max() <= 1.0
    assert (y == 0).mean() > 0.4


def test_lowlight_statistics_match_poisson_gaussian_theory():
    x = constant(0.5)
    exposure, photons, read = 0.1, 1000, 0.002
    y = dg.lowlight(x, rng(3), exposure=exposure, photons=photons, read_noise=read)
    lam = photons * exposure * 0.5
    assert abs(y.mean() - lam / photons) < 3e-4
    expected_var = lam / photons**2 + read**2
    assert abs(y.var() / expected_var - 1) < 0.03


def test_lowlight_draw_order_is_poisson_then_normal():
    x = np.linspace(0, 1, 64 * 64).reshape(64, 64)
    r = rng(4)
    counts = r.poisson(1000 * 0.1 * x)
    expected = np.clip(counts / 1000 + 0.002 * r.standard_normal(x.shape), 0, 1)
    np.testing.assert_allclose(dg.lowlight(x, rng(4)), expected, atol=1e-7)


def test_speckle_mean_correction_values():
    assert dg.speckle_mean_correction(1) == pytest.approx(2 / math.sqrt(math.pi))
    for looks in (1, 2, 4):
        # c(L) = 1 / E[sqrt(Gamma(L, 1/L))], checked by Monte Carlo
        g = rng(looks).gamma(looks, 1 / looks, size=400_000)
        assert dg.speckle_mean_correction(looks) == pytest.approx(1 / np.sqrt(g).mean(), rel=5e-3)


@pytest.mark.parametrize("looks", [1, 2, 4])
def test_speckle_keeps_brightness_and_has_gamma_power(looks):
    x = constant(0.4, (384, 384))
    y = dg.speckle(x, rng(5), looks=looks, psf_sigma=(1.0, 1.5), thermal=0.0).astype(np.float64)
    inner = y[32:-32, 32:-32]  # away from the reflect border
    assert inner.mean() == pytest.approx(0.4, rel=0.02)
    # env^2 / c^2 = x^2 * Gamma(L, 1/L): mean x^2, variance x^4 / L
    power = (inner / dg.speckle_mean_correction(looks)) ** 2
    assert power.mean() == pytest.approx(0.16, rel=0.03)
    assert power.var() == pytest.approx(0.16**2 / looks, rel=0.1)


def test_speckle_matches_reference_draw_order():
    from scipy.ndimage import gaussian_filter

    x = rng(6).random((48, 40))
    looks, sig, thermal = 2, (1.0, 1.5), 0.02
    r = rng(7)
    delta = np.zeros((41, 41))
    delta[20, 20] = 1
    h = gaussian_filter(delta, sig, mode="constant")
    power = 0
    for _ in range(looks):
        s = (r.standard_normal(x.shape) + 1j * r.standard_normal(x.shape)) / np.sqrt(2)
        field = x * s
        e = gaussian_filter(field.real, sig) + 1j * gaussian_filter(field.imag, sig)
        power = power + np.abs(e / np.sqrt((h**2).sum())) ** 2
    c = math.gamma(looks) * math.sqrt(looks) / math.gamma(looks + 0.5)
    expected = np.clip(np.sqrt(power / looks) * c + thermal * r.standard_normal(x.shape), 0, 1)
    np.testing.assert_allclose(dg.speckle(x, rng(7)), expected, atol=1e-6)


def test_speckle_rejects_non_2d():
    with pytest.raises(EnhanceError, match="2-D"):
        dg.speckle(np.zeros((4, 4, 3)), rng())


def test_rician_background_mean_is_rayleigh():
    y = dg.rician(constant(0.0), rng(8), sigma=0.05)
    assert y.mean() == pytest.approx(0.05 * math.sqrt(math.pi / 2), rel=0.02)


def test_lowdose_ct_is_faithful_at_high_dose_and_noise_scales_as_inverse_sqrt_dose():
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    x = resize(shepp_logan_phantom(), (96, 96), anti_aliasing=True)
    y = dg.lowdose_ct(x, rng(9), i0=1e7, angles=180)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.sqrt(np.mean((y - x) ** 2)) < 0.06  # FBP discretisation error only
    noise = {}
    for i0 in (1e5, 1e3):
        a = dg.lowdose_ct(x, rng(1), i0=i0, angles=180)
        b = dg.lowdose_ct(x, rng(2), i0=i0, angles=180)
        noise[i0] = np.std(a[24:72, 24:72] - b[24:72, 24:72])
    assert noise[1e3] / noise[1e5] == pytest.approx(10, rel=0.25)


def test_same_seed_same_image_different_seed_different_image():
    x = rng(10).random((32, 32))
    for name in ("gaussian25", "lowlight", "speckle", "rician"):
        a = tasks.degrade(x, name, seed=3)
        b = tasks.degrade(x, name, seed=3)
        c = tasks.degrade(x, name, seed=4)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_presets_and_resolve():
    assert tasks.PRESETS["gaussian50"].params == {"sigma": 50 / 255}
    d = tasks.resolve("speckle", looks=4)
    assert d.task == "speckle" and d.params == {"looks": 4} and d.function is dg.speckle
    with pytest.raises(UnknownName, match="gaussian25"):
        tasks.resolve("nope")
    with pytest.raises(EnhanceError, match="sigma"):
        tasks.resolve("lowlight", sigma=0.1)
    assert dg.benchmark_seed(3, 7) == 3007


def test_integer_images_are_refused():
    with pytest.raises(EnhanceError, match="float"):
        dg.gaussian(np.zeros((4, 4), np.uint8), rng())
