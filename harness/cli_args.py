"""Command-line argument checking shared by the entry points: argparse types that refuse bad values with a
message naming the fix, and a parser whose errors are one line on stderr with exit code 2 (no usage dump).

Everything here runs before any file is written: the entry points parse and check first, then act.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors print ``error: <prog>: <message>`` on one line and exit with 2."""

    def error(self, message: str):
        """Print the one-line error and exit with status 2 (argparse's convention for usage errors)."""
        print(f"error: {self.prog}: {' '.join(message.split())} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def _number(text: str, kind: type):
    """Return ``kind(text)``; a text that is not such a number is an ArgumentTypeError saying so."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not {'an integer' if kind is int else 'a number'}") from None


def positive_int(text: str) -> int:
    """Return the int in ``text``; refuses anything below 1."""
    v = _number(text, int)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer (use 1 or more)")
    return v


def nonneg_int(text: str) -> int:
    """Return the int in ``text``; refuses negative values."""
    v = _number(text, int)
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative (use 0 or more)")
    return v


def finite_float(text: str) -> float:
    """Return the float in ``text``; refuses NaN and infinities (they cannot be written to JSON)."""
    v = _number(text, float)
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number")
    return v


def nonneg_float(text: str) -> float:
    """Return the finite float in ``text``; refuses negative values."""
    v = finite_float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative (use 0 or more)")
    return v


DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def device_name(text: str) -> str:
    """Return ``text`` when it names a device this harness can use: auto, cpu, cuda, cuda:N or mps."""
    if not DEVICE_RE.match(text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a device; use auto, cpu, cuda, cuda:N or mps")
    return text


def names_list(text: str) -> str:
    """Return a comma-separated list of names unchanged; refuses one that names nothing (``,`` or empty)."""
    if not [s for s in text.split(",") if s.strip()]:
        raise argparse.ArgumentTypeError(f"'{text}' names nothing; give one or more comma-separated names")
    return text


def existing_dir(text: str) -> str:
    """Return ``text`` when it is an existing directory (an input the run reads)."""
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a directory")
    return text


def output_dir(text: str) -> str:
    """Return ``text`` when it is a directory or can become one (nothing on the way is a plain file)."""
    p = Path(text)
    for q in (p, *p.parents):
        if q.exists():
            if not q.is_dir():
                raise argparse.ArgumentTypeError(f"{q} is a file, not a directory; pass another directory")
            break
    return text
