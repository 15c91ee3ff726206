"""The `relukit` program from the Python package (`[project.scripts]`, and
`python -m relukit`): the program's release binary bundled into the wheel
(relukit/bin/relukit), run with its exit codes."""

import os
import shutil
import subprocess
import sys

import pytest
from conftest import REQUIRED

from relukit import _cli


def run(args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "relukit", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_plot_writes_its_charts(tmp_path):
    result = run(["plot", "--out", "charts"], tmp_path)
    assert result.returncode == 0, result.stderr
    png = tmp_path / "charts" / "activations.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "charts" / "activations.svg").read_text().lstrip().startswith("<svg")


def test_errors_keep_the_programs_exit_codes(tmp_path):
    bad_value = run(["study", "--epochs", "0"], tmp_path)
    assert bad_value.returncode == 1 and "--epochs" in bad_value.stderr
    bad_flag = run(["study", "--no-such-flag"], tmp_path)
    assert bad_flag.returncode == 2 and "--no-such-flag" in bad_flag.stderr
    version = run(["--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("relukit ")


def test_the_console_script_is_installed():
    script = shutil.which("relukit", path=os.path.dirname(sys.executable))
    if script is None and not REQUIRED:
        pytest.skip("not installed with its scripts (an editable or source-tree import)")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "study" in result.stdout


def test_the_wheel_bundles_the_program():
    if not _cli.PROGRAM.is_file() and not REQUIRED:
        pytest.skip("a build without the program (maturin develop)")
    assert os.access(_cli.PROGRAM, os.X_OK), _cli.PROGRAM
    result = subprocess.run([str(_cli.PROGRAM), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("relukit ")


def test_a_build_without_the_program_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_cli, "PROGRAM", tmp_path / "bin" / "relukit")
    monkeypatch.setattr(sys, "argv", ["relukit", "--version"])
    assert _cli.main() == 1
    message = capsys.readouterr().err
    assert "has no program" in message and "cargo run --release" in message
