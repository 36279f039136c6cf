"""Beyond the paper: every unmasking rule on the same puzzles, accuracy against forward passes.

Rendered from results JSONL only. For each puzzle task (Sudoku, hard Sudoku, Zebra, L&O-NAE-SAT), scale and
level, every MDM configuration decoded without certainty noise is one point: the mean forward passes per
example (``nfe_row``, the passes that example needed; older records carry only the batch's ``nfe``) against
the task's score, ± its standard error. A rule's budget knob (steps for the top-k rules, ``tau`` / ``gamma`` /
``kappa`` for the adaptive ones, the block length for DUS) traces its curve; the frontier of a rule is its
points that no cheaper point of the same rule beats. Beside the figure:

1. the best score each rule reaches within a forward-pass budget (10, 25, 50 passes per example);
2. the hard tail (Sudoku): the score per rule by the hardest strategy the puzzle needs (the strategy
   solver's), each rule at its best configuration, with the paired difference to vanilla on the same puzzles;
3. decoding-order fingerprints: how each rule's reveal order correlates (Spearman, per puzzle) with the
   logic solver's fill order.

The learning check of the model is shown first: a comparison on a model that has not learned its task is
not a result.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.report import common as R
from harness.report import reference as ref
from harness.report.puzzles import STRATEGIES, _mean_spearman

TASKS = {"sudoku": "Sudoku", "sudoku_hard": "hard Sudoku", "zebra": "Zebra", "lo_nae_sat": "L&O-NAE-SAT"}
BUDGETS = (10, 25, 50)
PAPER_RULES = ["vanilla", "top_prob", "margin"]
KNOB_COLUMNS = ("tau", "gamma", "kappa", "history", "lam", "alpha")


def unnoised(runs: pd.DataFrame) -> pd.DataFrame:
    """Return the MDM runs decoded without certainty noise (Gumbel 0, no Gaussian, no remasking)."""
    mdm = runs[~runs["sampler"].astype(str).str.startswith("arm_")]
    keep = (R.numeric(mdm, "decode.gumbel").fillna(0) == 0) & (R.numeric(mdm, "decode.gaussian").fillna(0) == 0)
    if "decode.remask" in mdm:
        keep &= ~mdm["decode.remask"].fillna(False).astype(bool)
    return mdm[keep]


def knob_label(run: pd.Series) -> str:
    """Return a configuration's budget knobs, e.g. ``steps 20``, ``tau 0.9``, ``block 9``."""
    parts = []
    steps = run.get("decode.steps")
    if pd.notna(steps) and int(steps) > 0:
        parts.append(f"steps {int(steps)}")
    for k in KNOB_COLUMNS:
        v = run.get(f"decode.sampler_args.{k}")
        if v is not None and pd.notna(v):
            parts.append(f"{k} {float(v):g}")
    bl = run.get("decode.block_length")
    if bl is not None and pd.notna(bl):
        parts.append(f"block {int(bl)}")
    return ", ".join(parts) or "—"


def common_ids(runs: pd.DataFrame, ex: pd.DataFrame) -> set[str]:
    """Return the example ids every un-noised configuration holds (the points compare the same puzzles)."""
    sets = [set(ex[ex["file"].isin(grp["file"])]["id"].astype(str))
            for _, grp in unnoised(runs).groupby(["sampler", "decode_tag"])]
    sets = [s for s in sets if s]
    return set.intersection(*sets) if sets else set()


def points(runs: pd.DataFrame, ex: pd.DataFrame, ids: set[str] | None = None) -> pd.DataFrame:
    """Return one row per (sampler, decode tag) of un-noised runs, over the example ids they all hold (``ids``,
    computed when not given): n, score and SE (x100), mean forward passes per example, and the knob label."""
    rows = []
    ids = common_ids(runs, ex) if ids is None else ids
    for (sampler, tag), grp in unnoised(runs).groupby(["sampler", "decode_tag"]):
        e = ex[ex["file"].isin(grp["file"]) & ex["id"].astype(str).isin(ids)]
        if e.empty:
            continue
        nfe = R.numeric(e, "nfe_row").fillna(R.numeric(e, "nfe"))
        score, se, n = R.mean_se(e["score"])
        rows.append({"sampler": sampler, "decode_tag": tag, "n": n, "score": 100 * score, "se": 100 * se,
                     "nfe": float(nfe.mean()), "knobs": knob_label(grp.iloc[0])})
    return pd.DataFrame(rows, columns=["sampler", "decode_tag", "n", "score", "se", "nfe", "knobs"])


def frontier(pts: pd.DataFrame) -> pd.DataFrame:
    """Return each rule's frontier: its points sorted by forward passes, keeping those that beat every cheaper
    point of the same rule."""
    keep = []
    for _, grp in pts.sort_values(["nfe", "score"], ascending=[True, False]).groupby("sampler", sort=False):
        best = -math.inf
        for i, r in grp.iterrows():
            if r["score"] > best:
                keep.append(i)
                best = r["score"]
    return pts.loc[keep].sort_values(["sampler", "nfe"])


def budget_table(pts: pd.DataFrame, budgets=BUDGETS) -> str:
    """Return the markdown table of each rule's best score within each forward-pass budget."""
    rules = R.ordered(pts["sampler"].unique(), PAPER_RULES + ["entropy"])
    rows = []
    for s in rules:
        p = pts[pts["sampler"] == s]
        cells = []
        for b in budgets:
            ok = p[p["nfe"] <= b + 1e-9]
            if ok.empty:
                cells.append("—")
                continue
            r = ok.sort_values(["score", "nfe"], ascending=[False, True]).iloc[0]
            se = "" if math.isnan(r["se"]) else f" ± {r['se']:.1f}"
            cells.append(f"{r['score']:.1f}{se} ({r['nfe']:.1f} NFE; {r['knobs']})")
        rows.append([f"`{s}`" + (" (paper)" if s in PAPER_RULES else ""), *cells])
    return R.md_table(["Rule", *[f"≤ {b} forward passes" for b in budgets]], rows)


def best_configs(pts: pd.DataFrame) -> dict[str, str]:
    """Return {rule: decode tag of its best-scoring configuration (fewer passes on ties)}."""
    out = {}
    for s, grp in pts.groupby("sampler"):
        out[s] = grp.sort_values(["score", "nfe"], ascending=[False, True]).iloc[0]["decode_tag"]
    return out


def hardest_strategy(ex: pd.DataFrame) -> pd.Series:
    """Return per record the hardest strategy code the strategy solver used on its empty cells (NaN without)."""
    if "meta.strategy" not in ex:
        return pd.Series(np.nan, index=ex.index)
    return ex["meta.strategy"].map(lambda s: max(s) if isinstance(s, list) and s else np.nan)


def hard_tail(ex: pd.DataFrame, best: dict[str, str]) -> str:
    """Return the hard-tail table: per rule (at its best configuration) the score by the hardest strategy a
    puzzle needs, and the paired difference to vanilla on the same puzzles."""
    diff = hardest_strategy(ex)
    if diff.isna().all() or "vanilla" not in best:
        return ""
    ex = ex.assign(difficulty=diff)
    levels = sorted(int(d) for d in ex["difficulty"].dropna().unique())
    base = ex[(ex["sampler"] == "vanilla") & (ex["decode_tag"] == best["vanilla"])].set_index("id")
    rows = []
    for s in R.ordered(best, PAPER_RULES + ["entropy"]):
        e = ex[(ex["sampler"] == s) & (ex["decode_tag"] == best[s])].set_index("id")
        cells = []
        for d in levels:
            sub = e[e["difficulty"] == d]
            m, se, n = R.mean_se(sub["score"])
            cell = "—" if not n else f"{100 * m:.1f} (n={n})"
            if s != "vanilla" and n:
                common = sub.index.intersection(base.index)
                dd = 100 * (pd.to_numeric(sub.loc[common, "score"]) - pd.to_numeric(base.loc[common, "score"]))
                if len(dd) > 1:
                    cell += f"; {dd.mean():+.1f} ± {dd.std(ddof=1) / math.sqrt(len(dd)):.1f} vs vanilla"
            cells.append(cell)
        rows.append([f"`{s}` ({best[s]})", *cells])
    head = [STRATEGIES.get(d, str(d)).replace("\n", " ") for d in levels]
    return ("**The hard tail.** Score by the hardest strategy the puzzle needs (strategy solver), each rule at "
            "its best configuration; `± SE vs vanilla` is the paired difference on the same puzzles (confidence-"
            "first decoding is claimed to fail on the hardest instances where random order holds up: "
            "arXiv 2605.29123).\n\n" + R.md_table(["Rule (config)", *head], rows))


def order_fingerprints(ex: pd.DataFrame, best: dict[str, str]) -> str:
    """Return each rule's mean per-puzzle Spearman correlation between its reveal order and the solver's."""
    if "meta.solver_rank" not in ex:
        return ""
    rows = []
    for s in R.ordered(best, PAPER_RULES + ["entropy"]):
        e = ex[(ex["sampler"] == s) & (ex["decode_tag"] == best[s])].dropna(subset=["order", "meta.solver_rank"])
        if e.empty:
            continue
        order = np.array([np.asarray(o, dtype=float) for o in e["order"]])
        rank = np.array([np.asarray(r, dtype=float) for r in e["meta.solver_rank"]])
        pos = np.where(order >= 0, order, np.nan)
        rho = _mean_spearman(pos, rank, rank >= 0)
        rows.append([f"`{s}` ({best[s]})", R.fmt_num(rho, 2), str(len(e))])
    if not rows:
        return ""
    return ("**Decoding-order fingerprints.** Mean per-puzzle Spearman correlation of the reveal step with the "
            "logic solver's fill order (1 = the solver's order; positions revealed in one step share a rank).\n\n"
            + R.md_table(["Rule (config)", "Spearman with the solver", "Puzzles"], rows))


RULE_COLORS = {"vanilla": "#4C72B0", "top_prob": "#DD8452", "margin": "#55A868", "entropy": "#C44E52",
               "threshold": "#DA8BC3", "eb": "#8C8C8C", "klass": "#CCB974", "pc": "#64B5CD", "dus": "#8172B3",
               "p2": "#937860", "remdm": "#17BECF", "vanilla_ancestral": "#1F3B73", "confidence": "#BCBD22"}
"""One colour per rule, the paper's three as in the tables; rules not listed take the next colour of tab20."""


def rule_color(rule: str, i: int) -> str:
    """Return the plotting colour of ``rule`` (``i``: its index, for rules without a fixed colour)."""
    from matplotlib import colormaps
    if rule in RULE_COLORS:
        return RULE_COLORS[rule]
    r, g, b, _ = colormaps["tab20"](i % 20)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def plot(pts: pd.DataFrame, front: pd.DataFrame, out: Path, stem: str, title: str) -> str:
    """Write the accuracy-against-forward-passes figure (each rule's points with ± SE, its frontier as a line;
    the paper's rules solid, the later ones dashed); return its file name."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator, ScalarFormatter
    fig = Figure(figsize=(7.6, 4.2))
    ax = fig.subplots()
    for i, s in enumerate(R.ordered(pts["sampler"].unique(), PAPER_RULES + ["entropy"])):
        p = pts[pts["sampler"] == s].sort_values("nfe")
        f = front[front["sampler"] == s]
        color = rule_color(s, i)
        style = "-" if s in PAPER_RULES else "--"
        ax.plot(f["nfe"], f["score"], style, color=color, lw=1.6 if s in PAPER_RULES else 1.2,
                label=s + (" (paper)" if s in PAPER_RULES else ""))
        ax.errorbar(p["nfe"], p["score"], yerr=p["se"].fillna(0), fmt="o", ms=3, color=color, capsize=2, lw=0.8)
    ax.set_xscale("log")
    lo, hi = max(1.0, float(pts["nfe"].min()) * 0.8), float(pts["nfe"].max()) * 1.2
    ticks = [t for t in (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 500, 1000) if lo <= t <= hi]
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("forward passes per example (log scale)")
    ax.set_ylabel("score (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    name = f"{stem}.png"
    fig.savefig(out / name, dpi=R.DPI, bbox_inches="tight")
    return name


def render_frontier(res: R.Results, out: Path) -> R.Rendered | None:
    """Return the accuracy-against-forward-passes report of every rule (None without two rules to compare)."""
    title = ref.TABLES["beyond_frontier"].name
    md = [f"# {title}", __doc__.split("\n\n")[1].replace("\n", " ")]
    figures = []
    for task, label in TASKS.items():
        runs = res.runs[res.runs["task"] == task]
        for scale in R.ordered(runs["scale"].unique(), R.SCALE_ORDER):
            for variant in sorted(runs[runs["scale"] == scale]["variant"].unique()):
                sr = runs[(runs["scale"] == scale) & (runs["variant"] == variant)]
                ex = res.examples[res.examples["file"].isin(sr["file"])]
                ids = common_ids(sr, ex)
                pts = points(sr, ex, ids)
                if pts["sampler"].nunique() < 2 or not (~pts["sampler"].isin(PAPER_RULES + ["entropy"])).any():
                    continue
                front = frontier(pts)
                checks, learned = R.learning_checks(sr)
                stem = f"frontier_{task}_{variant}_{scale}".replace("+", "p")
                commit = R.commits_label(sr)
                figures.append(plot(pts, front, out, stem, f"{label} {variant} · {scale} · un-noised · n = "
                                                             f"{int(pts['n'].max())} per point · commit {commit}"))
                best = best_configs(pts)
                uex = ex[ex["file"].isin(unnoised(sr)["file"]) & ex["id"].astype(str).isin(ids)]
                md += [f"## {label} `{variant}` · scale `{scale}`", R.stamp(scale, sr),
                       R.learning_markdown(checks, learned, "the MDM"),
                       f"![{figures[-1]}]({figures[-1]})",
                       f"Every point is over the same {int(pts['n'].max())} examples (those every configuration "
                       "holds). **Best score within a forward-pass budget** (mean passes per example; the knobs of "
                       "the point):\n\n" + budget_table(pts),
                       hard_tail(uex, best), order_fingerprints(uex, best),
                       "<details><summary>Every point</summary>\n\n" + R.md_table(
                           ["Rule", "Knobs", "Decode tag", "Forward passes", "Score", "n"],
                           [[f"`{r.sampler}`", r.knobs, r.decode_tag, f"{r.nfe:.1f}",
                             f"{r.score:.1f}" + ("" if math.isnan(r.se) else f" ± {r.se:.1f}"), str(r.n)]
                            for r in pts.sort_values(["sampler", "nfe"]).itertuples()]) + "\n\n</details>"]
    if not figures:
        return None
    md.append("A small-scale number is never the paper's; the rules' own papers evaluate on LLaDA/Dream-scale "
              "text models, not on these puzzles.")
    return R.Rendered(title, "\n\n".join(m for m in md if m) + "\n", figures)
