"""relukit's PEP 517 build backend: maturin's, with the ``relukit`` program bundled.

The extension module (crates/relukit-py) does not link the program (crates/relukit-cli)
and its plotting and font stack. Instead, before maturin builds the wheel, this backend
builds the program's release binary with cargo (the same build as ``cargo run
--release``, in the same target folder, so nothing is compiled twice) and places it in
maturin's data folder ``relukit._relukit.data/platlib/relukit/bin/``: the wheel installs it
as ``relukit/bin/relukit``, which the package's ``relukit`` command runs (relukit._cli).
Every other hook is maturin's own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Optional

import maturin
from maturin import (  # noqa: F401 (the hooks this backend takes over unchanged)
    build_editable,
    build_sdist,
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

ROOT = Path(__file__).resolve().parents[2]
PROGRAM_CRATE = ROOT / "crates" / "relukit-cli"
# maturin's default data folder for module `relukit._relukit`, next to pyproject.toml.
DATA = ROOT / "relukit._relukit.data"
BUNDLED = DATA / "platlib" / "relukit" / "bin"


def bundle_program() -> None:
    """Builds the program's release binary and copies it into maturin's data folder."""
    exe = "relukit.exe" if os.name == "nt" else "relukit"
    cargo = os.environ.get("CARGO", "cargo")
    manifest = str(ROOT / "Cargo.toml")
    subprocess.run(
        [cargo, "build", "--release", "--locked", "--manifest-path", manifest, "-p", "relukit-cli", "--bin", "relukit"],
        check=True,
    )
    metadata = subprocess.run(
        [cargo, "metadata", "--format-version", "1", "--no-deps", "--manifest-path", manifest],
        check=True,
        capture_output=True,
        text=True,
    )
    built = Path(json.loads(metadata.stdout)["target_directory"]) / "release" / exe
    shutil.rmtree(DATA, ignore_errors=True)
    BUNDLED.mkdir(parents=True)
    shutil.copy2(built, BUNDLED / exe)


def build_wheel(
    wheel_directory: str,
    config_settings: Optional[dict[str, Any]] = None,
    metadata_directory: Optional[str] = None,
) -> str:
    """maturin's ``build_wheel``, with the program bundled first."""
    if not PROGRAM_CRATE.is_dir():
        raise RuntimeError(
            f"relukit's wheel bundles the relukit program, built from {PROGRAM_CRATE}, which this "
            "source tree lacks: build the wheel from a clone of the repository"
        )
    bundle_program()
    try:
        return maturin.build_wheel(wheel_directory, config_settings, metadata_directory)
    finally:
        # The data folder would be picked up by any later maturin build (`maturin develop`).
        shutil.rmtree(DATA, ignore_errors=True)
