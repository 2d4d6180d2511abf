"""Fuzzing (issue 13): seeded mutations of real files of every format never crash the readers or
a batch. ``python benchmarks/fuzz.py`` runs the same mutator on 10,000 cases."""

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
CASES = 400


@pytest.fixture(scope="module")
def fuzz():
    """``benchmarks/fuzz.py`` as a module (not registered in ``sys.modules``)."""
    spec = importlib.util.spec_from_file_location("fuzz", BENCHMARKS / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cases(fuzz, tmp_path_factory):
    work = tmp_path_factory.mktemp("fuzz")
    seeds = fuzz.make_seeds(work / "seeds")
    folder = work / "cases"
    folder.mkdir()
    with fuzz.warnings_silenced():
        paths = [fuzz.make_case(seeds, index, 13, folder) for index in range(CASES)]
    return seeds, paths


def test_seed_files_cover_every_format_and_read(fuzz, cases):
    from enhance.io.formats import format_from_name

    seeds, _ = cases
    assert {format_from_name(p) for p in seeds} == {"png", "jpeg", "tiff", "dicom", "nifti", "npy"}
    for path in seeds:
        assert fuzz.check_read(path) == ("ok", ""), path


def test_the_mutator_is_seeded(fuzz, cases, tmp_path):
    seeds, paths = cases
    again = fuzz.make_case(seeds, 7, 13, tmp_path)
    assert again.name == paths[7].name and again.read_bytes() == paths[7].read_bytes()


def test_every_mutated_file_reads_or_is_refused_by_name(fuzz, cases):
    _, paths = cases
    outcomes, bad = Counter(), []
    for path in paths:
        outcome, detail = fuzz.check_read(path)
        outcomes[outcome] += 1
        if outcome == "traceback":
            bad.append(f"{path.name}: {detail}")
    assert not bad, "\n".join(bad[:20])
    # the cases reach past the first checks: some still read, most are refused
    assert outcomes["ok"] >= CASES // 20 and outcomes["refused"] >= CASES // 2
    mutations = Counter(m for p in paths for m in p.name.split("_")[-1].split(".")[0].split("+"))
    assert set(mutations) == set(fuzz.MUTATIONS)


def test_huge_dimension_claims_are_refused_from_the_header(fuzz, cases):
    _, paths = cases
    huge = [p for p in paths if p.name.split("_")[-1].split(".")[0] == "huge"
            and not p.name.endswith((".jpg", ".nii.gz"))]
    assert len(huge) >= 5
    for path in huge:
        outcome, detail = fuzz.check_read(path)
        assert outcome == "refused", (path.name, detail)


def test_a_batch_of_fuzzed_files_writes_no_output_for_a_failed_input(fuzz, cases, tmp_path):
    import shutil

    _, paths = cases
    folder = tmp_path / "in"
    folder.mkdir()
    for path in paths[:120]:
        shutil.copy(path, folder / path.name)
    counts, unclean = fuzz.check_batch(folder, tmp_path / "out")
    assert not unclean, unclean[:10]
    assert counts["outputs_for_failed"] == 0 and counts["unreadable_outputs"] == 0
    assert counts["batch_done"] > 0 and counts["batch_failed"] > 0


def test_enhance_run_on_good_and_fuzzed_files(fuzz, cases, tmp_path):
    """End to end: ``enhance run --json`` with a tiny model; status, outputs and exit agree."""
    import shutil

    keras = pytest.importorskip("keras")
    from click.testing import CliRunner

    from enhance.cli.main import cli
    from enhance.modeldir import make_config, save_model_dir
    from enhance.models import build_model

    keras.utils.set_random_seed(3)
    config = make_config("dncnn", "gaussian", arch_params={"depth": 3, "width": 8})
    model = save_model_dir(tmp_path / "tiny", build_model(config), config, {"name": "tiny"})
    seeds, paths = cases
    folder = tmp_path / "in"
    folder.mkdir()
    for path in [seeds[0], seeds[-1]] + paths[:10]:
        shutil.copy(path, folder / path.name)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(folder), str(out), "--model", str(model),
                                      "--json", "--max-pixels", str(fuzz.FUZZ_MAX_PIXELS)])
    assert "Traceback" not in result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    records, summary = lines[:-1], lines[-1]["summary"]
    assert len(records) == 12 and summary["done"] + summary["failed"] == 12
    assert summary["done"] >= 2 and result.exit_code == (1 if summary["failed"] else 0)
    for record in records:
        if record["status"] == "done":
            assert Path(record["output"]).is_file()
            assert fuzz.check_read(Path(record["output"]), max_pixels=None)[0] == "ok"
        else:
            assert record["error"].startswith(record["input"]) and "\n" not in record["error"]
            assert not Path(record["output"]).exists()
