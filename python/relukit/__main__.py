"""``python -m relukit``: the relukit program (see ``relukit --help``)."""

import sys

from ._cli import main

sys.exit(main())
