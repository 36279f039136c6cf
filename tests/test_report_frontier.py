"""The accuracy-against-forward-passes report of every rule (harness.report.frontier) on synthetic records."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from harness.report import build as report
from harness.report.frontier import budget_table, frontier, points
from harness.report.records import load_results

N = 8
STRAT = {i: (2 if i < 4 else 7) for i in range(12)}  # puzzles 0-3 need singles only, 4-7 an XY-wing


def header(sampler, tag, steps, gumbel=0.0, args=None, block=None):
    return {"type": "header", "schema": 1, "task": "sudoku", "variant": "9x9+8", "scale": "small",
            "sampler": sampler, "seed": 0, "n_planned": N, "decode_tag": tag,
            "decode": {"steps": steps, "temperature": 0.0, "gumbel": gumbel, "gaussian": 0.0, "remask": False,
                       "block_length": block, "sampler_args": args or {}},
            "model": {"preset": "0.8M", "params": 800000, "objective": "mdm"},
            "task_info": {"learning_check": {"givens_acc": 0.99}},
            "model_identity": {"fingerprint": "f"},
            "env": {"commit": "abc1234", "dirty": False, "device": "cpu", "device_name": "cpu"},
            "started": "2026-12-07T00:00:00Z"}


def write(root, sampler, tag, steps, scores, nfe, **kw):
    path = Path(root) / "small" / "sudoku" / "9x9+8" / f"{sampler}__{tag}__seed0.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(tag))
    lines = [json.dumps(header(sampler, tag, steps, **kw))]
    for i, s in enumerate(scores):
        solver = rng.permutation(5).tolist()
        order = solver if sampler == "margin" else rng.permutation(5).tolist()
        lines.append(json.dumps({"type": "example", "id": str(i), "score": s, "correct": s == 1.0,
                                 "nfe": 50, "nfe_row": nfe, "order": order, "steps": 5,
                                 "meta": {"strategy": [STRAT[i]] * 5, "solver_rank": solver}}))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "results"
    write(root, "vanilla", "s10-T0-g0", 10, [1, 0, 0, 0, 0, 0, 0, 0], 10)
    write(root, "vanilla", "s50-T0-g0", 50, [1, 1, 0, 0, 0, 0, 0, 0], 50)
    write(root, "margin", "s10-T0-g0", 10, [1, 1, 1, 1, 0, 0, 1, 0], 10)
    write(root, "margin", "s50-T0-g0", 50, [1, 1, 1, 1, 1, 1, 1, 0], 50)
    write(root, "margin", "s50-T0-g0.5", 50, [1] * 8, 50, gumbel=0.5)            # noised: not a point
    write(root, "threshold", "sN-T0-g0-tau0.9", 0, [1, 1, 1, 1, 1, 0, 1, 0], 7, args={"tau": 0.9})
    write(root, "threshold", "sN-T0-g0-tau0.5", 0, [1, 1, 1, 0, 0, 0, 0, 0], 3, args={"tau": 0.5})
    write(root, "dus", "sN-T0-g0-b9", 0, [1, 0, 1, 0, 0, 0, 0, 0], 25, block=9)
    write(root, "vanilla", "s20-T0-g0", 20, [1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1], 20)  # 4 puzzles more
    return root


def test_points_frontier_and_budgets(tree):
    res = load_results(tree)
    pts = points(res.runs, res.examples).set_index(["sampler", "decode_tag"])
    assert ("margin", "s50-T0-g0.5") not in pts.index                # certainty noise is left out
    assert (pts["n"] == N).all()                                      # the same puzzles for every point
    assert pts.loc[("vanilla", "s20-T0-g0")]["score"] == pytest.approx(25.0)
    t9 = pts.loc[("threshold", "sN-T0-g0-tau0.9")]
    assert t9["nfe"] == 7 and t9["score"] == pytest.approx(75.0) and t9["knobs"] == "tau 0.9"
    assert pts.loc[("dus", "sN-T0-g0-b9")]["knobs"] == "block 9"
    assert pts.loc[("margin", "s10-T0-g0")]["se"] == pytest.approx(100 * np.std([1, 1, 1, 1, 0, 0, 1, 0], ddof=1)
                                                                   / math.sqrt(8))
    front = frontier(pts.reset_index())
    assert set(front[front["sampler"] == "threshold"]["decode_tag"]) == {"sN-T0-g0-tau0.5", "sN-T0-g0-tau0.9"}
    md = budget_table(pts.reset_index())
    row = next(line for line in md.splitlines() if line.startswith("| `threshold`"))
    assert "75.0" in row.split("|")[2] and "(7.0 NFE; tau 0.9)" in row     # best within 10 passes
    margin = next(line for line in md.splitlines() if line.startswith("| `margin`"))
    assert margin.split("|")[4].strip().startswith("87.5")                # best within 50 passes: steps 50


def test_report_renders_figure_hard_tail_and_fingerprints(tree, tmp_path):
    out = tmp_path / "reports"
    assert report.main(["--results", str(tree), "--out", str(out)]) == 0
    md = (out / "beyond_frontier.md").read_text()
    assert (out / "frontier_sudoku_9x9p8_small.png").exists()
    assert "**Best score within a forward-pass budget**" in md and "The hard tail" in md
    tail = next(line for line in md.splitlines() if line.startswith("| `margin`") and "vs vanilla" in line)
    # margin's best config (s50) on the XY-wing puzzles: 3/4 solved vs vanilla 0/4 -> +75 on the same puzzles
    assert "75.0 (n=4); +75.0 ± 25.0 vs vanilla" in tail
    fp = [line for line in md.splitlines() if line.startswith("| `margin` (s50-T0-g0) | 1.00")]
    assert fp, "margin's synthetic order equals the solver's: Spearman 1"
    assert "Beyond the paper" in (out / "index.md").read_text()
