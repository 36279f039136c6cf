"""Table 4, the LLaDA-8B text tasks (HumanEval-Infilling single / multi / split, Math, MMLU, ROCStories).

Rendered from results JSONL only, like every report (no torch, no models, no task code). The main table
has the paper's layout: rows Vanilla / Top probability / Top prob. margin (other samplers we ran below a
rule), columns in ``reference.TABLE4_COLUMNS`` order, and in each cell our mean x100 ± standard error (n)
beside the paper's number. There is one table per scale; only the ``paper`` scale runs the paper's model
(LLaDA-8B on a GPU). ``small`` is our own small text MDM trained on CPU, which checks the pipeline, not
skill. The paper-scale table is always shown: each cell that has not been run says why and gives the
command that fills it.

Columns pick one variant each: MMLU uses ``gen`` (the answer letter generated; the paper's 33-36% look
generation-scored, PAPER.md 3.6), and the likelihood-scored variant gets its own table. Math uses ``test``
when present, else ``math500``. Each column uses one decode tag, the one that covers the most samplers.
Rank shards (``...__rank<r>of<W>.jsonl``) share their configuration's key, so ``load_results`` pools
them and drops ids recorded twice. A shard header's ``n_planned`` is the total over all ranks (as
``harness.run`` writes it), so the planned count is the maximum over the files of one (configuration,
seed), summed over seeds.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # object API, as in the other renderers

from harness.report import common as R
from harness.report import reference as ref

TASKS = list(ref.TABLE4_COLUMNS)
PAPER_SAMPLERS = ["vanilla", "top_prob", "margin"]
LIKELIHOOD = "likelihood"
PREFERRED_VARIANTS = {"humaneval_single": ["infill"], "humaneval_multi": ["infill"],
                      "humaneval_split": ["infill"], "math": ["test", "math500"], "mmlu": ["gen"],
                      "rocstories": ["infill"]}
"""Variant shown in each main-table column, in order of preference."""
RUN_VARIANT = {"math": "test", "mmlu": "gen"}
"""``--variant`` passed by the command that fills a paper-scale column (none: the task's only variant). At
other scales a column that has a variant already keeps it; Math without one takes the scale's default."""
PAPER_MODEL = "GSAI-ML/LLaDA-8B-Base"
NOT_RUN_REASON = "needs LLaDA-8B weights and a GPU"
METRIC = {"humaneval_single": "pass@1", "humaneval_multi": "pass@1", "humaneval_split": "pass@1",
          "math": "exact-match accuracy", "mmlu": "accuracy", "rocstories": "ROUGE-L F1 x100"}
SCALE_NOTES = {
    "smoke": "smoke run: a tiny model on a handful of examples, which checks the plumbing only; "
             "**not** the paper's model",
    "small": "our small text MDM trained on CPU, a pipeline check, not a test of skill; **not** the paper's "
             "model, and its numbers are not comparable to the paper's",
    "paper": "LLaDA-8B on a GPU, the paper's setting",
}
LLADA_MMLU_LIKELIHOOD = 65.9
"""LLaDA-8B-Base, likelihood-scored 5-shot MMLU, from LLaDA's EVAL.md (PAPER.md 3.6); context only."""
COLORS = {"vanilla": "#4C72B0", "top_prob": "#DD8452", "margin": "#55A868", "entropy": "#C44E52"}
DPI = 150


# ------------------------------------------------------------------------------------------ aggregation

def fill_command(task: str, scale: str, samplers: list[str], model: str | None = None,
                 variant: str | None = None) -> str:
    """Return the ``harness.run`` command that writes the given samplers of a Table 4 column (``variant``:
    the column's, when something was run)."""
    parts = ["python -m harness.run", f"--task {task}"]
    if task == "mmlu" or (task in RUN_VARIANT and scale == "paper"):
        parts.append(f"--variant {RUN_VARIANT[task]}")
    elif task in RUN_VARIANT and variant:
        parts.append(f"--variant {variant}")
    parts += [f"--sampler {','.join(samplers)}", f"--scale {scale}"]
    if scale == "paper":
        parts.append(f"--model {model or PAPER_MODEL}")
    return " ".join(parts)


def planned_totals(runs: pd.DataFrame, config: list[str]) -> pd.Series:
    """Return n_planned per configuration: max over the files of one (config, seed), since every rank
    shard of a run carries the run's total, then summed over seeds (NaN when no header says)."""
    if runs.empty:
        return pd.Series(dtype=float)
    df = runs[[*config, "seed"]].copy()
    df["planned"] = pd.to_numeric(runs["n_planned"], errors="coerce")
    per_seed = df.groupby([*config, "seed"], dropna=False)["planned"].max()
    return per_seed.groupby(level=list(range(len(config))), dropna=False).sum(min_count=1)


def _num(ex: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(ex[col], errors="coerce") if col in ex else pd.Series(np.nan, index=ex.index)


def text_summary(res) -> pd.DataFrame:
    """Return ``report.summarize`` of the text runs, with n_planned shard-aware and, per configuration:
    shards, mean NFE / generated tokens / masked positions, tokens per second, peak memory, ROUGE and model."""
    summ = R.summarize(res)
    if summ.empty:
        return summ
    planned = planned_totals(res.runs, R.CONFIG)
    summ["n_planned"] = [planned.get(tuple(k), np.nan) for k in summ[R.CONFIG].itertuples(index=False)]
    ex = res.examples
    stats = pd.DataFrame({c: ex[c] for c in R.CONFIG})
    for col in ["nfe", "gen_tokens", "n_masked", "seconds", "peak_mem_mb",
                "metrics.rouge1", "metrics.rouge2", "metrics.rougeL"]:
        stats[col] = _num(ex, col)
    g = stats.groupby(R.CONFIG, dropna=False)
    agg = g[["nfe", "gen_tokens", "n_masked", "metrics.rouge1", "metrics.rouge2", "metrics.rougeL"]].mean()
    agg["peak_mem_mb"] = g["peak_mem_mb"].max()
    sums = g[["gen_tokens", "seconds"]].sum(min_count=1)
    agg["tok_per_s"] = sums["gen_tokens"] / sums["seconds"].where(sums["seconds"] > 0)
    runs = res.runs
    names = runs["model.name"] if "model.name" in runs else pd.Series("?", index=runs.index)
    model = runs.assign(_m=names.fillna("?").astype(str)).groupby(R.CONFIG, dropna=False)["_m"].agg(
        lambda s: ", ".join(sorted(set(s))))
    shards = (runs["world_size"] if "world_size" in runs else pd.Series(np.nan, index=runs.index))
    shard_n = runs.assign(_w=pd.to_numeric(shards, errors="coerce").fillna(1)).groupby(
        R.CONFIG, dropna=False)["_w"].max()
    agg = agg.rename(columns={f"metrics.{k}": k for k in ("rouge1", "rouge2", "rougeL")})
    summ = summ.drop(columns=["nfe"]).merge(agg.reset_index(), on=R.CONFIG, how="left")
    summ["model"] = [model.get(tuple(k), "?") for k in summ[R.CONFIG].itertuples(index=False)]
    summ["world_size"] = [int(shard_n.get(tuple(k), 1)) for k in summ[R.CONFIG].itertuples(index=False)]
    return summ


def pick_variant(summ: pd.DataFrame, task: str) -> str | None:
    """Return the variant shown in a task's main column at one scale (None: nothing suitable was run)."""
    found = [v for v in summ.loc[(summ["task"] == task) & (summ["sampler"] != LIKELIHOOD), "variant"]]
    for v in PREFERRED_VARIANTS.get(task, []):
        if v in found:
            return v
    if task == "mmlu":  # only the generation-scored variant matches the paper's numbers
        return None
    others = sorted(set(found) - {LIKELIHOOD})
    return others[0] if others else None


def pick_tag(rows: pd.DataFrame) -> str | None:
    """Return the decode tag covering the most samplers; ties: more examples, then alphabetical."""
    if rows.empty:
        return None
    ranked = sorted(rows.groupby("decode_tag"), key=lambda kv: (-kv[1]["sampler"].nunique(), -kv[1]["n"].sum(),
                                                                 str(kv[0])))
    return ranked[0][0]


def columns(summ: pd.DataFrame, scale: str) -> list[dict]:
    """Return one dict per Table 4 column at a scale: task, label, variant, tag, cells {sampler: row},
    missing paper samplers and the command that fills them."""
    out = []
    for task in TASKS:
        variant = pick_variant(summ, task)
        rows = summ[(summ["task"] == task) & (summ["variant"] == variant) & (summ["sampler"] != LIKELIHOOD)]
        tag = pick_tag(rows)
        cells = {r["sampler"]: r for _, r in rows[rows["decode_tag"] == tag].iterrows()}
        label = ref.TABLE4_COLUMNS[task]
        if task == "math":
            label += f" [{variant or (RUN_VARIANT['math'] if scale == 'paper' else 'not run')}]"
        elif task == "mmlu":
            label += " [gen]"
        elif variant not in (None, *PREFERRED_VARIANTS.get(task, [])):
            label += f" [{variant}]"
        missing = [s for s in PAPER_SAMPLERS if s not in cells or cells[s]["n"] == 0]
        incomplete = [s for s, c in cells.items()
                      if c["n"] and not pd.isna(c["n_planned"]) and c["n"] < c["n_planned"]]
        out.append({"task": task, "label": label, "variant": variant, "tag": tag, "cells": cells,
                    "missing": missing, "incomplete": incomplete,
                    "command": fill_command(task, scale, missing, variant=variant) if missing else None})
    return out


def paired_diff(ex: pd.DataFrame, a: str, b: str) -> tuple[float, float, int]:
    """Return (mean, SE, n) in points of score(a) - score(b) over the ids both samplers decoded."""
    def pick(s):
        return ex[ex["sampler"] == s].groupby("id")["score"].mean()
    d = (pick(a) - pick(b)).dropna()
    if d.empty:
        return math.nan, math.nan, 0
    se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.nan
    return 100 * float(d.mean()), 100 * se, len(d)


def column_examples(ex: pd.DataFrame, scale: str, col: dict) -> pd.DataFrame:
    """Return the examples behind one main-table column (its task, variant and decode tag)."""
    return ex[(ex["scale"] == scale) & (ex["task"] == col["task"]) & (ex["variant"] == col["variant"])
              & (ex["decode_tag"] == col["tag"])]


# ------------------------------------------------------------------------------------------- markdown

def not_run_text(scale: str, command: str | None) -> str:
    """Return the text of a cell that has no examples at a scale."""
    reason = f" ({NOT_RUN_REASON})" if scale == "paper" else ""
    return f"not run{reason}: `{command}`" if command else f"not run{reason}"


def main_table(scale: str, cols: list[dict]) -> str:
    """Return the main Table 4 of one scale: ours beside the paper's number in every column."""
    extra = R.ordered([s for c in cols for s in c["cells"] if s not in PAPER_SAMPLERS], R.SAMPLER_ORDER)
    head = ["Method"]
    for c in cols:
        head += [f"{c['label']} · ours ({scale})", f"{ref.TABLE4_COLUMNS[c['task']]} · paper (LLaDA-8B)"]
    rows = []
    for s in PAPER_SAMPLERS + extra:
        if s == (extra[0] if extra else None):
            rows.append(["*not in the paper:*"] + [""] * (len(head) - 1))
        row = [ref.SAMPLER_LABELS.get(s, s)]
        for c in cols:
            cell = c["cells"].get(s)
            ours = R.fmt_cell(cell, "score") if cell is not None and cell["n"] else \
                not_run_text(scale, c["command"] if s in PAPER_SAMPLERS else None)
            paper = ref.TABLE4[c["task"]].get(s)
            row += [ours, "—" if paper is None else f"{paper:.2f}" if c["task"] == "rocstories" else f"{paper:.1f}"]
        rows.append(row)
    return R.md_table(head, rows)


def comparison(ex: pd.DataFrame, scale: str, cols: list[dict]) -> str:
    """Return the computed adaptive-minus-vanilla differences (paired over the same examples) beside the
    paper's differences, one row per column where both samplers ran."""
    rows = []
    for c in cols:
        e = column_examples(ex, scale, c)
        paper = ref.TABLE4[c["task"]]
        cells = []
        for s in ("top_prob", "margin"):
            d, se, n = paired_diff(e, s, "vanilla")
            cells += [f"{d:+.1f}" + ("" if math.isnan(se) else f" ± {se:.1f}") + f" (n={n})" if n else "—",
                      f"{paper[s] - paper['vanilla']:+.2f}"]
        if any(x != "—" for x in cells[::2]):
            rows.append([c["label"], *cells])
    if not rows:
        return ""
    return ("**Adaptive minus vanilla** (points, computed from the records, paired over the examples both "
            "samplers decoded; ± one standard error of the per-example difference):\n\n"
            + R.md_table(["Column", f"top_prob − vanilla · ours ({scale})", "· paper",
                          f"margin − vanilla · ours ({scale})", "· paper"], rows))


def likelihood_table(summ: pd.DataFrame, scale: str) -> str:
    """Return MMLU scored by Monte-Carlo likelihood of each choice (secondary: not the paper's column)."""
    rows = summ[(summ["task"] == "mmlu") & ((summ["sampler"] == LIKELIHOOD) | (summ["variant"] == LIKELIHOOD))]
    text = (f"**MMLU scored by likelihood** (Monte-Carlo ELBO of each choice; the sampler plays no part). Not "
            f"the paper's column: Table 4's MMLU 33.2–36.5 look generation-scored (PAPER.md 3.6), while LLaDA "
            f"reports {LLADA_MMLU_LIKELIHOOD} for LLaDA-8B-Base scored by likelihood (5-shot, LLaDA EVAL.md).")
    if rows.empty:
        cmd = (f"python -m harness.run --task mmlu --variant likelihood --scale {scale}"
               + (f" --model {PAPER_MODEL}" if scale == "paper" else ""))
        return text + f"\n\nNot run at scale `{scale}`: `{cmd}`."
    table = [[r["variant"], r["sampler"], r["decode_tag"], R.fmt_cell(r, "score"), r["model"]]
             for _, r in rows.iterrows()]
    return text + "\n\n" + R.md_table(["variant", "sampler", "decode tag", f"accuracy % · ours ({scale})", "model"],
                                      table)


def _fmt(x, digits=1) -> str:
    return "—" if x is None or pd.isna(x) else f"{x:.{digits}f}"


def runs_table(summ: pd.DataFrame, cols: list[dict]) -> str:
    """Return every text configuration of one scale with its cost and generation statistics."""
    main = {(c["task"], c["variant"], c["tag"]) for c in cols}
    order = {t: i for i, t in enumerate(TASKS)}
    summ = summ.assign(_t=summ["task"].map(order), _s=summ["sampler"].map(
        {s: i for i, s in enumerate(R.SAMPLER_ORDER)}).fillna(99))
    rows = []
    for r in summ.sort_values(["_t", "variant", "decode_tag", "_s", "sampler"]).itertuples(index=False):
        planned = "" if pd.isna(r.n_planned) else f"/{int(r.n_planned)}"
        rouge = " / ".join(_fmt(100 * v) for v in (r.rouge1, r.rouge2, r.rougeL)) if r.task == "rocstories" else ""
        rows.append([r.task, r.variant, r.sampler, r.decode_tag,
                     "✓" if (r.task, r.variant, r.decode_tag) in main and r.sampler != LIKELIHOOD else "",
                     f"{r.files}" + (f" ({r.world_size} ranks)" if r.world_size > 1 else ""),
                     f"{r.n}{planned}", _fmt(r.score) + ("" if pd.isna(r.score_se) else f" ± {r.score_se:.1f}"),
                     _fmt(r.nfe), _fmt(r.gen_tokens), _fmt(r.n_masked), _fmt(r.tok_per_s, 2),
                     _fmt(r.peak_mem_mb, 0), rouge, r.model])
    return ("**All runs at this scale** (seeds and rank shards pooled; tokens/s = generated content tokens / "
            "decode seconds; peak memory = max over records, GPU allocator on CUDA, process RSS on CPU; "
            "ROUGE-1 / 2 / L F1 x100 for ROCStories):\n\n"
            + R.md_table(["task", "variant", "sampler", "decode tag", "in main table", "files", "n", "score %",
                          "mean NFE", "mean gen. tokens", "mean masked pos.", "tokens/s", "peak mem MB",
                          "ROUGE-1/2/L", "model"], rows))


def _model_line(runs: pd.DataFrame) -> str:
    """Return the distinct models of these runs with their parameter count, dtype, type and mask id."""
    cols = ["model.name", "model.path", "model.params", "model.dtype", "model.model_type", "model.mask_id"]
    df = pd.DataFrame({c: runs[c] if c in runs else np.nan for c in cols}).astype(object)
    out = []
    for name, path, params, dtype, mtype, mask in df.where(df.notna(), None).drop_duplicates().itertuples(index=False):
        p = pd.to_numeric(params, errors="coerce")
        size = "" if pd.isna(p) else (f"{p / 1e9:.2f}B params" if p >= 1e9 else f"{p / 1e6:.2f}M params")
        bits = [b for b in [size, dtype and f"dtype {dtype}", mtype and f"type {mtype}",
                            mask is not None and f"mask id {mask}",
                            path and path != name and f"from `{path}`"] if b]
        out.append(f"`{name or '?'}`" + (f" ({', '.join(bits)})" if bits else ""))
    return "; ".join(out) or "unknown"


def _val(v, key: str = "") -> str:
    """Return a header value for display: integral floats as ints, steps 0 as one token per step."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if key.endswith("steps") and v == 0:
        return "0 (one token per step)"
    return str(v)


def settings_table(runs: pd.DataFrame) -> str:
    """Return the decode settings of one scale's runs: mode, lengths, steps, chat and the decode knobs."""
    text_cols = {"mode": "text.mode", "gen_length": "text.gen_length", "block_length": "text.block_length",
                 "steps": "text.steps", "chat": "text.chat"}
    knob_cols = sorted(c for c in runs if c.startswith("decode.") and c != "decode_tag")
    rows = []
    keys = ["task", "variant", "decode_tag"]
    for key, grp in runs.groupby(keys, sort=True):
        first = grp.iloc[0]
        vals = ["/".join(sorted({_val(v, c) for v in grp[c].dropna()})) or "—" if c in grp else "—"
                for c in text_cols.values()]
        knobs = ", ".join(f"{c[7:]}={_val(first[c], c)}" for c in knob_cols if not pd.isna(first[c]))
        rows.append([*key, ", ".join(R.ordered(grp["sampler"], R.SAMPLER_ORDER)), *vals, knobs or "—"])
    rows.sort(key=lambda r: (TASKS.index(r[0]) if r[0] in TASKS else 99, r[1], r[2]))
    return R.md_table(["task", "variant", "decode tag", "samplers", *text_cols, "decode knobs"], rows)


def header_note(scale: str, runs: pd.DataFrame) -> str:
    """Return the provenance of one scale: stamp (commit, device, counts), model and library versions."""
    versions = [f"{lib} {'/'.join(R.uniq(runs, f'env.{lib}'))}" for lib in ("torch", "transformers")
                if R.uniq(runs, f"env.{lib}")]
    return "\n\n".join([R.stamp(scale, runs), f"Model: {_model_line(runs)}."
                        + (f" Libraries: {', '.join(versions)}." if versions else ""),
                        "Decode settings:\n\n" + settings_table(runs)])


def fill_section(cols: list[dict]) -> str:
    """Return the commands that fill the paper-scale table, one per task with a missing cell."""
    lines = [f"- {c['label']}: `{c['command']}`" for c in cols if c["command"]]
    inc = [f"- {c['label']}: {', '.join(c['incomplete'])} incomplete; re-running the command that started it "
           f"(same knobs) resumes it" for c in cols if c["incomplete"]]
    if not lines and not inc:
        return "## To fill the paper-scale table\n\nEvery paper-scale cell has been run."
    return "\n\n".join(p for p in [
        "## To fill the paper-scale table",
        f"Each command {NOT_RUN_REASON} (about 16 GB of bf16 weights; `--model` also takes a local directory). "
        "Runs resume: finished examples are skipped.",
        "\n".join(lines), "\n".join(inc)] if p)


# ------------------------------------------------------------------------------------------------ figure

def plot_scale(scale: str, cols: list[dict], commit: str, path: Path) -> None:
    """Write the grouped bars of one scale: ours per sampler (± SE, n above each bar) per column, the
    paper's LLaDA-8B numbers as diamonds at the matching sampler's bar."""
    samplers = R.ordered([s for c in cols for s in c["cells"] if c["cells"][s]["n"]] + PAPER_SAMPLERS,
                         R.SAMPLER_ORDER)
    fig = Figure(figsize=(12, 5), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(cols))
    width = 0.8 / len(samplers)
    top = 40.0
    ns = []
    for j, s in enumerate(samplers):
        off = x - 0.4 + width * (j + 0.5)
        color = COLORS.get(s, f"C{j + 4}")
        cells = [c["cells"].get(s) for c in cols]
        vals = np.array([c["score"] if c is not None and c["n"] else np.nan for c in cells])
        errs = np.array([c["score_se"] if c is not None and c["n"] else np.nan for c in cells])
        ax.bar(off, np.nan_to_num(vals), width, yerr=np.where(np.isnan(errs), 0, errs), capsize=2, color=color,
               label=f"ours ({scale}) · {s}")
        paper = [ref.TABLE4[c["task"]].get(s, np.nan) for c in cols]
        if not all(np.isnan(paper)):
            ax.scatter(off, paper, marker="D", s=36, color=color, edgecolor="black", zorder=3,
                       label=f"paper LLaDA-8B · {s}")
        for xo, v, c in zip(off, vals, cells):
            if np.isnan(v):
                ax.text(xo, 1, "not run", rotation=90, ha="center", va="bottom", fontsize=7, color="0.4")
            else:
                ns.append(int(c["n"]))
                hi = v + (0 if np.isnan(c["score_se"]) else c["score_se"])
                ax.text(xo, hi + 0.5, f"n={int(c['n'])}", rotation=90, ha="center", va="bottom", fontsize=6.5)
                top = max(top, hi + 12)
    ax.set_xticks(x, [c["label"].replace(" [", "\n[") for c in cols], fontsize=8)
    ax.set_ylabel("score x100 (pass@1 · accuracy · ROUGE-L F1)")
    ax.set_ylim(0, min(top, 105))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    nrange = "n=0" if not ns else (f"n={min(ns)}" if min(ns) == max(ns) else f"n={min(ns)}–{max(ns)}")
    note = {"paper": "LLaDA-8B", "small": "our small text MDM on CPU: pipeline check, not the paper's model",
            "smoke": "smoke run: plumbing check, not the paper's model"}.get(scale, scale)
    ax.set_title(f"scale {scale} ({note}) · commit {commit} · {nrange} per cell · diamonds: paper (LLaDA-8B)",
                 fontsize=8.5)
    fig.suptitle(f"Table 4 · text tasks: decoding order (vanilla vs adaptive) · scale {scale}", fontsize=11)
    fig.savefig(path)


# ------------------------------------------------------------------------------------------------ render

def render_table4(res, out: Path):
    """Return Table 4 (text tasks) for every scale found plus the paper-scale table, writing
    ``table4_<scale>.png`` per scale with results; None when there are no text results."""
    runs = res.runs[res.runs["task"].isin(TASKS)]
    if runs.empty:
        return None
    sub = R.Results(runs, res.examples[res.examples["task"].isin(TASKS)])
    summ = text_summary(sub)
    meta = ref.TABLES["table4"]
    md = [f"# {meta.name}", f"> Paper caption: *{meta.caption}*",
          f"Paper model: {meta.model}; paper metric: {meta.metric}. Our metrics: HumanEval pass@1, Math exact "
          f"match, MMLU accuracy, ROCStories ROUGE-L F1 (x100). Notes: " + " ".join(meta.notes),
          "Cells: our mean x100 ± one standard error over examples (n; n/planned while a run is incomplete), "
          "beside the paper's LLaDA-8B number. Each column uses one variant and one decode tag (the tag that "
          "covers the most samplers); every run is listed under the scale's *All runs*."]
    figures, paper_cols = [], None
    for scale in R.ordered([*runs["scale"], "paper"], R.SCALE_ORDER):
        sr, ss = runs[runs["scale"] == scale], summ[summ["scale"] == scale] if not summ.empty else summ
        cols = columns(ss, scale)
        if scale == "paper":
            paper_cols = cols
        md.append(f"## Scale `{scale}`: {SCALE_NOTES.get(scale, 'our run')}")
        if sr.empty:
            md += [f"Nothing has been run at scale `{scale}` yet; every cell below is a paper number beside "
                   "the command that fills ours.", main_table(scale, cols), likelihood_table(ss, scale)]
            continue
        commit = R.commits_label(sr)
        md += [header_note(scale, sr), main_table(scale, cols), comparison(sub.examples, scale, cols),
               likelihood_table(ss, scale), runs_table(ss, cols)]
        name = f"table4_{scale}.png"
        plot_scale(scale, cols, commit, out / name)
        md.append(f"![Table 4 · scale {scale}]({name})")
        figures.append(name)
    md.append(fill_section(paper_cols))
    return R.Rendered(meta.name, "\n\n".join(m for m in md if m) + "\n", figures)
