"""Progress output that suits where it goes: live tqdm bars on a terminal; on a pipe or a file, plain lines.

tqdm redraws its bar with carriage returns, which a log file keeps as one endless line. When stderr is not
a terminal, :func:`lines_when_piped` makes every bar redraw at most every ``$TQDM_MININTERVAL`` seconds
(default 30; tqdm reads the variable itself, child processes included) and turns each redraw into its own
line, with the same figures (count, percent, rate, time left). ``./run_all.sh`` does the same for its lane
logs (``tr '\\r' '\\n'``), so processes it starts log in lines too.
"""
from __future__ import annotations

import os
import sys

DEFAULT_SECONDS = "30"


class CarriageReturnsToLines:
    """A text stream wrapper: every carriage return starts a new line (no blank lines); the rest is passed on."""

    def __init__(self, stream):
        self._stream = stream
        self._at_line_start = True

    def write(self, text: str) -> int:
        """Write ``text`` with each carriage return as a line break; return len(text)."""
        out = []
        for ch in text.replace("\r\n", "\n"):
            if ch in "\r\n":
                if not self._at_line_start:
                    out.append("\n")
                    self._at_line_start = True
            else:
                out.append(ch)
                self._at_line_start = False
        self._stream.write("".join(out))
        return len(text)

    def isatty(self) -> bool:
        """Return False: what this wraps is a pipe or a file."""
        return False

    def __getattr__(self, name):
        return getattr(self._stream, name)


def lines_when_piped() -> None:
    """Switch this process's progress bars to plain lines when stderr is not a terminal (idempotent)."""
    if isinstance(sys.stderr, CarriageReturnsToLines) or sys.stderr.isatty():
        return
    os.environ.setdefault("TQDM_MININTERVAL", DEFAULT_SECONDS)
    sys.stderr = CarriageReturnsToLines(sys.stderr)
