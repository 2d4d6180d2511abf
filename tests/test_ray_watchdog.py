"""A ``kill -9`` of ``enhance run --engine ray`` leaves no process of the Ray instance it started
(issue 25, item 11): the raylet's agents (``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``)
outlived the driver by about a minute; ``enhance/_ray_watchdog.py`` ends them.

The driver gets its own Ray temporary folder (``RAY_TMPDIR``), so that the processes of its
session are told from those of other Ray runs on the machine: every process that has a file
under that folder open or names it on its command line. Skipped without Ray Data or ``/proc``.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")
pytest.importorskip("ray.data")
pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="the watchdog reads /proc (Linux)")

CLI = [sys.executable, "-c", "from enhance.cli.main import cli; cli()"]
#: The driver must be mid-run within this many seconds (Ray's start and the actor's model load,
#: on a loaded 2-core machine), else the test fails.
START_TIMEOUT = 300
#: After the kill, every process of the session is gone within this many seconds.
GONE_WITHIN = 30


def _processes_under(folder):
    """``{pid: command}`` of the processes (not this one) that name ``folder`` on their command
    line or hold a file under it open."""
    folder = os.path.realpath(folder)
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as file:
                command = file.read().replace(b"\0", b" ").decode(errors="replace").strip()
            links = [os.readlink(f"/proc/{name}/fd/{fd}") for fd in os.listdir(f"/proc/{name}/fd")]
        except OSError:
            continue
        if folder in command or any(link.startswith(folder + os.sep) for link in links):
            found[int(name)] = command[:80]
    return found


def _manifest_lines(out):
    path = Path(out) / "manifest.jsonl"
    return len(path.read_text().splitlines()) if path.is_file() else 0


def test_a_killed_ray_driver_leaves_no_process_of_its_session(tmp_path):
    import cv2

    from enhance.modeldir import make_config, save_model_dir
    from enhance.models import build_model

    config = make_config("dncnn", "gaussian", arch_params={"depth": 3, "width": 8})
    save_model_dir(tmp_path / "model", build_model(config), config, {"name": "tiny-dncnn"})
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    for i in range(48):
        cv2.imwrite(str(tmp_path / "in" / f"a{i:02d}.png"), (rng.random((256, 256)) * 255).astype(np.uint8))
    out = tmp_path / "out"
    # short: Ray's unix sockets live under it (107 characters at most)
    ray_tmp = tempfile.mkdtemp(prefix="enh-rk-", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = ray_tmp
    log = open(tmp_path / "driver.log", "wb")  # noqa: SIM115 - closed in finally
    driver = subprocess.Popen(CLI + ["run", str(tmp_path / "in"), str(out), "--model", str(tmp_path / "model"),
                                     "--no-preview", "-q", "--engine", "ray", "--actors", "1"],
                              env=env, stdout=subprocess.DEVNULL, stderr=log,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while _manifest_lines(out) == 0 and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert driver.poll() is None, f"the run ended before the kill: {(tmp_path / 'driver.log').read_text()[-2000:]}"
        assert _manifest_lines(out) > 0, f"no file done within {START_TIMEOUT} s"
        session = _processes_under(ray_tmp)
        agents = [c for c in session.values() if c.startswith(("ray::DashboardAgent", "ray::RuntimeEnvAgent"))]
        assert agents, f"the agents the test is about are not running: {session}"

        driver.send_signal(signal.SIGKILL)
        driver.wait()
        killed = time.monotonic()
        while _processes_under(ray_tmp) and time.monotonic() - killed < GONE_WITHIN:
            time.sleep(0.5)
        left = _processes_under(ray_tmp)
        assert not left, f"{GONE_WITHIN} s after the driver's kill -9, still running: {left}"
        assert _manifest_lines(out) < 48  # it was killed mid-run
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        for pid in _processes_under(ray_tmp):  # this test's only: they use its own folder
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        log.close()
        shutil.rmtree(ray_tmp, ignore_errors=True)
