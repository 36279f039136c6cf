"""Sudoku adapters: layouts, ARM triples and illegal moves, the MDM score, and a smoke run end to end."""
import json

import numpy as np
import pytest

from tasks.sudoku import task as sudoku_task
from tasks.sudoku.puzzles import PuzzleSet, parse_grid

EULER = "003020600900305001001806400008102900700000008006708200002609500800203009005010300"
EULER_SOL = "483921657967345821251876493548132976729564138136798245372689514814253769695417382"


def labelled(grids: list[str], sols: list[str]) -> PuzzleSet:
    from tasks.sudoku.generate import label
    g = np.stack([parse_grid(s) for s in grids])
    s = np.stack([parse_grid(s) for s in sols])
    z = np.full_like(g, -1)
    return label(PuzzleSet(g, s, z, np.where(g > 0, 0, -1).astype(np.int8), [f"t{i}" for i in range(len(g))]))


@pytest.fixture
def task(monkeypatch):
    ps = labelled([EULER], [EULER_SOL])
    monkeypatch.setattr(sudoku_task, "load_split", lambda split, n, data_dir=None: (ps, "fixture"))
    monkeypatch.setattr(sudoku_task, "drop_overlap", lambda test, train: test)
    return sudoku_task.Sudoku("9x9", "smoke")


def test_mdm_layout_and_score(task):
    (e,) = task.examples(1)
    assert e.prompt.shape == (81,) and (e.prompt == sudoku_task.MASK).sum() == EULER.count("0")
    assert task.score(e, e.target).correct
    assert task.score(e, e.target).metrics["cell_acc"] == 1.0
    wrong = e.target.copy()
    empty = np.flatnonzero(e.prompt == sudoku_task.MASK)
    wrong[empty[0]], wrong[empty[1]] = wrong[empty[1]], wrong[empty[0]]
    s = task.score(e, wrong)
    assert not s.correct and s.score == 0.0
    x, m = task.train_batch(0, 4, seed=0)
    assert x.shape == (4, 81) and m.sum(1).tolist() == [EULER.count("0")] * 4  # symmetries keep the count


def test_arm_triples_follow_the_order(task):
    ps = task.train_set
    for order in ("solver", "fixed"):
        tokens, loss = task._triples(ps, order)
        trip = tokens[0].reshape(81, 3)
        k = (ps.givens[0] > 0).sum()
        cells = 9 * trip[:, 0] + trip[:, 1]
        assert sorted(cells) == list(range(81))
        assert (trip[:, 2] == ps.solutions[0][cells]).all()
        assert (np.diff(cells[:k]) > 0).all()  # givens row-major first
        if order == "fixed":
            assert (np.diff(cells[k:]) > 0).all()
        else:
            assert cells[k:].tolist() == ps.order[0][: 81 - k].tolist()
        assert not loss[0, : 3 * k].any() and loss[0, 3 * k:].all()


def test_arm_score_counts_illegal_moves_as_wrong(task):
    (e,) = task.examples(1)
    prompt, n = task.arm_prompt(e)
    tokens, _ = task._triples(task.train_set, "solver")
    assert (tokens[0, :n] == prompt[:n]).all()
    good = task.arm_score(e, tokens[0])
    assert good.correct and good.metrics["illegal_moves"] == 0
    assert sorted(v for v in good.order if v >= 0) == list(range(81 - n // 3))
    bad = tokens[0].copy()
    bad[n: n + 3] = prompt[:3]          # re-fills a given cell
    bad[n + 3] = 9                      # row 9 does not exist
    s = task.arm_score(e, bad)
    assert not s.correct and s.metrics["illegal_moves"] == 2


def test_smoke_run_end_to_end(tmp_path, monkeypatch):
    """Generate, train the MDM and both ARMs, evaluate, render Tables 2 and 5 (smoke scale)."""
    from harness import report, run
    monkeypatch.setenv("TOKENORDER_CACHE", str(tmp_path / "cache"))
    base = ["--scale", "smoke", "--results-dir", str(tmp_path / "res"), "--ckpt-dir", str(tmp_path / "ck"),
            "--no-progress", "--threads", "1"]
    samplers = "vanilla,top_prob,margin,arm_solver,arm_fixed"
    assert run.main(["--task", "sudoku", "--sampler", samplers] + base) == 0
    assert run.main(["--task", "sudoku_hard", "--sampler", "margin,arm_solver"] + base) == 0
    files = sorted((tmp_path / "res").rglob("*.jsonl"))
    assert len(files) == 7
    header = json.loads(files[0].read_text().splitlines()[0])
    assert header["task_info"]["n_train"] == 48
    ckpts = {p.parent.name.split("-")[0] for p in (tmp_path / "ck").rglob("ckpt.pt")}
    assert ckpts == {"mdm", "arm_solver", "arm_fixed"}  # the hard task reused the easy-trained models
    assert report.main(["--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep")]) == 0
    t2 = (tmp_path / "rep" / "table2.md").read_text()
    assert "ARM (with ordering)" in t2 and "87.18" in t2 and "89.49" in t2 and "Decoding order" in t2
    t5 = (tmp_path / "rep" / "table5.md").read_text()
    assert "49.88" in t5 and "Is the hard split harder?" in t5
    assert (tmp_path / "rep" / "table2_order.png").exists()


def test_unknown_arm_order_is_a_one_line_error(capsys, tmp_path):
    from harness import run
    assert run.main(["--task", "sudoku", "--sampler", "arm_random", "--scale", "smoke",
                     "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "arm_solver" in err[0]
    assert run.main(["--task", "lo_nae_sat", "--sampler", "arm_solver", "--scale", "smoke",
                     "--results-dir", str(tmp_path)]) == 2
