"""Render the paper's tables and figures from results JSONL files, beside the paper's numbers.

    python -m harness.report [--results results] [--out reports] [--compare COMMITTED_RESULTS]

Reads every ``*.jsonl`` under the results directory (one header line, then one record per example; see
DESIGN.md "the results files are the API") and nothing else: no torch, no models, no task code. Each
table is one render function plus one line in ``RENDERERS``; a renderer takes the loaded ``Results``
and the output directory, writes its figures, and returns its markdown (or None when it has no data).
``reports/index.md`` links everything rendered. ``--compare DIR`` adds a first section (and ``compare.md``)
setting these results beside another results directory, e.g. a ``./run_all.sh --fresh`` run beside the
committed ``results/`` (see :mod:`harness.report.compare`).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import pandas as pd

from harness.report import compare, frontier, genppl, isoflop, lo_imbalance, lo_nae_sat, pi_order, puzzles, text
from harness.report import reference as ref
from harness.report.common import Rendered, Results, SCALE_ORDER, commits_label, md_table, ordered
from harness.report.records import load_results


RENDERERS: dict[str, Callable[[Results, Path], Rendered | None]] = {
    "table1": lo_nae_sat.render_table1,
    "table2": puzzles.render_table2,
    "table3": puzzles.render_table3,
    "table4": text.render_table4,
    "table5": puzzles.render_table5,
    "figure2_isoflop": isoflop.render_isoflop,
    "figure2_text": pi_order.render_pi_order,
    "figure2_lo": lo_imbalance.render_lo_imbalance,
    "figure3": genppl.render_genppl,
    "beyond_frontier": frontier.render_frontier,
}
"""Report name -> renderer, in the order of reports/index.md; a new table is one function plus one line here."""

REPORT_TASKS = {
    "table1": ["lo_nae_sat"], "table2": ["sudoku"], "table3": ["zebra"],
    "table4": ["humaneval_single", "humaneval_multi", "humaneval_split", "math", "mmlu", "rocstories"],
    "table5": ["sudoku_hard"], "figure2_isoflop": ["isoflop"], "figure2_text": ["pi_order"],
    "figure2_lo": ["lo_imbalance"], "figure3": ["genppl"],
    "beyond_frontier": ["sudoku", "sudoku_hard", "zebra", "lo_nae_sat"],
}
"""Report name -> the result ``task`` values it draws (for the index's overview)."""

FILL_COMMANDS = {
    "table1": "python -m harness.run --task lo_nae_sat --sampler vanilla,top_prob,margin --scale small",
    "table2": "python -m harness.run --task sudoku --sampler vanilla,top_prob,margin,arm_solver,arm_fixed",
    "table3": "python -m harness.run --task zebra --sampler vanilla,top_prob,margin,arm_solver,arm_fixed",
    "table4": "python -m harness.run --task humaneval_multi --sampler vanilla,top_prob,margin",
    "table5": "python -m harness.run --task sudoku_hard --sampler vanilla,top_prob,margin,arm_solver",
    "figure2_isoflop": "python -m harness.figure isoflop --scale small",
    "figure2_text": "python -m harness.figure pi_order --scale small",
    "figure2_lo": "python -m harness.figure lo_imbalance --scale small",
    "figure3": "python -m harness.figure genppl --scale small",
    "beyond_frontier": "python -m harness.run --task sudoku --sampler threshold,eb,klass,dus --gumbel 0",
}
"""Report name -> a command that produces its first results (``./run_all.sh`` runs them all)."""


def demote_headings(markdown: str) -> str:
    """Return markdown with every heading one level deeper (fenced code blocks left alone)."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        out.append("#" + line if line.startswith("#") and not fenced else line)
    return "\n".join(out)


def hardware_label(runs: pd.DataFrame) -> str:
    """Return the distinct devices these runs used, e.g. 'cpu: AMD EPYC (2 threads)'."""
    if runs.empty or "env.device" not in runs:
        return "—"
    names = runs.get("env.device_name", pd.Series("", index=runs.index)).fillna("")
    pairs = sorted({f"{d}: {n}" if n else str(d) for d, n in zip(runs["env.device"].fillna("?"), names)})
    return "; ".join(pairs)


def overview_rows(res: Results, rendered: dict[str, Rendered]) -> list[list[str]]:
    """Return the index's overview table: per report, paper source, scales run, examples, commits, hardware."""
    rows = []
    for name in RENDERERS:
        meta = ref.TABLES.get(name)
        title = rendered[name].title if name in rendered else (meta.name if meta else name)
        runs = res.runs[res.runs["task"].isin(REPORT_TASKS.get(name, []))] if not res.runs.empty else res.runs
        if name not in rendered or runs.empty:
            rows.append([title, meta.source if meta else "—", "not run yet", "—", "—",
                         f"`{FILL_COMMANDS.get(name, '')}`"])
            continue
        scales = ", ".join(f"`{s}`" for s in ordered(runs["scale"].unique(), SCALE_ORDER))
        n = int(runs["n"].sum())
        rows.append([f"[{title}](#{anchor(title)})", meta.source if meta else "—", scales, str(n),
                     commits_label(runs), hardware_label(runs)])
    return rows


def anchor(title: str) -> str:
    """Return the GitHub anchor of a heading title."""
    keep = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return keep.replace(" ", "-")


def write_index(out: Path, results_dir: str, res: Results, rendered: dict[str, Rendered],
                comparison: Rendered | None = None) -> Path:
    """Write reports/index.md: the comparison with another results directory when given, an overview of every
    table and figure (paper source, scales, sample counts, commits, hardware) and then each rendered report in
    full, paper beside ours; return its path."""
    lines = ["# tokenorder reports: Kim et al. (ICML 2025) reproduced", ""]
    if comparison is not None:
        lines += [demote_headings(comparison.markdown).rstrip(), "", "*Standalone: [compare.md](compare.md)*",
                  "", "---", ""]
    if res.runs.empty:
        lines.append(f"No results found under `{results_dir}`: nothing to report yet. Run `./run_all.sh`.")
    else:
        lines += [f"Built by `python -m harness.report` from {len(res.runs)} result files ({len(res.examples)} "
                  f"records) under `{results_dir}` alone; commits {commits_label(res.runs)}; hardware "
                  f"{hardware_label(res.runs)}. Paper numbers: {ref.PAPER}.", "",
                  "Scales: `smoke` checks plumbing, `small` is this project's CPU scale (our own small models, "
                  "minutes of training), `paper` is the paper's setting on a GPU. **A small-scale number is never "
                  "the paper's**: compare orderings and effects, not values. Each section names its scale, sample "
                  "counts, commit and hardware.", "",
                  md_table(["Report", "Paper source", "Scales run", "Records", "Commits", "Hardware / command"],
                           overview_rows(res, rendered))]
        for name, r in rendered.items():
            lines += ["", "---", "", demote_headings(r.markdown).rstrip(),
                      "", f"*Standalone: [{name}.md]({name}.md)*"]
    path = out / "index.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """Render every report that has data; return the exit code (0, also when there are no results)."""
    parser = argparse.ArgumentParser(prog="python -m harness.report", description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="directory searched for *.jsonl")
    parser.add_argument("--out", default="reports", help="output directory (default: reports)")
    parser.add_argument("--compare", default=None, metavar="DIR",
                        help="another results directory (e.g. the committed results/) to set these results beside")
    args = parser.parse_args(argv)
    if args.compare is not None and not Path(args.compare).is_dir():
        parser.error(f"--compare: no such directory: {args.compare}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = load_results(args.results)
    rendered = {}
    if not res.runs.empty:
        for name, render in RENDERERS.items():
            if not res.runs["task"].isin(REPORT_TASKS.get(name, [])).any():
                continue
            r = render(res, out)
            if r is not None:
                (out / f"{name}.md").write_text(r.markdown, encoding="utf-8")
                rendered[name] = r
    comparison = None
    if args.compare is not None:
        comparison = compare.render_comparison(res, load_results(args.compare), args.results, args.compare,
                                               {(ref.TABLES[k].name if k in ref.TABLES else k): v
                                                for k, v in REPORT_TASKS.items()})
        if comparison is not None:
            (out / "compare.md").write_text(comparison.markdown, encoding="utf-8")
    index = write_index(out, args.results, res, rendered, comparison)
    done = [*(["compare"] if comparison is not None else []), *rendered]
    print(f"wrote {index} ({', '.join(done) or 'no tables'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
