"""``python -m lstmkit`` is the ``lstmkit`` command."""

import sys

from .cli import main

sys.exit(main())
