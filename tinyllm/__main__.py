"""``python -m tinyllm ...`` runs the command line (see tinyllm.cli)."""

import sys

from tinyllm.cli import main

sys.exit(main())
