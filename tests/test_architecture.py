"""The import contract (.importlinter, checked by import-linter): the layers of ARCHITECTURE.md,
no import up a floor and no import circle, for the package as installed (enhance.cli included).
Checked on the repository, and shown to break on copies given an upward import or a circle."""

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".importlinter"
LINT = ("import sys\nfrom importlinter.cli import lint_imports_command\n"
        "sys.exit(lint_imports_command())\n")


def lint(folder):
    """Run ``lint-imports`` on the package ``folder/enhance`` with the repository's contract."""
    env = {**os.environ, "PYTHONPATH": str(folder)}
    return subprocess.run([sys.executable, "-c", LINT, "--config", str(CONFIG), "--no-cache"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def installed_layout(tmp_path):
    """The package as a wheel installs it: enhance/ with the command line as enhance/cli/."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "enhance", tmp_path / "enhance", ignore=ignore)
    shutil.copytree(ROOT / "cli", tmp_path / "enhance" / "cli", ignore=ignore)
    return tmp_path


def _layers():
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    layers = [line.strip() for line in parser["importlinter:contract:layers"]["layers"].splitlines()
              if line.strip()]
    return [[name.strip(" ()") for name in layer.split(":")] for layer in layers]


def test_the_repository_keeps_the_contract():
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken" not in done.stdout.lower().replace("0 broken", "")


def test_the_installed_package_with_its_command_line_keeps_the_contract(installed_layout):
    done = lint(installed_layout)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_module_of_the_package_sits_on_one_floor():
    listed = [name for layer in _layers() for name in layer]
    assert len(listed) == len(set(listed))
    modules = {f"enhance.{p.stem}" for p in (ROOT / "enhance").iterdir()
               if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert modules | {"enhance.cli"} == set(listed)
    floors = {name: index for index, layer in enumerate(_layers()) for name in layer}
    # ARCHITECTURE.md's order, top to bottom: cli, api, jobs, batch engine, predict, runtime, ...
    order = ["enhance.cli", "enhance.api", "enhance.pipeline", "enhance.batch", "enhance.predict",
             "enhance.runtime", "enhance.models", "enhance.io", "enhance.errors"]
    assert [floors[name] for name in order] == sorted(floors[name] for name in order)
    assert len({floors[name] for name in order}) == len(order)


@pytest.mark.parametrize("module, line, broken", [
    # an import up a floor: the I/O layer asking the jobs
    ("io/formats.py", "from enhance import jobs", "enhance.io is not allowed to import enhance.jobs"),
    # the library importing the command line
    ("pipeline.py", "from enhance.cli import common", "is not allowed to import enhance.cli"),
    # hidden inside a function: still an import
    ("models/registry.py", "def _f():\n    from enhance.predict import enhance_image",
     "enhance.models is not allowed to import enhance.predict"),
    # a circle between two jobs of one floor (preview already imports from jobs' floor)
    ("jobs.py", "from enhance import preview", None),
])
def test_an_upward_import_or_a_circle_breaks_the_contract(installed_layout, module, line, broken):
    path = installed_layout / "enhance" / module
    if broken is None:  # make preview -> jobs -> preview a circle
        (installed_layout / "enhance" / "preview.py").write_text(
            (installed_layout / "enhance" / "preview.py").read_text() + "\nfrom enhance import jobs\n")
    path.write_text(path.read_text() + "\n" + line + "\n")
    done = lint(installed_layout)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (broken or "No cycles are allowed in enhance") in done.stdout, done.stdout


# ---------------------------------------------------------------------------------------------
# the helpers that moved down a floor, each written once


def test_one_line_split_extension_and_to_gray():
    import numpy as np
    from skimage.color import rgb2gray

    from enhance.errors import one_line
    from enhance.io.formats import split_extension
    from enhance.planes import to_gray

    assert one_line("a\n  b\t c \r\n") == "a b c"
    assert split_extension("scan.NII.GZ") == ("scan", ".NII.GZ")
    assert split_extension("a.b.png") == ("a.b", ".png")
    assert split_extension("noext") == ("noext", "")
    assert split_extension(".hidden") == (".hidden", "")
    rgba = np.random.default_rng(0).random((5, 6, 4), dtype=np.float32)
    for pixels in (rgba, rgba[..., :3].astype(np.float64)):
        gray = to_gray(pixels)
        assert gray.dtype == pixels.dtype and np.array_equal(gray, rgb2gray(pixels[..., :3]))
    np.testing.assert_array_equal(to_gray(rgba[..., 0]), rgba[..., 0])  # gray: as it is
