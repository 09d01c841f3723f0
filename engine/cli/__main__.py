"""`python -m engine.cli ...`: the same as `cxr ...`."""

import sys

from engine.cli.main import main

sys.exit(main())
