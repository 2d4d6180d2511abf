"""``enhance augment``: layout, manifest, reproducibility, transforms, resume, CLI."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from enhance.augment import apply_transform, augment_folder, draw_params
from enhance.tasks import all_tasks, degrade, get_task
from enhance.errors import EnhanceError
from enhance.io import read_image

DEGS = ["gaussian25", "lowlight", "speckle"]


def _records(out):
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def _gray(path):
    x = read_image(path).pixels
    return x if x.ndim == 2 else x[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)


def test_layout_manifest_and_pairs(real_folder, tmp_path):
    out = tmp_path / "aug"
    result = augment_folder(real_folder, out, DEGS, copies=2, seed=5)
    assert result.ok and result.count("done") == 3
    for rel in ("ct", "t1", "us/echo"):
        assert (out / "clean" / f"{rel}.png").is_file()
        for d in DEGS:
            for k in range(2):
                image = read_image(out / d / f"{rel}_{k}.png")
                assert image.meta.dtype == np.uint16
    records = _records(out)
    assert len(records) == 3
    for record in records:
        assert len(record["pairs"]) == 2 * len(DEGS)
        source = _gray(record["input"])
        for pair in record["pairs"]:
            stem = record["input"].split("clean/")[-1].rsplit(".", 1)[0]
            assert pair["clean"] == f"clean/{stem}.png"
            assert pair["file"] == f"{pair['degradation']}/{stem}_{pair['k']}.png"
            params = pair["params"]
            if pair["degradation"] == "gaussian25":
                assert params == {"sigma": 25 / 255}
            if pair["degradation"] == "lowlight":
                jitter = get_task("lowlight").jitter  # training's table
                assert jitter["exposure"][1] <= params["exposure"] <= jitter["exposure"][2]
                assert jitter["photons"][1] <= params["photons"] <= jitter["photons"][2]
            if pair["degradation"] == "speckle":
                jitter = get_task("speckle").jitter
                assert params["looks"] in (1, 2, 3, 4) and 0 <= params["thermal"] <= jitter["thermal"][2]
            again = degrade(apply_transform(source, pair["transform"]), pair["task"],
                            seed=pair["noise_seed"], **params)
            stored = read_image(out / pair["file"]).pixels
            assert np.abs(stored - again).max() <= 0.51 / 65535
    clean = read_image(out / "clean" / "t1.png").pixels
    assert clean.shape == (128, 128)


def test_same_seed_same_files_other_seed_differs(real_folder, tmp_path):
    a, b, c = (tmp_path / n for n in "abc")
    augment_folder(real_folder, a, ["speckle", "gaussian"], copies=1, seed=1)
    augment_folder(real_folder, b, ["speckle", "gaussian"], copies=1, seed=1)
    augment_folder(real_folder, c, ["speckle", "gaussian"], copies=1, seed=2)
    for rel in ("speckle/t1_0.png", "gaussian/us/echo_0.png"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
        assert (a / rel).read_bytes() != (c / rel).read_bytes()
    sigma = [p["params"]["sigma"] for r in _records(a) for p in r["pairs"] if p["task"] == "gaussian"]
    _, low, high = get_task("gaussian").jitter["sigma"]
    assert all(low <= s <= high for s in sigma) and len(set(sigma)) == 3


def test_geometric_and_gamma_transform_the_clean_pair(real_folder, tmp_path):
    out = tmp_path / "aug"
    augment_folder(real_folder, out, ["gaussian15"], copies=3, seed=0, geometric=True, gamma=True)
    record = next(r for r in _records(out) if r["input"].endswith("t1.png"))
    source = _gray(record["input"])
    transforms = [p["transform"] for p in record["pairs"]]
    assert any(t["rot90"] or t["flip"] for t in transforms)
    assert all(0.7 <= t["gamma"] <= 1.4 for t in transforms)
    for pair in record["pairs"]:
        assert pair["clean"] == f"clean/t1_{pair['k']}.png"
        clean = read_image(out / pair["clean"]).pixels
        assert np.abs(clean - apply_transform(source, pair["transform"])).max() <= 0.51 / 65535
    assert not (out / "clean" / "t1.png").exists()


def test_resume_and_refused_settings(real_folder, tmp_path):
    out = tmp_path / "aug"
    augment_folder(real_folder, out, ["gaussian25"], copies=1)
    (out / "gaussian25" / "t1_0.png").unlink()
    again = augment_folder(real_folder, out, ["gaussian25"], copies=1)
    assert again.count("done") == 1 and again.count("skipped") == 2
    assert (out / "gaussian25" / "t1_0.png").is_file()
    with pytest.raises(EnhanceError, match="other settings"):
        augment_folder(real_folder, out, ["gaussian25"], copies=2)
    with pytest.raises(EnhanceError, match="inside the input folder"):
        augment_folder(real_folder, real_folder / "out", ["gaussian25"])


def test_copies_draw_from_the_tasks_training_jitter():
    # one table: augment draws each task's parameters exactly as training does
    for task in all_tasks():
        drawn = draw_params(task.name, np.random.default_rng([3, 1]))
        assert drawn == task.sample_params(np.random.default_rng([3, 1]))
        assert set(drawn) == set(task.jitter)
    # a preset that sets its level keeps it; fixed keeps the preset's values
    assert draw_params("gaussian25", np.random.default_rng(0)) == {"sigma": 25 / 255}
    assert draw_params("lowlight", np.random.default_rng(0), fixed=True) == {}


def test_cli_exit_codes(real_folder, tmp_path):
    from enhance.cli.augment import augment

    runner = CliRunner()
    r = runner.invoke(augment, [str(real_folder), str(tmp_path / "o"), "--degradations",
                                "gaussian25,speckle", "--copies", "2", "--seed", "3", "-q"])
    assert r.exit_code == 0, r.output
    assert "3 done" in r.output
    assert (tmp_path / "o" / "speckle" / "us" / "echo_1.png").is_file()
    r = runner.invoke(augment, [str(real_folder), str(tmp_path / "p"), "--degradations", "blur"])
    assert r.exit_code == 1 and "unknown degradation 'blur'" in r.output
    r = runner.invoke(augment, [str(real_folder), str(tmp_path / "q"), "--copies", "0"])
    assert r.exit_code == 2
    r = runner.invoke(augment, [str(tmp_path / "missing"), str(tmp_path / "r")])
    assert r.exit_code == 1 and "no such file" in r.output
