"""``python -m refzsl`` — the ``refzsl`` command (see :mod:`refzsl.cli`)."""

import sys

from .cli import main

sys.exit(main())
