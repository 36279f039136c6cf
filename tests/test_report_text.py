"""Table 4 (text tasks) is rendered from results JSONL only: ours beside the paper's LLaDA-8B numbers, one table
per scale, rank shards pooled without double counting, and every paper-scale cell not run carrying the command
that fills it."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.report import reference as ref
from harness.report import records
from harness.report import text as rt

from conftest import heavy_modules_after_report

REPO = Path(__file__).resolve().parents[1]
TAG = "s64-T0-g0"
MODES = {"humaneval_single": "infill", "math": "generate", "mmlu": "generate", "rocstories": "infill"}


def header(task, variant, sampler, n_planned, rank=None, world=None, scale="small"):
    """Return a text-task header as the runner writes it."""
    h = {"type": "header", "schema": 1, "task": task, "variant": variant, "scale": scale, "sampler": sampler,
         "seed": 0, "decode": {"steps": 64, "temperature": 0.0, "gumbel": 0.0, "block_length": 32},
         "decode_tag": TAG, "n_planned": n_planned,
         "model": {"name": "tokenorder-text-small", "path": "checkpoints/small/text/mdm", "params": 3_400_000,
                   "dtype": "float32", "model_type": "tokenorder_mdm", "mask_id": 7},
         "text": {"mode": "likelihood" if sampler == "likelihood" else MODES[task], "gen_length": 64,
                  "block_length": 32, "steps": 64, "chat": False},
         "env": {"commit": "feed123", "dirty": False, "device": "cpu", "device_name": "x86_64 CPU, 4 threads",
                 "torch": "2.13.0", "transformers": "4.57.0"},
         "started": "2026-12-01T10:00:00Z"}
    if world is not None:
        h.update(rank=rank, world_size=world)
    return h


def example(i, score, task):
    """Return one example record; ROCStories carries ROUGE metrics, the others a 0/1 score."""
    rec = {"type": "example", "id": f"{task}/{i}", "score": score, "correct": score >= 0.5, "nfe": 64,
           "gen_tokens": 10 + i, "n_masked": 12, "seconds": 0.5, "peak_mem_mb": 900.0 + i, "steps": 64,
           "meta": {"n_infill": 12}}
    if task == "rocstories":
        rec["metrics"] = {"rouge1": min(1.0, score + 0.1), "rouge2": score / 2, "rougeL": score}
    else:
        rec["metrics"] = {"pred": "A", "ref": "A" if score else "B"}
    return rec


def write(root, hdr, records, suffix=""):
    """Write one results file in the documented layout (with an optional rank suffix); return its path."""
    path = (Path(root) / hdr["scale"] / hdr["task"] / hdr["variant"]
            / f"{hdr['sampler']}__{hdr['decode_tag']}__seed{hdr['seed']}{suffix}.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r) for r in [hdr, *records]) + "\n")
    return path


HE_VANILLA = [1, 0, 0, 1, 0, 0]
HE_MARGIN = [1, 1, 0, 1, 0, 1]
MATH_VANILLA = [0, 0, 1, 0]
MATH_MARGIN = [1, 0, 1, 0]
ROC_VANILLA = [0.2, 0.3, 0.25, 0.1, 0.15]
ROC_MARGIN = [0.3, 0.35, 0.2, 0.25, 0.3]   # ids 0..4, split over two rank shards, id 2 written by both


@pytest.fixture
def tree(tmp_path):
    """Return a results tree: three tasks x two samplers at small scale; ROCStories margin in two rank shards."""
    root = tmp_path / "results"
    for task, variant, scores in [("humaneval_single", "infill", {"vanilla": HE_VANILLA, "margin": HE_MARGIN}),
                                  ("math", "test", {"vanilla": MATH_VANILLA, "margin": MATH_MARGIN}),
                                  ("rocstories", "infill", {"vanilla": ROC_VANILLA})]:
        for sampler, s in scores.items():
            write(root, header(task, variant, sampler, len(s)), [example(i, v, task) for i, v in enumerate(s)])
    recs = [example(i, v, "rocstories") for i, v in enumerate(ROC_MARGIN)]
    # Each shard header carries the run's total n_planned (5); id 2 was recorded by both ranks.
    write(root, header("rocstories", "infill", "margin", 5, rank=0, world=2), [recs[0], recs[2], recs[4]],
          "__rank0of2")
    write(root, header("rocstories", "infill", "margin", 5, rank=1, world=2), [recs[1], recs[2], recs[3]],
          "__rank1of2")
    return root


def cell(scores, n_text):
    """Return the report's expected cell text."""
    a = 100 * np.asarray(scores, dtype=float)
    return f"{a.mean():.1f} ± {a.std(ddof=1) / math.sqrt(len(a)):.1f} ({n_text})"


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def section(md, scale):
    """Return the markdown of one scale's section."""
    start = md.index(f"## Scale `{scale}`")
    end = md.find("\n## ", start + 1)
    return md[start:end if end >= 0 else None]


def render(tree, out):
    with pytest.warns(records.MalformedLineWarning, match="1 duplicate example records"):
        res = records.load_results(tree)
    out.mkdir(parents=True, exist_ok=True)
    return res, rt.render_table4(res, out)


def test_pooled_cells_beside_paper(tree, tmp_path):
    res, r = render(tree, tmp_path / "reports")
    small = section(r.markdown, "small")
    assert "our small text MDM trained on CPU, a pipeline check" in small
    head = next(line for line in small.splitlines() if line.startswith("| Method |"))
    assert cells(head)[1:5] == ["HumanEval-Single · ours (small)", "HumanEval-Single · paper (LLaDA-8B)",
                                "HumanEval-Multi · ours (small)", "HumanEval-Multi · paper (LLaDA-8B)"]
    assert "Math [test] · ours (small)" in head and "MMLU [gen] · ours (small)" in head
    van = cells(next(line for line in small.splitlines() if line.startswith("| Vanilla |")))
    mar = cells(next(line for line in small.splitlines() if line.startswith("| Top prob. margin |")))
    # Ours beside the paper's number, column by column.
    assert van[1:3] == [cell(HE_VANILLA, "n=6"), "31.8"]
    assert mar[1:3] == [cell(HE_MARGIN, "n=6"), "33.5"]
    assert van[7:9] == [cell(MATH_VANILLA, "n=4"), "28.5"]
    assert van[11:13] == [cell(ROC_VANILLA, "n=5"), "21.23"]
    # Rank shards pooled: 5 distinct ids, the duplicate dropped, n_planned not doubled.
    assert mar[11:13] == [cell(ROC_MARGIN, "n=5"), "21.41"]
    summ = rt.text_summary(records.Results(res.runs, res.examples))
    roc = summ[(summ["task"] == "rocstories") & (summ["sampler"] == "margin")].iloc[0]
    assert roc["n"] == 5 and roc["n_planned"] == 5 and roc["files"] == 2 and roc["world_size"] == 2
    # Top probability was never run at small scale: small-scale command, no paper reason.
    top = cells(next(line for line in small.splitlines() if line.startswith("| Top probability |")))
    assert top[1] == "not run: `python -m harness.run --task humaneval_single --sampler top_prob --scale small`"
    assert top[2] == "32.9"


def test_paper_scale_cells_carry_commands(tree, tmp_path):
    _, r = render(tree, tmp_path / "reports")
    paper = section(r.markdown, "paper")
    assert "LLaDA-8B on a GPU" in paper and "Nothing has been run at scale `paper`" in paper
    row = cells(next(line for line in paper.splitlines() if line.startswith("| Top prob. margin |")))
    cmd = ("python -m harness.run --task humaneval_multi --sampler vanilla,top_prob,margin --scale paper "
           "--model GSAI-ML/LLaDA-8B-Base")
    assert row[3] == f"not run (needs LLaDA-8B weights and a GPU): `{cmd}`" and row[4] == "25.4"
    assert "--task math --variant test --sampler vanilla,top_prob,margin --scale paper" in row[7]
    assert "--task mmlu --variant gen --sampler vanilla,top_prob,margin --scale paper" in row[9]
    # No small-scale number ever appears in the paper-scale table.
    assert cell(HE_MARGIN, "n=6") not in paper
    fill = r.markdown[r.markdown.index("## To fill the paper-scale table"):]
    commands = [line for line in fill.splitlines() if line.startswith("- ")]
    assert len(commands) == 6 and f"`{cmd}`" in fill
    assert all(c.count("python -m harness.run") == 1 for c in commands)


def test_secondary_tables_and_settings(tree, tmp_path):
    _, r = render(tree, tmp_path / "reports")
    small = section(r.markdown, "small")
    assert "commit feed123" in small and "device cpu (x86_64 CPU, 4 threads)" in small
    assert "`tokenorder-text-small` (3.40M params, dtype float32, type tokenorder_mdm, mask id 7" in small
    assert "torch 2.13.0" in small and "transformers 4.57.0" in small
    settings = next(line for line in small.splitlines() if line.startswith("| math | test |"))
    assert "generate" in settings and "steps=64" in settings
    roc = cells(next(line for line in small.splitlines()
                     if line.startswith("| rocstories | infill | margin |")))
    assert roc[5] == "2 (2 ranks)" and roc[6] == "5/5"
    recs = [example(i, v, "rocstories") for i, v in enumerate(ROC_MARGIN)]
    assert roc[11] == f"{sum(x['gen_tokens'] for x in recs) / (0.5 * 5):.2f}"          # tokens/s
    rouge = [f"{100 * np.mean([x['metrics'][k] for x in recs]):.1f}" for k in ("rouge1", "rouge2", "rougeL")]
    assert roc[13] == " / ".join(rouge)
    assert "**Adaptive minus vanilla**" in small
    diff = 100 * (np.mean(HE_MARGIN) - np.mean(HE_VANILLA))
    he = next(line for line in small.splitlines() if line.startswith("| HumanEval-Single |"))
    assert f"{diff:+.1f}" in he and "+1.70" in he                       # paper: 33.5 - 31.8


def test_figure_written(tree, tmp_path):
    out = tmp_path / "reports"
    _, r = render(tree, out)
    assert r.figures == ["table4_small.png"]
    data = (out / "table4_small.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert "](table4_small.png)" in r.markdown


def test_mmlu_likelihood_and_math500(tmp_path):
    """MMLU's main column is the generation-scored variant; likelihood goes to its own table; Math falls back
    to math500 and says so."""
    root = tmp_path / "results"
    write(root, header("mmlu", "likelihood", "likelihood", 4),
          [example(i, v, "mmlu") for i, v in enumerate([1, 1, 0, 1])])
    write(root, header("math", "math500", "vanilla", 3), [example(i, v, "math") for i, v in enumerate([1, 0, 0])])
    res = records.load_results(root)
    r = rt.render_table4(res, tmp_path)
    small = section(r.markdown, "small")
    head = next(line for line in small.splitlines() if line.startswith("| Method |"))
    assert "Math [math500] · ours (small)" in head
    van = cells(next(line for line in small.splitlines() if line.startswith("| Vanilla |")))
    assert van[7] == cell([1, 0, 0], "n=3")
    assert van[9].startswith("not run: `python -m harness.run --task mmlu --variant gen")
    top = cells(next(line for line in small.splitlines() if line.startswith("| Top probability |")))
    assert top[7] == ("not run: `python -m harness.run --task math --variant math500 --sampler top_prob,margin "
                      "--scale small`")
    lik = next(line for line in small.splitlines() if line.startswith("| likelihood | likelihood |"))
    assert cell([1, 1, 0, 1], "n=4") in lik
    assert "No results" not in r.markdown and "65.9" in small


def test_cli_writes_table4(tree, tmp_path):
    out = tmp_path / "reports"
    proc = subprocess.run([sys.executable, "-W", "ignore", "-m", "harness.report", "--results", str(tree),
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "table4" in proc.stdout
    md = (out / "table4.md").read_text()
    assert md.startswith(f"# {ref.TABLES['table4'].name}") and "## To fill the paper-scale table" in md
    assert (out / "table4_small.png").exists()
    index = (out / "index.md").read_text()
    assert "(table4.md)" in index and "(table4_small.png)" in index
    assert not (out / "table1.md").exists()


def test_no_text_results_no_table4(tmp_path):
    root = tmp_path / "results"
    write(root, {**header("humaneval_single", "infill", "vanilla", 1), "task": "sudoku"}, [example(0, 1, "x")])
    assert rt.render_table4(records.load_results(root), tmp_path) is None


def test_report_text_does_not_import_torch(tree, tmp_path):
    assert heavy_modules_after_report(tree, tmp_path / "r2") == []
