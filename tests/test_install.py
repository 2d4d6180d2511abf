"""The wheel: one import package (enhance), the shipped models inside it, the right entry point.

Builds the wheel from a copy of the source tree (so that a stale ``build/`` cannot hide a
missing file) and inspects it; then imports the unpacked wheel from another directory and lists
its models, so that the packaged models are found with importlib.resources, not in the source
tree. The full check (a fresh venv, ``pip install`` of the wheel, ``enhance run``) is
``python benchmarks/install_check.py``.
"""

import configparser
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from enhance.modeldir import KINDS
from enhance.shipped import read_model_info, shipped_model_dirs

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("install_check", ROOT / "benchmarks" / "install_check.py")
install_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(install_check)
#: What the wheel is built from (the full check also copies samples/ to run them).
SOURCES = tuple(name for name in install_check.SOURCES if name != "samples")


def _card_hashes(card):
    """Every sha256-like string anywhere in a card."""
    found = set()

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
            found.add(value)

    walk(card)
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    src = install_check.copy_sources(tmp_path_factory.mktemp("src"), SOURCES)
    out = tmp_path_factory.mktemp("wheel")
    # --no-build-isolation: the installed setuptools builds it, no download (CI may be offline)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
         "-w", str(out), "-q"], capture_output=True, text=True, cwd=src)
    assert result.returncode == 0, result.stdout + result.stderr
    (path,) = out.glob("enhance-*.whl")
    return path


@pytest.fixture(scope="module")
def names(wheel):
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def _read(wheel, name):
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(name)


def test_the_only_top_level_import_package_is_enhance(wheel, names):
    tops = {n.split("/")[0] for n in names}
    info = [t for t in tops if t.endswith(".dist-info")]
    assert len(info) == 1 and tops - set(info) == {"enhance"}, sorted(tops)
    top_level = f"{info[0]}/top_level.txt"
    if top_level in names:
        assert _read(wheel, top_level).decode().split() == ["enhance"]


def test_entry_point_is_enhance_cli_main(wheel, names):
    (entry,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(_read(wheel, entry).decode())
    assert dict(parser["console_scripts"]) == {"enhance": "enhance.cli.main:cli"}


def test_every_module_of_the_source_tree_is_in_the_wheel(names):
    expected = {p.relative_to(ROOT).as_posix() for p in (ROOT / "enhance").rglob("*.py")
                if "__pycache__" not in p.parts}
    expected |= {f"enhance/cli/{p.name}" for p in (ROOT / "cli").glob("*.py")}
    missing = expected - set(names)
    assert not missing, f"not in the wheel (a package missing from setup.py?): {sorted(missing)}"


def test_every_shipped_model_is_in_the_wheel_with_its_config_card_and_weights(wheel, names):
    shipped = shipped_model_dirs(ROOT / "trained_weights")
    assert len(shipped) >= 12
    for path in shipped:
        info = read_model_info(path)
        prefix = f"enhance/trained_weights/{path.name}/"
        for file in ["config.json", "card.json", KINDS[info["kind"]].weights_file]:
            assert prefix + file in names, f"{prefix + file} missing from the wheel"
            assert _read(wheel, prefix + file) == (path / file).read_bytes()


def test_every_shipped_file_has_its_sha256_in_its_card(wheel, names):
    """Weights (and any other file but the model's own JSON) only where the card records them."""
    shipped = [n for n in names if n.startswith("enhance/trained_weights/") and not n.endswith("/")]
    assert shipped
    by_model = {}
    for name in shipped:
        parts = name.split("/")
        assert len(parts) >= 4, f"{name}: a file outside any model directory"
        by_model.setdefault(parts[2], []).append(name)
    for model, files in by_model.items():
        card = json.loads(_read(wheel, f"enhance/trained_weights/{model}/card.json"))
        hashes = _card_hashes(card)
        for name in files:
            if name.rsplit("/", 1)[1] in ("card.json", "config.json"):
                continue
            digest = __import__("hashlib").sha256(_read(wheel, name)).hexdigest()
            assert digest in hashes, f"{name}: shipped without its sha256 in the card"


def test_the_unpacked_wheel_finds_its_own_models_from_another_directory(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ENHANCE_WEIGHTS"}
    env["PYTHONPATH"] = str(site)
    code = ("import sys, enhance, enhance.shipped as s\n"
            "print('FILE', enhance.__file__)\n"
            "print('WEIGHTS', s.weights_dir())\n"
            "from enhance.cli.main import cli\n"
            "cli(['models'])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=elsewhere, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"FILE {site / 'enhance' / '__init__.py'}"
    assert lines[1] == f"WEIGHTS {site / 'enhance' / 'trained_weights'}"
    for path in shipped_model_dirs(ROOT / "trained_weights"):
        kind = read_model_info(path)["kind"]
        assert any(line.split()[:2] in ([path.name, kind], [path.name + "*", kind])
                   for line in lines), f"{path.name} ({kind}) not listed:\n{result.stdout}"
