"""``python -m plantwire.sim``: the same as ``plantwire sim``."""

import sys

from plantwire.sim.cli import main

sys.exit(main(sys.argv[1:]))
