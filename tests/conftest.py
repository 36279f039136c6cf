"""Shared test settings: where the shared benchmark files are ($TOKENORDER_SHARED_DATA, else ../shared/data)."""
import ast
import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("TOKENORDER_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


def needs_shared(subdir: str):
    """Return a skip marker for tests that read ``SHARED/subdir``."""
    return pytest.mark.skipif(not (SHARED / subdir).is_dir(),
                              reason=f"shared data {SHARED / subdir} not present (set $TOKENORDER_SHARED_DATA)")


def heavy_modules_after_report(results: Path, out: Path) -> list[str]:
    """Return the torch / tasks / transformers / harness.models modules a fresh interpreter has imported after
    ``python -m harness.report`` on ``results`` (the report must read JSONL only; the list should be empty)."""
    import subprocess
    import sys
    code = ("import sys, warnings; warnings.simplefilter('ignore'); import harness.report.build as r; "
            f"r.main(['--results', {str(results)!r}, '--out', {str(out)!r}]); "
            "print([m for m in sys.modules if m.split('.')[0] in ('torch', 'tasks', 'transformers') "
            "or m.startswith('harness.models')])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, check=True)
    return ast.literal_eval(proc.stdout.strip().splitlines()[-1])


class HostilePayload:
    """Pickles as a call that creates the file ``marker``: what a hostile pickle or checkpoint would run on
    load. A loader that runs nothing leaves ``marker`` absent."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))
