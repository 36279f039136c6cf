"""The report reads a results tree (JSONL only) and renders Table 1 beside the paper's numbers."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from harness.report import reference as ref
from harness.report import build as report
from harness.report import records

from conftest import heavy_modules_after_report

STEPS = 50


def header(N, P, sampler, seed=0, tag="s50-T1-g0", n_planned=40, commit="abc1234", dirty=False, steps=STEPS):
    """Return a header record following schema 1."""
    return {"type": "header", "schema": 1, "task": "lo_nae_sat", "variant": f"N{N}_P{P}", "scale": "small",
            "sampler": sampler, "seed": seed, "n_planned": n_planned,
            "decode": {"steps": steps, "temperature": 1.0, "gumbel": 0.0, "gumbel_schedule": "constant",
                       "block_length": None, "remask": False, "k_schedule": "uniform"},
            "decode_tag": tag,
            "model": {"preset": "0.8M", "params": 812345, "non_embedding_params": 790000, "objective": "mdm",
                      "train_iters": 3000, "batch_size": 128, "train_seconds": 400.0, "final_loss": 0.21,
                      "checkpoint": f"checkpoints/small/lo_nae_sat/N{N}_P{P}/mdm-seed0"},
            "task_info": {"N": N, "P": P, "naive_guess": 0.7502,
                          "learning_check": {"obs_given_latents_acc": 0.991, "latents_given_obs_acc": 0.61}},
            "env": {"commit": commit, "dirty": dirty, "python": "3.11.7", "torch": "2.13.0", "device": "cpu",
                    "device_name": "x86_64 CPU, 2 threads"},
            "started": "2026-11-23T15:00:00Z"}


def example(i, score, N, P, latents_first, rng, steps=STEPS):
    """Return an example record whose reveal order puts latents early when latents_first."""
    key = rng.random(N + P) + (np.r_[np.zeros(N), np.ones(P)] if latents_first else 0)
    order = np.argsort(np.argsort(key)) * steps // (N + P)
    return {"type": "example", "id": str(i), "input": "", "output": "0" * (N + P), "correct": score == 1.0,
            "score": score, "metrics": {"obs_acc": score, "consistent": score == 1.0},
            "order": [int(o) for o in order], "steps": steps, "nfe": steps, "gen_tokens": N + P, "seconds": 0.1}


def write_run(root, hdr, scores, latents_first=False, seed=0, extra_lines=()):
    """Write one results file in the documented layout and return its path."""
    rng = np.random.default_rng(seed)
    N, P = hdr["task_info"]["N"], hdr["task_info"]["P"]
    path = (Path(root) / hdr["scale"] / hdr["task"] / hdr["variant"]
            / f"{hdr['sampler']}__{hdr['decode_tag']}__seed{hdr['seed']}.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(hdr)] + [json.dumps(example(i, s, N, P, latents_first, rng)) for i, s in enumerate(scores)]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n")
    return path


# Scores chosen so the expected cells are easy to recompute.
VANILLA_25 = [0.70, 0.80, 0.75, 0.78, 0.76, 0.74, 0.79, 0.77]
MARGIN_25 = [1.0, 0.96, 0.92, 1.0, 0.94, 1.0, 0.98, 0.9]
MARGIN_25_SEED1 = [1.0, 1.0, 0.88, 0.97]
VANILLA_50 = [0.85, 0.86, 0.84, 0.85]   # vanilla well above naive guessing: claim must fail here
MARGIN_50 = [0.84, 0.86, 0.85, 0.85]
SWEEP_25 = [0.5, 0.6]                    # a non-default decode tag


@pytest.fixture
def tree(tmp_path):
    """Return a fake results directory: two variants, three samplers, two seeds, one extra decode tag."""
    root = tmp_path / "results"
    write_run(root, header(25, 275, "vanilla", n_planned=8), VANILLA_25)
    write_run(root, header(25, 275, "margin", n_planned=8), MARGIN_25, latents_first=True)
    write_run(root, header(25, 275, "margin", seed=1, n_planned=8, dirty=True), MARGIN_25_SEED1,
              latents_first=True, seed=1,
              extra_lines=['{"type": "example", "id": "99", "score": 0.', ""])  # truncated trailing line
    write_run(root, header(25, 275, "top_prob", n_planned=8), [0.9] * 8, latents_first=True)
    write_run(root, header(25, 275, "margin", tag="s100-T1-g0", steps=100), SWEEP_25)
    write_run(root, header(50, 250, "vanilla", n_planned=4), VANILLA_50)
    write_run(root, header(50, 250, "margin", n_planned=4), MARGIN_50, latents_first=True)
    return root


def cell(scores, n_text):
    """Return the report's expected cell text for these scores."""
    a = 100 * np.asarray(scores)
    return f"{a.mean():.1f} ± {a.std(ddof=1) / math.sqrt(len(a)):.1f} ({n_text})"


def cells(line):
    """Return the stripped cells of one markdown table row."""
    return [c.strip() for c in line.strip().strip("|").split("|")]


def run_report(tree, tmp_path):
    """Run the report on tree; return (reports dir, table1 markdown)."""
    out = tmp_path / "reports"
    with pytest.warns(records.MalformedLineWarning, match="malformed line skipped"):
        assert report.main(["--results", str(tree), "--out", str(out)]) == 0
    return out, (out / "table1.md").read_text()


def test_table1_numbers_beside_paper(tree, tmp_path):
    out, md = run_report(tree, tmp_path)
    row25 = next(line for line in md.splitlines() if line.startswith("| (25, 275) |") and "78.06" in line)
    assert "93.76" in row25
    assert cell(VANILLA_25, "n=8") in row25
    assert cell(MARGIN_25 + MARGIN_25_SEED1, "n=12/16, 2 seeds") in row25
    assert cell([0.9] * 8, "n=8").split(" ±")[0] in row25
    assert "75.0" in row25 and "99.1" in row25                # measured naive guess, learning check
    # Paper rows never run still appear, marked as such.
    row100 = next(line for line in md.splitlines() if line.startswith("| (100, 200) |"))
    assert "62.84" in row100 and "88.91" in row100 and "not run" in row100
    # Paper and ours are visibly separate column groups.
    assert "Paper 19M · vanilla" in md and "Ours small · margin" in md


def test_stamps_and_default_decode(tree, tmp_path):
    out, md = run_report(tree, tmp_path)
    assert "**Scale `small`**" in md
    assert "abc1234 (dirty)" in md
    assert "device cpu (x86_64 CPU, 2 threads)" in md
    assert "Ours (small, 0.8M MDM, 3000 iters)" in md
    assert "2026-11-23" in md
    # The s100 sweep is not in the main table but is listed under All runs.
    main_part, all_runs = md.split("## All runs")
    assert cell(SWEEP_25, "n=2") not in main_part
    sweep = next(line for line in all_runs.splitlines() if "s100-T1-g0" in line)
    assert "55.0 ± 5.0" in sweep and cells(sweep)[-1] == ""          # not in the main table
    assert "| small | N25_P275 | margin | s50-T1-g0 | 0,1 | 12/16 |" in all_runs


def test_verdict_is_computed(tree, tmp_path):
    _, md = run_report(tree, tmp_path)
    verdict = next(line for line in md.splitlines() if line.startswith("**Verdict (small, unconditional).**"))
    assert "does **not** hold for (50, 250)" in verdict
    assert "it holds for (25, 275)" in verdict
    # paired by example id: seeds of one configuration are averaged per id first
    per_id = [np.mean([m] + ([MARGIN_25_SEED1[i]] if i < len(MARGIN_25_SEED1) else [])) for i, m in enumerate(MARGIN_25)]
    d = 100 * (np.array(per_id) - np.array(VANILLA_25))
    se = d.std(ddof=1) / math.sqrt(len(d))
    assert "(25, 275): margin beats vanilla" in verdict
    assert f"paired difference {d.mean():+.1f} ± {se:.1f} points over 8 sequences, more than 3 SE" in verdict
    assert "(50, 250): margin does not clearly beat vanilla" in verdict
    assert "above the naive-guess rate 75.0" in verdict


def test_unlearned_model_is_never_a_verdict(tmp_path):
    root = tmp_path / "results"
    for sampler, scores in (("vanilla", VANILLA_25), ("margin", MARGIN_25)):
        h = header(25, 275, sampler, n_planned=8)
        h["task_info"]["learning_check"]["obs_given_latents_acc"] = 0.75
        h["task_info"]["learning_check_learned_at"] = {"obs_given_latents_acc": 0.95}
        write_run(root, h, scores)
    out = tmp_path / "reports"
    assert report.main(["--results", str(root), "--out", str(out)]) == 0
    md = (out / "table1.md").read_text()
    verdict = next(line for line in md.splitlines() if line.startswith("**Verdict (small, unconditional).**"))
    assert "No learned model to compare yet" in verdict and "**not a result**" in verdict
    assert "| **no** |" in md


def test_figures_and_index(tree, tmp_path):
    out, md = run_report(tree, tmp_path)
    for name in ["table1.png", "lo_order.png"]:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        assert f"]({name})" in md
    index = (out / "index.md").read_text()
    assert "(table1.md)" in index and "(table1.png)" in index and "(lo_order.png)" in index
    # the index gathers every report in full (headings one level down) after an overview of all of them
    assert "\n## Table 1 - L&O-NAE-SAT\n" in index and "| [Table 1 - L&O-NAE-SAT](#table-1---lo-nae-sat) |" in index
    overview = [line for line in index.splitlines() if line.startswith("| ") and "[V3]" in line]
    assert len(overview) == len(report.RENDERERS)
    fig3 = next(line for line in overview if line.startswith("| Figure 3"))
    assert "not run yet" in fig3 and "python -m harness.figure genppl" in fig3
    # Latents are revealed earlier than observations under margin in the fake data.
    order_row = next(line for line in md.splitlines() if line.startswith("| (25, 275) |") and " / " in line)
    lat, obs = (float(x) for x in cells(order_row)[3].split(" / "))  # columns: vanilla, top_prob, margin
    assert lat < obs


def test_demote_headings_leaves_code_alone():
    md = "# Title\n\n## Sub\n```bash\n# a comment\n```\ntext # not a heading"
    assert report.demote_headings(md) == "## Title\n\n### Sub\n```bash\n# a comment\n```\ntext # not a heading"


def test_malformed_files_are_skipped(tmp_path):
    root = tmp_path / "results"
    path = write_run(root, header(30, 270, "vanilla", n_planned=3), [0.5, 1.0])
    with open(path, "a") as fh:
        fh.write("not json at all\n[1, 2]\n")
    (root / "noheader.jsonl").write_text(json.dumps(example(0, 1.0, 3, 3, False, np.random.default_rng(0))) + "\n")
    (root / "empty.jsonl").write_text("")
    with pytest.warns(records.MalformedLineWarning) as caught:
        res = records.load_results(root)
    messages = " ".join(str(w.message) for w in caught)
    assert "malformed line skipped" in messages and "no header line" in messages
    assert len(res.runs) == 1 and int(res.runs["n"].iloc[0]) == 2


def test_no_results_writes_index(tmp_path):
    out = tmp_path / "reports"
    assert report.main(["--results", str(tmp_path / "nothing"), "--out", str(out)]) == 0
    assert "No results found" in (out / "index.md").read_text()
    assert not (out / "table1.md").exists()


def test_reference_table1_matches_paper():
    assert ref.TABLE1[(25, 275)] == {"vanilla": 78.06, "margin": 93.76}
    assert ref.TABLE1[(100, 200)] == {"vanilla": 62.84, "margin": 88.91}
    assert ref.NAIVE_GUESS_LO == 75.0
    assert ref.TABLE2["margin"] == 89.49 and ref.TABLE3["top_prob"] == 98.5 and ref.TABLE5["vanilla"] == 3.62
    assert ref.TABLE4["rocstories"]["top_prob"] == 21.10
    assert ref.FIGURE2_TEXT_VAL_LOSS == {"identity": 3.171, "closer": 3.212, "uniform": 3.245}


def test_report_does_not_import_torch(tree, tmp_path):
    assert heavy_modules_after_report(tree, tmp_path / "r2") == []


def test_resume_lines_are_not_warned_about(tmp_path):
    """The store appends a 'resume' line each time a run continues; the report reads past it silently."""
    import warnings as _w
    from harness.report.records import read_run
    p = tmp_path / "r.jsonl"
    p.write_text('{"type":"header","task":"t"}\n{"type":"example","id":"a","score":1}\n{"type":"resume"}\n'
                 '{"type":"example","id":"b","score":0}\n')
    with _w.catch_warnings():
        _w.simplefilter("error")
        header, recs = read_run(p)
    assert header["task"] == "t" and [r["id"] for r in recs] == ["a", "b"]


def test_noise_verdict_reads_the_mechanism_off_paired_records():
    import pandas as pd
    from harness.report import puzzles as P
    rng = np.random.default_rng(0)
    rows, settings = [], []
    # margin keeps 90% under every noise; top_prob falls with log-space noise, not with score-space noise
    for tag, g, space, top in (("g0", 0.0, "prob", 0.9), ("g0.1log", 0.1, "log", 0.4), ("g1log", 1.0, "log", 0.1),
                               ("g0.1", 0.1, "prob", 0.85)):
        settings.append({"decode_tag": tag, "g": g, "space": space})
        for i in range(200):
            rows.append({"id": str(i), "sampler": "margin", "decode_tag": tag, "correct": float(rng.random() < 0.9)})
            rows.append({"id": str(i), "sampler": "top_prob", "decode_tag": tag, "correct": float(rng.random() < top)})
    text = P.noise_verdict(pd.DataFrame(rows), pd.DataFrame(settings))
    assert "Prediction 1 (the gap grows with the coefficient on log scores): holds" in text
    assert "holds at 1 of 1 matched coefficients" in text
    assert text.count("margin − top_prob") == 4


def test_cell_accuracy_is_kept_apart_per_level_and_scale():
    import pandas as pd
    from harness.report.puzzles import with_cell_acc
    rows = [("small", "sudoku", lvl, "margin", "s50", acc) for lvl, acc in (("9x9+8", 0.9), ("9x9", 0.4))]
    rows += [("smoke", "sudoku", "9x9", "margin", "s50", 0.1)]
    ex = pd.DataFrame([dict(scale=a, task=b, variant=c, sampler=d, decode_tag=e, **{"metrics.cell_acc": f})
                       for a, b, c, d, e, f in rows for _ in range(3)])
    summ = ex[["scale", "task", "variant", "sampler", "decode_tag"]].drop_duplicates().reset_index(drop=True)
    got = with_cell_acc(summ, ex)
    assert got["cell_acc"].round(6).tolist() == [0.9, 0.4, 0.1]
