"""Figure 2 (top right): the pi-ordered validation loss of a text MDM, beside the paper's inline table.

Rendered from results JSONL only (``task == "pi_order"``, one file per order family; see
:mod:`harness.figure.pi_order`). Every family scores the same validation windows, so the differences
between families are paired: their standard errors come from per-window differences.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.report.common import Rendered, SCALE_ORDER, commits_label, md_table, ordered, stamp, text_learning_markdown
from harness.report import reference as ref

TASK = "pi_order"
FAMILY_ORDER = ["identity", "much_closer", "closer", "uniform"]
FAMILY_LABELS = {"identity": "pi = id", "much_closer": "pi ~ Much-closer (sqrt(L) swaps)",
                 "closer": "pi ~ Closer (L/10 swaps)", "uniform": "pi ~ Unif(S_L)"}
COLORS = {"identity": "#DD8452", "much_closer": "#8172B3", "closer": "#55A868", "uniform": "#4C72B0"}
DPI = 150


def per_window(ex: pd.DataFrame) -> pd.DataFrame:
    """Return a windows x families table of per-token loss (rows: window id)."""
    return ex.pivot_table(index="id", columns="family", values="loss", aggfunc="first")


def family_rows(ex: pd.DataFrame) -> list[dict]:
    """Return per family: mean loss, SE, n, paired difference to the identity (mean, SE, n)."""
    wide = per_window(ex)
    out = []
    for fam in [f for f in FAMILY_ORDER if f in wide] + sorted(set(wide) - set(FAMILY_ORDER)):
        v = wide[fam].dropna()
        row = {"family": fam, "mean": v.mean(), "se": v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else math.nan,
               "n": len(v), "diff": math.nan, "diff_se": math.nan}
        if "identity" in wide and fam != "identity":
            d = (wide[fam] - wide["identity"]).dropna()
            if len(d):
                row.update(diff=d.mean(), diff_se=d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else math.nan)
        out.append(row)
    return out


def verdict(rows: list[dict]) -> str:
    """Return whether identity < closer < uniform holds, each step by more than three paired standard errors."""
    by = {r["family"]: r for r in rows}
    chain = [f for f in ["identity", "much_closer", "closer", "uniform"] if f in by]
    if len(chain) < 2:
        return "Too few families to compare."
    ok, parts = True, []
    for a, b in zip(chain, chain[1:]):
        da, db = by[a], by[b]
        holds = db["mean"] > da["mean"]
        parts.append(f"{a} {'<' if holds else '>='} {b} ({da['mean']:.3f} vs {db['mean']:.3f})")
        ok &= holds
    strict = all(not math.isnan(by[f]["diff_se"]) and by[f]["diff"] > 3 * by[f]["diff_se"]
                 for f in chain if f != "identity")
    head = ("**holds**" if ok else "**does not hold**") + " (paper: id 3.171 < Closer 3.212 < Unif 3.245)"
    tail = ("; every family is above the identity by more than three paired standard errors" if strict
            else "; not every gap to the identity exceeds three paired standard errors")
    return f"The paper's ordering {head}: " + ", ".join(parts) + (tail if ok else "") + "."


def plot(scale: str, ex: pd.DataFrame, rows: list[dict], commit: str, model: str, path: Path) -> None:
    """Draw each family's loss minus the identity's (ours with paired SE, the paper's beside) and the
    per-step loss profile."""
    fig = Figure(figsize=(11, 4.2))
    ax1, ax2 = fig.subplots(1, 2)
    fams = [r["family"] for r in rows]
    xs = np.arange(len(fams))
    ours = [0.0 if r["family"] == "identity" else r["diff"] for r in rows]
    err = [0.0 if math.isnan(r["diff_se"]) else r["diff_se"] for r in rows]
    base = ref.FIGURE2_TEXT_VAL_LOSS["identity"]
    paper = [ref.FIGURE2_TEXT_VAL_LOSS[f] - base if f in ref.FIGURE2_TEXT_VAL_LOSS else np.nan for f in fams]
    ax1.bar(xs - 0.2, ours, 0.4, yerr=err, capsize=3, color=[COLORS.get(f, "gray") for f in fams],
            label=f"ours ({scale}), ± paired SE")
    ax1.bar(xs + 0.2, paper, 0.4, color="none", edgecolor="black", hatch="//", label="paper (170M MDM)")
    ax1.axhline(0, color="black", lw=0.6)
    ax1.set_xticks(xs, [f.replace("_", "-") for f in fams])
    ax1.set_ylabel("loss minus the identity order's (nats/token)")
    ax1.set_title("pi-ordered validation loss, relative to pi = id", fontsize=10)
    ax1.legend(fontsize=8, loc="upper left")
    for fam in fams:
        prof = np.array([p for p in ex.loc[ex["family"] == fam, "profile"] if isinstance(p, list)], dtype=float)
        if len(prof):
            k = prof.shape[1]
            ax2.plot((np.arange(k) + 0.5) / k, prof.mean(0), marker="o", color=COLORS.get(fam, "gray"),
                     label=FAMILY_LABELS.get(fam, fam))
    ax2.set_xlabel("fraction of the sequence already revealed (step bucket)")
    ax2.set_ylabel("mean loss of the revealed token (nats)")
    ax2.set_title("loss per decoding step (ours)", fontsize=10)
    ax2.legend(fontsize=7)
    fig.suptitle(f"Figure 2 (top right), scale {scale}: pi-ordered loss of {model} · commit {commit}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)


def render_pi_order(res, out: Path):
    """Return the Rendered Figure 2 (top right) report, or None when there are no pi-order results."""

    runs = res.runs[res.runs["task"] == TASK]
    if runs.empty:
        return None
    meta = ref.TABLES["figure2_text"]
    md = [f"# {meta.name}", "", f"> Paper: *{meta.caption}* ({meta.source}); model: {meta.model}; metric: "
          f"{meta.metric}.", ""]
    md += [f"- {n}" for n in meta.notes] + [""]
    md.append("Ours: the same chain rule, exact (L forwards per sequence), on the same validation windows for "
              "every family (one fresh order per window), so family differences are paired. We add the "
              "much-closer family (sqrt(L) swaps). Small scale scores our small prose MDM on held-out Tiny "
              "Shakespeare: **not** the paper's model, data or sequence length, so only the ordering is "
              "comparable, not the values.")
    figures = []
    for scale in ordered(runs["scale"].unique(), SCALE_ORDER):
        srun = runs[runs["scale"] == scale]
        ex = res.examples[res.examples["file"].isin(srun["file"])]
        if ex.empty:
            continue
        rows = family_rows(ex)
        model = ", ".join(sorted(srun["variant"].astype(str).unique()))
        length = ", ".join(sorted({str(int(float(v))) for v in
                                   srun.get("figure_info.length", pd.Series(dtype=object)).dropna()}))
        md += ["", f"## Scale `{scale}`", "", stamp(scale, srun), "",
               f"Model `{model}`; window length {length or '?'} tokens."]
        table = []
        for r in rows:
            paper = ref.FIGURE2_TEXT_VAL_LOSS.get(r["family"])
            diff = ("—" if math.isnan(r["diff"]) else
                    f"{r['diff']:+.4f}" + ("" if math.isnan(r["diff_se"]) else f" ± {r['diff_se']:.4f}"))
            table.append([FAMILY_LABELS.get(r["family"], r["family"]), "—" if paper is None else f"{paper:.3f}",
                          f"{r['mean']:.4f} ± {r['se']:.4f}", str(r["n"]), diff])
        check, learned = text_learning_markdown(srun)
        caveat = " (**not a result**: the model has not learned enough context, see the learning check)" \
            if learned is False else ""
        md += ["", check, "", md_table(["Order family", "Paper (170M MDM)", f"Ours {scale} (nats/token)", "n",
                                        "Ours minus identity (paired)"], table), "",
               f"**Verdict ({scale}){caveat}.** " + verdict(rows)]
        name = f"fig2_pi_order_{scale}.png"
        plot(scale, ex, rows, commits_label(srun), model, out / name)
        figures.append(name)
        md += ["", f"![pi-ordered loss, {scale}]({name})"]
    return Rendered(meta.name, "\n".join(md) + "\n", figures)
