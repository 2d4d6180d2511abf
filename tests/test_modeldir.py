"""Model directories: config, weights and card; rebuilt by the registry; sha256 checked."""

import json
import os

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from enhance.errors import ModelError  # noqa: E402
from enhance.modeldir import (  # noqa: E402
    CARD_FILE,
    CONFIG_FILE,
    WEIGHTS_FILE,
    load_model_dir,
    make_config,
    save_model_dir,
    write_card,
)
from enhance.models import build_model  # noqa: E402

TINY = {
    "dncnn": {"depth": 3, "width": 8},
    "dae": {"width": 4, "levels": 2},
    "gan": {"width": 4, "levels": 2},
}


def saved(tmp_path, arch="dncnn", task="gaussian"):
    config = make_config(arch, task, arch_params=TINY[arch])
    model = build_model(config)
    path = save_model_dir(tmp_path / f"{arch}-model", model, config, {"name": "tiny", "seed": 3})
    return path, model, config


@pytest.mark.parametrize("arch", ["dncnn", "dae", "gan"])
def test_loading_gives_bit_identical_outputs(tmp_path, arch):
    path, model, _ = saved(tmp_path, arch)
    loaded = load_model_dir(path)
    x = np.random.default_rng(0).random((2, 24, 32, 1), dtype=np.float32)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(loaded.keras_model(x))
    )
    assert loaded.task == "gaussian" and loaded.channels == 1


def test_config_and_card_contents(tmp_path):
    path, _, _ = saved(tmp_path, "dae", "lowlight")
    config = json.loads((path / CONFIG_FILE).read_text())
    assert config["arch"] == "dae" and config["task"] == "lowlight"
    assert config["arch_params"] == {"width": 4, "levels": 2, "skip": True, "residual": False,
                                     "noise_map": False}
    assert config["size_factor"] == 4 and config["receptive_field"] > 1 and config["channels"] == 1
    card = json.loads((path / CARD_FILE).read_text())
    assert card["seed"] == 3 and len(card["weights_sha256"]) == 64
    assert sorted(p.name for p in path.iterdir()) == sorted([CARD_FILE, CONFIG_FILE, WEIGHTS_FILE])


def test_sha256_mismatch_raises_model_error_naming_the_weights(tmp_path):
    path, _, _ = saved(tmp_path)
    card = json.loads((path / CARD_FILE).read_text())
    card["weights_sha256"] = "0" * 64
    (path / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match=WEIGHTS_FILE):
        load_model_dir(path)


def test_corrupted_weights_raise_model_error(tmp_path):
    path, _, _ = saved(tmp_path)
    data = bytearray((path / WEIGHTS_FILE).read_bytes())
    data[-100] ^= 0xFF
    (path / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        load_model_dir(path)


@pytest.mark.parametrize("missing", [CONFIG_FILE, WEIGHTS_FILE, CARD_FILE])
def test_missing_file_raises_model_error_naming_it(tmp_path, missing):
    path, _, _ = saved(tmp_path)
    (path / missing).unlink()
    with pytest.raises(ModelError, match=missing.replace(".", r"\.")):
        load_model_dir(path)


def test_unknown_architecture_is_a_model_error(tmp_path):
    path, _, _ = saved(tmp_path)
    config = json.loads((path / CONFIG_FILE).read_text())
    config["arch"] = "nope"
    (path / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ModelError, match=CONFIG_FILE):
        load_model_dir(path)


def test_overwrite_is_clean_and_write_card_keeps_the_hash(tmp_path):
    path, model, config = saved(tmp_path)
    save_model_dir(path, model, config, {"name": "again"})
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's private 0o700
    write_card(path, {"name": "renamed", "weights_sha256": "stale"})
    assert (path / CARD_FILE).stat().st_mode & 0o777 == 0o666 & ~umask
    loaded = load_model_dir(path)
    assert loaded.card["name"] == "renamed" and loaded.name == "renamed"


def test_a_model_that_does_not_match_its_config_is_refused(tmp_path):
    config = make_config("dncnn", "gaussian", arch_params=TINY["dncnn"])
    other = build_model({"arch": "dae", "arch_params": TINY["dae"]})
    with pytest.raises(ModelError, match="config"):
        save_model_dir(tmp_path / "m", other, config, {})
    assert not (tmp_path / "m").exists()
