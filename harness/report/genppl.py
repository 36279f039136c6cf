"""Figure 3, generative perplexity: GenPPL and unigram entropy of unconditional MDM samples against the number
of sampling steps, vanilla vs margin + Gaussian noise, beside the held-out-text reference.

Rendered from results JSONL only (no torch, no models). Per scale: one figure ``fig3_genppl_<scale>.png``
(left: GenPPL, log-x steps; right: mean unigram entropy), one line per (sampler, σ), the held-out text as a
dashed horizontal line with its ± SE band; a table of GenPPL ± SE and entropy ± SE per (sampler, σ, steps);
and a verdict computed from the numbers.

GenPPL = exp(total judge NLL / total scored tokens) over a configuration's samples (:mod:`harness.figure.genppl_score`).
Its standard error is a bootstrap over samples (``BOOTSTRAP`` resamples with a fixed seed: resample the
samples, recompute the pooled GenPPL, take the standard deviation). Entropy's standard error is the sample
standard deviation over sqrt(n).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # object API, as in the other renderers

from harness.report import common as R
from harness.report.common import md_table
from harness.report import reference as ref

TASK = "genppl"
BOOTSTRAP = 1000
ENTROPY_KEEP = 0.97
"""'Keeps the entropy' = mean entropy at least this fraction of vanilla's at the same steps."""
ENTROPY_COLLAPSE = 0.9
"""'Entropy collapses' = mean entropy below this fraction of the held-out text's (vanilla's if no reference)."""
FAR_FROM_DATA = 5.0
"""Samples count as 'far from real text' when their best GenPPL exceeds this multiple of the held-out text's."""
DPI = 150
VANILLA_COLOR = "#DD8452"
SCALE_NOTES = {
    "smoke": "smoke run: tiny models trained for seconds, a plumbing check only; **not** the paper's models",
    "small": "our small prose MDM and a larger autoregressive judge, both trained on CPU on 90% of Tiny "
             "Shakespeare; **not** the paper's 170M/1.1B MDM or its LLaMA judge, and the numbers are not the "
             "paper's",
    "paper": "a pretrained text MDM and a LLaMA-style judge from paths (the paper's setting)",
}


# ------------------------------------------------------------------------------------------ aggregation

def bootstrap_ppl_se(nll: np.ndarray, cnt: np.ndarray, reps: int = BOOTSTRAP, seed: int = 0) -> float:
    """Return the bootstrap standard error of exp(sum nll / sum cnt) over resampled samples (NaN if n < 2)."""
    n = len(nll)
    if n < 2:
        return math.nan
    idx = np.random.default_rng([seed, n]).integers(0, n, size=(reps, n))
    tot = cnt[idx].sum(1)
    ppl = np.exp(nll[idx].sum(1) / np.where(tot > 0, tot, np.nan))
    return float(np.nanstd(ppl, ddof=1))


def summarize_group(ex: pd.DataFrame) -> dict:
    """Return GenPPL ± bootstrap SE, entropy mean ± SE, NLL per token, n, NFE and seconds of one group."""
    nll = pd.to_numeric(ex["nll"], errors="coerce").to_numpy(float)
    cnt = pd.to_numeric(ex["judge_tokens"], errors="coerce").to_numpy(float)
    ent = pd.to_numeric(ex["entropy"], errors="coerce").to_numpy(float)
    ok = np.isfinite(nll) & np.isfinite(cnt)
    nll, cnt = nll[ok], cnt[ok]
    total = cnt.sum()
    n = len(ex)
    return {"n": n, "genppl": math.exp(nll.sum() / total) if total > 0 else math.nan,
            "genppl_se": bootstrap_ppl_se(nll, cnt), "nll_tok": nll.sum() / total if total > 0 else math.nan,
            "entropy": float(np.nanmean(ent)) if n else math.nan,
            "entropy_se": float(np.nanstd(ent, ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
            "nfe": float(pd.to_numeric(ex.get("nfe"), errors="coerce").mean()) if "nfe" in ex else math.nan,
            "seconds": float(pd.to_numeric(ex.get("seconds"), errors="coerce").mean()) if "seconds" in ex else math.nan}


def _sigma(runs: pd.DataFrame, name: str) -> float:
    row = runs[runs["sampler"] == name]
    col = "figure_info.sigma"
    return float(pd.to_numeric(row[col], errors="coerce").iloc[0]) if col in row and len(row) else math.nan


def _base(runs: pd.DataFrame, name: str) -> str:
    row = runs[runs["sampler"] == name]
    col = "figure_info.sampler"
    return str(row[col].iloc[0]) if col in row and len(row) and pd.notna(row[col].iloc[0]) else name


def config_label(base: str, sigma: float) -> str:
    """Return the display name of a (sampler, σ) pair."""
    if base == "vanilla":
        return "vanilla"
    return f"{base} (σ=0, no noise)" if sigma == 0 else f"{base} + N(0, {sigma:g}²)"


def scale_table(runs: pd.DataFrame, ex: pd.DataFrame) -> tuple[pd.DataFrame, dict | None]:
    """Return (one row per (config, steps) with the group summary, the held-out reference summary or None)."""
    rows = []
    samples = ex[ex["variant"] == "samples"]
    for name, grp in samples.groupby("sampler"):
        base, sigma = _base(runs, name), _sigma(runs, name)
        for steps, g in grp.groupby(pd.to_numeric(grp["steps"], errors="coerce")):
            rows.append({"config": name, "base": base, "sigma": sigma, "label": config_label(base, sigma),
                         "steps": int(steps), **summarize_group(g)})
    table = pd.DataFrame(rows)
    if not table.empty:
        table["order"] = (table["base"] != "vanilla").astype(int)
        table = table.sort_values(["order", "base", "sigma", "steps"]).drop(columns="order").reset_index(drop=True)
    data = ex[ex["variant"] == "data"]
    return table, (summarize_group(data) if len(data) else None)


# ---------------------------------------------------------------------------------------------- verdict

def verdict(scale: str, table: pd.DataFrame, data: dict | None) -> str:
    """Return the verdict paragraph: per σ, at how many step counts margin's GenPPL is lower than vanilla's by
    more than 3 combined SEs while its entropy stays >= ENTROPY_KEEP of vanilla's; entropy collapse flagged."""
    van = table[table["base"] == "vanilla"].set_index("steps")
    if van.empty or (table["base"] != "vanilla").sum() == 0:
        return f"**Verdict ({scale}).** Nothing to compare yet (needs vanilla and margin samples)."
    ent_ref = data["entropy"] if data else None
    parts, holding = [], []
    for cfg, grp in table[table["base"] != "vanilla"].groupby("config", sort=False):
        g = grp.set_index("steps")
        common = sorted(set(g.index) & set(van.index))
        if not common:
            continue
        lower = keeps = both = direction = 0
        for s in common:
            m, v = g.loc[s], van.loc[s]
            se = math.sqrt(np.nansum([m["genppl_se"] ** 2, v["genppl_se"] ** 2]))
            direction += m["genppl"] < v["genppl"]
            is_lower = (v["genppl"] - m["genppl"]) > 3 * se
            is_kept = m["entropy"] >= ENTROPY_KEEP * v["entropy"]
            lower += is_lower
            keeps += is_kept
            both += is_lower and is_kept
        ends = " and ".join(f"at {s} steps GenPPL {g.loc[s, 'genppl']:.1f} vs {van.loc[s, 'genppl']:.1f}, entropy "
                            f"{g.loc[s, 'entropy']:.2f} vs {van.loc[s, 'entropy']:.2f} nats"
                            for s in dict.fromkeys([common[0], common[-1]]))
        text = (f"{grp['label'].iloc[0]}: GenPPL lower than vanilla's by > 3 SE at {lower}/{len(common)} step "
                f"counts (lower at all at {direction}/{len(common)}), entropy kept (≥ {ENTROPY_KEEP:.0%} of "
                f"vanilla's) at {keeps}/{len(common)}, both at {both}/{len(common)}; {ends}")
        floor = ent_ref if ent_ref is not None else v["entropy"]
        if float(grp["entropy"].min()) < ENTROPY_COLLAPSE * floor:
            text += (f"; **entropy collapses** (down to {float(grp['entropy'].min()):.2f} nats against "
                     f"{floor:.2f} for {'held-out text' if ent_ref is not None else 'vanilla'}): low GenPPL here "
                     f"comes from repetitive text, not better text")
        parts.append(text + ".")
        if both > len(common) / 2:
            holding.append(grp["label"].iloc[0])
    claim = ("adaptive (margin + Gaussian noise) decoding lowers GenPPL while keeping the entropy, at most of the "
             "step counts run")
    if holding:
        head = f"The paper's claim ({claim}) holds at this scale for {', '.join(holding)}."
    else:
        head = (f"The paper's claim ({claim}) does **not** hold at this scale for any σ run: either margin's "
                f"GenPPL is not clearly lower, or it is lower only at the cost of entropy.")
    ref_line = (f" Held-out real text: GenPPL {data['genppl']:.1f} ± {data['genppl_se']:.1f}, entropy "
                f"{data['entropy']:.2f} nats (n={data['n']})." if data else "")
    best = float(table["genppl"].min())
    if data and best > FAR_FROM_DATA * data["genppl"]:
        ref_line += (f" Every configuration's samples are far from real text under the judge (best GenPPL {best:.1f}, "
                     f"{best / data['genppl']:.0f}x the held-out text's)"
                     + ("; the ordering above is measured on poor text." if holding else
                        ". The likely reason the claim is not seen: an MDM this weak has certainty scores that "
                        "barely tell good orders from bad ones, so this scale tests the claim only weakly (the "
                        "paper's MDM has 170M or 1.1B parameters)."))
    return f"**Verdict ({scale}).** {head} " + " ".join(parts) + ref_line


# ---------------------------------------------------------------------------------------------- drawing

def _fmt(x: float, se: float, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.{digits}f}" + ("" if se is None or math.isnan(se) else f" ± {se:.{digits}f}")


def _colors(table: pd.DataFrame) -> dict[str, str]:
    from matplotlib import colormaps
    base = table.drop_duplicates("config").set_index("config")["base"]
    margins = [c for c in base.index if base[c] != "vanilla"]
    cmap = colormaps["Blues"]
    out = {c: cmap(0.45 + 0.5 * i / max(1, len(margins) - 1)) for i, c in enumerate(margins)}
    out.update({c: VANILLA_COLOR for c in table["config"].unique() if c not in out})
    return out


def model_desc(runs: pd.DataFrame, key: str) -> str:
    """Return a short description of the MDM (``key="mdm"``) or judge from the run headers."""
    def first(col):
        c = f"figure_info.{key}.{col}"
        vals = runs[c].dropna() if c in runs else pd.Series(dtype=object)
        return vals.iloc[0] if len(vals) else None
    params, iters, path = first("params"), first("iters"), first("path")
    if params:
        text = f"ours, {float(params) / 1e6:.2f}M params"
        if iters:
            text += f", {int(iters)} iters"
        held = first("heldout_loss")
        if held is not None and not pd.isna(held):
            text += f", held-out loss {float(held):.2f}"
        return text
    return Path(str(path)).name if path else "unknown"


def plot_scale(scale: str, table: pd.DataFrame, data: dict | None, title_note: str, path: Path) -> None:
    """Write the two-panel figure of one scale: GenPPL (log-x steps) and mean unigram entropy vs steps."""
    fig = Figure(figsize=(11, 4.6), dpi=DPI, layout="constrained")
    ax_p, ax_e = fig.subplots(1, 2)
    colors = _colors(table)
    for cfg, g in table.groupby("config", sort=False):
        g = g.sort_values("steps")
        style = dict(color=colors[cfg], marker="o", ms=4, capsize=2, label=f"{g['label'].iloc[0]}")
        ax_p.errorbar(g["steps"], g["genppl"], yerr=g["genppl_se"].fillna(0), **style)
        ax_e.errorbar(g["steps"], g["entropy"], yerr=g["entropy_se"].fillna(0), **style)
    if data:
        for ax, k in ((ax_p, "genppl"), (ax_e, "entropy")):
            v, se = data[k], data[f"{k}_se"]
            ax.axhline(v, color="0.2", ls="--", lw=1, label=f"held-out text (n={data['n']})")
            if not math.isnan(se):
                ax.axhspan(v - se, v + se, color="0.5", alpha=0.15, lw=0)
    for ax, ylab in ((ax_p, "GenPPL under the judge (pooled, ± bootstrap SE)"),
                     (ax_e, "unigram entropy of a sample (nats, mean ± SE)")):
        ax.set_xscale("log", base=2)
        steps = sorted(table["steps"].unique())
        ax.set_xticks(steps, [str(s) for s in steps])
        ax.set_xlabel("sampling steps")
        ax.set_ylabel(ylab)
        ax.grid(alpha=0.3)
    vals = pd.concat([table["genppl"], pd.Series([data["genppl"]] if data else [], dtype=float)]).dropna()
    if len(vals) and vals.max() / max(vals.min(), 1e-9) > 5:
        ax_p.set_yscale("log")
    ax_e.legend(fontsize=7.5, loc="best")
    ax_p.set_title("generative perplexity (lower = judged more likely)", fontsize=9)
    ax_e.set_title("unigram entropy (lower = more repetitive)", fontsize=9)
    fig.suptitle(f"Figure 3 · generative perplexity · scale {scale}\n{title_note}", fontsize=9.5)
    fig.savefig(path)


def markdown_table(table: pd.DataFrame, data: dict | None) -> str:
    """Return the per-(sampler, σ, steps) table, the held-out reference as its last row."""
    rows = [[r.label, "—" if r.base == "vanilla" else f"{r.sigma:g}", r.steps, _fmt(r.genppl, r.genppl_se),
             _fmt(r.entropy, r.entropy_se, 3), r.n, _fmt(r.nll_tok, math.nan, 3), _fmt(r.nfe, math.nan, 0),
             _fmt(r.seconds, math.nan, 3)] for r in table.itertuples()]
    if data:
        rows.append(["held-out text", "—", "—", _fmt(data["genppl"], data["genppl_se"]),
                     _fmt(data["entropy"], data["entropy_se"], 3), data["n"], _fmt(data["nll_tok"], math.nan, 3),
                     "—", "—"])
    return md_table(["Sampler", "σ", "Steps", "GenPPL ± SE", "Entropy (nats) ± SE", "n", "NLL/token", "NFE",
                     "s/sample"], rows)


def excerpts(runs: pd.DataFrame, ex: pd.DataFrame, table: pd.DataFrame, chars: int = 160) -> str:
    """Return a table of sample excerpts: per configuration, the lowest-index sample at its largest steps
    count (newlines shown as ⏎). Held-out windows are not shown: their records keep no text (the data stays
    in the data directory)."""
    if "text" not in ex or table.empty:
        return ""

    def clip(t) -> str:
        t = str(t)[:chars].replace("\n", "⏎").replace("|", "\\|")
        return f"`{t}`" if "`" not in t else t

    rows = []
    for cfg, g in table.groupby("config", sort=False):
        steps = int(g["steps"].max())
        e = ex[(ex["variant"] == "samples") & (ex["sampler"] == cfg) & (pd.to_numeric(ex["steps"]) == steps)]
        if len(e):
            first = e.sort_values("index" if "index" in e else "id").iloc[0]
            rows.append([g["label"].iloc[0], steps, clip(first["text"])])
    return (f"Sample excerpts (first {chars} characters of sample 0 at each configuration's largest steps count):\n\n"
            + md_table(["Sampler", "Steps", "Text"], rows))


# ------------------------------------------------------------------------------------------------ render

def render_genppl(res, out: Path):
    """Return Figure 3 for every scale with genppl results, writing ``fig3_genppl_<scale>.png``; None when
    there are none."""
    runs = res.runs[res.runs["task"] == TASK]
    if runs.empty:
        return None
    ex_all = res.examples[res.examples["task"] == TASK]
    meta = ref.TABLES["figure3"]
    md = [f"# {meta.name}", f"> Paper caption: *{meta.caption}*",
          f"Paper model: {meta.model}. Metric: {meta.metric}. Source: {meta.source}.",
          "Gaps between the paper and what can be compared: the paper prints **no numbers** for this figure (a "
          "plot only), so there is no paper value to put beside ours, only the qualitative claim; the MDM is "
          "170M in the caption but 1.1B in App. D.1.2; the judge is \"LLaMA-7B\" in the caption, Llama-2-7B in "
          "the appendix; the σ of the Gaussian noise on the margin is not given (we sweep it, σ = 0 being plain "
          "margin); the x-axis being the number of sampling steps is inferred. Tokens per step: gen_len // "
          "steps (the paper's K for the linear schedule); token values sampled at temperature 1.",
          f"Statistics: GenPPL = exp(total judge NLL / total scored tokens) over a configuration's samples, ± "
          f"a bootstrap standard error ({BOOTSTRAP} resamples of the samples); entropy = mean per-sample unigram "
          f"entropy −Σ p_i log p_i on the MDM's token ids, ± sample SD/√n. The judge scores every re-tokenised "
          f"token of a sample given BOS (see harness/figure/genppl_score.py)."]
    figures = []
    for scale in R.ordered(runs["scale"], R.SCALE_ORDER):
        sr = runs[runs["scale"] == scale]
        ex = ex_all[ex_all["scale"] == scale]
        table, data = scale_table(sr, ex)
        md.append(f"## Scale `{scale}`: {SCALE_NOTES.get(scale, 'our run')}")
        md.append(R.stamp(scale, sr))
        gen_len = sorted({int(v) for v in pd.to_numeric(sr.get("figure_info.gen_len"), errors="coerce").dropna()})
        md.append(f"MDM: {model_desc(sr, 'mdm')} · judge: {model_desc(sr, 'judge')} · sample length "
                  f"{'/'.join(map(str, gen_len)) or '?'} tokens · samples per cell: see n.")
        if table.empty:
            md.append("_No samples recorded yet at this scale._")
            continue
        check, learned = R.text_learning_markdown(sr)
        md.append(check)
        md.append(markdown_table(table, data))
        v = verdict(scale, table, data)
        if learned is False:
            v = v.replace(f"**Verdict ({scale}).**", f"**Verdict ({scale}), not a result** (the MDM has not learned "
                                                     f"enough context):", 1)
        md.append(v)
        md.append(excerpts(sr, ex, table))
        if scale != "paper":
            md.append(f"Caution: scale `{scale}` numbers come from small models trained here; they are not the "
                      f"paper's numbers and only test whether the paper's ordering reproduces at this size.")
        name = f"fig3_genppl_{scale}.png"
        note = (f"MDM: {model_desc(sr, 'mdm')} · judge: {model_desc(sr, 'judge')} · commit {R.commits_label(sr)}")
        plot_scale(scale, table, data, note, out / name)
        md.append(f"![Figure 3 · scale {scale}]({name})")
        figures.append(name)
    return R.Rendered(meta.name, "\n\n".join(m for m in md if m) + "\n", figures)
