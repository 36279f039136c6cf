"""Zebra generator and solver speed per puzzle size, with the make-up of what it generates.

For each (houses, attributes) size it generates ``--n`` puzzles on one process and prints puzzles/s, the
clue count (mean and max) and the share of each clue kind, then times :func:`tasks.zebra.puzzle.solve`
on the generated puzzles. The paper-scale target is 1.6M puzzles (train + test) over the 16 sizes in
under an hour on 16 cores, i.e. >= 28 puzzles/s per core averaged over the sizes.

    .venv/bin/python benchmarks/zebra_generator.py --n 100
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tasks.zebra.puzzle import CLUE_KINDS, SIZES, generate, solve  # noqa: E402

TARGET = 1.6e6 / 3600 / 16


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100, help="puzzles per size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", default=None, help="comma-separated MxN sizes (default: 3..6 x 3..6)")
    args = ap.parse_args(argv)
    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")] if args.sizes else list(SIZES)
    print(f"{'size':<6}{'puzzles/s':>10}{'clues mean':>12}{'max':>5}{'solve ms':>10}")
    times, kinds = [], Counter()
    for m, n in sizes:
        t = time.perf_counter()
        ps = [generate(m, n, args.seed, i) for i in range(args.n)]
        dt = time.perf_counter() - t
        times.append(dt / args.n)
        t = time.perf_counter()
        for p in ps:
            solve(p.m, p.n, p.clues)
        ms = (time.perf_counter() - t) / args.n * 1e3
        counts = [len(p.clues) for p in ps]
        kinds.update(c.kind for p in ps for c in p.clues)
        print(f"{m}x{n:<4}{args.n / dt:>10.1f}{np.mean(counts):>12.1f}{max(counts):>5}{ms:>10.2f}")
    rate = 1 / np.mean(times)
    print(f"\nall sizes, equal shares: {rate:.1f} puzzles/s per core (target >= {TARGET:.0f}: "
          f"{'PASS' if rate >= TARGET else 'FAIL'})")
    total = sum(kinds.values())
    print("clue kinds: " + ", ".join(f"{k} {100 * kinds[k] / total:.1f}%" for k in CLUE_KINDS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
