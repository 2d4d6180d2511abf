"""The medical-v1 and medical-v2 recipes, their split, user folders and patch sampling."""

import numpy as np
import pytest

from enhance import datasets
from enhance.datasets import PatchSampler, Region, check_recipe, load_recipe
from enhance.errors import EnhanceError, UnknownName


@pytest.fixture(scope="module")
def recipe():
    pytest.importorskip("pydicom")
    pytest.importorskip("dipy")
    return load_recipe("medical-v1")


def test_validation_is_large_varied_and_clean(recipe):
    validation = recipe["validation"]
    assert len(validation) >= 8
    for name, image in validation:
        assert image.ndim == 2 and min(image.shape) >= 256, name
        assert image.dtype == np.float32 and 0.0 <= image.min() and image.max() <= 1.0
    described = {p["name"]: p for p in recipe["provenance"] if "name" in p}
    modalities = {described[name]["modality"] for name, _ in validation}
    assert len(modalities) >= 4
    assert len({name for name, _ in validation}) == len(validation)


def test_training_images_and_provenance(recipe):
    assert len(recipe["train"]) >= 10
    assert all(img.ndim == 2 and img.dtype == np.float32 for img in recipe["train"])
    for entry in recipe["provenance"]:
        if "name" in entry:
            assert entry["licence"] and entry["source"] and entry["region"] and entry["split"]


def test_no_validation_or_sample_pixel_is_trained_on():
    assert check_recipe("medical-v1") == []


def test_medical_v2_extends_v1_with_the_same_validation_and_no_leak():
    v1, v2 = datasets.RECIPES["medical-v1"], datasets.RECIPES["medical-v2"]
    assert v2[: len(v1)] == v1
    assert all(region.split == "train" for region in v2[len(v1):])
    assert check_recipe("medical-v2") == []


def test_medical_v2_loads_more_training_pixels_from_more_modalities(recipe):
    pytest.importorskip("nilearn")
    v2 = load_recipe("medical-v2")
    assert [n for n, _ in v2["validation"]] == [n for n, _ in recipe["validation"]]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(v2["validation"], recipe["validation"]))
    pixels = [sum(image.size for image in r["train"]) for r in (recipe, v2)]
    assert pixels[1] > 2 * pixels[0]
    assert all(img.ndim == 2 and img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
               for img in v2["train"])
    modalities = {p["modality"] for p in v2["provenance"] if p.get("split") == "train"}
    assert {"MR (T1 template)", "natural photograph", "nuclear medicine"} <= modalities
    assert not any("skipped" in p for p in v2["provenance"])


def test_medical_v3_extends_v2_with_more_of_the_same_kinds_and_no_leak():
    pytest.importorskip("nilearn")
    v2, v3 = datasets.RECIPES["medical-v2"], datasets.RECIPES["medical-v3"]
    assert v3[: len(v2)] == v2
    assert all(region.split == "train" for region in v3[len(v2):])
    assert check_recipe("medical-v3") == []
    # the added template slices are other slices than v2's (no image twice)
    for plane in ("axial", "coronal", "sagittal"):
        old = next(r for r in v2 if r.name == f"mni-{plane}").frames
        new = next(r for r in v3 if r.name == f"mni-{plane}-more").frames
        assert new and not set(old) & set(new)
    loaded = {name: load_recipe(name) for name in ("medical-v2", "medical-v3")}
    assert [n for n, _ in loaded["medical-v3"]["validation"]] == [
        n for n, _ in loaded["medical-v2"]["validation"]]
    pixels = {name: sum(image.size for image in r["train"]) for name, r in loaded.items()}
    assert pixels["medical-v3"] > 3 * pixels["medical-v2"]
    assert not any("skipped" in p for p in loaded["medical-v3"]["provenance"])
    head = next(p for p in loaded["medical-v3"]["provenance"] if p.get("name") == "mr-sagittal-head")
    assert head["modality"] == "MR" and head["shape"] == [256, 256]


def test_the_overlap_check_can_fail(monkeypatch):
    bad = datasets.RECIPES["medical-v1"] + (
        Region("leak", "cell", "train", (300, 400, 300, 400)),
        Region("sample-leak", "ihc", "train", (200, 300, 200, 300)),
    )
    monkeypatch.setitem(datasets.RECIPES, "medical-v1", bad)
    problems = check_recipe("medical-v1")
    assert any("leak" in p and "validation" in p for p in problems)
    assert any("sample-leak" in p and "sample" in p for p in problems)


def test_samples_sources_are_not_loaded():
    sources = {SOURCE.access for SOURCE in datasets.SOURCES.values()}
    for reserved in ("CT_small", "MR_small", "J2K_pixelrep", "t1_coronal", "pydicom-data"):
        assert not any(reserved in s for s in sources)


def test_unknown_recipe_raises():
    with pytest.raises(UnknownName):
        load_recipe("imagenet")


def test_patch_sampler_is_seeded_and_skips_small_images():
    images = [
        np.random.default_rng(0).random((50, 60), dtype=np.float32),
        np.zeros((10, 10), np.float32),
    ]
    a = PatchSampler(images, 32, np.random.default_rng(4))
    b = PatchSampler(images, 32, np.random.default_rng(4))
    crops = [a.crop() for _ in range(5)]
    np.testing.assert_array_equal(crops, [b.crop() for _ in range(5)])
    assert all(c.shape == (32, 32) and c.flags["C_CONTIGUOUS"] for c in crops)
    assert len(a.images) == 1
    with pytest.raises(EnhanceError):
        PatchSampler(images, 64, np.random.default_rng(0))


def test_load_folder_splits_deterministically(tmp_path):
    pytest.importorskip("enhance.io")
    gen = np.random.default_rng(0)
    for index in range(9):
        folder = tmp_path / ("sub" if index % 2 else "")
        folder.mkdir(exist_ok=True)
        np.save(folder / f"img{index}.npy", gen.random((40, 30), dtype=np.float32))
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.warns(UserWarning):
        data = datasets.load_folder(tmp_path)
    assert len(data["train"]) + len(data["validation"]) == 9
    assert len(data["validation"]) == 1
    assert all(img.shape == (40, 30) for img in data["train"])
    with pytest.warns(UserWarning):
        again = datasets.load_folder(tmp_path)
    assert [n for n, _ in again["validation"]] == [n for n, _ in data["validation"]]


def test_recipe_snapshot_holds_the_recipes_pixels_and_detects_tampering(recipe, tmp_path):
    path = tmp_path / "medical-v1.npz"
    digest = datasets.save_recipe_snapshot(path, "medical-v1")
    loaded = datasets.load_recipe_snapshot(path)
    assert loaded["name"] == "medical-v1" and loaded["snapshot_sha256"] == digest
    assert len(loaded["train"]) == len(recipe["train"])
    for a, b in zip(loaded["train"], recipe["train"]):
        np.testing.assert_array_equal(a, b)
    assert [n for n, _ in loaded["validation"]] == [n for n, _ in recipe["validation"]]
    np.testing.assert_array_equal(loaded["validation"][-1][1], recipe["validation"][-1][1])
    assert loaded["provenance"] == recipe["provenance"]
    with np.load(path) as stored:
        arrays = dict(stored)
    arrays["image_0000"] = arrays["image_0000"] + np.float32(1e-3)
    np.savez(tmp_path / "tampered.npz", **arrays)
    with pytest.raises(EnhanceError, match="sha256"):
        datasets.load_recipe_snapshot(tmp_path / "tampered.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(EnhanceError, match="junk.npz"):
        datasets.load_recipe_snapshot(tmp_path / "junk.npz")


def test_ultrasound_real_v1_is_native_b_mode_training_only_away_from_the_benchmark_frames():
    pytest.importorskip("pydicom")
    regions = datasets.RECIPES["ultrasound-real-v1"]
    assert check_recipe("ultrasound-real-v1") == []
    assert all(r.split == "train" and r.downsample == 1 for r in regions)
    assert {datasets.SOURCES[r.source].modality for r in regions} == {"ultrasound"}
    echo = [r for r in regions if r.source == "us_echo"]
    # benchmarks/ultrasound_real.py measures echo frames 0, 2, 4, 10, 27 (and a Philips frame)
    assert echo and all(set(r.frames) <= set(range(12, 25)) for r in echo)
    recipe = load_recipe("ultrasound-real-v1")
    assert not any("skipped" in p for p in recipe["provenance"]) and recipe["validation"] == []
    assert len(recipe["train"]) == 14 and all(min(img.shape) >= 48 for img in recipe["train"])
    assert recipe["train"][0].shape == (224, 256)  # native: not the 2x-downsampled medical-v1 cut
    # the lymph-node cut is plain grayscale B-mode: no power-Doppler colour, no bar or label
    import pydicom

    (lymph,) = [r for r in regions if r.source == "us_lymph_node"]
    rgb = pydicom.dcmread(datasets._pydicom_file("examples_jpeg2k.dcm")).pixel_array.astype(int)
    r0, r1, c0, c1 = lymph.box
    cut = rgb[r0:r1, c0:c1]
    assert (cut.max(-1) - cut.min(-1)).max() == 0
    assert cut.max() < 200  # the bar's white labels and the Doppler box's outline are > 200
