"""The tasks package: one object per task, a registry, nothing else compares a task's name."""

import ast
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from enhance import degrade as spec
from enhance import tasks
from enhance.errors import EnhanceError, UnknownName
from enhance.tasks import all_tasks, get_task, register, task_names, unregister

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"

# --------------------------------------------------------------------- no task-name comparisons

#: The built-in tasks' names: spelled only inside enhance/tasks/.
NAMES = set(task_names())


def _is_name(node):
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in NAMES


def _holds_name(node):
    return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and any(_is_name(e) for e in node.elts)


def name_comparisons(source):
    """``(line, what)`` for each place ``source`` tells tasks apart by their names.

    Flagged: a comparison (``==``, ``!=``, ``is``, ``in``, ...) with a task's name as an operand
    (``task == "lowlight"``, ``"speckle" in names``); ``in`` / ``not in`` a literal tuple, list or
    set holding one (``task in ("gaussian", "lowlight")``); a ``match`` case on one; a dict literal
    keyed by two or more task names (a per-task table, ``{"gaussian": ..., "speckle": ...}[task]``);
    ``startswith`` / ``endswith`` with one; a variable or constant bound to one
    (``LOWLIGHT = "lowlight"``, later compared); a literal tuple, list or set of two or more (a
    second list of the tasks, ``for task in ("speckle", "lowlight", "gaussian")``; a module's
    ``__all__`` excepted). Iterating over other words, a dict key that is another vocabulary's
    ``gaussian``, or passing a name as an argument are not comparisons.
    """
    found = []
    tree = ast.parse(source)
    exported = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)}
    for node in ast.walk(tree):
        if (isinstance(node, (ast.Tuple, ast.List, ast.Set)) and id(node) not in exported
                and sum(_is_name(e) for e in node.elts) >= 2):
            found.append((node.lineno, "a list of task names"))
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_is_name(o) for o in operands):
                found.append((node.lineno, "compares a task name"))
            elif any(isinstance(op, (ast.In, ast.NotIn)) and _holds_name(c)
                     for op, c in zip(node.ops, node.comparators)):
                found.append((node.lineno, "tests membership in a literal of task names"))
        elif isinstance(node, ast.match_case):
            for sub in ast.walk(node.pattern):
                if isinstance(sub, ast.MatchValue) and _is_name(sub.value):
                    found.append((sub.lineno, "matches a task name"))
        elif isinstance(node, ast.Dict):
            if sum(_is_name(k) for k in node.keys if k is not None) >= 2:
                found.append((node.lineno, "a table keyed by task names"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("startswith", "endswith") and any(_is_name(a) for a in node.args):
                found.append((node.lineno, f"{node.func.attr} a task name"))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and _is_name(node.value):
            found.append((node.lineno, "binds a task name to a variable"))
    return found


@pytest.mark.parametrize("snippet", [
    "if model.task == 'lowlight':\n    pass",
    "ok = 'speckle' != task",
    "x = task in ('gaussian', 'lowlight')",
    "x = t not in ['rician']",
    "x = name in {'lowdose_ct', 'other'}",
    "words = {'gaussian': 'a', 'speckle': 'b'}[task]",
    "match task:\n    case 'speckle':\n        pass",
    "y = task.startswith('lowlight')",
    "LOWLIGHT = 'lowlight'",
    "default: str = 'gaussian'",
    "if a == 1 and (b is 'gaussian'):\n    pass",
    "for task in ('speckle', 'lowlight', 'gaussian'):\n    pass",
    "G, L, S = ['gaussian', 'lowlight', 'speckle']",
])
def test_the_scan_finds_each_way_of_comparing_a_task_name(snippet):
    assert name_comparisons(snippet), snippet


@pytest.mark.parametrize("snippet", [
    "for name in ('gaussian', 'shifted_copies'):\n    pass",  # iterating over words
    "ok = fd.get('gaussian') is not None",  # another vocabulary's key, compared to None
    "extra = {'gaussian': 1}",  # one key: a synthetic-image baseline, not a task table
    "task = get_task(name)\nif task.needs_exposure:\n    pass",  # asking the task
    "resolve('gaussian', sigma=0.1)",  # naming a degradation is not comparing
    "x = model.task == other.task",
    "__all__ = ['gaussian', 'lowlight', 'speckle']",  # a module's public names
])
def test_the_scan_leaves_other_code_alone(snippet):
    assert name_comparisons(snippet) == [], snippet


def test_outside_the_tasks_package_no_code_compares_a_task_name():
    files = sorted((REPO / "enhance").rglob("*.py")) + sorted((REPO / "cli").rglob("*.py"))
    files = [f for f in files if (REPO / "enhance" / "tasks") not in f.parents]
    assert len(files) > 50  # the scan sees the package (enhance.cli is the cli/ folder)
    offences = [f"{f.relative_to(REPO)}:{line}: {what}"
                for f in files for line, what in name_comparisons(f.read_text(encoding="utf-8"))]
    assert offences == []


# --------------------------------------------------------------------- the registry


def test_the_registry_lists_each_task_once_with_its_presets_in_the_spec_order():
    assert task_names() == ("gaussian", "lowlight", "speckle", "rician", "lowdose_ct")
    assert [t.name for t in all_tasks()] == list(task_names())
    # the presets' stable numbers (the seed rule's d) did not move when they left degrade.py
    assert list(tasks.PRESETS) == ["gaussian15", "gaussian25", "gaussian50", "lowlight",
                                   "speckle", "rician", "lowdose_ct"]
    assert [tasks.degradation_id(n) for n in tasks.PRESETS] == list(range(7))
    assert tasks.degradation_id("lowdose_ct") == 6 and tasks.degradation_id("speckle") == 4
    assert tasks.BENCHMARK_DEGRADATIONS == ("gaussian15", "gaussian25", "gaussian50",
                                            "lowlight", "speckle")
    for name, preset in tasks.PRESETS.items():
        assert preset.task in task_names() and name in get_task(preset.task).presets
    with pytest.raises(UnknownName, match="known: gaussian, lowlight"):
        get_task("blur")


def test_rician_and_lowdose_ct_are_real_tasks():
    clean = np.full((32, 32), 0.5, np.float32)
    for name, function in (("rician", spec.rician), ("lowdose_ct", spec.lowdose_ct)):
        task = get_task(name)
        assert task.degradation is function and task.validation_preset == name
        params = task.sample_params(np.random.default_rng(0))
        assert set(params) == set(task.jitter)
        model_input, target = tasks.make_training_pair(clean, np.random.default_rng(1), name)
        assert model_input.shape == clean.shape and not np.array_equal(model_input, clean)
        assert task.describe()["degradation"] == f"enhance.degrade.{name} (spec v1)"
        assert "bm3d" in task.baselines and task.default_model is None


def test_each_built_in_task_answers_what_the_rest_asks():
    from enhance.bench.report import describe_degradation
    from enhance.shipped import DEFAULT_MODELS

    assert DEFAULT_MODELS == {t.name: t.default_model for t in all_tasks() if t.default_model}
    assert set(DEFAULT_MODELS) == {"gaussian", "lowlight", "speckle"}
    told = {t.name: t.told_params(tasks.resolve(t.validation_preset)) for t in all_tasks()}
    assert told["gaussian"] == {"sigma": 25 / 255} and told["lowlight"] == {"exposure": 0.1}
    assert told["speckle"] == told["rician"] == told["lowdose_ct"] == {}
    assert "4 looks" in describe_degradation(tasks.resolve("speckle", looks=4))
    assert "10000 incident photons" in describe_degradation(tasks.resolve("lowdose_ct"))
    assert [t.name for t in all_tasks() if t.needs_exposure] == ["lowlight"]
    assert get_task("speckle").inference_border() == 16 and get_task("gaussian").context_margin == 0
    from enhance.metrics_ultrasound import REPORT_KEYS

    assert get_task("speckle").no_reference_metrics == REPORT_KEYS  # the ultrasound numbers
    assert get_task("gaussian").no_reference_metrics == ()


def test_the_lowlight_transform_lives_with_its_task_and_inverts_the_gain_and_the_vst():
    import enhance.baselines.lowlight as classical
    from enhance.tasks import lowlight

    assert classical.gat_forward is lowlight.gat_forward  # one transform, the task's
    assert classical.noise_level_function is lowlight.noise_level_function
    task = get_task("lowlight")
    condition = {"exposure": 0.1, "photons": 1000.0, "read_noise": 0.002}
    x = np.linspace(0.0, 0.1, 64, dtype=np.float32).reshape(8, 8)
    vst = task.input_transform("vst", condition)
    np.testing.assert_allclose(vst.inverse(vst.forward(x)), x / 0.1, atol=0.02)
    assert vst.constant_level(condition) == pytest.approx(vst.sigma)
    gain = task.input_transform("gain", condition, exposure=0.1)
    np.testing.assert_array_equal(gain.forward(x), (x / np.float32(0.1)).astype(np.float32))
    assert gain.constant_level(condition) is None  # low light's map varies with the level
    with pytest.raises(EnhanceError, match="exposure"):
        task.prepare_input(x)
    with pytest.raises(EnhanceError, match="no input transform 'vst'"):
        get_task("speckle").input_transform("vst", condition)


# --------------------------------------------------------------------- a toy task, one module


@pytest.fixture
def toy():
    import toy_task

    register(toy_task.TASK)
    yield toy_task
    unregister("toy")


def _clean_folder(folder, count=8):
    """``count`` 48 x 48 crops of two real samples, 16-bit PNG."""
    import cv2

    folder.mkdir(parents=True)
    t1 = cv2.imread(str(SAMPLES / "t1_coronal.png"), cv2.IMREAD_UNCHANGED)
    for i in range(count):
        cv2.imwrite(str(folder / f"t1_{i}.png"), t1[60 + 8 * i: 108 + 8 * i, 80:128])
    return folder


def test_a_task_is_registered_once_and_taken_back(toy):
    assert task_names()[-1] == "toy" and "toy10" in tasks.PRESETS
    assert tasks.degradation_id("toy10") == 7  # after the built-in presets: theirs unchanged
    with pytest.raises(EnhanceError, match="taken"):
        register(toy.TASK)
    unregister("toy")
    assert "toy" not in task_names() and "toy10" not in tasks.PRESETS
    with pytest.raises(EnhanceError, match="built-in"):
        unregister("gaussian")
    register(toy.TASK)
    # a task is checked when registered: its tables name its function's parameters
    from dataclasses import replace

    other = {"name": "toy2", "presets": {"toy20": {"amount": 0.2}}, "validation_preset": "toy20"}
    for change, word in (({"jitter": {"sigma": ("uniform", 0, 1)}}, "jitter"),
                         ({"told": ("exposure",)}, "told"),
                         ({"presets": {"toy20": {"amont": 0.2}}}, "preset 'toy20'")):
        with pytest.raises(EnhanceError, match=f"{word} names"):
            register(replace(toy.TASK, **{**other, **change}))
    assert "toy2" not in task_names()


def test_a_toy_task_degrades_benchmarks_and_trains(toy, tmp_path):
    """degrade, bench and a smoke training run on a task added in one module (tests/toy_task.py)."""
    pytest.importorskip("keras")
    from enhance.bench.runner import run_benchmark
    from enhance.cli.degrade import degrade
    from enhance.cli.train import train
    from enhance.io import read_image
    from enhance.jobs import file_seed

    clean = _clean_folder(tmp_path / "clean")
    # degrade: the command line takes the toy preset, with the spec's seed rule
    runner = CliRunner()
    result = runner.invoke(degrade, [str(clean), str(tmp_path / "noisy"), "--kind", "toy10", "-q"])
    assert result.exit_code == 0, result.output
    x = read_image(clean / "t1_0.png").pixels
    expected = toy.salt_and_pepper(x, np.random.default_rng(file_seed("toy10", 0)), amount=0.1)
    written = read_image(tmp_path / "noisy" / "t1_0.png").pixels
    assert np.abs(written - expected).max() <= 0.51 / 65535
    assert 0.05 < np.mean(written != x) < 0.15

    # bench: the noisy row and the method the toy task names (median), not the others (tv)
    bench = run_benchmark(clean, tmp_path / "report", degradations="toy10", methods="median,tv",
                          grid_images=0, weights_dir=tmp_path / "no_models")
    with open(tmp_path / "report" / "results.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert {r["method"] for r in rows} == {"noisy", "median"} and len(rows) == 16
    assert not any(c.error for c in bench.cells)
    gain = np.mean([float(r["psnr"]) for r in rows if r["method"] == "median"]) - np.mean(
        [float(r["psnr"]) for r in rows if r["method"] == "noisy"])
    assert gain > 5  # a median filter is what salt and pepper needs
    assert "amount=0.1" in (tmp_path / "report" / "summary.md").read_text()

    # train --task toy: a smoke run (2 steps) writes a model directory whose card is the toy's
    result = runner.invoke(train, [
        "--arch", "dncnn", "--task", "toy", "--data", str(clean), "--out", str(tmp_path / "run"),
        "--steps", "2", "--arch-params", '{"depth": 2, "width": 4}', "--batch", "2",
        "--patch", "16", "--val-every", "2", "--log-every", "1", "-q",
    ])
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "run" / "model" / "card.json").read_text())
    assert card["task"]["task"] == "toy"
    assert card["task"]["training_jitter"] == {"amount": ["uniform", 0.02, 0.2]}
    assert card["task"]["validation_degradation"]["name"] == "toy10"
    assert card["task"]["degradation"] == "toy_task.salt_and_pepper"
