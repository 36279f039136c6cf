"""Shared test settings: where the shared benchmark files are ($TOKENORDER_SHARED_DATA, else ../shared/data)."""
import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("TOKENORDER_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


def needs_shared(subdir: str):
    """Return a skip marker for tests that read ``SHARED/subdir``."""
    return pytest.mark.skipif(not (SHARED / subdir).is_dir(),
                              reason=f"shared data {SHARED / subdir} not present (set $TOKENORDER_SHARED_DATA)")
