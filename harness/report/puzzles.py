"""The puzzle tables, 2, 3 and 5 (Sudoku, Zebra, hard Sudoku), with decoding-order and accuracy-vs-steps figures.

Rendered from results JSONL only, like every report: the rows are the paper's (ARM without / with
ordering, MDM vanilla / top probability / margin) plus what we ran beyond it (entropy; the ARM without
ordering on the hard split). What differs between puzzles is data (:class:`PuzzleTable`): the task, the
paper's column, the metric's wording and how cells are grouped in the decoding-order table. The main column uses the paper's decoding (50 steps, Gumbel 0.5); the
un-noised column is the same samplers without certainty noise. Differences between samplers are paired:
the same puzzles decoded by both, so the standard error is that of the per-puzzle difference.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.report import common as R
from harness.report import reference as ref

ROW_ORDER = ["arm_fixed", "arm_solver", "vanilla", "top_prob", "margin", "entropy"]
LABELS = {"arm_fixed": "ARM (w/o ordering)", "arm_solver": "ARM (with ordering)", "vanilla": "MDM (vanilla)",
          "top_prob": "MDM (Top probability)", "margin": "MDM (Top prob. margin)", "entropy": "MDM (entropy) †"}
COLORS = {"arm_fixed": "#8172B3", "arm_solver": "#937860", "vanilla": "#4C72B0", "top_prob": "#DD8452",
          "margin": "#55A868", "entropy": "#C44E52", "solver": "black"}
STRATEGIES = {2: "lone\nsingle", 3: "hidden\nsingle", 4: "naked\npair", 5: "naked\ntriplet",
              6: "locked\ncandidate", 7: "XY-wing", 8: "unique\nrectangle"}
THIRDS = {1: "solver's\nfirst third", 2: "solver's\nmiddle third", 3: "solver's\nlast third"}
PAPER_STEPS, PAPER_GUMBEL = 50, 0.5


@dataclass
class PuzzleTable:
    """What one puzzle table needs beyond the shared code."""

    name: str                 # report name, e.g. "table2"
    task: str                 # results task
    paper: dict               # sampler -> paper accuracy
    paper_params: dict        # sampler -> paper "# Param"
    metric_note: str          # what counts as solved
    group_key: str            # record meta field grouping the cells in the decoding-order table
    groups: dict              # group id -> label (0 and ids not listed: not counted)
    group_what: str           # what the groups are, for the order table's caption
    extra: Callable | None = None  # (res, scale, level, (main, plain)) -> markdown



def pick_tags(summ: pd.DataFrame, runs: pd.DataFrame) -> tuple[str | None, str | None]:
    """Return (main MDM decode tag, un-noised tag): 50 steps with Gumbel 0.5 / 0 when run, else the most
    complete tag and None."""
    mdm = runs[~runs["sampler"].astype(str).str.startswith("arm_")]
    if mdm.empty:
        return None, None
    steps, gumbel = R.numeric(mdm, "decode.steps"), R.numeric(mdm, "decode.gumbel")
    paper = mdm[(steps == PAPER_STEPS) & (gumbel == PAPER_GUMBEL)]["decode_tag"]
    plain = mdm[(steps == PAPER_STEPS) & (gumbel == 0)]["decode_tag"]
    counts = summ[summ["decode_tag"].isin(mdm["decode_tag"])].groupby("decode_tag")["sampler"].nunique()
    most_steps = mdm.assign(s=steps).groupby("decode_tag")["s"].max()
    fallback = sorted(counts.index, key=lambda t: (-counts[t], -most_steps.get(t, 0), t))[0]
    main = paper.mode().iloc[0] if len(paper) else fallback
    return main, (plain.mode().iloc[0] if len(plain) else None)


def cell(summ: pd.DataFrame, sampler: str, tag: str | None) -> pd.Series | None:
    """Return the summary row of (sampler, tag), or None."""
    if tag is None:
        return None
    m = summ[(summ["sampler"] == sampler) & (summ["decode_tag"] == tag)]
    return None if m.empty else m.iloc[0]


def params_label(runs: pd.DataFrame, sampler: str) -> str:
    """Return our model's preset and non-embedding parameter count for a row, e.g. '0.8M (0.85M)'."""
    r = runs[runs["sampler"] == sampler]
    if r.empty or "model.preset" not in r:
        return "—"
    n = R.numeric(r, "model.non_embedding_params").iloc[0]
    return f"{r['model.preset'].iloc[0]} ({n / 1e6:.2f}M)" if not math.isnan(n) else str(r["model.preset"].iloc[0])


def paired_diff(ex: pd.DataFrame, a: tuple[str, str], b: tuple[str, str]) -> tuple[float, float, int]:
    """Return (mean, SE, n) of correct(a) − correct(b) in points over the puzzles both decoded."""
    def pick(s, t):
        e = ex[(ex["sampler"] == s) & (ex["decode_tag"] == t)]
        return e.groupby("id")["correct"].mean()
    x, y = pick(*a), pick(*b)
    d = (x - y).dropna()
    if d.empty:
        return math.nan, math.nan, 0
    se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.nan
    return 100 * float(d.mean()), 100 * se, len(d)


def check_label(runs: pd.DataFrame, sampler: str) -> str:
    """Return 'yes' / '**no**' with the thresholded check values of the model behind a table row."""
    checks, learned = R.learning_checks(runs[runs["sampler"] == sampler].assign(sampler="model"))
    shown = [f"{n.replace('_acc', '')} {c['acc']:.0f}%" for n, c in checks.items() if not math.isnan(c["learned_at"])]
    word = {True: "yes", False: "**no**", None: "—"}[learned]
    return f"{word} ({', '.join(shown)})" if shown else word


def with_cell_acc(summ: pd.DataFrame, ex: pd.DataFrame) -> pd.DataFrame:
    """Return the summary with mean cell accuracy and illegal ARM moves per configuration added."""
    summ = summ.copy()
    keys = [k for k in R.CONFIG if k in summ and k in ex]      # per scale, task, level, sampler and decoding
    for col, name in (("metrics.cell_acc", "cell_acc"), ("metrics.illegal_moves", "illegal")):
        if col in ex:
            m = ex.assign(v=pd.to_numeric(ex[col], errors="coerce")).groupby(keys)["v"].mean()
            summ[name] = [m.get(tuple(row), np.nan) for row in summ[keys].itertuples(index=False)]
        else:
            summ[name] = np.nan
    return summ


def table_markdown(paper: dict, paper_params: dict, summ: pd.DataFrame, runs: pd.DataFrame, main: str | None,
                   plain: str | None, metric_note: str) -> str:
    """Return the main table: paper rows beside ours (main decoding, un-noised, cell accuracy)."""
    measured = set(summ["sampler"])
    rows = []
    for s in ROW_ORDER:
        if s not in paper and s not in measured:
            continue
        tag = "greedy" if s.startswith("arm_") else main
        c = cell(summ, s, tag) if not s.startswith("arm_") else \
            (summ[summ["sampler"] == s].iloc[0] if s in measured else None)
        u = None if s.startswith("arm_") else cell(summ, s, plain)
        rows.append([LABELS[s], paper_params.get(s, "—"), R.fmt_num(paper.get(s), 2) if s in paper else "not in paper",
                     params_label(runs, s), R.fmt_cell(c, "correct") if c is not None else "not run",
                     R.fmt_cell(u, "correct") if u is not None else ("n/a (greedy)" if s.startswith("arm_") else "not run"),
                     (R.fmt_num(100 * c["cell_acc"]) if c is not None else "—")
                     + (f" / {R.fmt_num(100 * u['cell_acc'])}" if u is not None else ""),
                     R.fmt_num(c["illegal"], 2) if c is not None and s.startswith("arm_") else "",
                     check_label(runs, s) if s in measured else ""])
    header = ["Method", "# Param (paper)", "Paper %", "Ours: model", f"Ours % ({main or '—'})",
              f"Ours % un-noised ({plain or 'not run'})", "Ours cell acc % (main / un-noised)",
              "illegal moves / puzzle", "learned? (check)"]
    return R.md_table(header, rows) + f"\n\n† not in the paper. Puzzle accuracy: {metric_note}. ± is one " \
        "standard error over puzzles."


def verdict(ex: pd.DataFrame, main: str | None, plain: str | None, label: str, learned: bool | None) -> str:
    """Return the computed comparisons (paired over the same puzzles, SE of the paired difference) of each
    adaptive sampler against vanilla and of margin against top probability, per decoding; a difference is
    called real only beyond 3 SE, and the whole block is labelled "not a result" for an unlearned model."""
    lines = []
    for tag, what in ((plain, "un-noised"), (main, "paper decoding")):
        if tag is None:
            continue
        for a, b in (("margin", "vanilla"), ("top_prob", "vanilla"), ("entropy", "vanilla"), ("margin", "top_prob")):
            d, se, n = paired_diff(ex, (a, tag), (b, tag))
            if n:
                lines.append(f"- {what} `{tag}`: {a} − {b} = {d:+.1f} ± {se:.1f} points over {n} paired puzzles "
                             f"({sig_word(d, se)})")
    if not lines:
        return ""
    head = f"**What `{label}` shows** (computed from the records; ± one SE of the paired difference):"
    if learned is False:
        head = (f"**What `{label}` shows — NOT a result**: the model fails its learning check, so these "
                "differences describe an unlearned model, not decoding order:")
    return head + "\n" + "\n".join(lines)


def sig_word(d: float, se: float) -> str:
    """Return whether |d| exceeds 3 SE (the report's bar for calling a difference real)."""
    return R.sig_word(d, se)


def order_stats(ex: pd.DataFrame, summ: pd.DataFrame, main: str | None, group_key: str, groups: dict) -> list[dict]:
    """Return per method: mean normalised reveal position of each group's cells, and the mean per-puzzle
    Spearman correlation with the solver's fill order; the solver itself first."""
    col = f"meta.{group_key}"
    if col not in ex or "meta.solver_rank" not in ex:
        return []
    out = []
    methods = [(s, "greedy" if s.startswith("arm_") else main) for s in ROW_ORDER if s in set(summ["sampler"])]
    solver_done = False
    for s, tag in methods:
        e = ex[(ex["sampler"] == s) & (ex["decode_tag"] == tag)].dropna(subset=[col, "order"])
        if e.empty:
            continue
        strat = np.array(e[col].tolist())
        rank = np.array(e["meta.solver_rank"].tolist(), dtype=float)
        order = np.array(e["order"].tolist(), dtype=float)
        empty = strat != 0
        n_empty = empty.sum(1, keepdims=True)
        solved_cells = rank >= 0
        if s.startswith("arm_"):
            pos = np.where(order >= 0, order / np.maximum(n_empty - 1, 1), np.nan)
        else:
            steps = pd.to_numeric(e["steps"], errors="coerce").to_numpy()[:, None]
            pos = np.where(order >= 0, order / np.maximum(steps - 1, 1), np.nan)
        solver_pos = np.where(solved_cells, rank / np.maximum(solved_cells.sum(1, keepdims=True) - 1, 1), np.nan)
        if not solver_done:
            out.append({"method": "solver", "n": len(e), "by_strategy": _by_group(solver_pos, strat, groups),
                        "spearman": 1.0})
            solver_done = True
        out.append({"method": s, "n": len(e), "by_strategy": _by_group(pos, strat, groups),
                    "spearman": _mean_spearman(pos, rank, solved_cells)})
    return out


def _by_group(pos: np.ndarray, strat: np.ndarray, groups: dict) -> dict[int, tuple[float, int]]:
    res = {}
    for k in groups:
        sel = (strat == k) & ~np.isnan(pos)
        if sel.any():
            res[k] = (float(pos[sel].mean()), int(sel.sum()))
    return res


def _mean_spearman(pos: np.ndarray, rank: np.ndarray, cells: np.ndarray) -> float:
    vals = []
    for p, r, c in zip(pos, rank, cells):
        sel = c & ~np.isnan(p)
        if sel.sum() > 2:
            a, b = pd.Series(p[sel]).rank(), pd.Series(r[sel]).rank()
            if a.std() > 0 and b.std() > 0:
                vals.append(float(np.corrcoef(a, b)[0, 1]))
    return float(np.mean(vals)) if vals else math.nan


def order_markdown(stats: list[dict], groups: dict, group_what: str) -> str:
    """Return the decoding-order table: mean normalised position of each group's cells per method."""
    if not stats:
        return ""
    ks = [k for k in groups if any(k in s["by_strategy"] for s in stats)]
    rows = []
    for s in stats:
        cells = [R.fmt_num(s["by_strategy"][k][0], 2) if k in s["by_strategy"] else "—" for k in ks]
        rows.append([LABELS.get(s["method"], "solver"), str(s["n"]), *cells, R.fmt_num(s["spearman"], 2)])
    counts = stats[0]["by_strategy"]
    header = ["Method", "puzzles"] + [f"{groups[k].replace(chr(10), ' ')} ({counts.get(k, (0, 0))[1]} cells)"
                                      for k in ks] + ["Spearman ρ with solver order"]
    return (f"**Decoding order.** Mean position in the decode (0 = first, 1 = last) of {group_what}, and the "
            "mean per-puzzle rank correlation with the solver's fill order (cells the solver filled).\n\n"
            + R.md_table(header, rows))


def steps_data(summ: pd.DataFrame, runs: pd.DataFrame, gumbel: float | None) -> dict[str, list[tuple]]:
    """Return {sampler: [(steps, puzzle acc %, se, cell acc %)]} over MDM runs with the main decoding's Gumbel
    coefficient, one point per number of steps."""
    mdm = runs[~runs["sampler"].astype(str).str.startswith("arm_")].copy()
    mdm["steps_"] = R.numeric(mdm, "decode.steps")
    mdm["gumbel_"] = R.numeric(mdm, "decode.gumbel")
    if gumbel is not None:
        mdm = mdm[mdm["gumbel_"] == gumbel]
    out: dict[str, list] = {}
    for (s, tag), grp in mdm.groupby(["sampler", "decode_tag"]):
        c = cell(summ, s, tag)
        if c is not None and c["n"]:
            out.setdefault(s, []).append((int(grp["steps_"].iloc[0]), c["correct"], c["correct_se"],
                                          100 * c["cell_acc"]))
    return {s: sorted(v) for s, v in out.items() if len({p[0] for p in v}) > 1}


def plot_figures(panels: list[dict], out: Path, stem: str, title: str, groups: dict) -> list[str]:
    """Write ``<stem>_order.png`` and ``<stem>_steps.png`` (one row per scale); return the files written."""
    written = []
    order_panels = [p for p in panels if p["order"]]
    if order_panels:
        fig = Figure(figsize=(10, 3.6 * len(order_panels) + 0.4), dpi=150, layout="constrained")
        axes = fig.subplots(len(order_panels), 1, squeeze=False)[:, 0]
        for ax, p in zip(axes, order_panels):
            ks = [k for k in groups if any(k in s["by_strategy"] for s in p["order"])]
            for j, s in enumerate(p["order"]):
                xs = [ks.index(k) + 0.08 * (j - len(p["order"]) / 2) for k in ks if k in s["by_strategy"]]
                ys = [s["by_strategy"][k][0] for k in ks if k in s["by_strategy"]]
                name = "solver" if s["method"] == "solver" else LABELS[s["method"]]
                ax.plot(xs, ys, "o-" if s["method"] == "solver" else "o--", color=COLORS.get(s["method"]), ms=5,
                        lw=1.2, label=f"{name} (ρ={s['spearman']:.2f})")
            ax.set_xticks(range(len(ks)), [groups[k] for k in ks], fontsize=8)
            ax.set_ylabel("mean position in decode\n(0 first, 1 last)")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            ax.set_title(p["subtitle"], fontsize=9)
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        fig.suptitle(f"{title}: when each group of cells is revealed", fontsize=11)
        fig.savefig(out / f"{stem}_order.png")
        written.append(f"{stem}_order.png")
    steps_panels = [p for p in panels if p["steps"]]
    if steps_panels:
        fig = Figure(figsize=(11, 3.4 * len(steps_panels) + 0.4), dpi=150, layout="constrained")
        axes = fig.subplots(len(steps_panels), 2, squeeze=False)
        for (ax, ax_cell), p in zip(axes, steps_panels):
            for s, pts in p["steps"].items():
                x, y, e, cells = zip(*pts)
                ax.errorbar(x, y, yerr=[0 if math.isnan(v) else v for v in e], marker="o", capsize=2,
                            color=COLORS.get(s), label=LABELS.get(s, s))
                ax_cell.plot(x, cells, marker="o", color=COLORS.get(s), label=LABELS.get(s, s))
            for a, what in ((ax, "puzzles solved (%)"), (ax_cell, "cell accuracy on the cells to fill (%)")):
                a.set_xscale("log")
                steps = sorted({pt[0] for pts in p["steps"].values() for pt in pts})
                a.set_xticks(steps, [str(v) for v in steps])
                a.minorticks_off()
                a.set_xlabel("sampling steps")
                a.set_ylabel(what)
                a.set_ylim(0, 100)
                a.grid(alpha=0.3)
                a.set_title(p["subtitle"], fontsize=8)
            ax.legend(fontsize=7)
        fig.suptitle(f"{title}: accuracy against the number of sampling steps", fontsize=11)
        fig.savefig(out / f"{stem}_steps.png")
        written.append(f"{stem}_steps.png")
    return written


def levels_of(runs: pd.DataFrame) -> list[str]:
    """Return the variants (difficulty levels) of these runs, easiest first (most extra givens), else sorted."""
    extra = R.numeric(runs, "task_info.extra_givens").groupby(runs["variant"]).max()
    return sorted(runs["variant"].unique(), key=lambda v: (-(extra.get(v, 0) if not pd.isna(extra.get(v, 0)) else 0),
                                                            str(v)))


def ladder_markdown(summ: pd.DataFrame, runs: pd.DataFrame, levels: list[str], learned: dict) -> str:
    """Return puzzle accuracy per method across difficulty levels (un-noised, then paper decoding), so the
    table shows the effect where the model has learned the task and how it degrades toward the paper's level."""
    rows = []
    for s in ROW_ORDER:
        cells = []
        for v in levels:
            vs, vr = summ[summ["variant"] == v], runs[runs["variant"] == v]
            main, plain = pick_tags(vs, vr)
            if s.startswith("arm_"):
                m = vs[vs["sampler"] == s]
                cells.append(R.fmt_cell(m.iloc[0], "correct") + " (greedy)" if len(m) else "—")
            else:
                u, c = cell(vs, s, plain), cell(vs, s, main)
                cells.append(f"{R.fmt_num(u['correct']) if u is not None else '—'} / "
                             f"{R.fmt_num(c['correct']) if c is not None else '—'}")
        if any(c not in ("—", "— / —") for c in cells):
            rows.append([LABELS[s], *cells])
    if not rows:
        return ""
    head = ["Method"] + [f"`{v}` ({'learned' if learned.get(v) else 'NOT learned' if learned.get(v) is False else 'no check'})"
                         for v in levels]
    return ("**Across difficulty levels** (puzzle accuracy %, un-noised / paper decoding; ARMs greedy). "
            "`9x9+K` is the same test puzzles with K more cells given; `9x9` is the paper's difficulty.\n\n"
            + R.md_table(head, rows))


def noise_verdict(ex: pd.DataFrame, settings: pd.DataFrame) -> str:
    """Return margin − top probability (paired, puzzle accuracy) per noise setting, and whether the log-space
    mechanism's two predictions hold: the gap grows with the coefficient on log scores, and is smaller when
    the same coefficient is added to the scores themselves."""
    lines, gap = [], {}
    for r in settings.sort_values(["space", "g"]).itertuples():
        d, se, n = paired_diff(ex, ("margin", r.decode_tag), ("top_prob", r.decode_tag))
        if not n:
            continue
        where = "none" if r.g == 0 else f"{r.g:g} on {'log score' if r.space == 'log' else 'score'}"
        lines.append(f"- noise {where}: margin − top_prob = {d:+.1f} ± {se:.1f} points ({n} paired puzzles, "
                     f"{R.sig_word(d, se)})")
        gap[("none" if r.g == 0 else r.space, float(r.g))] = (d, se)
    if not lines:
        return ""
    logs = sorted((g, v) for (sp, g), v in gap.items() if sp in ("log", "none"))
    grows = len(logs) > 1 and logs[-1][1][0] > logs[0][1][0] + R.SIGNIFICANT_SE * math.hypot(logs[-1][1][1],
                                                                                              logs[0][1][1])
    pairs = [(gap[("log", g)], gap[("prob", g)]) for sp, g in gap if sp == "prob" and ("log", g) in gap]
    smaller = [a[0] - b[0] > R.SIGNIFICANT_SE * math.hypot(a[1], b[1]) for a, b in pairs]
    verdict = (f"Prediction 1 (the gap grows with the coefficient on log scores): "
               f"{'holds' if grows else 'does not hold'}"
               + (f"; prediction 2 (the gap is smaller with the noise on the scores): holds at {sum(smaller)} of "
                  f"{len(smaller)} matched coefficients" if pairs else "; prediction 2 not measured") + ".")
    return "**Margin against top probability, by noise** (paired over the same puzzles):\n" + "\n".join(lines) \
        + "\n\n" + verdict


def noise_sweep(summ: pd.DataFrame, runs: pd.DataFrame, ex: pd.DataFrame | None = None) -> str:
    """Return puzzle and cell accuracy per certainty-noise setting (Gumbel coefficient and where it is added)
    at 50 steps, for each sampler run with more than one setting: the test of why margin keeps its accuracy
    under the paper's noise and top probability does not."""
    mdm = runs[~runs["sampler"].astype(str).str.startswith("arm_")].copy()
    if mdm.empty:
        return ""
    mdm = mdm[R.numeric(mdm, "decode.steps") == PAPER_STEPS]
    g, space = R.numeric(mdm, "decode.gumbel"), mdm.get("decode.gumbel_space", pd.Series("prob", index=mdm.index))
    sched = mdm.get("decode.gumbel_schedule", pd.Series("constant", index=mdm.index))
    mdm = mdm.assign(g=g, space=space.fillna("prob"), sched=sched.fillna("constant"))
    settings = mdm.drop_duplicates("decode_tag")
    if len(settings) < 3:
        return ""
    samplers = [s for s in ROW_ORDER if s in set(mdm["sampler"])]
    rows = []
    for r in settings.sort_values(["space", "g"]).itertuples():
        what = "none" if r.g == 0 else f"{r.g:g} × Gumbel on {'log score' if r.space == 'log' else 'score'}" + (
            ", annealed" if r.sched == "linear" else "")
        cells = []
        for s in samplers:
            c = cell(summ, s, r.decode_tag)
            cells.append(f"{R.fmt_num(c['correct'])} / {R.fmt_num(100 * c['cell_acc'])} (n={int(c['n'])})"
                         if c is not None else "—")
        rows.append([what, f"`{r.decode_tag}`", *cells])
    table = ("**Certainty noise** (50 steps; puzzle % / cell %): the paper adds Gumbel noise with coefficient 0.5 "
             "to the certainty score. Added to the *log* score, as in Ye et al.'s code, it can reorder top "
             "probability's narrow range (log 1/9 … 0) far more than margin's (log of a gap, down to −∞), so the "
             "mechanism predicts margin keeps its accuracy as the coefficient grows and top probability does not, "
             "and that the gap closes when the same noise is added to the scores themselves.\n\n"
             + R.md_table(["noise", "decode tag", *[LABELS[s] for s in samplers]], rows))
    if ex is not None and {"margin", "top_prob"} <= set(samplers):
        table += "\n\n" + noise_verdict(ex, settings)
    return table


def render(res, out: Path, table: PuzzleTable):
    """Return the Rendered report of one puzzle table for every scale and difficulty level found (None
    without results)."""
    runs = res.runs[res.runs["task"] == table.task]
    if runs.empty:
        return None
    meta = ref.TABLES[table.name]
    sub = R.Results(runs, res.examples[res.examples["task"] == table.task])
    summ = with_cell_acc(R.summarize(sub), sub.examples)
    md = [f"# {meta.name}", f"> Paper caption: *{meta.caption}*",
          f"Paper model: {meta.model}; metric: {meta.metric}. Notes: " + " ".join(meta.notes)]
    panels = []
    for scale in R.ordered(runs["scale"], R.SCALE_ORDER):
        sr_all, ss_all = runs[runs["scale"] == scale], summ[summ["scale"] == scale]
        levels, learned_by = levels_of(sr_all), {}
        for level in levels:
            sr, ss = sr_all[sr_all["variant"] == level], ss_all[ss_all["variant"] == level]
            ex = sub.examples[(sub.examples["scale"] == scale) & (sub.examples["variant"] == level)]
            main, plain = pick_tags(ss, sr)
            checks, learned = R.learning_checks(sr)
            learned_by[level] = learned
            stats = order_stats(ex, ss, main, table.group_key, table.groups)
            gumbel = float(R.numeric(sr[sr["decode_tag"] == main], "decode.gumbel").iloc[0]) if main else None
            commit = R.commits_label(sr)
            label = f"{scale}` · level `{level}"
            md += [f"## Scale `{scale}` · level `{level}`", R.stamp(scale, sr),
                   R.learning_markdown(checks, learned, "the MDM"),
                   table_markdown(table.paper, table.paper_params, ss, sr, main, plain, table.metric_note),
                   verdict(ex, main, plain, label, learned)]
            if table.extra is not None:
                md.append(table.extra(res, scale, level, (main, plain)))
            md += [noise_sweep(ss, sr, ex), order_markdown(stats, table.groups, table.group_what)]
            panels.append({"scale": scale, "order": stats, "steps": steps_data(ss, sr, gumbel),
                           "subtitle": f"{table.task} · {scale} · level {level} · decoding {main} · commit {commit}"})
        if len(levels) > 1:
            md.append(ladder_markdown(ss_all, sr_all, levels, learned_by))
        md += [R.learning_curve_markdown(sr_all[sr_all["sampler"] == s], who) for s, who in curve_models(sr_all)]
    md += ["## All runs", R.all_runs_markdown(summ.assign(main=False))]
    figures = plot_figures(panels, out, table.name, meta.name, table.groups)
    md += ["## Figures"] + [f"![{f}]({f})" for f in figures]
    return R.Rendered(meta.name, "\n\n".join(m for m in md if m) + "\n", figures)


def curve_models(runs: pd.DataFrame) -> list[tuple[str, str]]:
    """Return (a sampler whose runs name the model, what the model is) for the MDM and each ARM baseline."""
    samplers = [str(s) for s in runs["sampler"].unique()]
    mdm = [s for s in samplers if not s.startswith("arm_")]
    arms = sorted(s for s in samplers if s.startswith("arm_"))
    return ([(mdm[0], "the MDM")] if mdm else []) + [(a, f"the ARM ({a[4:]} order)") for a in arms]


def easy_vs_hard(res, scale: str, level: str, tags: tuple[str | None, str | None]) -> str:
    """Return the table comparing each method on the easy test split and the hard split at one difficulty
    level: puzzle and cell accuracy, under the main decoding and un-noised, and the drop."""
    rows = []
    for s in ROW_ORDER:
        for tag in (["greedy"] if s.startswith("arm_") else [t for t in tags if t]):
            cells, accs = [], []
            for task in ("sudoku", "sudoku_hard"):
                e = res.examples[(res.examples["task"] == task) & (res.examples["scale"] == scale)
                                 & (res.examples["variant"] == level)
                                 & (res.examples["sampler"] == s) & (res.examples["decode_tag"] == tag)]
                acc, se, n = R.mean_se(e["correct"])
                cell, _, _ = R.mean_se(e["metrics.cell_acc"]) if "metrics.cell_acc" in e else (math.nan, 0, 0)
                cells.append(f"{100 * acc:.1f} / {100 * cell:.1f} (n={n})" if n else "not run")
                accs.append((acc, se, n))
            if any(c != "not run" for c in cells):
                (a, sa, na), (b, sb, nb) = accs
                drop = (f"{100 * (a - b):+.1f} ± {100 * math.sqrt(np.nansum([sa ** 2, sb ** 2])):.1f}"
                        if na and nb else "—")
                rows.append([LABELS[s], tag, *cells, drop])
    if not rows:
        return ""
    return (f"**Is the hard split harder?** The same models on the easy test split and on the hard split at level "
            f"`{level}` (puzzle accuracy % / cell accuracy %; the drop is easy − hard puzzle accuracy, ± one SE of "
            "two independent means):\n\n"
            + R.md_table(["Method", "decoding", "easy (Table 2)", "hard (Table 5)", "easy − hard"], rows))


SUDOKU_METRIC = "every row, column and box a permutation of 1–9 with every given kept"
SUDOKU_GROUPS = "the cells the strategy solver filled with each strategy"


def render_table2(res, out: Path):
    """Return Table 2 (Sudoku) rendered from the ``sudoku`` results, writing its figures."""
    return render(res, out, PuzzleTable("table2", "sudoku", ref.TABLE2, ref.TABLE2_PARAMS, SUDOKU_METRIC,
                                        "strategy", STRATEGIES, SUDOKU_GROUPS))


def render_table5(res, out: Path):
    """Return Table 5 (hard Sudoku) rendered from the ``sudoku_hard`` results, writing its figures."""
    return render(res, out, PuzzleTable("table5", "sudoku_hard", ref.TABLE5, ref.TABLE5_PARAMS, SUDOKU_METRIC,
                                        "strategy", STRATEGIES, SUDOKU_GROUPS, extra=easy_vs_hard))


def by_size(res, scale: str, level: str, tags: tuple[str | None, str | None]) -> str:
    """Return Zebra puzzle accuracy per puzzle size (houses x attributes) for each method, main decoding,
    and the number of predictions where the clue check and the reference disagree."""
    ex = res.examples[(res.examples["task"] == "zebra") & (res.examples["scale"] == scale)
                      & (res.examples["variant"] == level)]
    if ex.empty or "metrics.size" not in ex:
        return ""
    sizes = sorted(ex["metrics.size"].dropna().unique(), key=lambda s: tuple(int(x) for x in s.split("x")))
    rows, disagree = [], 0
    for s in ROW_ORDER:
        tag = "greedy" if s.startswith("arm_") else tags[0]
        e = ex[(ex["sampler"] == s) & (ex["decode_tag"] == tag)]
        if e.empty:
            continue
        if "metrics.checker_agree" in e:
            disagree += int((e["metrics.checker_agree"] == False).sum())  # noqa: E712
        cells = []
        for size in sizes:
            acc, _, n = R.mean_se(e[e["metrics.size"] == size]["correct"])
            cells.append(f"{100 * acc:.1f} (n={n})" if n else "—")
        rows.append([LABELS[s], tag or "—", *cells])
    if not rows:
        return ""
    return ("**By puzzle size** (houses x attributes; puzzle accuracy %):\n\n"
            + R.md_table(["Method", "decoding", *sizes], rows)
            + f"\n\nClue check against reference: {disagree} prediction(s) where the two verdicts disagree "
              "(0 expected: the puzzles have unique solutions).")


def render_table3(res, out: Path):
    """Return Table 3 (Zebra) rendered from the ``zebra`` results, writing its figures."""
    return render(res, out, PuzzleTable("table3", "zebra", ref.TABLE3, ref.TABLE3_PARAMS,
                                        "the whole table equals the unique solution (clues also checked directly)",
                                        "solver_third", THIRDS,
                                        "the cells in the first, middle and last third of the solver's fill order",
                                        extra=by_size))
