"""A run of your own beside the committed results: per table and configuration, the committed number, the new
number, their difference with its standard error (paired over the examples both runs hold), how many records
came out bit-identical, and whether the models' fingerprints match.

    python -m harness.report --results runs/NAME/results --out runs/NAME/reports --compare results

Each report's headline metric is compared: a task's ``score`` (in %), the pi-ordered ``loss`` (nats per token),
Figure 3's judge ``nll``, the IsoFLOP ``val_loss`` and the L&O imbalance ``err_latent_mean``. Same preset, seed
kind of machine and torch thread count should give the same weights (fingerprints match) and identical records;
a different CPU, thread count or precision chosen by the run-time probe may not, and the difference column then
says by how much.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.report.common import CONFIG, Rendered, Results, fmt_num, md_table, ordered, SCALE_ORDER

METRICS: dict[str, tuple[str, float, str]] = {
    "pi_order": ("loss", 1.0, "nats/token"),
    "genppl": ("nll", 1.0, "judge NLL/token"),
    "isoflop": ("val_loss", 1.0, "val loss"),
    "lo_imbalance": ("err_latent_mean", 1.0, "latent error"),
}
"""Figure task -> (record field, scale, label) of its compared metric; every other task compares ``score`` x100."""

DEFAULT_METRIC = ("score", 100.0, "score %")

FINGERPRINT_KEYS = ("fingerprint", "mdm_fingerprint", "judge_fingerprint", "early", "proxy")
"""``model_identity`` fields that hash a model's weights (puzzles and text tasks, Figure 3, Figure 2's L&O)."""


def metric_of(task: str) -> tuple[str, float, str]:
    """Return (record field, multiplier, label) compared for ``task``."""
    return METRICS.get(task, DEFAULT_METRIC)


def _fingerprints(runs: pd.DataFrame) -> set[str]:
    cols = [f"model_identity.{k}" for k in FINGERPRINT_KEYS if f"model_identity.{k}" in runs]
    return {f"{c.split('.', 1)[1]}={v}" for c in cols for v in runs[c].dropna().astype(str)}


def _values(ex: pd.DataFrame, field: str, mult: float) -> pd.Series:
    if field not in ex:
        return pd.Series(dtype=float)
    v = pd.to_numeric(ex[field], errors="coerce") * mult
    return pd.Series(v.to_numpy(), index=ex["seed"].astype(str) + "|" + ex["id"].astype(str)).dropna()


def compare_configs(ours: Results, base: Results) -> pd.DataFrame:
    """Return one row per configuration (scale, task, variant, sampler, decode tag) found in either results set,
    at the scales the new run (``ours``) has (every scale when it has none):
    metric, committed mean, new mean, difference (new - committed) and its SE, ``paired`` examples, identical
    records, and ``fingerprints`` (``match``, ``differ`` or ``—`` when a side has none)."""
    keys = set()
    for r in (ours, base):
        if not r.runs.empty:
            keys |= set(map(tuple, r.runs[CONFIG].astype(str).itertuples(index=False)))
    if not ours.runs.empty:
        scales = set(ours.runs["scale"].astype(str))
        keys = {k for k in keys if k[0] in scales}
    rows = []
    for key in sorted(keys, key=lambda k: (SCALE_ORDER.index(k[0]) if k[0] in SCALE_ORDER else 9, *k[1:])):
        cfg = dict(zip(CONFIG, key))
        field, mult, label = metric_of(cfg["task"])
        side = {}
        for name, r in (("base", base), ("ours", ours)):
            if r.runs.empty:
                side[name] = (pd.DataFrame(), pd.Series(dtype=float))
                continue
            m = np.logical_and.reduce([r.runs[c].astype(str) == v for c, v in cfg.items()])
            runs = r.runs[m]
            ex = r.examples[r.examples["file"].isin(runs["file"])]
            side[name] = (runs, _values(ex, field, mult))
        (b_runs, b), (o_runs, o) = side["base"], side["ours"]
        common = b.index.intersection(o.index)
        row = {**cfg, "metric": label, "n_base": len(b), "n_ours": len(o), "paired": len(common),
               "base": b.mean() if len(b) else math.nan, "ours": o.mean() if len(o) else math.nan,
               "diff": math.nan, "diff_se": math.nan, "identical": 0, "fingerprints": "—"}
        if len(common):
            d = o[common] - b[common]
            row.update(diff=float(d.mean()), identical=int((d == 0).sum()),
                       diff_se=float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.nan)
        elif len(b) and len(o):
            se = [x.std(ddof=1) / math.sqrt(len(x)) if len(x) > 1 else math.nan for x in (b, o)]
            row.update(diff=float(o.mean() - b.mean()), diff_se=float(math.hypot(*se)))
        fb, fo = _fingerprints(b_runs), _fingerprints(o_runs)
        if fb and fo:
            row["fingerprints"] = "match" if fb == fo else "differ"
        rows.append(row)
    return pd.DataFrame(rows, columns=[*CONFIG, "metric", "n_base", "n_ours", "paired", "base", "ours", "diff",
                                       "diff_se", "identical", "fingerprints"])


def _devices(runs: pd.DataFrame) -> str:
    if runs.empty or "env.device_name" not in runs:
        return "—"
    return "; ".join(sorted(set(runs["env.device_name"].dropna().astype(str)))) or "—"


def render_comparison(ours: Results, base: Results, ours_dir: str, base_dir: str,
                      report_tasks: dict[str, list[str]]) -> Rendered | None:
    """Return the comparison section (None when neither side has results): per report of ``report_tasks``
    (report name -> tasks), one table of configurations, committed beside new."""
    table = compare_configs(ours, base)
    if table.empty:
        return None
    title = "Your run beside the committed results"
    both = table[(table["n_base"] > 0) & (table["n_ours"] > 0)]
    lines = [f"# {title}", "",
             f"New: `{ours_dir}` ({len(ours.runs)} files, hardware {_devices(ours.runs)}). Committed: `{base_dir}` "
             f"({len(base.runs)} files, hardware {_devices(base.runs)}).", "",
             f"{len(both)} configurations in both; {int(both['identical'].sum())} of {int(both['paired'].sum())} "
             f"paired records bit-identical; fingerprints match in {int((both['fingerprints'] == 'match').sum())}, "
             f"differ in {int((both['fingerprints'] == 'differ').sum())}. Difference = new - committed, mean over "
             "the examples both hold (paired SE); configurations only one side ran show one number. Same preset, "
             "seed, kind of CPU and torch thread count should reproduce the weights (fingerprints match) and so "
             "the records; another CPU or thread count, or the run-time precision probe choosing differently, "
             "changes the weights and the difference column says by how much.", ""]
    shown = set()
    for report, tasks in report_tasks.items():
        part = table[table["task"].isin(tasks)]
        if part.empty:
            continue
        shown |= set(part.index)
        lines += [f"## {report}", "", md_table(
            ["Scale", "Task / variant", "Sampler", "Decode", "Metric", "Committed", "New", "New - committed",
             "Paired (identical)", "Fingerprints"],
            [[r.scale, f"{r.task} {r.variant}".strip(), r.sampler, r.decode_tag, r.metric,
              _num(r.base, r.n_base), _num(r.ours, r.n_ours), _diff(r), f"{r.paired} ({r.identical})",
              r.fingerprints] for r in part.itertuples()]), ""]
    rest = table.drop(index=list(shown))
    if not rest.empty:
        lines += ["## Other results", "", md_table(
            ["Scale", "Task / variant", "Sampler", "Decode", "Committed", "New", "New - committed"],
            [[r.scale, f"{r.task} {r.variant}".strip(), r.sampler, r.decode_tag, _num(r.base, r.n_base),
              _num(r.ours, r.n_ours), _diff(r)] for r in rest.itertuples()]), ""]
    scales = ordered(table["scale"].unique(), SCALE_ORDER)
    lines.append(f"Scales compared: {', '.join(f'`{s}`' for s in scales)}. A small-scale number is never the "
                 "paper's.")
    return Rendered(title, "\n".join(lines) + "\n")


def _num(x: float, n: int) -> str:
    return "—" if not n or not np.isfinite(x) else f"{fmt_num(x, 3)} (n={n})"


def _diff(r) -> str:
    if not np.isfinite(r.diff):
        return "—"
    se = f" ± {fmt_num(r.diff_se, 3)}" if np.isfinite(r.diff_se) else ""
    return f"{r.diff:+.3f}{se}"
