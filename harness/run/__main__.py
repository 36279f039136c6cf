"""``python -m harness.run``: the runner's command line (see :mod:`harness.run.cli`)."""
import sys

from harness.progress_output import lines_when_piped
from harness.run.cli import main

lines_when_piped()
sys.exit(main())
