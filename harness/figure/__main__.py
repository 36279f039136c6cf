"""Run one figure experiment of the paper (Figures 2 and 3) at a scale preset.

    python -m harness.figure isoflop --scale small          # Figure 2 left: IsoFLOP curves of pi-learners
    python -m harness.figure pi_order --scale small         # Figure 2 top right: pi-ordered loss of a text MDM
    python -m harness.figure lo_imbalance --scale small     # Figure 2 bottom right: L&O-NAE-SAT error imbalance
    python -m harness.figure genppl --scale small           # Figure 3: generative perplexity vs steps

Records go to ``results/<scale>/<figure>/...jsonl`` (resumable: rerun to continue); ``python -m harness.report``
draws them. Scale is a preset (``smoke`` seconds, ``small`` CPU minutes, ``paper`` a GPU); see each module.
"""
from __future__ import annotations

import importlib
import os
import sys

from harness.progress_output import lines_when_piped
from harness.cli_args import OneLineParser, device_name, existing_dir, names_list, nonneg_int, output_dir

FIGURES = {
    "isoflop": "harness.figure.isoflop",
    "pi_order": "harness.figure.pi_order",
    "lo_imbalance": "harness.figure.lo_imbalance",
    "genppl": "harness.figure.genppl",
}
"""Figure name -> module; each module has ``SCALES`` and ``run(...)`` (see :mod:`harness.figure`)."""


def default_device() -> str:
    """Return 'cuda' when a GPU is visible, else 'cpu'."""
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the figure experiment(s); return the exit code (2 on bad input)."""
    p = OneLineParser(prog="python -m harness.figure", description=__doc__.split("\n\n")[0])
    p.add_argument("figure", type=names_list, help=f"comma-separated figure names: {', '.join(FIGURES)} (or 'all')")
    p.add_argument("--scale", default="small", help="smoke | small | paper (default small)")
    p.add_argument("--results-dir", default="results", type=output_dir)
    p.add_argument("--ckpt-dir", default="checkpoints", type=output_dir)
    p.add_argument("--data-dir", default=None, type=existing_dir,
                   help="directory with text/tinyshakespeare.txt.gz (default: ../shared/data or $TOKENORDER_DATA_DIR)")
    p.add_argument("--device", default=None, type=device_name, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--workers", type=nonneg_int, default=0, help="training processes on CPU (0 = one per core)")
    p.add_argument("--threads", type=nonneg_int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--model", default=None, help="text MDM path (pi_order, genppl); default: the scale's own")
    p.add_argument("--judge", default=None, help="autoregressive judge path (genppl); default: the scale's own")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    names = list(FIGURES) if a.figure == "all" else [n.strip() for n in a.figure.split(",") if n.strip()]
    bad = [n for n in names if n not in FIGURES]
    if bad:
        print(f"error: unknown figure {', '.join(bad)}; choose from {', '.join(FIGURES)} or all", file=sys.stderr)
        return 2
    if a.threads:
        import torch
        torch.set_num_threads(a.threads)
    device = default_device() if a.device in (None, "auto") else a.device
    workers = a.workers or (os.cpu_count() or 1)
    for name in names:
        mod = importlib.import_module(FIGURES[name])
        if a.scale not in mod.SCALES:
            print(f"error: {name} has no scale {a.scale!r}; choose from {', '.join(mod.SCALES)}", file=sys.stderr)
            return 2
        try:
            paths = mod.run(a.scale, results_dir=a.results_dir, ckpt_dir=a.ckpt_dir, data_dir=a.data_dir,
                            device=device, workers=workers, progress=not a.no_progress, model=a.model,
                            judge=a.judge)
        except (ValueError, FileNotFoundError) as e:
            print(f"error: {name}: {' '.join(str(e).split())}", file=sys.stderr)
            return 2
        for path in paths:
            print(path)
    return 0


if __name__ == "__main__":
    lines_when_piped()
    raise SystemExit(main())
