"""The ``relukit`` command of the Python package: the same program as
``cargo run --release`` (study, born-dead, plot, bench), compiled into the extension
module, so that ``pip install relukit`` users have it without Rust."""

from __future__ import annotations

import signal
import sys

from . import _relukit


def main() -> int:
    """Runs the program on ``sys.argv`` and returns its exit code."""
    # Behave as the native program: Ctrl-C ends it at once (the Rust code does not return
    # to Python to raise KeyboardInterrupt), and a closed pipe (`relukit bench | head -3`)
    # ends it quietly.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.stdout.flush()
    return _relukit._main(["relukit", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
