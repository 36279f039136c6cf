"""Render the paper's tables and figures from results JSONL files, beside the paper's numbers.

    python -m harness.report [--results results] [--out reports]

Reads every ``*.jsonl`` under the results directory (one header line, then one record per example; see
DESIGN.md "the results files are the API") and nothing else: no torch, no models, no task code. Each
table is one render function plus one line in ``RENDERERS``; a renderer takes the loaded ``Results``
and the output directory, writes its figures, and returns its markdown (or None when it has no data).
``reports/index.md`` links everything rendered.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # object API: no pyplot, no global backend state (renders via Agg)

from harness import reference as ref
from harness.report_text import render_table4

CONFIG = ["scale", "task", "variant", "sampler", "decode_tag"]
"""Columns identifying one configuration; seeds of the same configuration are pooled."""

HEADER_DEFAULTS = {"task": "unknown", "variant": "", "scale": "unknown", "sampler": "unknown",
                   "seed": 0, "decode_tag": "default", "n_planned": np.nan}
SCALE_ORDER = ["smoke", "small", "paper"]
SAMPLER_ORDER = ["vanilla", "top_prob", "margin", "entropy"]
SAMPLER_COLORS = {"vanilla": "#4C72B0", "top_prob": "#DD8452", "margin": "#55A868", "entropy": "#C44E52"}
DPI = 150


class MalformedLineWarning(UserWarning):
    """A results line that could not be parsed (e.g. truncated by a run in progress) and was skipped."""


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


# ----------------------------------------------------------------------------------------------- loading

def read_run(path: Path) -> tuple[dict | None, list[dict]]:
    """Return (header, example records) of one JSONL file; unparsable lines are skipped with a warning."""
    header, records = None, []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                warnings.warn(f"{path}:{lineno}: malformed line skipped ({err.msg})", MalformedLineWarning)
                continue
            kind = obj.get("type") if isinstance(obj, dict) else None
            if kind == "header" and header is None:
                header = obj
            elif kind == "example" and header is not None:
                records.append(obj)
            elif kind == "resume" and header is not None:
                continue  # the store notes each resumed session; nothing to tabulate
            else:
                warnings.warn(f"{path}:{lineno}: unexpected {kind!r} line skipped", MalformedLineWarning)
    if header is None:
        warnings.warn(f"{path}: no header line, file skipped", MalformedLineWarning)
    return header, records


def load_results(root: str | Path) -> Results:
    """Return every run and example found in ``*.jsonl`` files under root (empty frames if none)."""
    headers, records = [], []
    for path in sorted(Path(root).rglob("*.jsonl")):
        header, recs = read_run(path)
        if header is None:
            continue
        headers.append({**header, "file": str(path)})
        records.extend({**r, "file": str(path)} for r in recs)
    if not headers:
        return Results(pd.DataFrame(columns=["file", "n", *HEADER_DEFAULTS]), pd.DataFrame(columns=["file"]))
    runs = pd.json_normalize(headers, sep=".")
    for col, default in HEADER_DEFAULTS.items():
        runs[col] = runs[col].fillna(default) if col in runs else default
    examples = _examples_frame(records, runs)
    runs["n"] = runs["file"].map(examples.groupby("file").size()).fillna(0).astype(int)
    return Results(runs, examples)


def _examples_frame(records: list[dict], runs: pd.DataFrame) -> pd.DataFrame:
    """Return example records joined to their run's CONFIG and seed, duplicates (same id) dropped."""
    ex = pd.json_normalize(records, sep=".", max_level=1) if records else pd.DataFrame(columns=["file"])
    for col in ["id", "score", "correct", "nfe", "seconds", "steps", "order"]:
        if col not in ex:
            ex[col] = np.nan
    ex["score"] = pd.to_numeric(ex["score"], errors="coerce")
    ex["correct"] = ex["correct"].map({True: 1.0, False: 0.0}).astype(float)
    ex = ex.merge(runs[["file", *CONFIG, "seed"]], on="file", how="left")
    dup = ex.duplicated([*CONFIG, "seed", "id"])
    if dup.any():
        warnings.warn(f"{int(dup.sum())} duplicate example records (same config, seed and id) dropped",
                      MalformedLineWarning)
    return ex[~dup].reset_index(drop=True)


# ------------------------------------------------------------------------------------------ aggregation

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


# ------------------------------------------------------------------------------------------ Table 1: L&O

LO_TASK = "lo_nae_sat"


def lo_variants(runs: pd.DataFrame) -> pd.DataFrame:
    """Return one row per (scale, variant) of L&O runs: N, P, protocol, naive guess %, learning checks % (means)
    and whether the model passed its thresholded checks."""
    cols = {"task_info.N": "N", "task_info.P": "P", "task_info.naive_guess": "naive",
            "task_info.learning_check.obs_given_latents_acc": "o_given_l",
            "task_info.learning_check.latent_given_rest_acc": "l_given_o"}
    df = runs[["scale", "variant"]].copy()
    for src, dst in cols.items():
        df[dst] = pd.to_numeric(runs[src], errors="coerce") if src in runs else np.nan
    out = df.groupby(["scale", "variant"], as_index=False).mean()
    for c in ["naive", "o_given_l", "l_given_o"]:
        out[c] *= 100
    protocol = runs.get("task_info.protocol", pd.Series("unconditional", index=runs.index)).fillna("unconditional")
    first = pd.DataFrame({"scale": runs["scale"], "variant": runs["variant"], "protocol": protocol})
    out = out.merge(first.drop_duplicates(["scale", "variant"]), on=["scale", "variant"], how="left")
    out["learned"] = [learning_checks(runs[(runs["scale"] == sc) & (runs["variant"] == v)])[1]
                      for sc, v in out[["scale", "variant"]].itertuples(index=False)]
    return out.sort_values(["N", "P", "variant"], na_position="last")


def table1_rows(scale: str, summ: pd.DataFrame, variants: pd.DataFrame, protocol: str = "unconditional"
                ) -> list[dict]:
    """Return the rows of one scale's Table 1 for one protocol, ordered by N (the paper's rows that were not
    run are included for the paper's own protocol, unconditional generation)."""
    rows, seen = [], set()
    sel = variants[(variants["scale"] == scale) & (variants["protocol"] == protocol)]
    for v in sel.itertuples():
        np_key = (int(v.N), int(v.P)) if not (pd.isna(v.N) or pd.isna(v.P)) else None
        cells = summ[summ["variant"] == v.variant].set_index("sampler")
        rows.append({"key": np_key, "variant": v.variant,
                     "label": f"({np_key[0]}, {np_key[1]})" if np_key else v.variant,
                     "paper": ref.TABLE1.get(np_key, {}) if protocol == "unconditional" else {},
                     "naive": v.naive, "o_given_l": v.o_given_l, "learned": v.learned,
                     "l_given_o": v.l_given_o, "cells": {s: r for s, r in cells.iterrows()},
                     "decode": ", ".join(sorted(cells["decode_tag"].unique()))})
        seen.add(np_key)
    if protocol == "unconditional":
        for key, paper in ref.TABLE1.items():
            if key not in seen:
                rows.append({"key": key, "variant": None, "label": f"({key[0]}, {key[1]})", "paper": paper,
                             "naive": math.nan, "o_given_l": math.nan, "l_given_o": math.nan, "learned": None,
                             "cells": {}, "decode": "—"})
    return sorted(rows, key=lambda r: r["key"] or (10**9, 0))


def _learned_label(r: dict) -> str:
    if r["learned"] is None or (isinstance(r["learned"], float) and math.isnan(r["learned"])):
        return "—"
    return "yes" if r["learned"] else "**no**"


def table1_markdown(scale: str, rows: list[dict], samplers: list[str], ours: str, protocol: str) -> str:
    """Return the main accuracy table and the full-consistency table of one scale and protocol."""
    paper = "Paper 19M"
    head = ["(N, P)", f"{paper} · vanilla", f"{paper} · margin"]
    head += [f"Ours {scale} · {s}" for s in samplers]
    head += ["Naive guess (measured)", "Learning check O\\|L (≥ 95)", "Learned?", "Decode"]
    acc = [[r["label"], fmt_num(r["paper"].get("vanilla"), 2), fmt_num(r["paper"].get("margin"), 2)]
           + [fmt_cell(r["cells"].get(s)) for s in samplers]
           + [fmt_num(r["naive"]), fmt_num(r["o_given_l"]), _learned_label(r), r["decode"]] for r in rows]
    cons = [[r["label"]] + [fmt_cell(r["cells"].get(s), "correct") for s in samplers]
            + [fmt_num(r["o_given_l"]), fmt_num(r["l_given_o"])] for r in rows if r["cells"]]
    what = ("the paper's protocol: unconditional generation of all N + P tokens" if protocol == "unconditional"
            else f"protocol *{protocol}* (not the paper's: it breaks NAE's global flip symmetry), the rest generated")
    return "\n\n".join([
        f"**Protocol:** {what}. Observation accuracy (%), mean ± standard error over generated sequences. Columns "
        f"\"Paper 19M\": 19M MDM, paper protocol ({ref.TABLES['table1'].source}). Columns \"Ours {scale}\": {ours}; "
        f"**not** the paper's model.",
        md_table(head, acc),
        "Full consistency (% of generated sequences whose every observation equals NAE of its latents); "
        "learning checks (one forward pass, argmax): O|L = observation accuracy given all true latents (the "
        "model has learned the task at ≥ 95), L|rest = accuracy on one hidden latent given every other token.",
        md_table(["(N, P)"] + [f"Ours {scale} · {s}" for s in samplers] + ["O\\|L %", "L\\|rest %"], cons)
        if cons else "_No measured rows._"])


def table1_verdict(scale: str, rows: list[dict], ex: pd.DataFrame, protocol: str) -> str:
    """Return a verdict computed from the records: per learned variant, margin − vanilla as a paired
    difference (same example ids) with its SE, called real beyond 3 SE, and vanilla against the naive rate."""
    parts, holds, fails, unlearned = [], [], [], []
    for r in rows:
        van, mar = r["cells"].get("vanilla"), r["cells"].get("margin")
        if van is None or mar is None or van["n"] == 0 or mar["n"] == 0:
            if r["cells"]:
                parts.append(f"{r['label']}: not compared (needs both vanilla and margin).")
            continue
        e = ex[ex["variant"] == r["variant"]]
        diff, se, n = paired(e, {"sampler": "margin", "decode_tag": mar["decode_tag"]},
                             {"sampler": "vanilla", "decode_tag": van["decode_tag"]}, value="score")
        naive = r["naive"] if not math.isnan(r["naive"]) else ref.NAIVE_GUESS_LO
        beats = diff > SIGNIFICANT_SE * se if se > 0 else diff > 0
        worse = diff < -SIGNIFICANT_SE * se if se > 0 else diff < 0
        verb = "beats" if beats else "is worse than" if worse else "does not clearly beat"
        gap = van["score"] - naive
        near = "within ±3 points of" if abs(gap) <= 3 else ("below" if gap < 0 else "above")
        paper_diff = (f"; paper {r['paper']['margin'] - r['paper']['vanilla']:+.1f}"
                      if {"margin", "vanilla"} <= set(r["paper"]) else "")
        text = (f"{r['label']}: margin {verb} vanilla ({mar['score']:.1f} vs {van['score']:.1f}, paired "
                f"difference {diff:+.1f} ± {se:.1f} points over {n} sequences, {sig_word(diff, se)}{paper_diff}); "
                f"vanilla is {near} the naive-guess rate {naive:.1f} ({gap:+.1f})")
        if r["learned"] is False:
            text += (f"; **not a result**: learning check O|L is {r['o_given_l']:.1f}% (< 95), the model has not "
                     f"learned the observation rule")
            unlearned.append(r["label"])
            parts.append(text + ".")
            continue
        parts.append(text + ".")
        (holds if beats else fails).append(r["label"])
    if not holds and not fails:
        lead = "No learned model to compare yet" + (f" ({', '.join(unlearned)} failed the learning check)."
                                                    if unlearned else ".")
        return f"**Verdict ({scale}, {protocol}).** {lead} " + " ".join(parts)
    claim = f"(margin beats vanilla by more than {SIGNIFICANT_SE:g} standard errors of the paired difference)"
    if not fails:
        summary = f"The paper's claim {claim} holds for every learned variant ({', '.join(holds)})."
    else:
        summary = (f"The paper's claim {claim} does **not** hold for {', '.join(fails)}"
                   + (f"; it holds for {', '.join(holds)}." if holds else "."))
    if unlearned:
        summary += f" Not counted (model not learned): {', '.join(unlearned)}."
    return f"**Verdict ({scale}, {protocol}).** {summary} " + " ".join(parts)


def order_stats(ex: pd.DataFrame, n_latents: int) -> tuple[np.ndarray, float, float]:
    """Return (mean normalised reveal step per position, latent mean, observation mean) of examples;
    normalised = order / steps, given positions (order -1) excluded."""
    orders = [np.asarray(o, dtype=float) for o in ex["order"] if isinstance(o, list) and o]
    if not orders:
        return np.array([]), math.nan, math.nan
    mat = np.full((len(orders), max(len(o) for o in orders)), np.nan)
    for i, o in enumerate(orders):
        mat[i, :len(o)] = o
    mat[mat < 0] = np.nan
    steps = pd.to_numeric(ex.loc[[isinstance(o, list) and bool(o) for o in ex["order"]], "steps"],
                          errors="coerce").to_numpy(dtype=float)
    fallback = np.nanmax(mat, axis=1) + 1
    mat /= np.where(np.isfinite(steps) & (steps > 0), steps, fallback)[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-given columns give an empty mean
        return (np.nanmean(mat, axis=0), float(np.nanmean(mat[:, :n_latents])),
                float(np.nanmean(mat[:, n_latents:])))


def order_data(res: Results, main: pd.DataFrame, rows: list[dict]) -> list[dict]:
    """Return, per measured variant, the reveal-step curve and latent/observation means of each sampler."""
    out = []
    for r in rows:
        if r["variant"] is None or r["key"] is None:
            continue
        curves, n = {}, []
        for s in ordered(r["cells"], SAMPLER_ORDER):
            ex = main_examples(res, main[(main["variant"] == r["variant"]) & (main["sampler"] == s)])
            curves[s] = order_stats(ex, r["key"][0])
            n.append(len(ex))
        if any(c[0].size for c in curves.values()):
            out.append({"label": r["label"], "N": r["key"][0], "curves": curves,
                        "n": f"{min(n)}" if min(n) == max(n) else f"{min(n)}–{max(n)}"})
    return out


def order_markdown(scale: str, order: list[dict], samplers: list[str]) -> str:
    """Return the table of mean normalised reveal step, latents / observations, per variant and sampler."""
    if not order:
        return ""
    def pair(curves: dict, s: str) -> str:
        _, lat, obs = curves.get(s, (None, math.nan, math.nan))
        return f"{fmt_num(lat, 2)} / {fmt_num(obs, 2)}"

    table = [[v["label"]] + [pair(v["curves"], s) for s in samplers] for v in order]
    return ("Decoding order: mean reveal step as a fraction of the decode (order / steps), latents / "
            "observations; lower = revealed earlier.\n\n"
            + md_table(["(N, P)"] + [f"Ours {scale} · {s}" for s in samplers], table))


def main_examples(res: Results, configs: pd.DataFrame) -> pd.DataFrame:
    """Return the examples belonging to the given summary rows (CONFIG match)."""
    if configs.empty:
        return res.examples.iloc[0:0]
    keys = configs[CONFIG].drop_duplicates()
    return res.examples.merge(keys, on=CONFIG, how="inner")


def plot_table1(panels: list[dict], path: Path) -> None:
    """Write grouped bars per (N, P): paper vanilla/margin (light, hatched) vs ours (solid, ±SE), one
    panel per scale, dashed line at the 75% naive-guess rate."""
    fig = Figure(figsize=(12, 4.2 * len(panels)), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, p in zip(axes, panels):
        rows, samplers = p["rows"], p["samplers"]
        bars = [("paper", s) for s in ("vanilla", "margin")] + [("ours", s) for s in samplers]
        width, x = 0.8 / len(bars), np.arange(len(rows))
        for j, (who, s) in enumerate(bars):
            off = x - 0.4 + width * (j + 0.5)
            color = SAMPLER_COLORS.get(s, f"C{j}")
            if who == "paper":
                vals = [r["paper"].get(s, np.nan) for r in rows]
                ax.bar(off, vals, width, color=color, alpha=0.3, hatch="//", edgecolor=color,
                       label=f"Paper 19M · {s}")
                continue
            cells = [r["cells"].get(s) for r in rows]
            vals = [c["score"] if c is not None and c["n"] else np.nan for c in cells]
            errs = [c["score_se"] if c is not None and c["n"] else np.nan for c in cells]
            ax.bar(off, vals, width, yerr=errs, capsize=2, color=color, label=f"Ours {p['scale']} · {s}")
            for xo, v, r in zip(off, vals, rows):
                if np.isnan(v) and r["cells"]:  # partially run variant: mark the missing bar
                    ax.text(xo, 2, "not run", rotation=90, ha="center", va="bottom", fontsize=7, color="0.4")
        for xi, r in zip(x, rows):
            if not r["cells"]:
                ax.text(xi + 0.2, 3, "ours:\nnot run", ha="center", va="bottom", fontsize=8, color="0.35")
            if not r["paper"]:
                ax.text(xi - 0.2, 3, "not in\npaper", ha="center", va="bottom", fontsize=8, color="0.35")
        ax.axhline(ref.NAIVE_GUESS_LO, ls="--", color="k", lw=1, label="naive guess 75%")
        ax.set_xticks(x, [r["label"] for r in rows])
        ax.set_xlabel("(N, P)")
        ax.set_ylabel("observation accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(p["subtitle"], fontsize=9)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Table 1 · L&O-NAE-SAT: vanilla vs adaptive (top-prob. margin) decoding", fontsize=12)
    fig.savefig(path)


def plot_lo_order(panels: list[dict], path: Path) -> None:
    """Write the decoding-order figure: mean normalised reveal step across positions per sampler,
    one row per scale and one column per variant, latent positions shaded."""
    labels = {v["label"]: (v["N"], v["label"]) for p in panels for v in p["variants"]}
    cols = {label: j for j, label in enumerate(sorted(labels, key=labels.get))}
    fig = Figure(figsize=(3.6 * len(cols) + 0.4, 3.2 * len(panels) + 0.5), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(panels), len(cols), squeeze=False, sharey=True)
    for ax in axes.flat:
        ax.axis("off")
    for i, p in enumerate(panels):
        for v in p["variants"]:
            ax = axes[i, cols[v["label"]]]
            ax.axis("on")
            ax.axvspan(-0.5, v["N"] - 0.5, color="0.88", label="latent positions")
            for s, (curve, lat, obs) in v["curves"].items():
                if curve.size:
                    window = max(1, curve.size // 60)
                    smooth = pd.Series(curve).rolling(window, center=True, min_periods=1).mean()
                    ax.plot(smooth, color=SAMPLER_COLORS.get(s), lw=1.3, label=f"{s} ({lat:.2f} / {obs:.2f})")
            ax.set_ylim(0, 1)
            ax.set_xlabel("position")
            if cols[v["label"]] == 0:
                ax.set_ylabel("mean reveal step / steps")
            ax.set_title(f"{v['label']} · {p['scale']} · n={v['n']}", fontsize=9)
            ax.legend(fontsize=6.5, loc="lower right", title="sampler (latent / obs)", title_fontsize=6.5)
    fig.suptitle("L&O-NAE-SAT decoding order: mean reveal step per position (latents shaded; lower = earlier)"
                 " · " + "; ".join(f"{p['scale']}: commit {p['commit']}" for p in panels), fontsize=10)
    fig.savefig(path)


def render_table1(res: Results, out: Path) -> Rendered | None:
    """Return Table 1 (L&O-NAE-SAT) markdown for every scale found, writing table1.png and lo_order.png."""
    runs = res.runs[res.runs["task"] == LO_TASK]
    if runs.empty:
        return None
    lo = Results(runs, res.examples[res.examples["task"] == LO_TASK])
    summ = summarize(lo)
    defaults = default_decode_tags(summ)
    summ["main"] = [defaults[(s, v)] == t
                    for s, v, t in summ[["scale", "variant", "decode_tag"]].itertuples(index=False)]
    variants = lo_variants(runs)
    meta = ref.TABLES["table1"]
    md = [f"# {meta.name}", f"> Paper caption: *{meta.caption}*",
          f"Paper model: {meta.model}; metric: {meta.metric}. Notes: " + " ".join(meta.notes),
          "Main tables use, per variant, the default decode setting (the decode_tag run with the most "
          "samplers); every run is listed under *All runs*."]
    bar_panels, order_panels = [], []
    for scale in ordered(runs["scale"], SCALE_ORDER):
        scale_runs = runs[runs["scale"] == scale]
        main = summ[(summ["scale"] == scale) & summ["main"]]
        ex = lo.examples[lo.examples["scale"] == scale]
        samplers = ordered(["vanilla", "margin", *main["sampler"]], SAMPLER_ORDER)
        ours, commit = ours_label(scale, scale_runs), commits_label(scale_runs)
        md += [f"## Scale `{scale}`", stamp(scale, scale_runs)]
        protocols = ordered(variants[variants["scale"] == scale]["protocol"], ["unconditional"])
        for protocol in protocols:
            rows = table1_rows(scale, main, variants, protocol)
            order = order_data(lo, main, rows)
            md += [f"### Protocol: {protocol}" if len(protocols) > 1 else "",
                   table1_markdown(scale, rows, samplers, ours, protocol),
                   table1_verdict(scale, rows, ex, protocol), order_markdown(scale, order, samplers)]
            tag = "" if protocol == "unconditional" else f" · {protocol}"
            bar_panels.append({"scale": scale + tag, "rows": rows,
                               "samplers": ordered(main["sampler"], SAMPLER_ORDER),
                               "subtitle": f"{ours}{tag} · {cell_counts(rows)}/cell · commit {commit} | "
                                           f"Paper: {meta.model}"})
            if order:
                order_panels.append({"scale": scale + tag, "variants": order, "commit": commit})
    md += ["## All runs", all_runs_markdown(summ), "## Figures", "![Table 1 bars](table1.png)"]
    plot_table1(bar_panels, out / "table1.png")
    figures = ["table1.png"]
    if order_panels:
        plot_lo_order(order_panels, out / "lo_order.png")
        md.append("![Decoding order](lo_order.png)")
        figures.append("lo_order.png")
    return Rendered(meta.name, "\n\n".join(m for m in md if m) + "\n", figures)


def cell_counts(rows: list[dict]) -> str:
    """Return 'n=500' or 'n=120–500': the range of example counts over the measured cells."""
    n = sorted({int(c["n"]) for r in rows for c in r["cells"].values()})
    if not n:
        return "n=0"
    return f"n={n[0]}" if len(n) == 1 else f"n={n[0]}–{n[-1]}"


def all_runs_markdown(summ: pd.DataFrame) -> str:
    """Return the "All runs" table: every configuration, seeds pooled, marked if in the main table."""
    rows = [[r.scale, r.variant, r.sampler, r.decode_tag, r.seeds,
             f"{r.n}" + ("" if pd.isna(r.n_planned) else f"/{int(r.n_planned)}"),
             fmt_num(r.score) + ("" if math.isnan(r.score_se) else f" ± {r.score_se:.1f}"),
             fmt_num(r.correct), fmt_num(r.nfe), fmt_num(r.seconds, 3), "✓" if r.main else ""]
            for r in summ.sort_values(["scale", "variant", "decode_tag", "sampler"]).itertuples()]
    return md_table(["scale", "variant", "sampler", "decode_tag", "seed(s)", "n", "score %", "correct %",
                     "mean nfe", "s/example", "in main table"], rows)


# ------------------------------------------------------------------------------------------- registry

def lazy(module: str, name: str) -> Callable[[Results, Path], Rendered | None]:
    """Return a renderer that imports ``module.name`` when first called (the modules import this one)."""
    def render(res: Results, out: Path) -> Rendered | None:
        return getattr(importlib.import_module(module), name)(res, out)
    render.__name__ = name
    return render


RENDERERS: dict[str, Callable[[Results, Path], Rendered | None]] = {
    "table1": render_table1,
    "table2": lazy("harness.report_puzzles", "render_table2"),
    "table3": lazy("harness.report_puzzles", "render_table3"),
    "table4": render_table4,
    "table5": lazy("harness.report_puzzles", "render_table5"),
    "figure2_isoflop": lazy("harness.report_isoflop", "render_isoflop"),
    "figure2_text": lazy("harness.report_pi_order", "render_pi_order"),
    "figure2_lo": lazy("harness.report_lo_imbalance", "render_lo_imbalance"),
    "figure3": lazy("harness.report_genppl", "render_genppl"),
}
"""Report name -> renderer, in the order of reports/index.md; a new table is one function plus one line here."""

REPORT_TASKS = {
    "table1": ["lo_nae_sat"], "table2": ["sudoku"], "table3": ["zebra"],
    "table4": ["humaneval_single", "humaneval_multi", "humaneval_split", "math", "mmlu", "rocstories"],
    "table5": ["sudoku_hard"], "figure2_isoflop": ["isoflop"], "figure2_text": ["pi_order"],
    "figure2_lo": ["lo_imbalance"], "figure3": ["genppl"],
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


def write_index(out: Path, results_dir: str, res: Results, rendered: dict[str, Rendered]) -> Path:
    """Write reports/index.md: an overview of every table and figure (paper source, scales, sample counts,
    commits, hardware) and then each rendered report in full, paper beside ours; return its path."""
    lines = ["# tokenorder reports: Kim et al. (ICML 2025) reproduced", ""]
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
    args = parser.parse_args(argv)
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
    index = write_index(out, args.results, res, rendered)
    print(f"wrote {index} ({', '.join(rendered) or 'no tables'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
