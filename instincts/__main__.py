"""`python -m instincts ...`: the command line (gate, report)."""

import sys

from instincts.gate import main

sys.exit(main())
