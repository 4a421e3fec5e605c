"""``python -m capturelog``: the same as the ``capturelog`` command."""

import sys

from .cli import main

sys.exit(main())
