"""Shared helpers of the report room: the loaded-results types, aggregation (mean +- SE, paired
differences), markdown formatting, the run stamp (scale, sample count, commit) and the learning-check
rendering that every table shows beside its numbers. No torch, no models, no task code."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

CONFIG = ["scale", "task", "variant", "sampler", "decode_tag"]
"""Columns identifying one configuration; seeds of the same configuration are pooled."""

HEADER_DEFAULTS = {"task": "unknown", "variant": "", "scale": "unknown", "sampler": "unknown",
                   "seed": 0, "decode_tag": "default", "n_planned": np.nan}
SCALE_ORDER = ["smoke", "small", "medium", "gpu", "paper"]
SAMPLER_ORDER = ["vanilla", "top_prob", "margin", "entropy"]
SAMPLER_COLORS = {"vanilla": "#4C72B0", "top_prob": "#DD8452", "margin": "#55A868", "entropy": "#C44E52"}
DPI = 150


@dataclass
class Results:
    """Loaded results: ``runs`` has one row per file (flattened header + ``file`` + ``n``),
    ``examples`` one row per example record (flattened one level, with the run's CONFIG columns)."""

    runs: pd.DataFrame
    examples: pd.DataFrame


@dataclass
class Rendered:
    """What a renderer produced: a title, its markdown and the figure file names it wrote."""

    title: str
    markdown: str
    figures: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ aggregation

def numeric(df: pd.DataFrame, col: str) -> pd.Series:
    """Return column ``col`` as numbers (unparsable values NaN), or all NaN when the frame lacks it."""
    return pd.to_numeric(df[col], errors="coerce") if col in df else pd.Series(np.nan, index=df.index)


def mean_se(values: pd.Series) -> tuple[float, float, int]:
    """Return (mean, standard error, count) of the non-null values (NaN where undefined)."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    n = len(v)
    mean = float(v.mean()) if n else math.nan
    se = float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return mean, se, n


def summarize(res: Results) -> pd.DataFrame:
    """Return one row per CONFIG: files, seeds, n, n_planned, score/correct mean and SE (x100), nfe, s/ex."""
    rows = []
    for key, runs in res.runs.groupby(CONFIG, sort=False):
        ex = res.examples[res.examples["file"].isin(runs["file"])]
        score, score_se, _ = mean_se(ex["score"])
        corr, corr_se, _ = mean_se(ex["correct"])
        rows.append({**dict(zip(CONFIG, key)), "files": len(runs),
                     "seeds": ",".join(str(s) for s in sorted(runs["seed"].unique())),
                     "n_seeds": runs["seed"].nunique(), "n": len(ex),
                     "n_planned": pd.to_numeric(runs["n_planned"], errors="coerce").sum(min_count=1),
                     "score": 100 * score, "score_se": 100 * score_se,
                     "correct": 100 * corr, "correct_se": 100 * corr_se,
                     "nfe": pd.to_numeric(ex["nfe"], errors="coerce").mean(),
                     "seconds": pd.to_numeric(ex["seconds"], errors="coerce").mean()})
    return pd.DataFrame(rows, columns=[*CONFIG, "files", "seeds", "n_seeds", "n", "n_planned", "score",
                                       "score_se", "correct", "correct_se", "nfe", "seconds"])


def default_decode_tags(summary: pd.DataFrame) -> dict[tuple[str, str], str]:
    """Return {(scale, variant): decode_tag} picking the tag that covers the most samplers for that variant;
    ties go to the tag with more files at that scale, then more examples, then the alphabetically first."""
    files_per_tag = summary.groupby(["scale", "decode_tag"])["files"].sum()
    chosen = {}
    for (scale, variant), grp in summary.groupby(["scale", "variant"]):
        ranked = sorted(grp.groupby("decode_tag"), key=lambda kv: (
            -kv[1]["sampler"].nunique(), -files_per_tag[(scale, kv[0])], -kv[1]["n"].sum(), kv[0]))
        chosen[(scale, variant)] = ranked[0][0]
    return chosen


def ordered(values, preferred: list[str]) -> list:
    """Return the unique values, those in ``preferred`` first in that order, the rest sorted."""
    values = list(dict.fromkeys(values))
    return [v for v in preferred if v in values] + sorted(v for v in values if v not in preferred)


def uniq(runs: pd.DataFrame, col: str) -> list[str]:
    """Return the sorted distinct non-null values of a header column as strings ([] if absent)."""
    if col not in runs:
        return []
    return sorted({str(v) for v in runs[col].dropna()})


# ------------------------------------------------------------------------------------------- formatting

def fmt_num(x: float, digits: int = 1) -> str:
    """Return x with fixed digits, or an em dash for NaN/None."""
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def fmt_cell(row: pd.Series | None, value: str = "score") -> str:
    """Return 'mean ± se (n=..)' for a summary row, with n/planned if incomplete and the seed count."""
    if row is None:
        return "not run"
    n, planned = int(row["n"]), row["n_planned"]
    ns = f"n={n}" if pd.isna(planned) or n >= planned else f"n={n}/{int(planned)}"
    if row["n_seeds"] > 1:
        ns += f", {row['n_seeds']} seeds"
    if n == 0:
        return f"no examples yet ({ns})"
    se = row[f"{value}_se"]
    err = "" if math.isnan(se) else f" ± {se:.1f}"
    return f"{row[value]:.1f}{err} ({ns})"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """Return a GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def commits_label(runs: pd.DataFrame) -> str:
    """Return the distinct commits of these runs, each flagged '(dirty)' if any run on it was dirty."""
    if "env.commit" not in runs:
        return "unknown commit"
    out = []
    for commit, grp in runs.groupby(runs["env.commit"].fillna("unknown")):
        dirty = "env.dirty" in grp and grp["env.dirty"].fillna(False).astype(bool).any()
        out.append(f"{commit} (dirty)" if dirty else str(commit))
    return ", ".join(out)


def ours_label(scale: str, runs: pd.DataFrame) -> str:
    """Return e.g. 'Ours (small, 0.8M MDM, 3000 iters)' from the model header fields."""
    preset = "/".join(uniq(runs, "model.preset")) or "?"
    objective = "/".join(o.upper() for o in uniq(runs, "model.objective")) or "model"
    iters = "/".join(str(int(float(v))) if v.replace(".", "", 1).isdigit() else v
                     for v in uniq(runs, "model.train_iters")) or "?"      # pandas may have made 5000 a 5000.0
    return f"Ours ({scale}, {preset} {objective}, {iters} iters)"


def stamp(scale: str, runs: pd.DataFrame) -> str:
    """Return the one-line provenance stamp of a scale: commits, device, sample counts, dates."""
    devices = [f"{d} ({n})" if n else d for d, n in
               runs[["env.device", "env.device_name"]].fillna("").drop_duplicates().itertuples(index=False)
               ] if {"env.device", "env.device_name"} <= set(runs) else ["unknown device"]
    planned = pd.to_numeric(runs["n_planned"], errors="coerce").sum(min_count=1)
    dates = sorted({str(s)[:10] for s in runs.get("started", pd.Series(dtype=str)).dropna()})
    when = "–".join(dict.fromkeys([dates[0], dates[-1]])) if dates else "unknown date"
    return (f"**Scale `{scale}`** · commit {commits_label(runs)} · device {', '.join(devices)} · "
            f"{int(runs['n'].sum())} examples in {len(runs)} files"
            + ("" if pd.isna(planned) else f" (of {int(planned)} planned)") + f" · started {when}")


# ------------------------------------------------------------------------------------- learning checks

CHECK_PREFIX = "task_info.learning_check."
THRESHOLD_PREFIX = "task_info.learning_check_learned_at."
ABOUT_PREFIX = "task_info.learning_check_about."


def learning_checks(runs: pd.DataFrame) -> tuple[dict[str, dict], bool | None]:
    """Return ({check name: {"acc" %, "learned_at" % or NaN, "about"}}, learned) for the MDM runs of one
    model (means over files; ``learned`` is None when no check has a threshold, else whether all pass)."""
    mdm = runs[~runs["sampler"].astype(str).str.startswith("arm_")] if "sampler" in runs else runs
    out = {}
    for col in sorted(c for c in mdm.columns if c.startswith(CHECK_PREFIX)):
        name = col[len(CHECK_PREFIX):]
        acc = pd.to_numeric(mdm[col], errors="coerce").mean()
        if math.isnan(acc):
            continue
        thr = pd.to_numeric(mdm.get(THRESHOLD_PREFIX + name, pd.Series(dtype=float)), errors="coerce").mean()
        about = mdm.get(ABOUT_PREFIX + name, pd.Series(dtype=str)).dropna()
        out[name] = {"acc": 100 * acc, "learned_at": 100 * thr if not math.isnan(thr) else math.nan,
                     "about": str(about.iloc[0]) if len(about) else ""}
    thresholded = [c for c in out.values() if not math.isnan(c["learned_at"])]
    learned = all(c["acc"] >= c["learned_at"] - 1e-9 for c in thresholded) if thresholded else None
    return out, learned


CURVE_COLUMN = "model.learning_curve"


def learning_curve_markdown(runs: pd.DataFrame, what: str) -> str:
    """Return the learning curve of the model behind ``runs`` (its one-forward checks at every checkpoint, as
    the trainer recorded them) as a table with one row per checkpoint; '' where no run records one (models
    trained before curves were recorded)."""
    if CURVE_COLUMN not in runs:
        return ""
    curves = [c for c in runs[CURVE_COLUMN] if isinstance(c, list) and c]
    if not curves:
        return ""
    curve = curves[0]
    names = [k for k in curve[-1] if k != "step"]
    level = runs.get("model.learning_curve_variant", pd.Series(dtype=object)).dropna()
    on = f", checks on `{level.iloc[0]}`" if len(level) else ""
    rows = [[str(p.get("step", "")), *(fmt_num(100 * p[n], 1) if isinstance(p.get(n), (int, float)) else ""
                                       for n in names)] for p in curve]
    return (f"Learning curve of {what} (each check's accuracy %, one forward pass, at every checkpoint{on}):\n\n"
            + md_table(["iteration", *(f"`{n}`" for n in names)], rows))


def learning_markdown(checks: dict[str, dict], learned: bool | None, what: str = "this model") -> str:
    """Return the learning-check line shown beside a table: each check against its threshold, and the verdict."""
    if not checks:
        return f"**Learning check:** none recorded for {what}."
    parts = []
    for name, c in checks.items():
        thr = "" if math.isnan(c["learned_at"]) else (
            f" (needs ≥ {c['learned_at']:.0f}: {'pass' if c['acc'] >= c['learned_at'] - 1e-9 else 'FAIL'})")
        about = f" — {c['about']}" if c["about"] else ""
        parts.append(f"`{name}` {c['acc']:.1f}%{thr}{about}")
    who = what[:1].upper() + what[1:]
    verdict = {True: f"**{who} has learned the task**; the comparison below is a result.",
               False: f"**{who} has NOT learned the task**: the sampler comparison below is "
                      "not a result about decoding order, only a record of what an unlearned model does.",
               None: "No threshold is set for these checks."}[learned]
    return "**Learning check** (one forward pass, argmax): " + "; ".join(parts) + ". " + verdict


def paired(ex: pd.DataFrame, a: dict, b: dict, value: str = "correct") -> tuple[float, float, int]:
    """Return (mean, SE, n) in points of value(a) − value(b) over the example ids both configurations hold;
    ``a``/``b`` map example columns to required values (e.g. {"sampler": "margin", "decode_tag": t})."""
    def pick(sel):
        e = ex
        for k, v in sel.items():
            e = e[e[k] == v]
        return pd.to_numeric(e[value], errors="coerce").groupby(e["id"]).mean()
    d = (pick(a) - pick(b)).dropna()
    if d.empty:
        return math.nan, math.nan, 0
    se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.nan
    return 100 * float(d.mean()), 100 * se, len(d)


TEXT_LEARNED_RATIO = 0.9
"""A text MDM has learned context when its held-out loss is at most this fraction of the unigram loss."""


def text_learning_markdown(runs: pd.DataFrame, prefix: str = "figure_info.mdm.") -> tuple[str, bool | None]:
    """Return (the learning-check line of a text MDM read from its training summary in the header, learned):
    held-out ELBO (nats/token) against the unigram distribution's held-out loss, learned at ≤ 0.9 of it."""
    held = pd.to_numeric(runs.get(prefix + "heldout_loss", pd.Series(dtype=float)), errors="coerce").dropna()
    uni = pd.to_numeric(runs.get(prefix + "unigram_heldout_loss", pd.Series(dtype=float)), errors="coerce").dropna()
    if held.empty or uni.empty:
        return ("**Learning check:** the model's held-out and unigram losses are not in the header (a model not "
                "trained here); judge it by its own documentation.", None)
    h, u = float(held.iloc[0]), float(uni.iloc[0])
    learned = h <= TEXT_LEARNED_RATIO * u
    verdict = ("**the MDM has learned context**" if learned else
               "**the MDM has NOT learned enough context**: a comparison of orders or samplers on it is not a result")
    return (f"**Learning check:** held-out MDM loss (ELBO) {h:.3f} nats/token against {u:.3f} for the training "
            f"text's unigram distribution (ratio {h / u:.2f}; learned at ≤ {TEXT_LEARNED_RATIO}): {verdict}.", learned)


SIGNIFICANT_SE = 3.0
"""A difference is called real only beyond this many standard errors of the paired difference."""


def sig_word(d: float, se: float) -> str:
    """Return 'more than 3 SE' / 'within 3 SE' (or 'SE undefined') for a difference and its SE."""
    if math.isnan(se) or se == 0:
        return "SE undefined" if math.isnan(se) else ("exact" if d == 0 else "no spread")
    return f"more than {SIGNIFICANT_SE:g} SE" if abs(d) > SIGNIFICANT_SE * se else f"within {SIGNIFICANT_SE:g} SE"



def all_runs_markdown(summ: pd.DataFrame) -> str:
    """Return the "All runs" table: every configuration, seeds pooled, marked if in the main table."""
    rows = [[r.scale, r.variant, r.sampler, r.decode_tag, r.seeds,
             f"{r.n}" + ("" if pd.isna(r.n_planned) else f"/{int(r.n_planned)}"),
             fmt_num(r.score) + ("" if math.isnan(r.score_se) else f" ± {r.score_se:.1f}"),
             fmt_num(r.correct), fmt_num(r.nfe), fmt_num(r.seconds, 3), "✓" if r.main else ""]
            for r in summ.sort_values(["scale", "variant", "decode_tag", "sampler"]).itertuples()]
    return md_table(["scale", "variant", "sampler", "decode_tag", "seed(s)", "n", "score %", "correct %",
                     "mean nfe", "s/example", "in main table"], rows)
