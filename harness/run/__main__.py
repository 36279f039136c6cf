"""``python -m harness.run``: the runner's command line (see :mod:`harness.run.cli`)."""
import sys

from harness.run.cli import main

sys.exit(main())
