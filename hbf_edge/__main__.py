"""``python -m hbf_edge`` = the ``hbf-edge`` command."""

import sys

from hbf_edge.cli import main

sys.exit(main())
