"""Figure 2 (bottom right): the L&O-NAE-SAT error imbalance, rendered from the results JSONL only.

Reads the records of :mod:`harness.figure.lo_imbalance` (one per l: per-position mean error of the early
MDM against the proxy, latent / observation means with standard errors over repeats, and, where the exact
conditional was enumerated, each model's KL to it). Per scale it draws the paper's heat strip at l = 11
(``fig2_lo_imbalance_<scale>.png``, a second and third row with the KL to the exact conditional when
recorded) and the supplementary panel over every l (``fig2_lo_imbalance_by_l_<scale>.png``), tabulates the
means per l, and says whether latent errors exceed observation errors. No torch, no models, no task code.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure  # object API, as in the other renderers

from harness.report import common as R
from harness.report import reference as ref

OBS_RULE_LEARNED = 0.95
"""O|L accuracy at which a model counts as having learned the NAE rule (the same bar as Table 1's check)."""

FIGURE = "lo_imbalance"
TITLE = "Figure 2 (bottom right) - L&O-NAE-SAT error imbalance"
SHOWN_L = 11
DPI = 150
CMAP = "Blues"
"""Larger error = darker, as the caption shades it (latents dark); the section 3.3 text says the reverse."""
SCALE_NOTES = {
    "smoke": "a toy model trained for a few steps: checks the plumbing only; **not** the paper's model",
    "small": "a small MDM trained briefly on this CPU; **not** the paper's 19M model or its 2k / 50k iterations, "
             "and its numbers are not comparable to the paper's",
    "paper": "the paper's setting: 19M RoPE MDM, 512 context, 2k-iteration snapshot vs 50k-iteration proxy",
}


# ---------------------------------------------------------------------------------------------- loading

def _num(v) -> float:
    """Return v as a float (NaN for None / missing)."""
    try:
        return math.nan if v is None else float(v)
    except (TypeError, ValueError):
        return math.nan


def _pos(v) -> np.ndarray:
    """Return a per-position list as a float array (None -> NaN); empty when absent."""
    if not isinstance(v, (list, tuple, np.ndarray)):
        return np.zeros(0)
    return np.array([_num(x) for x in v], dtype=float)


def lo_runs(res) -> list[dict]:
    """Return one dict per results file of this figure: scale, header row (pandas Series) and its records
    (one row per l, sorted by l)."""
    runs = res.runs[res.runs["task"] == FIGURE]
    out = []
    for _, run in runs.iterrows():
        ex = res.examples[res.examples["file"] == run["file"]] if "file" in res.examples else res.examples.iloc[0:0]
        if "l" in ex:
            ex = ex.assign(l=pd.to_numeric(ex["l"], errors="coerce")).dropna(subset=["l"]).sort_values("l")
        out.append({"scale": run["scale"], "run": run, "records": ex})
    return out


def _get(run: pd.Series, key: str, default=None):
    v = run.get(key, default)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return default
    return int(v) if isinstance(v, float) and v.is_integer() else v     # pandas turns header ints into floats


def record_at(records: pd.DataFrame, l: int) -> pd.Series | None:
    """Return the record of one l, or None."""
    if records.empty or "l" not in records:
        return None
    hit = records[records["l"] == l]
    return None if hit.empty else hit.iloc[0]


def has_exact(rec: pd.Series | None) -> bool:
    """Return whether a record carries the KL to the exact conditional."""
    return rec is not None and bool(rec.get("exact", False)) is True and len(_pos(rec.get("kl_early_pos"))) > 0


# ---------------------------------------------------------------------------------------------- figures

def _norm(values: np.ndarray):
    """Return a colour norm: logarithmic when the finite positive values span over two decades."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return Normalize(0, 1)
    pos = v[v > 0]
    if pos.size and v.min() > 0 and pos.max() / pos.min() > 100:
        return LogNorm(pos.min(), pos.max())
    return Normalize(0, max(float(v.max()), 1e-12))


def plot_strip(rec: pd.Series, n: int, scale: str, commit: str, path: Path) -> None:
    """Write the heat strip of one l: one row per measure (error early vs proxy; KL of early and of proxy to
    the exact conditional when recorded), each split into the N latent cells | the P observation cells (the
    latents drawn wider so they can be seen), one colour scale and colour bar per row."""
    rows = [("error: early vs proxy", _pos(rec.get("err_pos")))]
    if has_exact(rec):
        rows += [("KL(exact || early)", _pos(rec.get("kl_early_pos"))),
                 ("KL(exact || proxy)", _pos(rec.get("kl_proxy_pos")))]
    cmap = colormaps[CMAP].with_extremes(bad="0.8")
    fig = Figure(figsize=(13, 1.0 * len(rows) + 1.2), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(rows), 2, squeeze=False, gridspec_kw={"width_ratios": [1, 3]})
    for (ax_l, ax_o), (label, vals) in zip(axes, rows):
        norm = _norm(vals)
        for ax, part, lo in ((ax_l, vals[:n], 0), (ax_o, vals[n:], n)):
            im = ax.imshow(np.ma.masked_invalid(part[None, :]), aspect="auto", cmap=cmap, norm=norm,
                           interpolation="nearest", extent=(lo - 0.5, lo + len(part) - 0.5, 0, 1))
            ax.set_yticks([])
        ax_l.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        ax_l.set_xticks(range(0, n, max(1, n // 10)))
        ax_l.tick_params(labelsize=7)
        ax_o.tick_params(labelsize=7)
        fig.colorbar(im, ax=[ax_l, ax_o], pad=0.01, fraction=0.03)
    axes[-1, 0].set_xlabel(f"latent positions 0..{n - 1}", fontsize=8)
    axes[-1, 1].set_xlabel(f"observation positions {n}..{len(rows[0][1]) - 1}", fontsize=8)
    fig.suptitle(f"Figure 2 (bottom right) · L&O-NAE-SAT per-position error at l = {int(rec['l'])} "
                 f"({int(rec['n_obs_masked'])} observations masked, {int(rec['repeats'])} repeats) · "
                 f"darker = larger, grey = never masked · scale {scale} · commit {commit}", fontsize=9)
    fig.savefig(path)


def plot_by_l(records: pd.DataFrame, scale: str, commit: str, path: Path) -> None:
    """Write the supplementary panel: latent vs observation mean error against l (± SE), and a second
    panel with each model's KL to the exact conditional where recorded."""
    exact = records[records["exact"].fillna(False).astype(bool)] if "exact" in records else records.iloc[0:0]
    panels = 2 if not exact.empty and "kl_early_latent_mean" in exact else 1
    fig = Figure(figsize=(6.2 * panels, 4.2), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    ls = records["l"].to_numpy(float)
    for part, color in (("latent", "#C44E52"), ("obs", "#4C72B0")):
        axes[0].errorbar(ls, pd.to_numeric(records[f"err_{part}_mean"], errors="coerce"),
                         yerr=pd.to_numeric(records[f"err_{part}_se"], errors="coerce").fillna(0), marker="o",
                         ms=3.5, capsize=2, color=color, label="latent positions" if part == "latent" else
                         "observation positions")
    axes[0].axvline(SHOWN_L, color="0.6", ls=":", lw=1)
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].set_xlabel("l (masked latents; l·P/N observations masked)")
    axes[0].set_ylabel("mean error, early vs proxy")
    axes[0].set_title("error of the early MDM against the proxy", fontsize=9)
    axes[0].legend(fontsize=8)
    axes[0].grid(alpha=0.3)
    if panels == 2:
        le = exact["l"].to_numpy(float)
        for model, ls_ in (("early", "-"), ("proxy", "--")):
            for part, color in (("latent", "#C44E52"), ("obs", "#4C72B0")):
                axes[1].errorbar(le, pd.to_numeric(exact[f"kl_{model}_{part}_mean"], errors="coerce"),
                                 yerr=pd.to_numeric(exact[f"kl_{model}_{part}_se"], errors="coerce").fillna(0),
                                 ls=ls_, marker="o", ms=3, capsize=2, color=color,
                                 label=f"{model} · {'latent' if part == 'latent' else 'observation'}")
        axes[1].axvline(SHOWN_L, color="0.6", ls=":", lw=1)
        axes[1].set_xlabel("l")
        axes[1].set_ylabel("mean KL(exact || model), nats")
        axes[1].set_title("beyond the paper: distance to the exact conditional", fontsize=9)
        axes[1].legend(fontsize=7.5)
        axes[1].grid(alpha=0.3)
    fig.suptitle(f"L&O-NAE-SAT error imbalance against l · scale {scale} · commit {commit}", fontsize=10)
    fig.savefig(path)


# --------------------------------------------------------------------------------------------- markdown

def _pm(mean, se, digits: int = 4) -> str:
    mean, se = _num(mean), _num(se)
    if math.isnan(mean):
        return "—"
    return f"{mean:.{digits}g}" + ("" if math.isnan(se) else f" ± {se:.2g}")


def _z(rec: pd.Series, a: str, b: str) -> float:
    """Return (mean_a - mean_b) / sqrt(se_a^2 + se_b^2) for two measures of a record (NaN if undefined)."""
    ma, mb = _num(rec.get(f"{a}_mean")), _num(rec.get(f"{b}_mean"))
    sa, sb = _num(rec.get(f"{a}_se")), _num(rec.get(f"{b}_se"))
    den = math.sqrt(sa ** 2 + sb ** 2) if not (math.isnan(sa) or math.isnan(sb)) else math.nan
    return (ma - mb) / den if den and not math.isnan(den) and den > 0 else math.nan


def l_table(records: pd.DataFrame) -> str:
    """Return the per-l table: latent / observation mean error (± SE over repeats), their ratio, and the
    KL of each model to the exact conditional with the share of masked positions it determines."""
    rows = []
    for _, r in records.iterrows():
        lat, obs = _num(r.get("err_latent_mean")), _num(r.get("err_obs_mean"))
        ratio = lat / obs if obs and not math.isnan(obs) and obs > 0 else math.nan
        exact = bool(r.get("exact", False)) is True
        kl = [_pm(r.get(f"kl_{m}_{p}_mean"), r.get(f"kl_{m}_{p}_se"), 3) if exact else "—"
              for m in ("early", "proxy") for p in ("latent", "obs")]
        det = (f"{100 * _num(r.get('determined_latent_frac')):.0f} / {100 * _num(r.get('determined_obs_frac')):.0f}"
               if exact else "not enumerated")
        rows.append([f"**{int(r['l'])}**" if int(r["l"]) == SHOWN_L else str(int(r["l"])), str(int(r["n_obs_masked"])),
                     str(int(r["repeats"])), _pm(lat, r.get("err_latent_se")), _pm(obs, r.get("err_obs_se")),
                     R.fmt_num(ratio, 2), *kl, det])
    return R.md_table(["l", "obs. masked", "repeats", "error · latent", "error · observation", "latent / obs.",
                       "KL early · latent", "KL early · obs.", "KL proxy · latent", "KL proxy · obs.",
                       "exactly determined % (latent / obs.)"], rows)


def models_text(run: pd.Series) -> str:
    """Return the two models' description: iterations, parameters, final training loss, learning checks."""
    rows = []
    for name in ("early", "proxy"):
        k = f"figure_info.{name}."
        rows.append([name, str(_get(run, k + "iters", "?")),
                     R.fmt_num(_num(_get(run, k + "params")) / 1e6, 3) + "M",
                     R.fmt_num(_num(_get(run, k + "final_loss")), 4),
                     R.fmt_num(_num(_get(run, k + "train_seconds")), 0),
                     R.fmt_num(100 * _num(_get(run, k + "checks.obs_given_latents_acc")), 1),
                     R.fmt_num(100 * _num(_get(run, k + "checks.latent_given_rest_acc")), 1)])
    model = _get(run, "model_identity.model")
    if model is None:  # a shape dict, flattened by the loader
        keys = ("n_layer", "n_head", "d_model", "d_ff")
        model = "custom " + ", ".join(f"{k}={_get(run, f'model_identity.model.{k}', '?')}" for k in keys)
    return (f"One MDM run (model `{model}`, {_get(run, 'model_identity.pos', '?')} positions, context "
            f"{_get(run, 'figure_info.context', '?')}, padding to `{_get(run, 'figure_info.pad_to')}`); the early "
            f"model is its snapshot at step {_get(run, 'model_identity.early_step', '?')}, the proxy its final "
            f"checkpoint. Learning checks (argmax, one forward): *O|L* = observations given all latents, *L|rest* "
            f"= one latent given everything else; naive guessing gives 75% / 50%.\n\n"
            + R.md_table(["model", "iterations", "params", "final train loss", "train s", "O|L check %",
                          "L|rest check %"], rows))


def _share(rec: pd.Series, part: str) -> str:
    v = _num(rec.get(f"determined_{part}_frac"))
    return "—" if math.isnan(v) else f"{100 * v:.0f}%"


def verdict(run: pd.Series, records: pd.DataFrame, scale: str) -> str:
    """Return the verdict: latent above observation error at l = 11 (and how many l), with context."""
    if records.empty:
        return "**Verdict:** no records yet."
    rec = record_at(records, SHOWN_L)
    lat, obs = pd.to_numeric(records["err_latent_mean"], errors="coerce"), \
        pd.to_numeric(records["err_obs_mean"], errors="coerce")
    above = int((lat > obs).sum())
    z = [_z(r, "err_latent", "err_obs") for _, r in records.iterrows()]
    sig_above, sig_below = sum(1 for v in z if v > 2), sum(1 for v in z if v < -2)
    parts = []
    if rec is None:
        parts.append(f"l = {SHOWN_L} has not been measured at this scale.")
    else:
        zl = _z(rec, "err_latent", "err_obs")
        holds = _num(rec["err_latent_mean"]) > _num(rec["err_obs_mean"])
        claim = ("latent above observation: the paper’s claim holds" if holds else
                 "latent not above observation: the paper’s claim does **not** hold")
        parts.append(f"At l = {SHOWN_L} the mean error is {_pm(rec['err_latent_mean'], rec['err_latent_se'])} at "
                     f"latent positions and {_pm(rec['err_obs_mean'], rec['err_obs_se'])} at observation positions "
                     f"({claim} here; difference {R.fmt_num(zl, 1)} combined SEs).")
    parts.append(f"Latent error is above observation error for {above} of {len(records)} values of l "
                 f"({sig_above} by more than 2 combined SEs, {sig_below} below by more than 2).")
    o_l = _num(_get(run, "figure_info.proxy.checks.obs_given_latents_acc"))
    unlearned = not math.isnan(o_l) and o_l < OBS_RULE_LEARNED
    if unlearned:
        parts.append(f"Caveat: the proxy predicts observations from all latents with only {100 * o_l:.1f}% accuracy "
                     f"(75% is naive guessing), so it has not learned the observation rule and is no stand-in for "
                     f"the Bayes-optimal predictor at this scale; the comparison measures how two stages of an "
                     f"unlearned model differ, not the paper's imbalance.")
    p1 = {k: _num(rec.get(f"p1_{k}_mean")) if rec is not None else math.nan
          for k in ("early_latent", "early_obs", "proxy_latent", "proxy_obs")}
    if not any(math.isnan(v) for v in p1.values()):
        parts.append(f"Mean predicted P(x = 1) at the masked positions for l = {SHOWN_L}: early "
                     f"{p1['early_latent']:.3f} at latents / {p1['early_obs']:.3f} at observations, proxy "
                     f"{p1['proxy_latent']:.3f} / "
                     f"{p1['proxy_obs']:.3f} (data marginals 0.5 / 0.75).")
        if unlearned and abs(p1["early_latent"] - 0.5) > abs(p1["proxy_latent"] - 0.5) + 0.05:
            parts.append("So the latent error here comes from the early snapshot not yet predicting the latents' "
                         "50/50 marginal, not from the hard inference problem the paper describes.")
    if rec is not None and has_exact(rec):
        kp_l, kp_o = _num(rec.get("kl_proxy_latent_mean")), _num(rec.get("kl_proxy_obs_mean"))
        ke_l, ke_o = _num(rec.get("kl_early_latent_mean")), _num(rec.get("kl_early_obs_mean"))
        parts.append(f"Against the exact conditional at l = {SHOWN_L} (beyond the paper), KL(exact || proxy) is "
                     f"{kp_l:.3g} nats at latents and {kp_o:.3g} at observations; KL(exact || early) {ke_l:.3g} and "
                     f"{ke_o:.3g}. " + ("The proxy is closer to the truth than the early model at both kinds of "
                                        "position." if kp_l < ke_l and kp_o < ke_o else
                                        "The proxy is not closer to the truth than the early model everywhere, "
                                        "which limits what the early-vs-proxy error can say.")
                     + f" The exact conditional fixes {_share(rec, 'latent')} of the masked latents and "
                     f"{_share(rec, 'obs')} of the masked observations; there a model that knows only the marginals "
                     f"scores KL = log 2 ≈ 0.693 at a latent and H(0.75) ≈ 0.562 on average at an observation.")
    if scale != "paper":
        parts.append("These are small-scale numbers from a far smaller model and far fewer iterations than the "
                     "paper's; they are not the paper's numbers.")
    return "**Verdict:** " + " ".join(parts)


def paper_text() -> str:
    """Return the paper's description of the panel (caption, setting, the shading inconsistency)."""
    meta = ref.TABLES["figure2_lo"]
    return "\n\n".join([
        f"> Paper caption (Figure 2): *{meta.caption}*",
        f"Paper setting ({meta.source}): {meta.model}. Metric: {meta.metric}. " + " ".join(meta.notes),
        "The paper prints no numbers for this panel: its claim is qualitative, **latent positions have larger "
        "errors than observation positions** (shown for l = 11; other l are said to show the same trend). Our "
        "strips colour larger errors darker, following the caption (observations light, latents dark); the "
        "section 3.3 text states the opposite shading, but both agree on which positions are worse.",
        "Our error at a masked position is sum over v in {0, 1} of (log p_early(v) − log p_proxy(v))², with "
        "log-probabilities renormalised over the values {0, 1}; both models see the same masked input. Beyond "
        "the paper, where l is small enough to enumerate the 2^l completions, the exact conditional (uniform over "
        "completions consistent with every visible observation) gives each model's KL(exact || model), which "
        "shows whether the proxy is a good proxy.",
    ])


def render_lo_imbalance(res, out: Path):
    """Return the Figure 2 (bottom right) report for every scale found, writing ``fig2_lo_imbalance_<scale>.png``
    and ``fig2_lo_imbalance_by_l_<scale>.png``; None when there are no records of this figure."""
    found = lo_runs(res)
    if not found:
        return None
    out = Path(out)
    md, figures = [f"# {TITLE}", paper_text()], []
    for scale in R.ordered([f["scale"] for f in found], R.SCALE_ORDER):
        here = [f for f in found if f["scale"] == scale]
        scale_runs = res.runs[res.runs["file"].isin([f["run"]["file"] for f in here])]
        commit = R.commits_label(scale_runs)
        md += [f"## Scale `{scale}`: {SCALE_NOTES.get(scale, 'our run')}", R.stamp(scale, scale_runs)]
        for i, f in enumerate(here):
            run, recs = f["run"], f["records"]
            suffix = "" if len(here) == 1 else f"_{i + 1}"
            if len(here) > 1:
                md.append(f"### {run['variant']} · `{run['file']}`")
            planned = _num(run.get("n_planned"))
            md.append(models_text(run))
            md.append(f"Records: {len(recs)} values of l" + ("" if math.isnan(planned) else f" of {int(planned)} "
                      f"planned") + f"; {int(_num(recs['repeats'].iloc[0])) if len(recs) else 0} repeats each.")
            if recs.empty:
                continue
            rec = record_at(recs, SHOWN_L)
            n = int(_num(recs["N"].iloc[0]))
            if rec is not None:
                name = f"fig2_lo_imbalance_{scale}{suffix}.png"
                plot_strip(rec, n, scale, commit, out / name)
                md.append(f"![Heat strip, l = {SHOWN_L}, scale {scale}]({name})")
                figures.append(name)
            name = f"fig2_lo_imbalance_by_l_{scale}{suffix}.png"
            plot_by_l(recs, scale, commit, out / name)
            md += [f"Supplementary: every l.\n\n![Error against l, scale {scale}]({name})",
                   "Mean error per masked position (± one standard error over repeats of the per-repeat mean); "
                   "KL columns are beyond the paper (— where l is above the enumeration cap):",
                   l_table(recs), verdict(run, recs, scale)]
            figures.append(name)
    if "paper" not in {f["scale"] for f in found}:
        md += ["## Scale `paper`",
               "Not run here: it trains a 19M MDM for 50k iterations on 512-token sequences and needs a GPU: "
               "`python -m harness.figure lo_imbalance --scale paper --device cuda`."]
    return R.Rendered(TITLE, "\n\n".join(m for m in md if m) + "\n", figures)
