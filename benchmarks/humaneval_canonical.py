"""Run every canonical solution of the chosen HumanEval-Infilling subsets through the sandbox.

Prints, per subset, passed/total and the wall time, then each failure with the tail of its stderr. Exits 1
if any canonical solution fails (the program assembly, the data or the sandbox would then be wrong), 2 if a
file cannot be loaded, else 0.

    .venv/bin/python benchmarks/humaneval_canonical.py --subsets random_span_light --workers 2
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tasks.sandbox.host import Limits  # noqa: E402
from tasks.humaneval.data import SUBSETS, load_infilling  # noqa: E402
from tasks.humaneval.execute import DEFAULT_LIMITS, score_completions  # noqa: E402


def main(argv=None) -> int:
    """Run the benchmark; return the exit status (1 if any canonical solution failed, 2 if data is missing)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subsets", default=",".join(SUBSETS),
                    help=f"comma-separated subsets (default: all of {', '.join(SUBSETS)})")
    ap.add_argument("--workers", type=int, default=2, help="programs run at a time")
    ap.add_argument("--data-dir", default=None, help="directory holding the .jsonl.gz files (or a "
                                                     "humaneval_infilling/ subfolder with them)")
    ap.add_argument("--no-download", action="store_true", help="fail instead of downloading a missing file")
    ap.add_argument("--timeout", type=float, default=DEFAULT_LIMITS.timeout_s, help="wall seconds per program")
    ap.add_argument("--limit", type=int, default=None, help="only the first N records of each subset")
    args = ap.parse_args(argv)
    subsets = [s.strip() for s in args.subsets.split(",") if s.strip()]
    unknown = [s for s in subsets if s not in SUBSETS]
    if unknown:
        print(f"error: unknown subset(s) {', '.join(unknown)}; choose from: {', '.join(SUBSETS)}", file=sys.stderr)
        return 2
    limits = Limits(timeout_s=args.timeout, cpu_s=max(1, int(args.timeout)), memory_mb=DEFAULT_LIMITS.memory_mb)

    failures, any_failed = [], False
    print(f"{'subset':<20}{'passed/total':>14}{'seconds':>10}{'mean s/prog':>13}   (workers {args.workers}, "
          f"timeout {limits.timeout_s:g} s, memory {limits.memory_mb} MB)")
    for subset in subsets:
        try:
            records = load_infilling(subset, args.data_dir, download=not args.no_download)[: args.limit]
        except (ValueError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        t = time.perf_counter()
        res = score_completions(records, [r["canonical_solution"] for r in records], limits, args.workers)
        dt = time.perf_counter() - t
        n_pass = sum(r["passed"] for r in res)
        mean = sum(r["seconds"] for r in res) / max(1, len(res))
        print(f"{subset:<20}{f'{n_pass}/{len(res)}':>14}{dt:>10.1f}{mean:>13.3f}", flush=True)
        failures += [r for r in res if not r["passed"]]
        any_failed |= n_pass < len(res)
    for r in failures:
        tail = r["stderr_tail"].strip().splitlines()[-3:]
        print(f"FAILED {r['task_id']} ({r['status']}, {r['seconds']:.2f} s): {' | '.join(tail)}")
    return 1 if any_failed else 0


if __name__ == "__main__":
    sys.exit(main())
