"""Classical baselines (enhance.baselines): registry, contract, and that each one actually helps."""

import numpy as np
import pytest
from skimage import data, transform

from enhance.baselines import BASELINES, denoise, list_baselines
from enhance.baselines import lowlight as ll
from enhance.degrade import gaussian, lowlight, speckle
from enhance.errors import EnhanceError, UnknownName
from enhance.metrics import psnr

SIGMA = 25 / 255


def score(clean, out):
    return psnr(clean, out, data_range=1.0)


@pytest.fixture(scope="module")
def phantom():
    return transform.resize(data.shepp_logan_phantom(), (128, 128), anti_aliasing=True)


@pytest.fixture(scope="module")
def camera():
    return data.camera()[200:328, 200:328].astype(np.float64) / 255.0


@pytest.fixture(scope="module")
def noisy(phantom):
    return gaussian(phantom, np.random.default_rng(0), sigma=SIGMA)


@pytest.fixture(scope="module")
def gaussian_results(phantom, noisy):
    return {b.name: denoise(noisy, b.name, sigma=SIGMA) for b in list_baselines("gaussian")}


def test_registry_entries_and_tasks():
    assert set(BASELINES) == {
        "identity", "gaussian_filter", "median", "bilateral", "nlm", "wavelet", "tv", "bm3d",
        "lee", "frost", "srad", "bm3d_log", "gain", "gain_bm3d", "clahe", "vst_bm3d",
    }
    for b in BASELINES.values():
        assert b.tasks and set(b.tasks) <= {"gaussian", "lowlight", "speckle"}
        assert callable(b.function) and b.description and "\n" not in b.description
        assert b.function.__doc__, b.name
    speckle_names = {b.name for b in list_baselines("speckle")}
    assert {"lee", "frost", "srad", "median", "bm3d_log"} <= speckle_names
    assert {b.name for b in list_baselines("lowlight")} >= {"gain", "gain_bm3d", "clahe", "vst_bm3d"}
    assert "vst_bm3d" not in {b.name for b in list_baselines("gaussian")}
    assert len(list_baselines()) == len(BASELINES)
    with pytest.raises(UnknownName):
        list_baselines("rician-ish")


def test_unknown_name_lists_known(noisy):
    with pytest.raises(UnknownName) as info:
        denoise(noisy, "bm4d")
    assert "bm4d" in str(info.value) and "bm3d" in str(info.value) and "vst_bm3d" in str(info.value)
    assert isinstance(info.value, EnhanceError)


def test_unknown_option_is_a_clear_error(noisy):
    with pytest.raises(EnhanceError, match="window"):
        denoise(noisy, "lee", windw=5)
    with pytest.raises(EnhanceError, match="float"):
        denoise((noisy * 255).astype(np.uint8), "bm3d", sigma=SIGMA)  # range never guessed


def test_output_contract(noisy, gaussian_results):
    for name, out in gaussian_results.items():
        assert out.shape == noisy.shape and out.dtype == np.float32, name
        assert out.min() >= 0.0 and out.max() <= 1.0, name
    np.testing.assert_array_equal(gaussian_results["identity"], noisy)


@pytest.mark.parametrize(
    "name", [b.name for b in list_baselines("gaussian") if b.name != "identity"]
)
def test_gaussian_denoisers_beat_noisy_input(phantom, noisy, gaussian_results, name):
    base = score(phantom, noisy)
    assert score(phantom, gaussian_results[name]) > base + 1.0, name


def test_bm3d_beats_nlm_and_the_rest(phantom, gaussian_results):
    scores = {k: score(phantom, v) for k, v in gaussian_results.items()}
    assert scores["bm3d"] > scores["nlm"]
    assert scores["bm3d"] == max(scores.values())


@pytest.mark.parametrize("name", ["gaussian_filter", "median", "nlm", "tv"])
def test_estimated_sigma_also_helps(phantom, noisy, name):
    assert score(phantom, denoise(noisy, name)) > score(phantom, noisy) + 1.0


def test_gaussian_filter_sure_picks_wider_kernel_for_more_noise(phantom):
    rng = np.random.default_rng(1)
    lo = gaussian(phantom, rng, sigma=5 / 255)
    hi = gaussian(phantom, rng, sigma=60 / 255)
    # a wider kernel removes more high-frequency energy
    smooth = lambda y, s: np.abs(np.diff(denoise(y, "gaussian_filter", sigma=s), axis=0)).mean()
    assert smooth(hi, 60 / 255) / np.abs(np.diff(hi, axis=0)).mean() < smooth(lo, 5 / 255) / np.abs(
        np.diff(lo, axis=0)).mean()


def test_colour_is_denoised_per_channel(phantom, noisy):
    rgb = np.stack([noisy, noisy[::-1], noisy[:, ::-1]], axis=-1)
    out = denoise(rgb, "tv", sigma=SIGMA)
    assert out.shape == rgb.shape and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 1], denoise(noisy[::-1], "tv", sigma=SIGMA), atol=1e-6)


@pytest.fixture(scope="module")
def speckled(camera):
    return speckle(camera, np.random.default_rng(0))


@pytest.mark.parametrize("name", ["lee", "frost", "srad", "median", "bm3d_log"])
def test_despecklers_beat_identity(camera, speckled, name):
    assert score(camera, denoise(speckled, name)) > score(camera, speckled) + 1.5


def test_lee_with_known_looks(camera, speckled):
    assert score(camera, denoise(speckled, "lee", looks=2)) > score(camera, speckled) + 1.5


@pytest.fixture(scope="module")
def dark(phantom):
    return lowlight(phantom, np.random.default_rng(0), exposure=0.1)


def test_vst_bm3d_beats_gain_and_gain_gaussian(phantom, dark):
    vst = score(phantom, denoise(dark, "vst_bm3d", exposure=0.1))
    gain = score(phantom, denoise(dark, "gain", exposure=0.1))
    gain_gauss = score(phantom, denoise(dark, "gaussian_filter", exposure=0.1))
    assert gain_gauss > gain  # the generic "gain, then denoise" path denoises
    assert vst > gain + 3.0
    assert vst > gain_gauss + 1.0


def test_gain_restores_brightness(phantom, dark):
    out = denoise(dark, "gain", exposure=0.1)
    assert out.mean() == pytest.approx(phantom.mean(), rel=0.05)
    assert dark.mean() < 0.2 * phantom.mean()


@pytest.mark.parametrize("name", ["gain", "gain_bm3d", "clahe", "vst_bm3d"])
def test_lowlight_methods_need_exposure(dark, name):
    with pytest.raises(EnhanceError, match="exposure"):
        denoise(dark, name)


def test_noise_level_function_recovers_photons(camera):
    for photons in (300, 1000):
        y = lowlight(camera, np.random.default_rng(2), exposure=0.1, photons=photons)
        a, _ = ll.noise_level_function(y)
        assert 1.0 / a == pytest.approx(photons, rel=0.25)
        # a known photon count is used as given; the read noise is then fitted
        a, b = ll.noise_level_function(y, photons=photons)
        assert a == 1.0 / photons and 0.0 <= np.sqrt(b) < 0.005


def test_gat_exact_inverse_is_unbiased():
    rng = np.random.default_rng(0)
    s = 2.0  # read noise in counts (0.002 * 1000, the spec's default)
    for lam in (0.5, 3.0, 30.0):
        z = rng.poisson(lam, 400_000) + s * rng.standard_normal(400_000)
        d = ll.gat_forward(np.maximum(z, 0.0), s).mean()  # clip at 0 as in the spec
        assert float(ll.gat_inverse_exact(np.array([d]), s)[0]) == pytest.approx(lam, rel=0.03, abs=0.03)
    # at high counts the exact and closed-form inverses agree
    d = np.array([30.0, 60.0])
    np.testing.assert_allclose(ll.gat_inverse_exact(d, s), ll.gat_inverse_closed_form(d, s), rtol=1e-3)
