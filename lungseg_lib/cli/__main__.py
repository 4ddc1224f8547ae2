"""``python -m lungseg_lib.cli``."""

import sys

from . import main

sys.exit(main())
