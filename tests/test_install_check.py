"""The checks of ``benchmarks/install_check.py``, without building a wheel.

The full script builds the wheel, installs it in a fresh venv and runs the README's first
command; here its two parts that went wrong are checked on constructed folders: the fresh venv
sees the dependencies of the interpreter that runs the script even when that interpreter is a
venv (``--system-site-packages`` gave the base interpreter's), and a run that processed no file
or left a sample without its output fails instead of printing "ok" lines.
"""

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from enhance.preview import PREVIEW_NAME
from enhance.shipped import DEFAULT_MODELS

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "install_check.py"
_spec = importlib.util.spec_from_file_location("install_check", SCRIPT)
install_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(install_check)


def _venv(path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True,
                   capture_output=True)
    python = path / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    return python, Path(purelib)


def test_the_fresh_venv_sees_the_packages_of_the_venv_that_runs_the_script(tmp_path):
    # outer: a venv (not --system-site-packages) holding a package the base interpreter lacks,
    # as the README's setup holds TensorFlow; the script runs with its python
    outer_python, outer_lib = _venv(tmp_path / "outer")
    (outer_lib / "only_in_outer_venv.py").write_text("WHERE = 'outer'\n")
    driver = textwrap.dedent(f"""
        import importlib.util, subprocess, sys
        from pathlib import Path
        spec = importlib.util.spec_from_file_location("install_check", {str(SCRIPT)!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        fresh = Path({str(tmp_path / 'fresh')!r})
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True)
        module.share_site_packages(fresh, fresh / "bin" / "python")
    """)
    subprocess.run([str(outer_python), "-c", driver], check=True, capture_output=True, cwd=tmp_path)
    fresh_python = tmp_path / "fresh" / "bin" / "python"
    code = ("import sys, only_in_outer_venv as m, sysconfig\n"
            "print(m.WHERE)\n"
            "print(sys.path.index(sysconfig.get_path('purelib')) < sys.path.index(str(__import__('pathlib').Path(m.__file__).parent)))\n")
    result = subprocess.run([str(fresh_python), "-c", code], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # found, and after the fresh venv's own packages (the installed wheel wins)
    assert result.stdout.split() == ["outer", "True"]


def test_an_editable_enhance_of_the_running_interpreter_does_not_leak_into_the_fresh_venv(tmp_path):
    import numpy

    python, _ = _venv(tmp_path / "fresh")
    shared = install_check.share_site_packages(tmp_path / "fresh", python)
    assert Path(numpy.__file__).resolve().parent.parent in [p.resolve() for p in shared]
    code = ("import numpy\n"
            "try:\n    import enhance\nexcept ModuleNotFoundError:\n    print('no enhance')\n"
            "else:\n    print(enhance.__file__)\n")
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # the running interpreter's editable install (a .pth + finder) is not run in the fresh venv
    assert result.stdout.strip() == "no enhance"


@pytest.fixture
def finished_run(tmp_path):
    """A folder as the script leaves it after ``enhance run samples/ out/enhanced`` succeeded."""
    cwd, venv = tmp_path / "elsewhere", tmp_path / "venv"
    weights = venv / "lib" / "site-packages" / "enhance" / "trained_weights"
    for name in ["a.png", "sub/b.tif", "README.md"]:  # README.md: not an image
        path = cwd / "samples" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not read by the checks")
    out = cwd / "out" / "enhanced"
    records = []
    for name in ["a.png", "sub/b.tif"]:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(b"output")
        records.append({"input": f"samples/{name}", "output": f"out/enhanced/{name}", "status": "done",
                        "seconds": 0.5, "model": DEFAULT_MODELS["gaussian"], "model_source": "shipped",
                        "model_path": str(weights / DEFAULT_MODELS["gaussian"])})
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (out / PREVIEW_NAME).write_bytes(b"png")
    return cwd, venv, out


def _failures(cwd, venv, returncode=0):
    return [text for ok, text in install_check.run_checks(cwd, "samples", "out/enhanced",
                                                           returncode=returncode, venv=venv)
            if not ok]


def test_a_finished_run_passes_every_check(finished_run):
    cwd, venv, _ = finished_run
    checks = install_check.run_checks(cwd, "samples", "out/enhanced", returncode=0, venv=venv)
    assert len(checks) == 5 and all(ok for ok, _ in checks), checks


@pytest.mark.parametrize("manifest", [None, "", '{"input": "samples/a.png", "output": "", "status": "failed"}\n'])
def test_a_run_that_processed_no_file_fails_in_one_line(finished_run, manifest):
    cwd, venv, out = finished_run
    if manifest is None:
        (out / "manifest.jsonl").unlink()
    else:
        (out / "manifest.jsonl").write_text(manifest)
    checks = install_check.run_checks(cwd, "samples", "out/enhanced", returncode=0, venv=venv)
    assert len(checks) == 1, checks  # no "ok" line after it
    assert not checks[0][0] and "processed no file" in checks[0][1] and "2 samples" in checks[0][1]


def test_a_sample_without_its_record_fails_naming_it(finished_run):
    cwd, venv, out = finished_run
    manifest = out / "manifest.jsonl"
    manifest.write_text(manifest.read_text().splitlines()[0] + "\n")
    assert _failures(cwd, venv) == ["every sample is done (1 of 2); not done: sub/b.tif"]


def test_a_missing_output_fails_naming_it(finished_run):
    cwd, venv, out = finished_run
    (out / "sub" / "b.tif").unlink()
    assert _failures(cwd, venv) == ["every output exists; missing: out/enhanced/sub/b.tif"]


def test_a_missing_preview_a_non_zero_exit_or_another_model_fail(finished_run):
    cwd, venv, out = finished_run
    (out / PREVIEW_NAME).unlink()
    assert _failures(cwd, venv) == [f"the preview out/enhanced/{PREVIEW_NAME} exists"]
    assert _failures(cwd, venv, returncode=1)[0] == "enhance run exits with 0 (got 1)"
    assert len(_failures(cwd, cwd)) == 2  # the model read from elsewhere than the venv


def test_the_script_exits_non_zero_with_one_line_saying_why(finished_run, monkeypatch, capsys):
    """main() turns a failed check into exit status 1 and a last line naming it."""
    cwd, venv, out = finished_run
    (out / "manifest.jsonl").unlink()

    def fake_install(work, worktree):  # the run part only: no wheel, no venv
        for ok, text in install_check.run_checks(cwd, "samples", "out/enhanced", returncode=0, venv=venv):
            install_check.check(ok, text)
        return not install_check.FAILURES

    monkeypatch.setattr(install_check, "check_install", fake_install)
    monkeypatch.setattr(install_check, "FAILURES", [])
    monkeypatch.setattr(sys, "argv", ["install_check.py", "--keep", str(cwd.parent / "work")])
    assert install_check.main() == 1
    lines = capsys.readouterr().out.splitlines()
    assert not any(line.lstrip().startswith("ok") for line in lines)
    assert lines[-1].startswith("FAILED: install check in ") and "processed no file" in lines[-1]
