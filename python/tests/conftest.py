"""What every test file shares: the rule for optional dependencies.

The test command installs torch, ml_dtypes and dask and sets RELUKIT_REQUIRE_OPTIONAL=1,
so that a missing one fails there instead of skipping; elsewhere (a plain ``pytest``
with fewer packages) their tests skip."""

import os

import pytest

#: Whether optional dependencies must be there (the test command), not skipped.
REQUIRED = bool(os.environ.get("RELUKIT_REQUIRE_OPTIONAL"))


def optional(name, also_required_by=None):
    """The module ``name``: imported (an ImportError fails the run) where optional
    dependencies are required, or where the environment variable ``also_required_by``
    is set; else ``pytest.importorskip``."""
    if REQUIRED or (also_required_by and os.environ.get(also_required_by)):
        import importlib

        return importlib.import_module(name)
    return pytest.importorskip(name)
