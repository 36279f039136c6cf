"""Figure 2 (left): IsoFLOP curves of pi-learners, rendered from results JSONL only (``task == "isoflop"``,
written by :mod:`harness.figure.isoflop`; no torch, no models).

Per scale (and corpus), the point of a learner at a budget is its smallest validation loss over model sizes,
as in the paper's IsoFLOP analysis. The figure draws log FLOPs against that loss: the ARM in orange, the MDM
in blue, each random permutation family in its own colour with one thin line per permutation and the family
mean in bold. The markdown gives the best-loss table, the family means, the ordering check against the
paper's claims, and the per-size losses as a supplement.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from harness.report import common as R
from harness.report.common import md_table
from harness.report import reference as ref

TASK = "isoflop"
REPORT = "figure2_isoflop"
FAMILIES = ["much_closer", "closer", "uniform"]
FAMILY_LABELS = {"identity": "ARM (pi = id)", "much_closer": "pi-learner, much-closer (sqrt(L) swaps)",
                 "closer": "pi-learner, closer (L/10 swaps)", "uniform": "pi-learner, uniform pi",
                 "mdm": "MDM (ELBO)"}
COLORS = {"identity": "#DD8452", "mdm": "#4C72B0", "much_closer": "#55A868", "closer": "#8172B3",
          "uniform": "#C44E52"}
NEAR = 0.75
"""The MDM counts as "near the uniform pi-learners" when it sits at least this far from the ARM towards the
uniform family mean (position r = (MDM - ARM) / (uniform - ARM) >= NEAR; r > 1 means worse than uniform)."""
UNIGRAM_MARGIN = 0.05
"""A best point within this many nats of the unigram (context-free) loss has learned nothing beyond frequencies."""
DPI = 150
SCALE_NOTES = {
    "smoke": "a wiring check: models of a few thousand parameters trained for a handful of steps",
    "small": "a character-level text on a 2-core CPU: tiny models and budgets (ranges below), far below the paper",
    "paper": "SlimPajama, L = 2048, SMDM's model grid on a GPU: the paper's setting",
}


# ------------------------------------------------------------------------------------------------ tables


def records(ex: pd.DataFrame) -> pd.DataFrame:
    """Return the sweep records with numeric columns and a ``family`` for every learner (ARM: identity)."""
    df = ex.copy()
    for col in ["budget", "flops", "n_params", "iters", "val_loss", "val_se", "val_mc_se",
                "perm_distance.kendall_frac", "perm_distance.cayley", "n_swaps"]:
        df[col] = R.numeric(df, col)
    df["family"] = df["family"].fillna("mdm") if "family" in df else "mdm"
    return df


def learner_order(learners) -> list[str]:
    """Return learners in display order: arm, the families by name then permutation index, mdm."""
    def key(name: str):
        fam, _, idx = name.rpartition("_")
        if name == "arm":
            return (0, "", 0)
        if name == "mdm":
            return (9, "", 0)
        rank = FAMILIES.index(fam) + 1 if fam in FAMILIES else 8
        return (rank, fam, int(idx) if idx.isdigit() else 0)
    return sorted(set(learners), key=key)


def best_points(df: pd.DataFrame) -> pd.DataFrame:
    """Return one row per (learner, budget): the run with the smallest validation loss over sizes."""
    df = df.dropna(subset=["val_loss"])
    if df.empty:
        return df
    idx = df.groupby(["learner", "budget"])["val_loss"].idxmin()
    return df.loc[idx.values].sort_values(["learner", "budget"]).reset_index(drop=True)


def family_means(best: pd.DataFrame) -> pd.DataFrame:
    """Return per (family, budget): mean best loss over the family's permutations, their spread and count."""
    g = best.groupby(["family", "budget"])["val_loss"]
    out = pd.DataFrame({"mean": g.mean(), "min": g.min(), "max": g.max(), "n": g.size()}).reset_index()
    return out


def ordering(best: pd.DataFrame, means: pd.DataFrame, distance: dict[str, float]) -> list[dict]:
    """Return one dict per budget with the paper's three checks: ARM best of all learners, uniform family the
    worst pi-learner family, families ordered by distance from the identity, and the MDM's position
    r = (MDM - ARM) / (uniform mean - ARM)."""
    rows = []
    for budget, grp in best.groupby("budget"):
        fm = means[means["budget"] == budget].set_index("family")["mean"]
        arm = grp.loc[grp["learner"] == "arm", "val_loss"]
        mdm = grp.loc[grp["learner"] == "mdm", "val_loss"]
        others = grp.loc[grp["learner"] != "arm", "val_loss"]
        row = {"budget": budget, "arm": float(arm.iloc[0]) if len(arm) else math.nan,
               "mdm": float(mdm.iloc[0]) if len(mdm) else math.nan,
               **{f: float(fm[f]) if f in fm else math.nan for f in FAMILIES}}
        row["arm_best"] = bool(len(arm) and len(others) and arm.iloc[0] < others.min())
        fams = [f for f in FAMILIES if f in fm]
        row["uniform_worst"] = bool("uniform" in fm and len(fams) > 1
                                    and all(fm["uniform"] > fm[f] for f in fams if f != "uniform"))
        by_dist = sorted(fams, key=lambda f: distance.get(f, math.inf))
        chain = [row["arm"]] + [fm[f] for f in by_dist]
        row["distance_order"] = by_dist
        row["monotone"] = bool(len(chain) > 2 and all(a < b for a, b in zip(chain, chain[1:])))
        gap = row["uniform"] - row["arm"]
        row["mdm_r"] = (row["mdm"] - row["arm"]) / gap if gap and not math.isnan(gap) and gap > 0 else math.nan
        rows.append(row)
    return rows


def _fmt(x, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _budget_label(b: float) -> str:
    return f"{b:.2g}"


def best_table(best: pd.DataFrame, budgets: list[float]) -> str:
    """Return the markdown table of best validation loss (and the size that achieved it) per learner x budget."""
    rows = []
    for learner in learner_order(best["learner"]):
        cells = []
        for b in budgets:
            r = best[(best["learner"] == learner) & (best["budget"] == b)]
            if r.empty:
                cells.append("–")
                continue
            r = r.iloc[0]
            se = r["val_mc_se"] if learner == "mdm" else math.nan
            cells.append(f"{r['val_loss']:.3f}" + (f" ± {se:.3f}" if not math.isnan(se) else "") + f" ({r['size']})")
        rows.append([learner, *cells])
    return md_table(["learner", *[f"C = {_budget_label(b)}" for b in budgets]], rows)


def means_table(means: pd.DataFrame, best: pd.DataFrame, budgets: list[float], swaps: dict[str, str],
                distance: dict[str, float]) -> str:
    """Return the markdown table of family means (min-max over permutations) per budget."""
    rows = []
    for fam in ["identity", *FAMILIES, "mdm"]:
        label = {"identity": "ARM (identity)", "mdm": "MDM"}.get(fam, fam)
        extra = f"{swaps.get(fam, '–')} | {_fmt(distance.get(fam, math.nan))}"
        cells = []
        for b in budgets:
            if fam in ("identity", "mdm"):
                r = best[(best["learner"] == ("arm" if fam == "identity" else "mdm")) & (best["budget"] == b)]
                cells.append(_fmt(float(r["val_loss"].iloc[0])) if len(r) else "–")
                continue
            m = means[(means["family"] == fam) & (means["budget"] == b)]
            cells.append("–" if m.empty else f"{m['mean'].iloc[0]:.3f} ({m['min'].iloc[0]:.3f}-"
                         f"{m['max'].iloc[0]:.3f}, n={int(m['n'].iloc[0])})")
        rows.append([label, *extra.split(" | "), *cells])
    return md_table(["learner / family", "swaps", "Kendall-tau distance (fraction)",
                     *[f"C = {_budget_label(b)}" for b in budgets]], rows)


def check_table(checks: list[dict]) -> str:
    """Return the markdown table of the ordering checks per budget."""
    rows = [[_budget_label(c["budget"]), "yes" if c["arm_best"] else "**no**",
             "yes" if c["uniform_worst"] else "**no**",
             ("yes" if c["monotone"] else "no") + f" (ARM < {' < '.join(c['distance_order'])})",
             f"{_fmt(c['mdm'] - c['uniform'])} nats", _fmt(c["mdm_r"], 2)] for c in checks]
    return md_table(["C (FLOPs)", "ARM best of all?", "uniform the worst pi family?",
                     "ordered by distance from identity?", "MDM - uniform mean", "MDM position r"], rows)


def size_table(df: pd.DataFrame) -> str:
    """Return the per-size supplement: validation loss of every run, learner x (size @ budget)."""
    cols = df[["budget", "n_params", "size"]].drop_duplicates().sort_values(["budget", "n_params"])
    keys = list(cols.itertuples(index=False))
    rows = []
    for learner in learner_order(df["learner"]):
        sub = df[df["learner"] == learner]
        cells = []
        for b, _, size in keys:
            r = sub[(sub["budget"] == b) & (sub["size"] == size)]
            cells.append(_fmt(float(r["val_loss"].iloc[0])) if len(r) else "–")
        rows.append([learner, *cells])
    iters = {(b, s): int(df[(df["budget"] == b) & (df["size"] == s)]["iters"].iloc[0]) for b, _, s in keys}
    return md_table(["learner", *[f"{s} @ {_budget_label(b)} ({iters[(b, s)]} it)" for b, _, s in keys]], rows)


def verdict(scale: str, checks: list[dict], notes: list[str]) -> str:
    """Return the verdict comparing our ordering with the paper's claims, over all budgets and at the largest."""
    if not checks:
        return "**Verdict:** nothing to compare yet."
    n = len(checks)
    last = checks[-1]
    arm = sum(c["arm_best"] for c in checks)
    uni = sum(c["uniform_worst"] for c in checks)
    mono = sum(c["monotone"] for c in checks)
    r = last["mdm_r"]
    if math.isnan(r):
        mdm_txt = "the MDM's position relative to the ARM and the uniform pi-learners is undefined here"
    elif r > 1:
        mdm_txt = (f"the MDM is worse than the uniform pi-learners (by {last['mdm'] - last['uniform']:.3f} nats, "
                   f"r = {r:.2f}): it is *not* near them but beyond them")
    elif r >= NEAR:
        mdm_txt = f"the MDM is near the uniform pi-learners (r = {r:.2f}), as the paper reports"
    else:
        mdm_txt = f"the MDM is closer to the ARM than to the uniform pi-learners (r = {r:.2f}), unlike the paper"
    parts = [f"**Verdict ({scale}).** Paper: identity best, uniform worst, closer pi toward the ARM, MDM near the "
             f"uniform pi-learners (and worse than the ARM). Ours: the ARM is the best learner at {arm}/{n} "
             f"budgets; the uniform family is the worst pi-learner family at {uni}/{n}; ARM and families are "
             f"ordered by distance from the identity at {mono}/{n}. At the largest budget "
             f"({_budget_label(last['budget'])} FLOPs) {mdm_txt}."]
    parts += notes
    return " ".join(parts)


# ------------------------------------------------------------------------------------------------ figure

def plot(best: pd.DataFrame, means: pd.DataFrame, swaps: dict[str, str], title: str, footer: str,
         unigram: float | None, path: Path) -> None:
    """Write the IsoFLOP figure: log FLOPs (budget) against best validation loss, one line per learner."""
    fig = Figure(figsize=(10.0, 5.0), dpi=DPI)
    ax = fig.add_subplot(1, 1, 1)
    for learner in learner_order(best["learner"]):
        sub = best[best["learner"] == learner].sort_values("budget")
        fam = sub["family"].iloc[0]
        if learner in ("arm", "mdm"):
            ax.plot(sub["budget"], sub["val_loss"], "o-", color=COLORS[fam], lw=2.4, ms=5,
                    label=FAMILY_LABELS[fam], zorder=4)
        else:
            ax.plot(sub["budget"], sub["val_loss"], "-", color=COLORS.get(fam, "gray"), lw=0.9, alpha=0.55, zorder=2)
    for fam in FAMILIES:
        m = means[means["family"] == fam].sort_values("budget")
        if m.empty:
            continue
        ax.plot(m["budget"], m["mean"], "s-", color=COLORS[fam], lw=2.2, ms=4, zorder=3,
                label=f"{FAMILY_LABELS[fam]}" + ("" if fam == "uniform" else f" [{swaps.get(fam, '?')} swaps]")
                + f", mean of {int(m['n'].max())}")
    ax.plot([], [], "-", color="gray", lw=0.9, alpha=0.55, label="thin lines: one permutation each")
    if unigram is not None and not math.isnan(unigram):
        ax.axhline(unigram, color="gray", ls="--", lw=1, label=f"unigram (no context): {unigram:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs C = 6 N D (log scale)")
    ax.set_ylabel("-log p(x) per token (nats), best size; MDM: ELBO")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.set_title(title, fontsize=9)
    fig.text(0.01, 0.005, footer, fontsize=6, color="gray")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path)


# ------------------------------------------------------------------------------------------------ render

def _info(runs: pd.DataFrame, key: str):
    col = f"figure_info.{key}"
    if col not in runs:
        return None
    vals = runs[col].dropna()
    if not len(vals):
        return None
    v = vals.iloc[0]  # pandas turns header ints into floats when other runs lack the field
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _preset(runs: pd.DataFrame, key: str):
    col = f"model_identity.preset.{key}"
    vals = runs[col].dropna() if col in runs else []
    return vals.iloc[0] if len(vals) else "?"


def _setup(runs: pd.DataFrame, df: pd.DataFrame) -> str:
    sizes = df[["size", "n_params"]].drop_duplicates().sort_values("n_params")
    budgets = sorted(df["budget"].dropna().unique())
    draws = df.loc[df["learner"] == "mdm", "eval_draws"].dropna() if "eval_draws" in df else pd.Series(dtype=float)
    span = (f" (N spans 10^{math.log10(sizes['n_params'].min()):.1f}-10^{math.log10(sizes['n_params'].max()):.1f}, "
            f"C spans 10^{math.log10(min(budgets)):.1f}-10^{math.log10(max(budgets)):.1f} FLOPs)") if budgets else ""
    windows = int(df["val_windows"].max()) if "val_windows" in df else "?"
    return (f"Setup: corpus `{_info(runs, 'corpus')}`, L = {_info(runs, 'seq_len')}, batch {_info(runs, 'batch')} "
            "sequences; sizes " + ", ".join(f"{s} (N = {int(n):,})" for s, n in sizes.itertuples(index=False))
            + "; budgets " + ", ".join(_budget_label(b) for b in budgets) + f" FLOPs{span}; AdamW (0.9, 0.95), "
            f"weight decay {_preset(runs, 'weight_decay')}, warmup then cosine lr {_preset(runs, 'lr')} -> "
            f"{_preset(runs, 'min_lr')}; validation on {windows} fixed held-out windows"
            + (f"; MDM ELBO from {int(draws.iloc[0])} (k, mask) draws per window" if len(draws) else "") + ".")


def corpus_name(runs: pd.DataFrame, variant: str) -> str:
    """Return the corpus name recorded in the run headers (the variant when none is recorded)."""
    names = sorted({str(v) for v in runs.get("figure_info.corpus", pd.Series(dtype=object)).dropna()})
    return ", ".join(names) or variant


def render_scale(scale: str, variant: str, runs: pd.DataFrame, ex: pd.DataFrame, out: Path, fig_name: str
                 ) -> tuple[str, str | None]:
    """Return (markdown, figure file name or None) of one scale and corpus."""
    df = records(ex)
    best = best_points(df)
    corpus = corpus_name(runs, variant)
    md = [f"## Scale `{scale}` · corpus `{corpus}`: {SCALE_NOTES.get(scale, 'our run')}", R.stamp(scale, runs)]
    if best.empty:
        return "\n\n".join(md + ["No finished runs yet."]), None
    planned = pd.to_numeric(runs["n_planned"], errors="coerce").max()
    md.append(f"Runs recorded: {len(df)}" + ("" if pd.isna(planned) else f" of {int(planned)} planned")
              + f" ({df['learner'].nunique()} learners). " + _setup(runs, df))
    budgets = sorted(best["budget"].unique())
    means = family_means(best[best["family"].isin(FAMILIES)])
    perm_info = {}
    for fam in FAMILIES:
        sub = df[df["family"] == fam]
        perm_info[fam] = (sub["n_swaps"].dropna().astype(int).unique(), sub["perm_distance.kendall_frac"].mean())
    swaps = {f: ",".join(str(s) for s in v[0]) or "?" for f, v in perm_info.items()}
    swaps.update(identity="0", uniform="Unif(S_L)")
    distance = {f: float(v[1]) for f, v in perm_info.items()}
    distance["identity"] = 0.0
    checks = ordering(best, means, distance)
    unigram = _info(runs, "unigram_xent")
    unigram = float(unigram) if unigram is not None else None
    commit = R.commits_label(runs)
    plot(best, means, swaps, f"Figure 2 (left), IsoFLOP · scale {scale} · {corpus} · commit {commit}",
         f"tokenorder · scale {scale} · commit {commit} · best size per budget; MDM = ELBO (upper bound)",
         unigram, out / fig_name)
    md.append(f"![Figure 2 left · scale {scale}]({fig_name})")
    md.append("Best validation loss per learner and budget (nats per token, minimum over sizes; the size that "
              "achieved it in brackets; MDM: ELBO ± Monte-Carlo standard error):")
    md.append(best_table(best, budgets))
    md.append("Family means over permutations (min-max in brackets):")
    md.append(means_table(means, best, budgets, swaps, distance))
    md.append("Ordering checks (r = (MDM - ARM) / (uniform mean - ARM): 0 = at the ARM, 1 = at the uniform "
              f"pi-learners, > 1 = worse; 'near' means r >= {NEAR}):")
    md.append(check_table(checks))
    notes = []
    if unigram is not None:
        flat = best[best["val_loss"] >= unigram - UNIGRAM_MARGIN]
        names = ", ".join(f"{r.learner} @ {_budget_label(r.budget)}" for r in flat.itertuples())
        notes.append(f"Reference: a context-free (unigram) model scores {unigram:.3f} nats; "
                     + (f"{len(flat)} of {len(best)} best points are not clearly below it (within "
                        f"{UNIGRAM_MARGIN} nats or above: nothing learned beyond character frequencies): {names}."
                        if len(flat) else f"every best point is more than {UNIGRAM_MARGIN} nats below it."))
    smallest = df.loc[df["n_params"].idxmin(), "size"]
    n_small = int((best["size"] == smallest).sum())
    if n_small == len(best) and df["size"].nunique() > 1:
        notes.append(f"The smallest size ({smallest}) gives the best loss at every point: the compute-optimal size "
                     "lies at or below our grid, so these curves are the small-model edge of the IsoFLOP picture, "
                     "not its minimum over a U-shaped size curve.")
    if distance.get("much_closer", 0) > distance.get("closer", math.inf):
        notes.append("Here L < 100, so sqrt(L) swaps ('much closer') exceed L/10 swaps ('closer'): the "
                     "'much closer' family is the farther one, and the checks order families by measured "
                     "distance, not by name.")
    mdm_se = df.loc[df["learner"] == "mdm", "val_mc_se"].dropna()
    if len(mdm_se):
        lo, hi = f"{mdm_se.min():.4f}", f"{mdm_se.max():.4f}"
        notes.append(f"The MDM's ELBO has Monte-Carlo standard error {lo if lo == hi else lo + '-' + hi} nats; it "
                     "bounds -log p from above, so the MDM's true likelihood may be somewhat better.")
    md.append(verdict(scale, checks, notes))
    if scale != "paper":
        md.append(f"*Caution:* {scale}-scale numbers are not the paper's: a character corpus, tiny models and "
                  "budgets many orders of magnitude below SlimPajama at L = 2048. Only the ordering of the curves "
                  "is comparable, and with so little compute the harder orders (uniform pi, the MDM) are the "
                  "least trained.")
    md.append("<details><summary>Per-size validation loss (supplement)</summary>\n\n" + size_table(df)
              + "\n\n</details>")
    return "\n\n".join(md), fig_name


def render_isoflop(res, out: Path):
    """Return the Figure 2 (left) report (``Rendered``) for every scale with isoflop results, writing
    ``fig2_isoflop_<scale>.png``; None when there are none."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = res.runs[res.runs["task"] == TASK]
    if runs.empty:
        return None
    ex = res.examples[res.examples["task"] == TASK]
    meta = ref.TABLES[REPORT]
    md = [f"# {meta.name}", f"> Paper caption: *{meta.caption}*",
          f"Paper setup ({meta.source}): {meta.model}. Metric: {meta.metric}. " + " ".join(meta.notes),
          "Ours: the same protocol at each scale below. A pi-learner is a causal transformer with learned "
          "position embeddings trained on x[perm] behind a BOS token (its validation loss is the exact "
          "-log p(pi(x)) / L); the MDM has the same shapes, bidirectional, trained with the masked-diffusion "
          "loss, and is scored by its ELBO. Every learner at one size starts from the same weights and sees the "
          "same training windows."]
    figures = []
    for scale in R.ordered(runs["scale"].unique(), R.SCALE_ORDER):
        sr = runs[runs["scale"] == scale]
        variants = sorted(sr["variant"].astype(str).unique())
        for variant in variants:
            vr = sr[sr["variant"].astype(str) == variant]
            vx = ex[(ex["scale"] == scale) & (ex["variant"].astype(str) == variant)]
            name = f"fig2_isoflop_{scale}.png" if len(variants) == 1 else f"fig2_isoflop_{scale}_{variant}.png"
            text, fig = render_scale(scale, variant, vr, vx, out, name)
            md.append(text)
            if fig:
                figures.append(fig)
    return R.Rendered(meta.name, "\n\n".join(m for m in md if m) + "\n", figures)
