"""The full install check: wheel from a clean clone -> fresh venv -> `enhance` from another folder.

    python benchmarks/install_check.py                 # the committed HEAD (a clean clone)
    python benchmarks/install_check.py --worktree      # the working tree as it is (uncommitted too)
    python benchmarks/install_check.py --keep DIR      # keep the venv and outputs in DIR

Steps, each printed with its time: clone the repository (or copy the working tree), build the
wheel (``pip wheel . --no-deps``, with build isolation, as ``pip install .`` does), make a venv,
install the wheel into it (not editable, no dependencies), then give the venv the site-packages of
the interpreter that runs this script (a ``.pth`` file: TensorFlow and the other dependencies are
not downloaded again, whether they are in a venv or in a plain interpreter; ``--system-site-packages``
would give the base interpreter's instead, without what a venv installed), then, from a folder
outside the source tree, with ``ENHANCE_WEIGHTS`` and ``PYTHONPATH`` unset:

* ``import enhance`` comes from the venv, the only top-level package the distribution installs
  is ``enhance``, and the shipped models are found inside the installed package;
* ``enhance models`` lists every model of the wheel with its kind;
* ``enhance run samples/ out/enhanced`` (the README's first command, on a copy of ``samples/``)
  enhances every sample with the shipped default and records it in the manifest;
* ``enhance.enhance_image(image, model="dncnn-speckle")`` works by name from Python.

Exit status 1 if any check fails, the last line saying which; a run that processed no file, or
left a sample without its output, fails (:func:`run_checks`). tests/test_install.py is the fast
part of this in CI (it builds and inspects the wheel; tests/test_install_check.py checks the
checks); this script needs a few minutes and the dependencies installed.
"""

import argparse
import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "enhance", "cli",
           "trained_weights", "samples")
FAILURES = []


def step(title):
    print(f"-- {title}", flush=True)
    return time.perf_counter()


def done(start, text=""):
    print(f"   {text}{' ' if text else ''}({time.perf_counter() - start:.1f} s)", flush=True)


def check(condition, text):
    print(f"   {'ok  ' if condition else 'FAIL'} {text}", flush=True)
    if not condition:
        FAILURES.append(text)
    return condition


def run(args, *, cwd, env=None, timeout=1800):
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode != 0:
        print(f"   command failed ({result.returncode}): {' '.join(map(str, args))}")
        print("   " + (result.stdout + result.stderr)[-3000:].replace("\n", "\n   "))
    return result


def copy_sources(dst, names=SOURCES):
    """Copy what the wheel is built from (``names``, from the working tree) into ``dst``.

    Build outputs and caches (``build/``, ``dist/``, ``*.egg-info``, ``__pycache__``) stay out,
    so that a stale ``build/`` cannot hide a file missing from the package data. Also used by
    tests/test_install.py.
    """
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in names:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, dst / name, ignore=ignore)
        elif path.exists():
            shutil.copy2(path, dst / name)
    return dst


def source_tree(work, worktree):
    src = work / "src"
    if worktree:
        return copy_sources(src), "working tree"
    result = run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(src)], cwd=work)
    if result.returncode != 0:
        raise SystemExit("git clone failed")
    head = run(["git", "rev-parse", "--short", "HEAD"], cwd=src).stdout.strip()
    return src, f"clean clone of HEAD {head}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worktree", action="store_true",
                        help="Build from the working tree instead of a clean clone of HEAD.")
    parser.add_argument("--keep", type=Path, default=None,
                        help="Work in this folder and keep it (default: a temporary folder).")
    args = parser.parse_args()
    work = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="enhance-install-"))
    work.mkdir(parents=True, exist_ok=True)
    total = time.perf_counter()
    try:
        ok = check_install(work, args.worktree)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{'PASSED' if ok else 'FAILED'}: install check in {time.perf_counter() - total:.0f} s"
          + ("" if ok else f"; failed: {'; '.join(FAILURES)}"))
    return 0 if ok else 1


def check_install(work, worktree):
    t = step("source")
    src, what = source_tree(work, worktree)
    done(t, what)

    t = step("build the wheel: pip wheel . --no-deps")
    dist = work / "dist"
    if run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", dist],
           cwd=src).returncode != 0:
        return check(False, "the wheel builds")
    (wheel,) = dist.glob("enhance-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = sorted({n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")})
    models_in_wheel = sorted({n.split("/")[2] for n in names
                              if n.startswith("enhance/trained_weights/") and n.endswith("/config.json")})
    done(t, f"{wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB, {len(names)} files, "
            f"top-level {tops}, {len(models_in_wheel)} models")
    check(tops == ["enhance"], "the wheel's only top-level package is enhance")

    t = step("venv + pip install the wheel (not editable), then this interpreter's site-packages")
    venv = work / "venv"
    if run([sys.executable, "-m", "venv", venv], cwd=work).returncode:
        return check(False, "the venv is made")
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python, enhance = bindir / "python", bindir / "enhance"
    # --no-deps: the dependencies come from this interpreter's site-packages, not the network;
    # they are added after the install, so that pip sees only the venv's own packages
    if run([python, "-m", "pip", "install", "-q", "--no-deps", wheel], cwd=work).returncode:
        return check(False, "the wheel installs")
    shared = share_site_packages(venv, python)
    done(t, f"dependencies from {', '.join(map(str, shared))}")

    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    shutil.copytree(src / "samples", elsewhere / "samples")
    env = {k: v for k, v in os.environ.items()
           if k not in ("ENHANCE_WEIGHTS", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"

    t = step("import from the venv, in another folder")
    code = ("import json, sys, importlib.metadata as md, enhance, enhance.cli.main, enhance.shipped as s\n"
            "dist = md.distribution('enhance')\n"
            "tops = sorted({str(f).split('/')[0] for f in dist.files} - {str(f).split('/')[0] for f in dist.files if '.dist-info' in str(f) or str(f).startswith('..')})\n"
            "print(json.dumps({'file': enhance.__file__, 'weights': str(s.weights_dir()), 'tops': tops,\n"
            "  'entry': [e.value for e in dist.entry_points if e.name == 'enhance'],\n"
            "  'tensorflow_imported': 'tensorflow' in sys.modules}))\n")
    result = run([python, "-c", code], cwd=elsewhere, env=env)
    if result.returncode:
        return check(False, "import enhance in the venv")
    info = json.loads(result.stdout.strip().splitlines()[-1])
    done(t, f"enhance from {info['file']}")
    check(Path(info["file"]).is_relative_to(venv), "enhance is imported from the venv")
    check(info["tops"] == ["enhance"], f"installed top-level packages: {info['tops']}")
    check(info["entry"] == ["enhance.cli.main:cli"], f"entry point: {info['entry']}")
    weights = Path(info["weights"])
    check(weights.is_relative_to(venv) and weights.name == "trained_weights",
          f"shipped models found in the installed package: {weights}")
    check(not info["tensorflow_imported"], "import enhance and the CLI load no TensorFlow")

    t = step("enhance models")
    result = run([enhance, "models"], cwd=elsewhere, env=env)
    print("   " + result.stdout.rstrip().replace("\n", "\n   "))
    listed = {line.split()[0].rstrip("*"): line.split()[1] for line in result.stdout.splitlines()[1:]
              if line.strip() and not line.startswith(("*", "models in"))}
    done(t, f"{len(listed)} models listed: "
            + ", ".join(f"{k} {sum(v == k for v in listed.values())}" for k in ("enhancer", "generator", "features")))
    check(result.returncode == 0 and models_in_wheel and sorted(listed) == models_in_wheel,
          f"enhance models lists every model of the wheel ({len(models_in_wheel)})")

    t = step("enhance run samples/ out/enhanced (the README's first command, shipped default)")
    result = run([enhance, "run", "samples/", "out/enhanced", "-q"], cwd=elsewhere, env=env)
    summary = [line for line in (result.stdout + result.stderr).splitlines() if " done, " in line]
    print(f"   {summary[-1] if summary else '(no summary line)'}")
    done(t)
    for ok, text in run_checks(elsewhere, "samples", "out/enhanced",
                               returncode=result.returncode, venv=venv):
        check(ok, text)

    t = step("Python API by name: enhance.enhance_image(image, model='dncnn-speckle')")
    code = ("import enhance, numpy as np\n"
            "image = enhance.read_image('samples/echo_frame00.png')\n"
            "out = enhance.enhance_image(image, model='dncnn-speckle')\n"
            "print(out.shape, out.dtype, float(np.abs(out - image.pixels).mean()))\n")
    result = run([python, "-c", code], cwd=elsewhere, env=env)
    done(t, result.stdout.strip())
    check(result.returncode == 0, "enhance.enhance_image by name from the installed package")
    return not FAILURES


def share_site_packages(venv, python):
    """Make the site-packages of the interpreter running this script importable in ``venv``.

    A ``.pth`` file in the venv's own site-packages lists them, after the venv's own packages
    (the installed wheel comes first). Their own ``.pth`` files are not run, so an editable
    install of ``enhance`` there is not seen. ``--system-site-packages`` is not the same: from a
    venv it gives the base interpreter's site-packages, without the dependencies the venv
    installed (the README's own setup).

    Returns
    -------
    list of Path
        The folders listed.
    """
    paths = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        paths.append(site.getusersitepackages())
    paths = [Path(p) for p in dict.fromkeys(paths) if Path(p).is_dir()]
    own = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                         capture_output=True, text=True, check=True).stdout.strip()
    (Path(own) / "_install_check_dependencies.pth").write_text(
        "".join(f"{p}\n" for p in paths if p.resolve() != Path(own).resolve()))
    return paths


def run_checks(cwd, samples, out, *, returncode, venv):
    """The checks of ``enhance run SAMPLES OUT`` run in ``cwd`` by the venv ``venv``.

    Every image of ``samples`` (as ``enhance`` lists a folder) must be recorded done in the
    manifest with the shipped default model read from the installed package, its output must
    exist, and so must the preview. A run that processed no file gives one failure saying so,
    and no other line.

    Returns
    -------
    list of (bool, str)
        Each check's outcome and what it checks (a failure says why).
    """
    from enhance.batch import discover
    from enhance.preview import PREVIEW_NAME
    from enhance.shipped import DEFAULT_MODELS

    cwd, venv = Path(cwd), Path(venv)
    out_dir = cwd / out
    _, inputs = discover(cwd / samples)
    expected = {item.path.resolve(): item.relpath.as_posix() for item in inputs}
    manifest = out_dir / "manifest.jsonl"
    records = ([json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
               if manifest.is_file() else [])
    done_records = [r for r in records if r.get("status") == "done"]
    if not done_records:
        return [(False, f"enhance run processed no file (exit status {returncode}, "
                        f"{len(records)} manifest records, {len(expected)} samples)")]
    seconds = sum(r.get("seconds", 0) for r in done_records)
    print(f"   {len(done_records)} of {len(records)} files done, {seconds:.1f} s in the model")
    done_inputs = {(cwd / r["input"]).resolve() for r in done_records}
    missing = sorted(name for path, name in expected.items() if path not in done_inputs)
    absent = [r["output"] for r in done_records if not (cwd / r["output"]).is_file()]
    return [
        (returncode == 0, f"enhance run exits with 0 (got {returncode})"),
        (bool(expected) and not missing,
         f"every sample is done ({len(expected) - len(missing)} of {len(expected)})"
         + (f"; not done: {', '.join(missing)}" if missing else "")),
        (not absent, "every output exists" + (f"; missing: {', '.join(absent)}" if absent else "")),
        ((out_dir / PREVIEW_NAME).is_file(), f"the preview {out}/{PREVIEW_NAME} exists"),
        (all(r.get("model") == DEFAULT_MODELS["gaussian"] and r.get("model_source") == "shipped"
             and Path(r.get("model_path", "")).is_relative_to(venv) for r in done_records),
         "the manifest names the shipped default, read from the installed package"),
    ]


if __name__ == "__main__":
    sys.exit(main())
