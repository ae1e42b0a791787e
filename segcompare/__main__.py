"""`python -m segcompare`: the command line (`segcompare.cli`)."""

import sys

from .cli import main

sys.exit(main())
