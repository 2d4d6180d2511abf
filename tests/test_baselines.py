"""Classical baselines (enhance.baselines): registry, contract, and that each one actually helps."""

import math

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import data, transform

from enhance.baselines import BASELINES, denoise, list_baselines
from enhance.tasks import all_tasks, task_names
from enhance.baselines import lowlight as ll
from enhance.baselines import speckle as sp
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
        "box", "nlm_log", "obnlm",
    } | set(VST_FILTERS)
    for b in BASELINES.values():
        assert b.tasks and set(b.tasks) <= set(task_names())
        assert callable(b.function) and b.description and "\n" not in b.description
        assert b.function.__doc__, b.name
    speckle_names = {b.name for b in list_baselines("speckle")}
    assert {"lee", "frost", "srad", "median", "bm3d_log", "box", "gaussian_filter", "bilateral",
            "nlm", "nlm_log", "obnlm"} <= speckle_names
    assert {b.name for b in list_baselines("lowlight")} >= {"gain", "gain_bm3d", "clahe", "vst_bm3d"}
    assert "vst_bm3d" not in {b.name for b in list_baselines("gaussian")}
    assert len(list_baselines()) == len(BASELINES)
    with pytest.raises(UnknownName):
        list_baselines("rician-ish")
    # every task names only registered methods, and the Gaussian denoisers serve Rician MR too
    for task in all_tasks():
        assert set(task.baselines) <= set(BASELINES), task.name
    assert "bm3d" in {b.name for b in list_baselines("rician")}


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


VST_FILTERS = ["vst_nlm", "vst_tv", "vst_wavelet", "vst_bilateral", "vst_median", "vst_gaussian_filter"]


@pytest.mark.parametrize("name", VST_FILTERS)
def test_each_traditional_filter_in_the_vst_domain_denoises_low_light(camera, name):
    dark = lowlight(camera, np.random.default_rng(0), exposure=0.1)
    out = denoise(dark, name, exposure=0.1)
    assert out.shape == dark.shape and out.dtype == np.float32
    assert score(camera, out) > score(camera, denoise(dark, "gain", exposure=0.1)) + 1.0
    assert out.mean() == pytest.approx(camera.mean(), rel=0.03)  # the unbiased inverse keeps it


def test_vst_filter_with_bm3d_is_vst_bm3d(dark):
    """The generic VST path (scaled to [0, 1], told 1/scale) reproduces the dedicated VST+BM3D."""
    small = dark[:64, :64]
    generic = ll.vst_filter(small, BASELINES["bm3d"].function, exposure=0.1)
    np.testing.assert_allclose(generic, denoise(small, "vst_bm3d", exposure=0.1), atol=0.02)


@pytest.mark.parametrize("name", ["gain", "gain_bm3d", "clahe", "vst_bm3d"] + VST_FILTERS)
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


# --- Lee, Frost and SRAD pinned to closed-form behaviour and to reference implementations -------
#
# The speckle here is the textbook model the three filters assume: ``y = x u`` with ``u`` an L-look
# amplitude of mean 1, independent per pixel: ``u = sqrt(Gamma(L, 1/L)) c(L)`` (the spec's
# envelope without its PSF), of coefficient of variation ``Cu = sqrt(c(L)^2 - 1)``, so that the
# equivalent number of looks (ENL = mean^2 / variance) of a homogeneous region is ``1 / Cu^2``.

LOOKS = 2
C_L = math.gamma(LOOKS) * math.sqrt(LOOKS) / math.gamma(LOOKS + 0.5)  # the spec's c(L)
CU = math.sqrt(C_L**2 - 1.0)
DESPECKLERS = {"lee": sp.lee, "frost": sp.frost, "srad": sp.srad}
INNER = np.s_[8:-8, 8:-8]  # away from the borders


def fully_developed(clean, rng):
    return clean * np.sqrt(rng.gamma(LOOKS, 1.0 / LOOKS, clean.shape)) * C_L


def enl(region):
    return region.mean() ** 2 / region.var()


def box7(image):
    return ndi.uniform_filter(image, 7, mode="reflect")


@pytest.fixture(scope="module")
def flat_speckle():
    return fully_developed(np.full((128, 128), 0.5), np.random.default_rng(0))


def test_the_closed_form_speckle_has_the_closed_form_enl(flat_speckle):
    assert enl(flat_speckle[INNER]) == pytest.approx(1.0 / CU**2, rel=0.05)
    assert sp.looks_to_cu(LOOKS) == pytest.approx(CU, rel=1e-12)


@pytest.mark.parametrize("name", sorted(DESPECKLERS))
def test_despeckler_multiplies_the_enl_of_a_homogeneous_region(name, flat_speckle):
    out = DESPECKLERS[name](flat_speckle).astype(np.float64)
    gain = enl(out[INNER]) / enl(flat_speckle[INNER])
    assert gain > 10, gain
    if name != "srad":  # a 7 x 7 window averages at most 49 independent pixels
        assert gain < 49 * 1.1, gain
    assert out[INNER].mean() == pytest.approx(flat_speckle[INNER].mean(), rel=0.005)


def test_frost_enl_gain_is_that_of_its_exponential_kernel(flat_speckle):
    """In a homogeneous region ``Ci ~ Cu``: Frost is close to the fixed kernel ``exp(-2 Cu^2 |t|)``,
    whose ENL gain on independent pixels is ``(sum w)^2 / sum w^2`` (45.5; a box's is 49)."""
    dy, dx = np.mgrid[-3:4, -3:4]
    weights = np.exp(-2.0 * CU**2 * np.hypot(dy, dx))
    expected = weights.sum() ** 2 / (weights**2).sum()
    out = sp.frost(flat_speckle).astype(np.float64)
    assert enl(out[INNER]) / enl(flat_speckle[INNER]) == pytest.approx(expected, rel=0.05)


@pytest.fixture(scope="module")
def step_speckle():
    clean = np.full((128, 64), 0.2)
    clean[:, 32:] = 0.8
    return clean, fully_developed(clean, np.random.default_rng(1))


def edge_sharpness(out, clean):
    """The row-averaged profile's jump across the edge (as a fraction of the step) and its mean
    absolute error within 4 pixels of the edge."""
    profile = np.asarray(out, np.float64)[8:-8].mean(axis=0)
    jump = (profile[32] - profile[31]) / (clean[0, 32] - clean[0, 31])
    return jump, np.abs(profile[28:36] - clean[0, 28:36]).mean()


@pytest.mark.parametrize("name", sorted(DESPECKLERS))
def test_despeckler_keeps_a_step_edge_sharper_than_a_box_filter(name, step_speckle):
    clean, noisy = step_speckle
    box_jump, box_error = edge_sharpness(box7(noisy), clean)
    assert box_jump < 0.2  # the same window's mean spreads the step over 7 pixels
    jump, error = edge_sharpness(DESPECKLERS[name](noisy), clean)
    assert jump > 2 * box_jump, (jump, box_jump)
    assert error < 0.75 * box_error, (error, box_error)


def _windows(image, window):
    """Every pixel's ``window`` x ``window`` neighbourhood, borders mirrored as scipy's "reflect"."""
    r = window // 2
    padded = np.pad(image, r, mode="symmetric")
    return np.lib.stride_tricks.sliding_window_view(padded, (window, window))


def reference_lee(y, cu, window=7):
    """Lee's local-statistics filter written out per pixel: ``m + k (y - m)``,
    ``k = clip(1 - Cu^2 / Ci^2, 0, 1)``, ``Ci^2 = var / mean^2`` over the window (the form the
    project documents: Lee 1980's gain without its ``1 / (1 + Cu^2)`` factor)."""
    w = _windows(y, window)
    m, v = w.mean(axis=(-2, -1)), w.var(axis=(-2, -1))
    k = np.clip(1.0 - cu**2 / (v / m**2), 0.0, 1.0)
    return np.clip(m + k * (y - m), 0, 1)


def reference_frost(y, damping=2.0, window=7):
    """Frost et al. 1982 written out per pixel: the window's mean weighted by
    ``exp(-damping Ci^2 |t|)``, ``|t|`` the distance to the centre."""
    w = _windows(y, window)
    ci2 = w.var(axis=(-2, -1)) / w.mean(axis=(-2, -1)) ** 2
    r = window // 2
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    weights = np.exp(-damping * ci2[..., None, None] * np.hypot(dy, dx))
    return np.clip((weights * w).sum(axis=(-2, -1)) / weights.sum(axis=(-2, -1)), 0, 1)


@pytest.fixture(scope="module")
def speckled_camera(camera):
    return fully_developed(camera[:64, :80] * 0.9 + 0.05, np.random.default_rng(2))


def test_lee_matches_a_reference_implementation(speckled_camera):
    np.testing.assert_allclose(sp.lee(speckled_camera, cu=CU), reference_lee(speckled_camera, CU),
                               atol=1e-6)
    np.testing.assert_allclose(sp.lee(speckled_camera, looks=LOOKS),
                               reference_lee(speckled_camera, CU), atol=1e-6)


def test_frost_matches_a_reference_implementation(speckled_camera):
    np.testing.assert_allclose(sp.frost(speckled_camera), reference_frost(speckled_camera),
                               atol=1e-6)
    np.testing.assert_allclose(sp.frost(speckled_camera, damping=5.0, window=5),
                               reference_frost(speckled_camera, damping=5.0, window=5), atol=1e-6)
