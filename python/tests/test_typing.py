"""The type stubs as a caller's mypy sees them: tests/typing/usage.py must check clean
(its assert_type lines fail if a stub's return type changes)."""

import pathlib

import pytest

mypy_api = pytest.importorskip("mypy.api")


def test_the_stubs_give_callers_precise_types(tmp_path):
    usage = pathlib.Path(__file__).parent / "typing" / "usage.py"
    stdout, stderr, status = mypy_api.run(
        [str(usage), "--strict", "--no-incremental", "--cache-dir", str(tmp_path), "--python-version", "3.11"]
    )
    assert status == 0, stdout + stderr
