"""`python -m instincts ...`: the command line (gate, report)."""

import sys

from instincts.cli import main

sys.exit(main())
