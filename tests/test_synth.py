"""GAN synthesis: conditioning, generation manifest, copy check, FD/KID, MS-SSIM, train step,
save/load, resume, evaluation, CLI. Tiny networks (16 x 16 images, a few steps)."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from enhance.errors import EnhanceError, ModelError, UnknownName
from enhance.io import read_image, write_image

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

TINY = dict(size=16, width=4, latent_dim=8, embed_dim=4, max_width=16, batch_size=4)


def _crops(path, n, side=48, seed=0):
    img = read_image(path).pixels
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        top = rng.integers(32, img.shape[0] - side - 32)
        left = rng.integers(32, img.shape[1] - side - 32)
        out.append(img[top:top + side, left:left + side])
    return out


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
    """Two classes of real 48 x 48 crops (MR and CT), 16-bit PNG."""
    root = tmp_path_factory.mktemp("data")
    for cls, name in (("mr", "t1_coronal.png"), ("ct", "head_ct.png")):
        for k, crop in enumerate(_crops(SAMPLES / name, 8, seed=len(cls))):
            write_image(root / cls / f"{k:02d}.png", crop, dtype=np.uint16)
    return root


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, class_folder):
    from enhance.synth.training import train

    out = tmp_path_factory.mktemp("model")
    result = train(class_folder, out, steps=4, checkpoint_every=2, sample_every=2,
                   progress=False, **TINY)
    assert result["step"] == 4
    return out


@pytest.fixture(scope="module")
def generator(tiny_model):
    from enhance.synth.modeldir import load_generator

    return load_generator(tiny_model)


def test_class_folder_loads_with_classes(class_folder):
    from enhance.synth.data import load_folder

    data = load_folder(class_folder, 16)
    assert data.class_names == ["ct", "mr"]
    assert data.images.shape == (16, 16, 16) and data.bit_depth == 16
    assert np.bincount(data.labels).tolist() == [8, 8]


def test_mixed_layout_is_refused(tmp_path, class_folder):
    from enhance.synth.data import load_folder

    write_image(tmp_path / "a" / "x.png", np.zeros((16, 16), np.float32))
    write_image(tmp_path / "y.png", np.zeros((16, 16), np.float32))
    with pytest.raises(EnhanceError, match="subfolders"):
        load_folder(tmp_path, 16)


def test_conditioning_changes_the_image_and_unknown_class_is_refused(generator, tmp_path):
    from enhance.synth.generate import sample

    seeds = [[0, 1], [0, 1]]
    images = sample(generator, seeds, [0, 1])
    assert np.abs(images[0] - images[1]).max() > 1e-4
    same = sample(generator, seeds, [1, 1])
    np.testing.assert_allclose(same[0], same[1], atol=1e-6)  # equal up to batch-position rounding
    with pytest.raises(UnknownName, match="'ct', 'mr'"):
        generator.class_index("xray")


def test_generate_manifest_seeds_and_sha(tiny_model, generator, tmp_path):
    from enhance.synth.generate import generate_folder, image_for_seed
    from enhance.synth.modeldir import GENERATOR_FILE, file_sha256

    result = generate_folder(tiny_model, 5, tmp_path / "out", seed=3)
    records = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert result["written"] == len(records) == 5
    sha = file_sha256(tiny_model / GENERATOR_FILE)
    assert all(r["model_sha256"] == sha for r in records)
    assert [r["class"] for r in records] == ["ct", "mr", "ct", "mr", "ct"]
    assert [r["seed"] for r in records] == [[3, i] for i in range(5)]
    for r in records:
        image = read_image(tmp_path / "out" / r["file"])
        assert image.meta.dtype == np.uint16 and r["file"].startswith(r["class"] + "/")
        again = image_for_seed(generator, r["seed"], r["class"])
        assert np.abs(image.pixels - again).max() <= 1.5 / 65535
    other = generate_folder(tiny_model, 2, tmp_path / "other", seed=4, class_name="mr")
    assert other["written"] == 2
    first = read_image(tmp_path / "out" / records[0]["file"]).pixels
    assert not np.array_equal(first, read_image(tmp_path / "other" / "mr" / "synth_000000.png").pixels)


def test_generate_and_evaluate_report_progress_done_total_item(tiny_model, class_folder, tmp_path):
    """The package's one progress protocol: generate reports each image written, evaluate
    each stage as it starts, then (total, total, "done")."""
    from enhance.synth.evaluate import evaluate
    from enhance.synth.generate import generate_folder

    out, calls = tmp_path / "out", []
    generate_folder(tiny_model, 5, out, seed=3, batch_size=2,
                    progress=lambda *args: calls.append(args))
    files = [json.loads(line)["file"] for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert calls == [(i + 1, 5, out / rel) for i, rel in enumerate(files)]

    for source, first in ((out, "features of"), (tiny_model, "generating 4 images")):
        stages = []
        evaluate(source, class_folder, n=4, baselines=False, usefulness=False,
                 progress=lambda *args: stages.append(args))
        total = 3 if source == tiny_model else 2
        assert [(done, t) for done, t, _ in stages] == [(i, total) for i in range(total + 1)]
        assert stages[0][2].startswith(first) and stages[-1][2] == "done"
        assert any("scoring 4 generated images" == item for *_, item in stages)


def test_copy_check_flags_a_training_image_not_noise(class_folder):
    from enhance.metrics import ssim
    from enhance.synth.copies import nearest_training, ssim_against
    from enhance.synth.data import load_folder

    train = load_folder(class_folder, 16).images
    rng = np.random.default_rng(0)
    noise = rng.random((4, 16, 16)).astype(np.float32)
    generated = np.concatenate([noise, train[3:4], train[5:6, :, ::-1]])
    match = nearest_training(generated, train)
    assert match.flagged().tolist() == [False] * 4 + [True, True]
    assert match.index[4] == 3 and match.index[5] == 5 and match.flipped[5]
    values = ssim_against(noise[0], train[:3])
    expected = [ssim(noise[0], t, data_range=1.0) for t in train[:3]]
    np.testing.assert_allclose(values, expected, atol=1e-10)


def test_reject_copies_leaves_out_a_copy(tiny_model, class_folder, tmp_path, monkeypatch):
    from enhance.synth import generate as gen_module
    from enhance.synth.data import load_folder

    train = load_folder(class_folder, 16).images
    original = gen_module.generate_images

    def with_a_copy(generator, n, **kwargs):
        images, labels, seeds = original(generator, n, **kwargs)
        images[1] = train[2]  # seed index 1 reproduces a training image
        return images, labels, seeds

    monkeypatch.setattr(gen_module, "generate_images", with_a_copy)
    result = gen_module.generate_folder(tiny_model, 4, tmp_path / "out", reject_copies=True,
                                        real=class_folder)
    assert result["written"] == 4 and result["rejected"] >= 1
    files = [json.loads(line)["file"] for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert "mr/synth_000001.png" not in files and len(files) == 4
    rejected = [json.loads(line) for line in (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()]
    assert rejected[0]["seed"] == [0, 1] and rejected[0]["nearest_ssim"] >= 0.9
    with pytest.raises(EnhanceError, match="--real"):
        gen_module.generate_folder(tiny_model, 1, tmp_path / "x", reject_copies=True)


def test_frechet_distance_of_a_set_with_itself_is_zero_and_grows_with_noise():
    from enhance.synth.distances import frechet_distance, kernel_inception_distance
    from enhance.synth.features import load_feature_net

    net = load_feature_net()
    images = np.stack(_crops(SAMPLES / "t1_coronal.png", 40, side=64, seed=1)).astype(np.float32)
    rng = np.random.default_rng(0)
    f = net.embed(images)
    fds = [frechet_distance(f, f)]
    for sigma in (0.01, 0.02, 0.05, 0.3):
        noisy = np.clip(images + sigma * rng.standard_normal(images.shape), 0, 1)
        fds.append(frechet_distance(f, net.embed(noisy)))
    assert fds[0] < 1e-6 * fds[1]
    assert fds[0] < fds[1] < fds[2] < fds[3]  # grows with the noise up to sigma ~0.1 ...
    assert fds[4] > fds[2]  # ... and heavy noise stays far (the features saturate, see module)
    a = rng.standard_normal((300, 4))
    assert abs(frechet_distance(a, a + 1.0) - 4.0) < 1e-9
    assert kernel_inception_distance(f, f[::-1])[0] < kernel_inception_distance(f, f + 1.0)[0]


def test_precision_recall():
    from enhance.synth.distances import precision_recall

    rng = np.random.default_rng(0)
    real = rng.standard_normal((200, 3))
    assert precision_recall(real, real) == (1.0, 1.0)
    far = precision_recall(real, real + 100.0)
    assert far == (0.0, 0.0)
    collapsed = precision_recall(real, real[:50] * 0.01)  # all near the mean: precise, low recall
    assert collapsed[0] > 0.9 and collapsed[1] < 0.5


def test_ms_ssim_identical_is_one_and_drops_with_noise():
    from enhance.synth.msssim import diversity, ms_ssim, ms_ssim_pairs

    x = _crops(SAMPLES / "t1_coronal.png", 1, side=64)[0].astype(np.float64)
    assert ms_ssim(x, x, data_range=1.0) == 1.0
    rng = np.random.default_rng(0)
    values = [ms_ssim(x, np.clip(x + s * rng.standard_normal(x.shape), 0, 1), data_range=1.0)
              for s in (0.02, 0.1)]
    assert 1.0 > values[0] > values[1]
    stack = np.stack([x, x[::-1]])
    np.testing.assert_allclose(ms_ssim_pairs(stack, stack, data_range=1.0), [1.0, 1.0])
    assert diversity(np.stack([x] * 3)) == 1.0
    with pytest.raises(EnhanceError):
        ms_ssim(x, x, data_range=None)


def test_gan_train_step_updates_both_networks():
    import keras

    from enhance.synth.gan import SynthGAN
    from enhance.synth.models import build_discriminator, build_generator

    g = build_generator(16, 2, latent_dim=8, width=4, embed_dim=4, max_width=16)
    d = build_discriminator(16, 2, width=4, max_width=16)
    gan = SynthGAN(g, d, 8, 2, seed=1)
    gan.compile()
    before = [[np.array(v) for v in m.trainable_variables] for m in (g, d, gan.ema_generator)]
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, 16, 16, 1)).astype(np.float32)
    y = np.array([[0], [1], [0], [1]], np.int32)
    for _ in range(2):
        logs = gan.train_on_batch(x, y, return_dict=True)
    assert set(logs) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(float(v)) for v in logs.values())
    for model, old in zip((g, d, gan.ema_generator), before):
        changed = [not np.array_equal(o, np.array(v)) for o, v in zip(old, model.trainable_variables)]
        assert sum(changed) >= len(changed) // 2, model.name
    assert int(gan.d_optimizer.iterations) == int(gan.g_optimizer.iterations) == 2
    assert isinstance(gan.seed_generator, keras.random.SeedGenerator)


def test_diff_augment_keeps_shape_and_is_differentiable_shift():
    from keras import ops

    from enhance.synth.diffaug import _shift_matrix, diff_augment

    x = np.random.default_rng(0).uniform(-1, 1, (3, 16, 16, 1)).astype(np.float32)
    out = np.asarray(diff_augment(x, seed=3))
    assert out.shape == x.shape and not np.allclose(out, x)
    np.testing.assert_array_equal(np.asarray(diff_augment(x, "")), x)
    s = np.asarray(_shift_matrix(ops.convert_to_tensor([2.0]), 5))[0]
    np.testing.assert_array_equal(s @ np.arange(5.0), [2, 3, 4, 0, 0])
    with pytest.raises(EnhanceError, match="unknown DiffAugment"):
        diff_augment(x, "blur")


def test_save_load_round_trip_is_bit_identical(generator, tmp_path):
    from enhance.synth.generate import sample
    from enhance.synth.modeldir import CARD_FILE, load_generator, save_generator_dir

    sha = save_generator_dir(tmp_path / "copy", generator.model, dict(generator.config),
                             {"note": "copy"})
    loaded = load_generator(tmp_path / "copy")
    assert loaded.sha256 == sha == generator.sha256
    seeds = [[1, i] for i in range(6)]
    labels = [0, 1, 0, 1, 0, 1]
    assert np.array_equal(sample(generator, seeds, labels), sample(loaded, seeds, labels))
    card = json.loads((tmp_path / "copy" / CARD_FILE).read_text())
    card["generator_sha256"] = "0" * 64
    (tmp_path / "copy" / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="SHA-256 .* does not match card.json"):
        load_generator(tmp_path / "copy")


def test_resume_continues_from_the_checkpoint(tiny_model, class_folder, tmp_path):
    import shutil

    from enhance.synth.training import train

    work = tmp_path / "m"
    shutil.copytree(tiny_model, work)
    result = train(class_folder, work, steps=6, checkpoint_every=2, progress=False, **TINY)
    assert result["resumed_from"] == 4 and result["step"] == 6
    state = json.loads((work / "checkpoint" / "state.json").read_text())
    assert state["step"] == 6
    assert json.loads((work / "card.json").read_text())["steps"] == 6
    assert sorted(p.name for p in (work / "samples").iterdir())[-1] == "step_000006.png"
    with pytest.raises(EnhanceError, match="another training run"):
        train(class_folder, work, steps=8, progress=False, **{**TINY, "width": 8})


def test_usefulness_tells_useful_synthetic_images_from_harmful_ones(class_folder):
    """MR and CT crops are told apart from 8 real images; "synthetic" images that are copies of
    them with their own labels keep the held-out accuracy, the same copies with the labels swapped
    (4 per real image) ruin it: the synthetic arm trains on the synthetic images and their classes,
    and both arms are scored on the held-out real images."""
    from enhance.synth.data import load_folder
    from enhance.synth.usefulness import usefulness

    data = load_folder(class_folder, 16)
    real_x, real_y = data.images[::2], data.labels[::2]
    test_x, test_y = data.images[1::2], data.labels[1::2]
    assert sorted(real_y) == sorted(test_y) == [0, 0, 0, 0, 1, 1, 1, 1]
    copies_x, copies_y = np.repeat(real_x, 4, axis=0), np.repeat(real_y, 4)
    arms = ("real", "real+synthetic")
    useful = usefulness(real_x, real_y, (copies_x, copies_y), test_x, test_y, 2, arms=arms,
                        steps=60, seeds=1)
    harmful = usefulness(real_x, real_y, (copies_x, 1 - copies_y), test_x, test_y, 2, arms=arms,
                         steps=60, seeds=1)
    assert useful["runs"]["real"] == harmful["runs"]["real"]  # same seed, same real arm
    assert useful["arms"]["real"]["mean"] >= 0.75
    assert useful["arms"]["real+synthetic"]["mean"] >= 0.75
    assert harmful["arms"]["real+synthetic"]["mean"] <= 0.25
    assert useful["train_synthetic"] == 32 and useful["test_real"] == 8
    assert useful["runs"]["real+synthetic"] == [useful["arms"]["real+synthetic"]["mean"]]


def test_baselines(class_folder):
    from enhance.synth.baselines import gaussian_images, shifted_copies
    from enhance.synth.data import load_folder

    real = load_folder(class_folder, 16).images
    g = gaussian_images(real, 500, seed=0)
    assert g.shape == (500, 16, 16) and g.min() >= 0 and g.max() <= 1
    assert np.abs(g.mean(0) - real.mean(0)).mean() < 0.05
    s, params = shifted_copies(real, 3, seed=0)
    p = params[0]
    img = real[p["index"]][:, ::-1] if p["flip"] else real[p["index"]]
    assert np.allclose(np.roll(img, (p["dy"], p["dx"]), (0, 1))[2:-2, 2:-2], s[0][2:-2, 2:-2])


def test_cli_generate_evaluate_and_errors(tiny_model, class_folder, tmp_path):
    from enhance.cli.synth import synth

    runner = CliRunner()
    r = runner.invoke(synth, ["generate", str(tiny_model), str(tmp_path / "g"), "-n", "6", "-q"])
    assert r.exit_code == 0, r.output
    assert len((tmp_path / "g" / "manifest.jsonl").read_text().splitlines()) == 6
    r = runner.invoke(synth, ["generate", str(tiny_model), str(tmp_path / "h"), "--class", "xray"])
    assert r.exit_code == 1 and "unknown class 'xray'" in r.output
    r = runner.invoke(synth, ["generate", str(tiny_model), str(tmp_path / "h"), "--reject-copies"])
    assert r.exit_code == 2 and "--real" in r.output
    r = runner.invoke(synth, ["generate", str(tmp_path / "nothing"), str(tmp_path / "h")])
    assert r.exit_code == 1 and "not a generator directory" in r.output
    r = runner.invoke(synth, ["evaluate", str(tiny_model), "--real", str(class_folder), "-n", "12",
                              "--no-usefulness", "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert set(report["sets"]) == {"generated", "gaussian", "shifted_copies"}
    assert report["features"]["name"] == "synth-features-rot64"
    assert (tmp_path / "rep" / "grid.png").is_file() and (tmp_path / "rep" / "report.md").is_file()
    r = runner.invoke(synth, ["evaluate", str(tmp_path / "g"), "--real", str(class_folder),
                              "--no-baselines", "--no-usefulness"])
    assert r.exit_code == 0, r.output
    assert "generated" in r.output
    r = runner.invoke(synth, ["evaluate", str(tmp_path / "g"), "--real", str(class_folder),
                              "--no-baselines", "--no-usefulness", "--record"])
    assert r.exit_code == 1 and "--record needs a generator directory" in r.output


def test_cli_evaluate_record_writes_the_figures_into_the_card(tiny_model, class_folder, tmp_path):
    import shutil

    from enhance.cli.synth import synth

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    r = CliRunner().invoke(synth, ["evaluate", str(model), "--real", str(class_folder), "-n", "12",
                                   "--no-usefulness", "--out", str(tmp_path / "rep"), "--record"])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    card = json.loads((model / "card.json").read_text())
    recorded = card["evaluation"]
    assert recorded["fd"]["generated"] == round(report["sets"]["generated"]["fd"], 3)
    assert recorded["fd"]["gaussian"] == round(report["sets"]["gaussian"]["fd"], 3)
    assert recorded["verdict"] == report["verdict"]
    assert recorded["command"].startswith(f"enhance synth evaluate {model} --real ")
    assert recorded["command"].endswith("--record") and "-n 12" in recorded["command"]
    assert card["generator_sha256"] == json.loads((tiny_model / "card.json").read_text())[
        "generator_sha256"]


def test_cli_train_writes_a_model_dir_and_refuses_bad_data(class_folder, tmp_path):
    from enhance.cli.synth import synth

    runner = CliRunner()
    r = runner.invoke(synth, ["train", str(class_folder), "--out", str(tmp_path / "m"),
                              "--steps", "1", "--width", "4", "--batch-size", "2", "-q",
                              "--policy", "color,translation"])
    assert r.exit_code == 0, r.output
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert card["steps"] == 1 and config["size"] == 64 and config["class_names"] == ["ct", "mr"]
    assert config["policy"] == "color,translation" and "--policy color,translation" in card["command"]
    r = runner.invoke(synth, ["train", str(class_folder), "--out", str(tmp_path / "p"),
                              "--steps", "1", "--width", "4", "--policy", "color,zoom", "-q"])
    assert r.exit_code == 1 and "unknown DiffAugment policy 'zoom'" in r.output
    (tmp_path / "empty").mkdir()
    r = runner.invoke(synth, ["train", str(tmp_path / "empty"), "--out", str(tmp_path / "e")])
    assert r.exit_code == 1 and "no images" in r.output
    r = runner.invoke(synth, ["train", str(class_folder), "--out", str(tmp_path / "m"),
                              "--size", "32"])
    assert r.exit_code == 2


def _toy_volume():
    """An 81 x 47 x 39 volume: an ellipsoid of 'tissue', left-right symmetric like MNI152."""
    x, y, z = np.meshgrid(np.linspace(-1, 1, 81), np.linspace(-1, 1, 47), np.linspace(-1, 1, 39),
                          indexing="ij")
    return np.where(x**2 + y**2 / 0.8 + z**2 / 0.7 < 0.8, 100.0 + 50 * np.cos(6 * y), 0.0)


def test_mni_recipe_split_has_a_gap_and_one_hemisphere():
    from enhance.synth.recipes import MNI_BLOCK, MNI_GAP, mni_brain_slices

    slices = mni_brain_slices(16, volume=_toy_volume())
    assert {cls for _, cls, _, _ in slices} == {"axial", "coronal", "sagittal"}
    assert all(img.shape == (16, 16) and 0 <= img.min() and img.max() <= 1
               for *_, img in slices)
    for cls in ("axial", "coronal", "sagittal"):
        positions = {split: sorted(int(name[-3:]) for s, c, name, _ in slices
                                   if c == cls and s == split)
                     for split in ("train", "holdout")}
        assert positions["holdout"], cls
        # every holdout slice is more than MNI_GAP slices away from every training slice
        gaps = [min(abs(h - t) for t in positions["train"]) for h in positions["holdout"]]
        assert min(gaps) > MNI_GAP, (cls, gaps)
        assert len(positions["holdout"]) <= (MNI_BLOCK - 2 * MNI_GAP) * (
            len(positions["train"]) // MNI_BLOCK + 1)
    sagittal = [int(name[-3:]) for _, c, name, _ in slices if c == "sagittal"]
    assert min(sagittal) >= 40  # mirror twins x and 80 - x never both appear


def test_mni_recipe_without_nilearn_says_how_to_install(monkeypatch):
    import importlib.util

    from enhance.synth import recipes

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "nilearn" else real(name, *a))
    with pytest.raises(EnhanceError, match="pip install --no-deps nilearn"):
        recipes.mni_volume()
