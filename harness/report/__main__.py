"""``python -m harness.report``: render every table and figure (see :mod:`harness.report.build`)."""
from harness.report.build import main

raise SystemExit(main())
