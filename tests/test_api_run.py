"""The run path (issue 27 item 2, issue 25 items 5 and 10): one checked options object
(RunOptions), the model resolved once (ModelRef), one library call for the command line and the
Python API alike, and a rerun that never takes another recipe's outputs for its own."""

import inspect
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from enhance.cli.main import cli
from enhance.errors import EnhanceError
from enhance.run_options import ModelRef, RunOptions

pytest.importorskip("keras")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import keras

    from enhance.modeldir import make_config, save_model_dir
    from enhance.models import build_model

    keras.utils.set_random_seed(5)
    config = make_config("dae", "gaussian",
                         arch_params={"width": 4, "levels": 2, "residual": True, "noise_map": True})
    path = tmp_path_factory.mktemp("models") / "tiny-conditioned"
    save_model_dir(path, build_model(config), config, {"name": "tiny-conditioned"})
    return path


@pytest.fixture
def folder(tmp_path):
    import cv2

    source = tmp_path / "in"
    source.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(source / name), (rng.random((40, 48)) * 255).astype(np.uint8))
    return source


def _records(out):
    return [json.loads(line) for line in (Path(out) / "manifest.jsonl").read_text().splitlines()]


# --- the signatures of the run path --------------------------------------------------------


def _run_path_functions():
    from enhance import api, pipeline, predict, preview
    from enhance.cli import run as cli_run

    yield "cli run", cli_run.run.callback
    for module in (pipeline, api):
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isfunction(value):
                yield f"{module.__name__}.{name}", value
    for name, value in vars(pipeline.RunRecipe).items():
        if inspect.isfunction(value) and (not name.startswith("_") or name == "__init__"):
            yield f"RunRecipe.{name}", value
    for name in ("resolve", "of_loaded", "load", "recipe"):
        value = getattr(ModelRef, name, None) or getattr(RunOptions, name)
        yield f"run_options.{name}", value
    yield "predict.enhance_image", predict.enhance_image
    yield "preview.write_preview", preview.write_preview


def test_no_public_function_of_the_run_path_takes_more_than_12_parameters():
    counted = {name: len(inspect.signature(function).parameters)
               for name, function in _run_path_functions()}
    assert {"cli run", "enhance.pipeline.enhance_folder", "enhance.pipeline.restore_pixels",
            "RunRecipe.__init__", "enhance.api.enhance_folder"} <= set(counted)
    assert {name: n for name, n in counted.items() if n > 12} == {}


# --- RunOptions: checked at construction -----------------------------------------------------


@pytest.mark.parametrize("values, word", [
    ({"sigma": math.nan}, "sigma"), ({"sigma": math.inf}, "sigma"), ({"sigma": -1}, "sigma"),
    ({"sigma": 2.0}, "sigma"), ({"exposure": 0}, "exposure"), ({"photons": -5}, "photons"),
    ({"read_noise": math.nan}, "read_noise"), ({"tile": -5}, "tile"), ({"tile": 0}, "tile"),
    ({"tile": 31}, "tile"), ({"tile": 64.5}, "tile"), ({"batch_size": 0}, "batch_size"),
    ({"max_memory": -1}, "max_memory"), ({"precision": "float8"}, "precision"),
    ({"runtime": "tpu"}, "runtime"), ({"output_format": "gif"}, "output_format"),
    ({"engine": "spark"}, "engine"), ({"task": "denoise"}, "task"),
    ({"overwrite": "yes"}, "overwrite"), ({"engine_options": {"actors": 2}}, "only with engine"),
    ({"engine": "ray", "engine_options": {"nodes": 2}}, "nodes"), ({"sigmaa": 0.1}, "sigmaa"),
])
def test_a_value_out_of_range_or_unknown_is_refused_in_one_line(values, word):
    with pytest.raises(EnhanceError) as caught:
        RunOptions.from_dict(values)
    assert word in str(caught.value) and "\n" not in str(caught.value)


def test_options_are_frozen_and_numbers_normalised():
    options = RunOptions(sigma=0, tile=64.0, exposure=1)
    assert options.sigma == 0.0 and isinstance(options.tile, int) and options.exposure == 1.0
    with pytest.raises(AttributeError):
        options.sigma = 0.5
    assert options.replace(sigma=0.2).sigma == 0.2 and options.sigma == 0.0
    with pytest.raises(EnhanceError, match="sigma"):
        options.replace(sigma=math.nan)


@pytest.mark.parametrize("flag, value", [("--sigma", "nan"), ("--sigma", "inf"), ("--sigma", "-1"),
                                         ("--tile", "-5"), ("--batch-size", "0"),
                                         ("--exposure", "nan")])
def test_the_command_line_refuses_them_before_writing_anything(folder, tmp_path, flag, value):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(folder), str(out), flag, value, "-q"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert flag.strip("-").replace("-", "_") in line
    assert not out.exists()


def test_the_manifest_never_holds_nan_or_infinity(tmp_path):
    from enhance.batch import Manifest

    manifest = Manifest(tmp_path / "manifest.jsonl")
    manifest.append({"input": "a", "noise": math.nan, "levels": [1.0, math.inf], "x": {"y": -math.inf}})

    def refuse(constant):
        raise AssertionError(f"not JSON: {constant}")

    (record,) = [json.loads(line, parse_constant=refuse)
                 for line in manifest.path.read_text().splitlines()]
    assert record == {"input": "a", "noise": None, "levels": [1.0, None], "x": {"y": None}}


# --- ModelRef: the model resolved once ---------------------------------------------------------


def test_a_run_reads_config_json_once_and_resolves_the_model_once(folder, tiny, tmp_path,
                                                                  monkeypatch):
    from enhance import modeldir, shipped

    reads, locates = [], []
    read_json, locate = modeldir.read_json, shipped.locate_model

    def counting_read(path):
        reads.append(Path(path).name)
        return read_json(path)

    def counting_locate(*args, **kwargs):
        locates.append(args)
        return locate(*args, **kwargs)

    monkeypatch.setattr(modeldir, "read_json", counting_read)
    monkeypatch.setattr(shipped, "locate_model", counting_locate)
    for model in (str(tiny), None):  # a path, and the shipped default
        reads.clear(), locates.clear()
        out = tmp_path / f"out-{model is None}"
        result = CliRunner().invoke(cli, ["run", str(folder), str(out), "-q",
                                          *(["--model", model] if model else [])])
        assert result.exit_code == 0, result.output
        assert reads.count("config.json") == 1 and reads.count("card.json") == 1, reads
        assert len(locates) == 1
        assert len(_records(out)) == 2


def test_a_loaded_model_is_used_as_loaded_and_recorded_by_its_folder(folder, tiny, tmp_path,
                                                                    monkeypatch):
    import enhance
    from enhance import modeldir, runtime

    loaded = enhance.load_model(tiny, runtime="keras")

    def no_second_load(*args, **kwargs):
        raise AssertionError("the model was loaded again")

    monkeypatch.setattr(runtime, "load_enhancer", no_second_load)
    monkeypatch.setattr(modeldir, "read_json", no_second_load)
    result = enhance.enhance_folder(folder, tmp_path / "out", model=loaded, sigma=0.1)
    assert result.ok and result.count("done") == 2 and result.model.source == "path"
    record = _records(tmp_path / "out")[0]
    assert record["model_path"] == str(tiny.resolve()) and record["runtime"] == "keras"
    assert record["recipe"]["sigma"] == 0.1
    assert result.preview == str(tmp_path / "out" / "preview.png")  # the API gets the preview


def test_the_api_checks_its_options_as_the_command_line_does(folder, tiny, tmp_path):
    import enhance

    with pytest.raises(EnhanceError, match="sigma"):
        enhance.enhance_folder(folder, tmp_path / "o", model=tiny, sigma=math.nan)
    with pytest.raises(EnhanceError, match="unknown run option sigmaa"):
        enhance.enhance_folder(folder, tmp_path / "o", model=tiny, sigmaa=0.1)
    with pytest.raises(EnhanceError, match="tile"):
        enhance.enhance_image(np.zeros((40, 40), np.float32), model=tiny, tile=-5)
    with pytest.raises(EnhanceError, match="output_format"):
        enhance.enhance_image(np.zeros((40, 40), np.float32), model=tiny, output_format="npy")
    assert not (tmp_path / "o").exists()


def test_pipeline_takes_a_run_options_object_and_the_cli_result_is_the_same(folder, tiny,
                                                                            tmp_path):
    from enhance.pipeline import enhance_folder

    options = RunOptions(model=str(tiny), sigma=0.05, preview=False)
    result = enhance_folder(folder, tmp_path / "lib", options)
    assert result.ok and not (tmp_path / "lib" / "preview.png").exists()
    cli_result = CliRunner().invoke(cli, ["run", str(folder), str(tmp_path / "cli"), "--model",
                                          str(tiny), "--sigma", "0.05", "--no-preview", "-q"])
    assert cli_result.exit_code == 0, cli_result.output
    for name in ("a.png", "b.png"):
        assert (tmp_path / "lib" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()


# --- issue 25.5: another recipe's outputs are never taken as finished --------------------------


def test_a_rerun_with_another_recipe_is_refused_naming_overwrite(folder, tiny, tmp_path):
    from enhance.pipeline import enhance_folder

    out = tmp_path / "out"
    assert enhance_folder(folder, out, model=tiny, sigma=0.05, preview=False).count("done") == 2
    before = (out / "a.png").read_bytes()
    assert enhance_folder(folder, out, model=tiny, sigma=0.05, preview=False).count("skipped") == 2
    for change in ({"sigma": 0.2}, {"sigma": None}, {"precision": "bfloat16"},
                   {"self_ensemble": True}):
        with pytest.raises(EnhanceError) as caught:
            enhance_folder(folder, out, model=tiny, preview=False, **{"sigma": 0.05, **change})
        message = str(caught.value)
        assert "another recipe" in message and "--overwrite" in message and "\n" not in message
        assert next(iter(change)) in message
        # the dry run tells the same
        with pytest.raises(EnhanceError, match="another recipe"):
            enhance_folder(folder, out, model=tiny, dry_run=True, **{"sigma": 0.05, **change})
    with pytest.raises(EnhanceError, match=r"\(model tiny-conditioned -> dncnn-gaussian;"):
        enhance_folder(folder, out, model="dncnn-gaussian", sigma=0.05, preview=False)
    assert (out / "a.png").read_bytes() == before
    redone = enhance_folder(folder, out, model=tiny, sigma=0.2, overwrite=True, preview=False)
    assert redone.count("done") == 2 and (out / "a.png").read_bytes() != before
    assert enhance_folder(folder, out, model=tiny, sigma=0.2, preview=False).count("skipped") == 2
    assert {r["recipe"]["sigma"] for r in _records(out)[-2:]} == {0.2}


def test_anonymize_over_plain_outputs_is_refused_even_from_an_older_manifest(tiny, tmp_path):
    """Plain outputs of the same inputs would stay beside the pseudonymised ones (names,
    headers): refused, even with --overwrite (nothing would replace them)."""
    import shutil

    from enhance.pipeline import enhance_folder

    source = tmp_path / "dicom"
    source.mkdir()
    shutil.copy(Path(__file__).resolve().parent.parent / "samples" / "ct_small.dcm", source)
    out, key = tmp_path / "out", tmp_path / "private" / "key.json"
    enhance_folder(source, out, model=tiny, preview=False)
    for extra in ([], ["--overwrite"]):
        result = CliRunner().invoke(cli, ["run", str(source), str(out), "--model", str(tiny),
                                          "--anonymize", "--deid-key", str(key), "-q", *extra])
        assert result.exit_code == 1 and "made without anonymize" in result.output, result.output
        assert not [p for p in out.iterdir() if p.name.startswith("anon-")]
    # a manifest written before the recipe was recorded: what it names still counts
    lines = [{k: v for k, v in r.items() if k != "recipe"} for r in _records(out)]
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    with pytest.raises(EnhanceError, match="made without anonymize"):
        enhance_folder(source, out, model=tiny, anonymize=True, deid_key=key, preview=False)
    assert enhance_folder(source, out, model=tiny, preview=False).count("skipped") == 1


def test_an_anonymized_rerun_with_another_recipe_is_refused_without_naming_the_input(tiny,
                                                                                      tmp_path):
    import shutil

    from enhance.pipeline import enhance_folder

    source = tmp_path / "dicom"
    source.mkdir()
    shutil.copy(Path(__file__).resolve().parent.parent / "samples" / "ct_small.dcm",
                source / "MRN-48213_scan.dcm")
    out, key = tmp_path / "out", tmp_path / "private" / "key.json"
    common = dict(model=tiny, anonymize=True, deid_key=key)
    assert enhance_folder(source, out, sigma=0.05, **common).count("done") == 1
    assert _records(out)[0]["input"].startswith("anon:")  # the manifest keeps no input name
    with pytest.raises(EnhanceError) as caught:
        enhance_folder(source, out, sigma=0.2, **common)
    assert "sigma 0.05 -> 0.2" in str(caught.value) and "--overwrite" in str(caught.value)
    assert "MRN" not in str(caught.value)
    assert enhance_folder(source, out, sigma=0.05, **common).count("skipped") == 1
    assert enhance_folder(source, out, sigma=0.2, overwrite=True, **common).count("done") == 1
    with pytest.raises(EnhanceError, match="only used with --anonymize"):
        enhance_folder(source, tmp_path / "o2", model=tiny, deid_key=key)


def test_a_preview_that_cannot_be_written_says_so_without_none(folder, tiny, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("enhance.preview.write_preview", broken)
    result = CliRunner().invoke(cli, ["run", str(folder), str(tmp_path / "o"), "--model", str(tiny),
                                      "-q"])
    assert result.exit_code == 0, result.output
    assert "preview: not written: disk full" in result.stdout and "None" not in result.stdout


def test_a_task_without_a_shipped_model_is_one_line(folder, tmp_path):
    result = CliRunner().invoke(cli, ["run", str(folder), str(tmp_path / "o"), "--task", "rician"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == (
        "Error: no model is shipped for the rician task; give one (--model)")
    assert not (tmp_path / "o").exists()
