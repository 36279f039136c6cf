"""The scales, and which preset each part of the main job (``./run_all.sh --scale NAME``) runs at.

A scale is a name every task and figure experiment looks up in its own ``SCALES``. Most scales run every part
at that name; two run some parts at another, because the part has no preset of that name on purpose:

* ``gpu`` plans the puzzle tables (1, 2, 3, 5) near the paper's regime; Table 4 is inference only, so it runs
  the paper's setting (LLaDA-8B), and the figure experiments keep their ``small`` presets.
* ``medium`` (CPU, 2-4 hours) is defined where more compute on a CPU answers a question the small scale leaves
  open: the Sudoku tables (2 and 5; the paper's level, the ARM baselines) and Table 1 (does a 4x larger model
  change the L&O-NAE-SAT verdict). Table 3, the text tasks and the figures run at ``small`` there, so their
  committed ``small`` results are reused as they are.

``python -m harness.run.scales NAME`` prints the assignments as shell variables for ``run_all.sh``.
"""
from __future__ import annotations

import sys

from tasks.base import SCALE_NAMES as SCALES

PARTS = {
    "sudoku": "Tables 2 and 5 (Sudoku, hard Sudoku) with their sweeps",
    "lo": "Table 1 (L&O-NAE-SAT) with its rule sweep",
    "zebra": "Table 3 (Zebra) with its rule sweep",
    "text": "Table 4 (the text tasks)",
    "figure": "Figures 2 and 3 (the figure experiments)",
}
"""The parts of the main job, by the shell variable prefix ``run_all.sh`` uses (``<part>_scale``)."""

PART_TASKS = {"sudoku": ("sudoku", "sudoku_hard"), "lo": ("lo_nae_sat",), "zebra": ("zebra",),
              "text": ("humaneval_single", "humaneval_multi", "humaneval_split", "rocstories", "math", "mmlu"),
              "figure": ("isoflop", "pi_order", "lo_imbalance", "genppl")}
"""The tasks (or figure experiments) each part runs."""

_OTHER = {"gpu": {"text": "paper", "figure": "small"},
          "medium": {"zebra": "small", "text": "small", "figure": "small"}}


def part_scales(scale: str) -> dict[str, str]:
    """Return {part: the preset it runs at} for the main job at ``scale``; ValueError for an unknown scale."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale '{scale}'; choose one of: {', '.join(SCALES)}")
    return {part: _OTHER.get(scale, {}).get(part, scale) for part in PARTS}


def main(argv: list[str] | None = None) -> int:
    """Print ``<part>_scale=<preset>`` lines for ``run_all.sh``; exit 2 with one line for an unknown scale."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m harness.run.scales SCALE", file=sys.stderr)
        return 2
    try:
        parts = part_scales(argv[0])
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for part, preset in parts.items():
        print(f"{part}_scale={preset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
