"""``enhance run --engine ray`` on a Ray cluster simulated in the test (issue 15).

One cluster for the module (``ray.cluster_utils.Cluster``: a head node and a worker node of one
CPU each, on this machine); each run is a driver subprocess joining it with ``--address``, bounded
by a timeout, as a user's would. A tiny DnCNN model directory keeps each actor's start short.
Skipped when Ray Data (the ``ray`` extra) is not installed.
"""

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

# Ray Data's own DataContext warns about its deprecated fields when it is copied to workers
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")

#: Every subprocess run of this file ends within this many seconds (or the test fails).
RUN_TIMEOUT = 150
CLI = [sys.executable, "-c", "from enhance.cli.main import cli; cli()"]


def _write_images(folder, size, count=12, seed=0):
    """``count`` noisy images in four formats (8/16-bit PNG in a subfolder too, 16-bit TIFF,
    float .npy) and one corrupt PNG: byte-identical outputs are possible for all of them
    (DICOM outputs get fresh UIDs per run, so they are left out)."""
    import cv2
    import tifffile

    rng = np.random.default_rng(seed)
    (folder / "sub").mkdir(parents=True)
    y, x = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        img = np.clip(0.5 + 0.3 * np.sin(6 * x + i) * np.cos(4 * y) + rng.normal(0, 0.1, (size, size)), 0, 1)
        kind = i % 4
        if kind == 0:
            cv2.imwrite(str(folder / f"a{i:02d}.png"), (img * 255).astype(np.uint8))
        elif kind == 1:
            cv2.imwrite(str(folder / "sub" / f"b{i:02d}.png"), (img * 65535).astype(np.uint16))
        elif kind == 2:
            tifffile.imwrite(folder / f"c{i:02d}.tif", (img * 65535).astype(np.uint16))
        else:
            np.save(folder / f"d{i:02d}.npy", img.astype(np.float32))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    return folder


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from enhance.modeldir import make_config, save_model_dir
    from enhance.models import build_model

    root = tmp_path_factory.mktemp("ray")
    config = make_config("dncnn", "gaussian", arch_params={"depth": 3, "width": 8})
    save_model_dir(root / "model", build_model(config), config, {"name": "tiny-dncnn"})
    _write_images(root / "small", 64)
    # large enough that a file takes a few tenths of a second even on a fast machine, so that both
    # actors get files before the run ends (whole images are one window with no margin)
    _write_images(root / "large", 512)
    return root


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    memory = 80 * 2**20
    nodes = Cluster(initialize_head=True, connect=False,
                    head_node_args={"num_cpus": 1, "object_store_memory": memory,
                                    "include_dashboard": False})
    nodes.worker = nodes.add_node(num_cpus=1, object_store_memory=memory)
    nodes.wait_for_nodes()
    try:
        yield nodes
    finally:
        nodes.shutdown()


def _driver(source, out, model, *options, address):
    """``enhance run`` as a subprocess (Popen) joining the cluster at ``address``."""
    command = CLI + ["run", str(source), str(out), "--model", str(model), "--no-preview", "-q",
                     "--engine", "ray", "--address", address, *options]
    # Ray Data starts handing out files when the first actor is ready: on a loaded machine one
    # actor could finish every file before the other has loaded the model. The tests that check
    # where files ran let the pool wait until every actor is up (Ray's own setting).
    env = {**os.environ, "RAY_DATA_DEFAULT_WAIT_FOR_MIN_ACTORS_S": str(RUN_TIMEOUT)}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def _finish(process):
    try:
        out, err = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the run did not finish within {RUN_TIMEOUT} s:\n{out}\n{err}")
    return process.returncode, out, err


def _records(out):
    path = Path(out) / "manifest.jsonl"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _wait_for(predicate, process, what):
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        if predicate():
            return
        if process.poll() is not None:
            pytest.fail(f"the run ended before {what}: {process.communicate()}")
        time.sleep(0.01)
    process.kill()
    pytest.fail(f"no {what} within {RUN_TIMEOUT} s")


def _outputs(out):
    return sorted(p.relative_to(out).as_posix() for p in Path(out).rglob("*")
                  if p.is_file() and p.name != "manifest.jsonl")


EXPECTED = sorted([f"a{i:02d}.png" for i in (0, 4, 8)] + [f"sub/b{i:02d}.png" for i in (1, 5, 9)]
                  + [f"c{i:02d}.tif" for i in (2, 6, 10)] + [f"d{i:02d}.npy" for i in (3, 7, 11)])


def _check_complete(source, out, *, every_record=True):
    """Every output present, none named twice as done in the manifest, every file named done
    has its output; the broken file failed; no temporary file or lock left. ``every_record``:
    every output is named done; else (after a killed driver, whose actors finished outputs
    after its last record) every output is named done or, once, skipped with the note of an
    output found without a record."""
    from enhance.batch import UNRECORDED_NOTE

    assert _outputs(out) == EXPECTED
    records = _records(out)
    done = [r["input"] for r in records if r["status"] == "done"]
    assert len(done) == len(set(done)), done

    def named(status):
        return [Path(r["output"]).relative_to(Path(out).resolve()).as_posix()
                for r in records if r["status"] == status]

    unrecorded = named("skipped")
    assert all(r.get("note") == UNRECORDED_NOTE for r in records if r["status"] == "skipped")
    assert len(unrecorded) == len(set(unrecorded)) and not set(unrecorded) & set(named("done"))
    assert set(named("done")) | set(unrecorded) == set(EXPECTED)
    if every_record:
        assert not unrecorded
    failed = {r["input"] for r in records if r["status"] == "failed"}
    assert failed == {str(source / "broken.png")}
    assert not [p for p in Path(out).rglob("*") if p.name.startswith(".")]  # .part files, lock
    return records


def test_ray_engine_writes_the_local_engines_bytes_across_two_nodes(workdir, cluster, tmp_path):
    from enhance.pipeline import enhance_folder

    source, model = workdir / "small", workdir / "model"
    local = enhance_folder(source, tmp_path / "local", model=model)
    assert local.count("done") == 12 and len(local.failed) == 1

    process = _driver(source, tmp_path / "ray", model, "--actors", "2", "--json",
                      address=cluster.address)
    code, out, err = _finish(process)
    assert code == 1, err  # the broken file: status, output and exit status agree
    summary = json.loads(out.splitlines()[-1])
    assert summary["summary"] == {"done": 12, "skipped": 0, "failed": 1, "planned": 0}
    assert "broken.png" in summary["failed"][0] and "Traceback" not in err

    records = _check_complete(source, tmp_path / "ray")
    for name in EXPECTED:
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    # the same manifest as the local engine's, but for timings and the node each file ran on
    local_records = {r["input"]: r for r in _records(tmp_path / "local")}
    for record in records:
        mine = {k: v for k, v in record.items() if k not in ("seconds", "ray_node", "output")}
        theirs = {k: v for k, v in local_records[record["input"]].items() if k not in ("seconds", "output")}
        assert mine == theirs
    # both actors worked, one on each node (an actor takes a node's only CPU)
    nodes = {r["ray_node"] for r in records}
    assert len(nodes) == 2, nodes

    # a second run skips every finished file, without starting an actor for them
    process = _driver(source, tmp_path / "ray", model, address=cluster.address)
    code, out, err = _finish(process)
    assert "12 skipped" in out and "0 done" in out
    assert len([r for r in _records(tmp_path / "ray") if r["status"] == "done"]) == 12


def test_a_killed_driver_loses_nothing_and_the_rerun_finishes(workdir, cluster, tmp_path):
    source, model, out = workdir / "large", workdir / "model", tmp_path / "out"
    process = _driver(source, out, model, "--actors", "1", address=cluster.address)
    _wait_for(lambda: any(r["status"] == "done" for r in _records(out)), process, "a finished file")
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=RUN_TIMEOUT)
    at_kill = _records(out)
    done_at_kill = [r for r in at_kill if r["status"] == "done"]
    assert 0 < len(done_at_kill) < 12  # killed mid-run
    for record in done_at_kill:  # what the manifest says is done is there
        assert Path(record["output"]).is_file()

    process = _driver(source, out, model, "--actors", "2", address=cluster.address)
    code, stdout, err = _finish(process)
    assert code == 1 and "Traceback" not in err
    # every output, none twice as done (the rerun skipped what was finished), no temporary file
    records = _check_complete(source, out, every_record=False)
    redone = {r["input"] for r in records[len(at_kill):] if r["status"] == "done"}
    assert not redone & {r["input"] for r in done_at_kill}


def test_an_actor_that_does_not_see_the_folders_stops_the_run_with_one_line(workdir, cluster, tmp_path):
    """The storage check, end to end: the driver (this process) sees the folders, the actor is
    told of one it does not see; the run stops with one line naming the node, nothing is
    written or recorded, and Ray is shut down."""
    from enhance import batch
    from enhance.errors import EnhanceError
    from enhance.outputs import output_namer
    from enhance.pipeline import RunRecipe
    from enhance.ray_engine import SHARED_STORAGE, RayEngine
    from enhance.run_options import ModelRef, RunOptions

    model, out = workdir / "model", tmp_path / "out"
    recipe = RunRecipe(ModelRef.resolve(model), RunOptions())
    engine = RayEngine(address=cluster.address, actors=1)
    engine.prepare(recipe, shared=[tmp_path / "not-mounted-here", out])
    _, files = batch.discover(workdir / "small")
    with pytest.raises(EnhanceError) as caught:
        batch.run_batch(files, out, None, output_for=output_namer(out, "keep"), engine=engine)
    message = str(caught.value)
    assert message.startswith("node ") and "not-mounted-here does not exist on this node" in message
    assert SHARED_STORAGE in message and "\n" not in message
    assert not ray.is_initialized()
    assert _outputs(out) == [] and _records(out) == []


def test_the_actor_checks_its_folders_without_ray(tmp_path):
    """_Worker outside Ray: a missing folder, an output folder that is a file; each row becomes
    a fatal record naming the host (no exception escapes an actor)."""
    from enhance.ray_engine import SHARED_STORAGE, _Worker

    class Recipe:  # never reached: the folders are checked first
        def load(self):
            raise AssertionError("loaded")

    (tmp_path / "in").mkdir()
    (tmp_path / "out").write_text("a file, not a folder")
    for shared, missing in (([tmp_path / "gone", tmp_path / "in"], "gone"),
                            ([tmp_path / "in", tmp_path / "out"], "out")):
        worker = _Worker(Recipe(), "", shared=[str(p) for p in shared], cwd=str(tmp_path))
        batch = {k: np.array(v) for k, v in {"index": [0, 1], "path": ["a.png", "b.png"],
                                             "abspath": ["/a.png", "/b.png"], "relpath": ["a.png", "b.png"],
                                             "target": ["/o/a.png", "/o/b.png"]}.items()}
        records = [pickle.loads(r) for r in worker(batch)["record"]]
        assert [r["index"] for r in records] == [0, 1]
        assert all(f"{tmp_path / missing} does not exist on this node; {SHARED_STORAGE}" in r["fatal"]
                   for r in records)


def _scores(out):
    import csv

    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return sorted((r["image"], r["degradation"], r["method"], r["seed"], r["psnr"], r["ssim"], r["error"])
                  for r in rows)


def test_bench_cells_as_ray_tasks_score_as_the_local_engine(workdir, cluster, tmp_path):
    """enhance bench --engine ray: the same scores and grid images as the local engine, the
    cache and the report written here; a rerun computes nothing."""
    from enhance.bench import run_benchmark

    data = tmp_path / "clean"
    data.mkdir()
    for name in ("a00.png", "sub/b01.png", "c02.tif"):
        (data / Path(name).name).write_bytes((workdir / "small" / name).read_bytes())
    options = ["--degradations", "gaussian25,speckle", "--methods", "median,lee",
               "--models", str(workdir / "model"), "--grid-images", "1", "-q"]
    local = run_benchmark(data, tmp_path / "local", degradations=["gaussian25", "speckle"],
                          methods=["median", "lee"], models=[str(workdir / "model")], grid_images=1)
    assert local.computed > 0 and not local.failed

    command = CLI + ["bench", str(data), "--out", str(tmp_path / "ray"), *options,
                     "--engine", "ray", "--address", cluster.address, "--actors", "2"]
    code, out, err = _finish(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    assert code == 0, err
    assert f"{local.computed} computed, 0 from the cache, 0 failed" in out
    assert _scores(tmp_path / "ray") == _scores(tmp_path / "local")
    grids = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.png"))
    assert grids and grids == sorted(p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").rglob("*.png"))
    for grid in grids:
        assert (tmp_path / "ray" / grid).read_bytes() == (tmp_path / "local" / grid).read_bytes()
    assert (tmp_path / "ray" / "report.html").is_file()

    code, out, err = _finish(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    assert code == 0 and f"0 computed, {local.computed} from the cache" in out


def test_a_worker_node_removed_mid_run_and_every_file_is_still_done(workdir, cluster, tmp_path):
    """Runs last: the module's cluster loses its worker node."""
    source, model, out = workdir / "large", workdir / "model", tmp_path / "out"
    worker = cluster.worker.node_id[:8]
    # two actors of half a CPU, spread over the two nodes; when the worker node goes, its actor
    # is restarted on the head node (half a CPU is free there) and its files are redone
    process = _driver(source, out, model, "--actors", "2", "--cpus-per-actor", "0.5",
                      address=cluster.address)
    _wait_for(lambda: any(r.get("ray_node", "").endswith(worker) for r in _records(out)),
              process, "a file done on the worker node")
    cluster.remove_node(cluster.worker)
    removed_at = len([r for r in _records(out) if r["status"] == "done"])
    assert removed_at < 12  # removed mid-run
    code, stdout, err = _finish(process)
    assert code == 1 and "Traceback" not in err, err
    assert "12 done" in stdout and "1 failed" in stdout
    records = _check_complete(source, out)
    assert any(not r.get("ray_node", "").endswith(worker) for r in records[removed_at:])


def test_ray_options_without_the_engine_and_a_missing_extra_are_one_line(workdir, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from enhance.cli.main import cli

    runner = CliRunner()
    args = ["run", str(workdir / "small"), str(tmp_path / "o"), "--model", str(workdir / "model"),
            "--no-preview", "-q", "--engine", "ray"]
    result = runner.invoke(cli, [*args[:-2], "--actors", "2"])
    assert result.exit_code == 2 and "only with --engine ray" in result.output
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    result = runner.invoke(cli, args)
    assert result.exit_code == 1 and "pip install 'enhance[ray]'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()
