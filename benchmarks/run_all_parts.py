"""Run time of ``./run_all.sh`` per lane and per part, read from its lane logs.

What is measured
----------------
``run_all.sh`` runs its work in lanes (two on a 2-core CPU), each logging to ``logs/run_all-<lane>.log``
(``runs/NAME/logs/`` under ``--fresh NAME``). Every step of a lane starts with a line ``[HH:MM:SS] run ...``
or ``[HH:MM:SS] figure ...``; a step lasts until the next step's line, the lane's last step until the lane's
``[HH:MM:SS] lane NAME done`` line (in the lane log, or in ``run_all.sh``'s own output given as ``--main
FILE``), else until the log was last written (its modification time). Clock times that go backwards are
taken to cross midnight.

The steps are then grouped into parts, the rows of the README's run-time table: consecutive steps of one
lane with the same task and kind, where the kind of a ``harness.run`` step is read from its arguments:

* ``rule sweep``      ``--gumbel 0`` with ``--n`` (the ``zoo`` of every published unmasking rule)
* ``noise sweep``     another ``--gumbel`` with ``--n``
* ``steps sweep``     ``--steps`` without ``--n``
* ``un-noised``       ``--gumbel 0`` otherwise
* ``paper decoding``  everything else (the task's own decoding)

and a figure step is its own part (``figure NAME``).

Run
---
    .venv/bin/python benchmarks/run_all_parts.py                       # ./logs
    .venv/bin/python benchmarks/run_all_parts.py runs/idle/logs --steps  # every step too
    .venv/bin/python benchmarks/run_all_parts.py runs/idle/logs --json parts.json
    .venv/bin/python benchmarks/run_all_parts.py runs/idle/logs --main run_all.out   # its terminal output

Prints minutes per part and lane, each lane's total, and the wall time from the first step to the last
lane's end (the venv set-up before the first step and the report rendering after the lanes are not in it;
``run_all.sh`` prints its own total last). Exit code 0 (a benchmark, not a test); 2 for a directory without
lane logs.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

STEP = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\] (run|figure) (.*)$")
LANE_DONE = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\] lane (\S+) done")
DAY = 24 * 3600


@dataclass
class Step:
    """One step of a lane: start and end in seconds from the lane's first midnight, and what it ran."""

    lane: str
    start: int
    end: int
    kind: str          # "run" or "figure"
    args: str          # the rest of the step line

    @property
    def minutes(self) -> float:
        """Return the step's duration in minutes."""
        return (self.end - self.start) / 60


def _seconds(h: str, m: str, s: str) -> int:
    return int(h) * 3600 + int(m) * 60 + int(s)


def clock_of(timestamp: float) -> int:
    """Return the local clock time of a Unix timestamp, in seconds after midnight (the lane logs' clock)."""
    t = datetime.fromtimestamp(timestamp)
    return t.hour * 3600 + t.minute * 60 + t.second


def lane_ends(text: str) -> dict[str, int]:
    """Return {lane: clock seconds} of the ``[HH:MM:SS] lane NAME done`` lines in a log's text."""
    out = {}
    for line in text.replace("\r", "\n").splitlines():
        m = LANE_DONE.match(line)
        if m:
            out[m.group(4)] = _seconds(*m.group(1, 2, 3))
    return out


def parse_lane(text: str, lane: str, end_clock: int) -> list[Step]:
    """Return the steps of one lane log's text; the last step ends at ``end_clock`` (seconds after midnight,
    moved past midnight when it reads earlier than the last start)."""
    starts: list[tuple[int, str, str]] = []
    offset, last = 0, None
    for line in text.replace("\r", "\n").splitlines():
        m = STEP.match(line)
        if not m:
            continue
        t = _seconds(*m.group(1, 2, 3))
        if last is not None and t + offset < last:
            offset += DAY
        last = t + offset
        starts.append((last, m.group(4), m.group(5).strip()))
    if not starts:
        return []
    end = end_clock + offset
    while end < starts[-1][0]:
        end += DAY
    ends = [s[0] for s in starts[1:]] + [end]
    return [Step(lane, start, stop, kind, args) for (start, kind, args), stop in zip(starts, ends)]


def _options(args: str) -> dict[str, str]:
    """Return the ``--option value`` pairs of a step's arguments (the last one wins; flags map to '')."""
    words, out = shlex.split(args), {}
    for i, w in enumerate(words):
        if w.startswith("--"):
            nxt = words[i + 1] if i + 1 < len(words) else ""
            out[w[2:]] = "" if nxt.startswith("--") else nxt
    return out


def part_of(step: Step) -> str:
    """Return the name of the part a step belongs to: ``figure NAME`` or ``<task> <kind>`` (module docstring)."""
    if step.kind == "figure":
        return f"figure {step.args.split()[0] if step.args else '?'}"
    o = _options(step.args)
    task, gumbel = o.get("task", "?"), o.get("gumbel")
    if "n" in o and gumbel is not None:
        kind = "rule sweep" if float(gumbel) == 0 else "noise sweep"
    elif "steps" in o:
        kind = "steps sweep"
    elif gumbel is not None and float(gumbel) == 0:
        kind = "un-noised"
    else:
        kind = "paper decoding"
    return f"{task} {kind}"


def parts(steps: list[Step]) -> list[tuple[str, str, float]]:
    """Return (lane, part, minutes) for each run of consecutive same-part steps of a lane, in order."""
    out: list[tuple[str, str, float]] = []
    for s in steps:
        name = part_of(s)
        if out and out[-1][0] == s.lane and out[-1][1] == name:
            out[-1] = (s.lane, name, out[-1][2] + s.minutes)
        else:
            out.append((s.lane, name, s.minutes))
    return out


def read_logs(log_dir: Path, main_log: Path | None = None) -> list[Step]:
    """Return every step of every ``run_all-<lane>.log`` in ``log_dir``, lane by lane (each sorted by time);
    each lane ends at its ``lane NAME done`` line (the lane log's own, else ``main_log``'s), else at the log's
    modification time."""
    ends = lane_ends(main_log.read_text(errors="replace")) if main_log else {}
    steps: list[Step] = []
    for path in sorted(log_dir.glob("run_all-*.log")):
        lane, text = path.stem[len("run_all-"):], path.read_text(errors="replace")
        end_clock = lane_ends(text).get(lane, ends.get(lane))
        if end_clock is None:
            end_clock = clock_of(os.path.getmtime(path))
        steps += parse_lane(text, lane, end_clock)
    return steps


def summary(steps: list[Step]) -> dict:
    """Return {"parts": [...], "lanes": {lane: minutes}, "wall_minutes": first start to last end}."""
    lanes: dict[str, float] = {}
    for s in steps:
        lanes[s.lane] = lanes.get(s.lane, 0.0) + s.minutes
    wall = (max(s.end for s in steps) - min(s.start for s in steps)) / 60 if steps else 0.0
    return {"parts": [dict(lane=lane, part=part, minutes=round(m, 2)) for lane, part, m in parts(steps)],
            "lanes": {k: round(v, 2) for k, v in lanes.items()}, "wall_minutes": round(wall, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log_dir", nargs="?", default="logs", help="directory holding run_all-<lane>.log (default: logs)")
    ap.add_argument("--main", help="run_all.sh's own output (its 'lane NAME done' lines end the lanes of logs "
                                   "written before the lane logs recorded them)")
    ap.add_argument("--steps", action="store_true", help="also print every step")
    ap.add_argument("--json", help="also write the summary (and the steps) to this JSON file")
    a = ap.parse_args(argv)
    if a.main is not None and not Path(a.main).is_file():
        ap.error(f"--main: no such file {a.main!r}")
    steps = read_logs(Path(a.log_dir), Path(a.main) if a.main else None)
    if not steps:
        print(f"error: no run_all-<lane>.log with step lines in {a.log_dir}", file=sys.stderr)
        return 2
    s = summary(steps)
    if a.steps:
        for st in steps:
            print(f"{st.lane:8} {st.minutes:6.1f} min  {st.kind} {st.args[:110]}")
        print()
    print(f"{'lane':8} {'minutes':>7}  part")
    for p in s["parts"]:
        print(f"{p['lane']:8} {p['minutes']:7.1f}  {p['part']}")
    print()
    for lane, m in s["lanes"].items():
        print(f"lane {lane}: {m:.1f} min")
    print(f"wall, first step to last lane end: {s['wall_minutes']:.1f} min")
    if a.json:
        Path(a.json).write_text(json.dumps({**s, "steps": [asdict(st) for st in steps]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
