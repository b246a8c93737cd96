"""``python -m opcheck`` is the ``opcheck`` command."""

import sys

from .cli import main

sys.exit(main())
