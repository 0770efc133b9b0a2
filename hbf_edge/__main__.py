"""``python -m hbf_edge`` = the ``hbf-edge`` command."""

import sys

from .cli import main

sys.exit(main())
