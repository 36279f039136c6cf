"""Table 1 (L&O-NAE-SAT): per (N, P) setting and sampler the fraction of observation clauses
satisfied, the learning check (O|L) beside it, paired verdicts against vanilla, and the order in which
latents were revealed."""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # object API: no pyplot, no global backend state (renders via Agg)

from harness.report import reference as ref
from harness.report.common import (CONFIG, DPI, Rendered, Results, SAMPLER_COLORS, SAMPLER_ORDER, SCALE_ORDER,
                                   SIGNIFICANT_SE, all_runs_markdown, commits_label, default_decode_tags, fmt_cell,
                                   fmt_num, learning_checks, learning_curve_markdown, md_table, ordered, ours_label, paired, sig_word, stamp,
                                   summarize)


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
        unconditional = variants[(variants["scale"] == scale) & (variants["protocol"] == "unconditional")]
        for v in unconditional["variant"]:                                 # one MDM per (N, P), both protocols
            md.append(learning_curve_markdown(scale_runs[scale_runs["variant"] == v], f"the `{v}` MDM"))
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
