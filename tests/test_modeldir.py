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


# --- one format with a kind, one reader (issue 18) ---------------------------------------------


def _rewrite(path, file, **change):
    data = json.loads((path / file).read_text())
    data.update(change)
    (path / file).write_text(json.dumps(data))


def _generator_dir(path):
    from enhance.synth.models import build_generator
    from enhance.synth.modeldir import save_generator_dir

    config = {"size": 8, "class_names": ["a", "b"], "latent_dim": 4, "width": 4, "embed_dim": 2,
              "channels": 1, "max_width": 4}
    model = build_generator(8, 2, latent_dim=4, width=4, embed_dim=2, max_width=4)
    sha = save_generator_dir(path, model, config, {"name": "tiny"})
    return model, sha


def _features_dir(path):
    from enhance.modeldir import write_model_files
    from enhance.synth.features import build_feature_net

    classifier, embedder = build_feature_net(dim=8)
    sha = write_model_files(path, "features", {"size": 64, "dim": 8}, {"name": "tiny"},
                            lambda tmp: classifier.save_weights(str(tmp)))
    return embedder, sha


def test_every_kind_round_trips_through_the_one_writer_and_reader(tmp_path):
    from enhance.modeldir import KINDS, read_model_dir
    from enhance.synth.features import load_feature_net
    from enhance.synth.generate import sample
    from enhance.synth.modeldir import Generator, load_generator

    enhancer, _, _ = saved(tmp_path)
    generator, generator_sha = _generator_dir(tmp_path / "generator")
    embedder, features_sha = _features_dir(tmp_path / "features")
    for path, kind in ((enhancer, "enhancer"), (tmp_path / "generator", "generator"),
                       (tmp_path / "features", "features")):
        config = json.loads((path / CONFIG_FILE).read_text())
        assert config["kind"] == kind and config["format"] == KINDS[kind].format
        found = read_model_dir(path, kind=kind)
        assert found.kind == kind and found.weights == path / KINDS[kind].weights_file
        assert found.card[KINDS[kind].sha_key] == found.sha256
    assert load_model_dir(enhancer).config["kind"] == "enhancer"
    loaded = load_generator(tmp_path / "generator")
    assert loaded.sha256 == generator_sha and loaded.class_names == ["a", "b"]
    seeds, labels = [[1, 0], [1, 1]], [0, 1]
    original = Generator(generator, loaded.config, loaded.card, generator_sha, None)
    np.testing.assert_array_equal(sample(loaded, seeds, labels), sample(original, seeds, labels))
    net = load_feature_net(tmp_path / "features")
    assert net.card["weights_sha256"] == features_sha
    images = np.random.default_rng(0).random((3, 64, 64), dtype=np.float32)
    np.testing.assert_array_equal(net.embed(images),
                                  np.asarray(embedder.predict_on_batch(images[..., None]),
                                             np.float64))


def test_another_kind_is_refused_with_one_line_naming_both(tmp_path):
    from enhance.modeldir import read_model_dir
    from enhance.synth.features import load_feature_net
    from enhance.synth.modeldir import load_generator

    enhancer, _, _ = saved(tmp_path)
    _generator_dir(tmp_path / "generator")
    for load, path, found, wanted in (
            (load_model_dir, tmp_path / "generator", "an image generator", "an image enhancer"),
            (load_generator, enhancer, "an image enhancer", "an image generator"),
            (load_feature_net, enhancer, "an image enhancer", "a feature network")):
        with pytest.raises(ModelError) as info:
            load(path)
        text = str(info.value)
        assert text.startswith(str(path)) and "\n" not in text
        assert f"{found} " in text and text.endswith(f"not {wanted}")
    with pytest.raises(ModelError, match="not an image generator"):
        read_model_dir(enhancer, kind="generator", verify=False)


@pytest.mark.parametrize("change, message", [
    ({"format": "enhance-model-dir/9"}, "unknown format 'enhance-model-dir/9'"),
    ({"kind": "denoiser"}, "kind 'denoiser' is unknown"),
    ({"kind": "generator"}, "kind 'generator' does not match format 'enhance-model-dir/1'"),
])
def test_an_unknown_or_inconsistent_format_is_refused(tmp_path, change, message):
    from enhance.shipped import read_model_info

    path, _, _ = saved(tmp_path)
    _rewrite(path, CONFIG_FILE, **change)
    for read in (load_model_dir, read_model_info):
        with pytest.raises(ModelError) as info:
            read(path)
        text = str(info.value)
        assert message in text and text.startswith(str(path / CONFIG_FILE)) and "\n" not in text


def test_a_directory_without_the_kind_field_loads_by_its_format(tmp_path):
    from enhance.modeldir import read_model_dir
    from enhance.shipped import model_kind

    path, model, _ = saved(tmp_path)
    config = json.loads((path / CONFIG_FILE).read_text())
    config.pop("kind")
    (path / CONFIG_FILE).write_text(json.dumps(config))
    assert model_kind(path) == "enhancer" and load_model_dir(path).config.get("kind") is None
    config.pop("format")  # written before both fields
    (path / CONFIG_FILE).write_text(json.dumps(config))
    assert read_model_dir(path, kind="enhancer").kind == "enhancer"
    _generator_dir(tmp_path / "generator")
    config = json.loads((tmp_path / "generator" / CONFIG_FILE).read_text())
    config.pop("kind")
    (tmp_path / "generator" / CONFIG_FILE).write_text(json.dumps(config))
    assert model_kind(tmp_path / "generator") == "generator"


@pytest.mark.parametrize("kind", ["enhancer", "generator", "features"])
def test_weights_that_differ_from_the_card_are_refused_for_every_kind(tmp_path, kind):
    from enhance.modeldir import KINDS, read_model_dir
    from enhance.shipped import read_model_info

    path = {"enhancer": lambda: saved(tmp_path)[0],
            "generator": lambda: _generator_dir(tmp_path / "g") and tmp_path / "g",
            "features": lambda: _features_dir(tmp_path / "f") and tmp_path / "f"}[kind]()
    _rewrite(path, CARD_FILE, **{KINDS[kind].sha_key: "0" * 64})
    with pytest.raises(ModelError) as info:
        read_model_dir(path, kind=kind)
    text = str(info.value)
    assert text.startswith(str(path / KINDS[kind].weights_file)) and "does not match" in text
    assert read_model_info(path)["kind"] == kind  # a listing reads the JSON only
    _rewrite(path, CARD_FILE, **{KINDS[kind].sha_key: None})
    with pytest.raises(ModelError, match=f"{CARD_FILE}: no {KINDS[kind].sha_key}"):
        read_model_dir(path, verify=False)


def test_the_shipped_configs_name_their_kind():
    from enhance.modeldir import config_kind
    from enhance.shipped import shipped_model_dirs

    for path in shipped_model_dirs():
        config = json.loads((path / CONFIG_FILE).read_text())
        assert config["kind"] == config_kind(config), path


@pytest.mark.parametrize("depth", [200, 100_000])
@pytest.mark.parametrize("file", [CONFIG_FILE, CARD_FILE])
def test_deeply_nested_json_is_one_model_error_not_a_recursion_error(tmp_path, depth, file):
    from click.testing import CliRunner

    from enhance.cli.main import cli

    path, _, _ = saved(tmp_path)
    (path / file).write_text("[" * depth + "]" * depth)
    with pytest.raises(ModelError, match=rf"{file.replace('.', '[.]')}: unreadable JSON \(nested"):
        load_model_dir(path)
    result = CliRunner().invoke(cli, ["run", "--model", str(path), str(tmp_path / "none.png"),
                                      str(tmp_path / "out")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "RecursionError" not in result.output
    assert result.output.count("\n") == 1 and "unreadable JSON" in result.output, result.output
