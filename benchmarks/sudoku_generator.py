"""Sudoku generator and strategy-solver speed, with the make-up of what it generates.

For each kind (easy, hard) it generates ``--n`` puzzles with ``--workers`` processes and prints
puzzles/s per core (wall-clock rate / workers), the distribution of givens counts, the share of puzzles
using each strategy and the mean number of cells credited to it, then times
:func:`tasks.sudoku.logic.solve_with_strategies` on the generated puzzles (ms per solve, one process).
The paper-scale target is 1.9M easy puzzles in under an hour on 16 cores, i.e. >= 33 puzzles/s per core.

    .venv/bin/python benchmarks/sudoku_generator.py --n 300 --kind both --workers 1 --seed 0
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tasks.sudoku.generate import generate  # noqa: E402
from tasks.sudoku.logic import solve_with_strategies  # noqa: E402
from tasks.sudoku.puzzles import STRATEGY_NAMES  # noqa: E402

TARGET = 1.9e6 / 3600 / 16


def report(kind: str, n: int, seed: int, workers: int) -> None:
    t = time.perf_counter()
    ps = generate(n, seed, kind, workers=workers)
    dt = time.perf_counter() - t
    rate = n / dt / workers
    flag = f" (target >= {TARGET:.0f}: {'PASS' if rate >= TARGET else 'FAIL'})" if kind == "easy" else ""
    print(f"\n[{kind}] {n} puzzles in {dt:.1f} s on {workers} worker(s): {rate:.1f} puzzles/s per core, "
          f"{1e3 / rate:.1f} ms per puzzle{flag}")
    givens = Counter((ps.givens > 0).sum(1).tolist())
    print(f"givens: mean {np.mean((ps.givens > 0).sum(1)):.2f}; "
          + ", ".join(f"{k}: {v}" for k, v in sorted(givens.items())))
    t = time.perf_counter()
    traces = [solve_with_strategies(g) for g in ps.givens]
    ms = (time.perf_counter() - t) / n * 1e3
    solved = sum(tr.solved for tr in traces)
    print(f"solver: {ms:.3f} ms per solve; solved {solved}/{n}; "
          f"mean cells filled {np.mean([len(tr.order) for tr in traces]):.1f}")
    used = Counter(s for tr in traces for s in tr.used)
    credit = Counter(s for tr in traces for s in tr.strategy)
    print(f"{'strategy':<18}{'% puzzles using':>16}{'cells credited / puzzle':>25}")
    for s in sorted(STRATEGY_NAMES):
        if s:
            print(f"{STRATEGY_NAMES[s]:<18}{100 * used[s] / n:>16.1f}{credit[s] / n:>25.3f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200, help="puzzles per kind")
    ap.add_argument("--kind", choices=["easy", "hard", "both"], default="both")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"sudoku generator benchmark: n={a.n} seed={a.seed} workers={a.workers} "
          f"cpus={os.cpu_count()} load average {load:.2f}")
    for kind in (["easy", "hard"] if a.kind == "both" else [a.kind]):
        report(kind, a.n, a.seed, a.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
