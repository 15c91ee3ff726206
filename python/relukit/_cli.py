"""The ``relukit`` command of the Python package: the same program as
``cargo run --release`` (study, born-dead, plot, bench). The wheel carries the program's
release binary (``relukit/bin/relukit``, bundled by the build backend in
``python/build_backend``); this command runs it with the command's arguments, so that
``pip install`` users have it without cargo, and the extension module does not link the
program's plotting and font stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROGRAM = Path(__file__).resolve().parent / "bin" / ("relukit.exe" if os.name == "nt" else "relukit")


def main() -> int:
    """Runs the program on ``sys.argv`` and returns its exit code (on POSIX the program
    replaces this process, so signals and exit codes are the program's own)."""
    if not PROGRAM.is_file():
        print(
            f"relukit: this build of the package has no program ({PROGRAM} is missing): it is bundled "
            "by `pip install .` or `pip wheel .`, not by `maturin develop`; from the repository, "
            "`cargo run --release -- ARGS` runs the same program",
            file=sys.stderr,
        )
        return 1
    args = [str(PROGRAM), *sys.argv[1:]]
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execv(args[0], args)
    return subprocess.run(args).returncode


if __name__ == "__main__":
    sys.exit(main())
