import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cli.main import COMMANDS, cli


@pytest.fixture
def runner():
    return CliRunner()


def test_help_lists_every_command_and_imports_no_tensorflow():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from cli.main import cli, COMMANDS\n"
        "r = CliRunner().invoke(cli, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "for name in COMMANDS:\n"
        "    r = CliRunner().invoke(cli, [name, '--help'])\n"
        "    assert r.exit_code == 0, (name, r.output)\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_top_level_help_names_the_commands(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_degrade_then_score_round_trip(runner, real_folder, tmp_path):
    noisy = tmp_path / "noisy"
    result = runner.invoke(cli, ["degrade", str(real_folder), str(noisy), "--kind", "gaussian25", "-q"])
    assert result.exit_code == 0, result.output
    assert "3 done" in result.output
    report = tmp_path / "scores.json"
    result = runner.invoke(cli, ["score", str(real_folder), str(noisy), "--json", str(report)])
    assert result.exit_code == 0, result.output
    assert "mean over 3 images" in result.output
    payload = json.loads(report.read_text())
    assert len(payload["rows"]) == 3 and 19 < payload["summary"]["psnr"][0] < 23
    # a second run skips the finished files
    result = runner.invoke(cli, ["degrade", str(real_folder), str(noisy), "-q"])
    assert result.exit_code == 0 and "3 skipped" in result.output


def test_a_corrupt_file_fails_alone_with_its_name_and_exit_1(runner, real_folder, tmp_path):
    (real_folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    result = runner.invoke(cli, ["denoise", str(real_folder), str(tmp_path / "out"), "--method", "median",
                                 "--sigma", "0.1", "-q"])
    assert result.exit_code == 1
    assert "3 done" in result.output and "1 failed" in result.output
    assert "broken.png" in result.output
    assert (tmp_path / "out" / "t1.png").exists()


def test_library_errors_become_one_line_messages(runner, real_folder, tmp_path):
    result = runner.invoke(cli, ["denoise", str(real_folder), str(tmp_path / "o"), "--method", "nope"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "nope" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(cli, ["degrade", str(tmp_path / "missing"), str(tmp_path / "o")])
    assert result.exit_code == 1 and "missing" in result.output
    result = runner.invoke(cli, ["degrade", str(real_folder), str(real_folder / "inside")])
    assert result.exit_code == 1 and "inside the input" in result.output


def test_score_with_missing_reference_exits_1(runner, real_folder, tmp_path):
    import cv2
    import numpy as np

    test_dir = tmp_path / "t"
    test_dir.mkdir()
    cv2.imwrite(str(test_dir / "stranger.png"), np.zeros((8, 8), np.uint8))
    result = runner.invoke(cli, ["score", str(real_folder), str(test_dir)])
    assert result.exit_code == 1 and "no reference" in result.output


def test_dry_run_lists_and_writes_nothing(runner, real_folder, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(cli, ["degrade", str(real_folder), str(out), "--dry-run", "-q"])
    assert result.exit_code == 0
    assert result.output.count("planned:") == 3
    assert not out.exists()
