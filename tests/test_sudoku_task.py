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
    lo, hi = sudoku_task.SCALES["smoke"]["train_reveal"]
    n_empty = EULER.count("0")
    # symmetries keep the count; the preset's train_reveal shows lo..hi more cells
    assert x.shape == (4, 81) and all(n_empty - hi <= k <= n_empty - lo for k in m.sum(1).tolist())
    assert all((x[i][~m[i]] > 0).all() for i in range(4))


def test_levels_add_givens_from_the_solution_and_share_one_model(task, monkeypatch):
    ps = labelled([EULER], [EULER_SOL])
    plain = task
    lvl = sudoku_task.Sudoku("9x9+10", "smoke")
    assert plain.model_key() == lvl.model_key() == "sudoku/9x9" and lvl.extra_givens == 10
    (e0,), (e1,) = plain.examples(1), lvl.examples(1)
    shown = (e0.prompt == sudoku_task.MASK) & (e1.prompt != sudoku_task.MASK)
    assert shown.sum() == 10 and (e1.prompt[shown] == ps.solutions[0][shown]).all()
    assert e0.id == e1.id and (e1.target == e0.target).all()
    assert lvl.eval_set.has_order().all()                     # the solver order drops the revealed cells
    # a puzzle's extra cells do not depend on how many puzzles the set holds
    again = sudoku_task.Sudoku("9x9+10", "smoke")
    assert (again.examples(1)[0].prompt == e1.prompt).all()
    assert lvl.info()["extra_givens"] == 10 and lvl.info()["level"] == "9x9+10"


@pytest.mark.parametrize("bad", ["9x9+0", "9x9+", "9x9-3", "8x8", "9x9+61"])
def test_bad_levels_are_refused(bad):
    with pytest.raises(ValueError, match="unknown variant"):
        sudoku_task.Sudoku(bad, "smoke")


def test_reveal_keeps_a_valid_puzzle_and_order():
    from tasks.sudoku.puzzles import reveal
    ps = labelled([EULER], [EULER_SOL])
    keys = np.random.default_rng(0).random((1, 81))
    r = reveal(ps, 5, keys)
    new = (r.givens > 0) & (ps.givens == 0)
    assert new.sum() == 5 and (r.givens[new] == ps.solutions[new]).all()
    assert (r.strategy[new] == 0).all() and r.has_order().all()
    kept = [c for c in ps.order[0] if c >= 0 and not new[0, c]]
    assert r.order[0][: len(kept)].tolist() == kept and (r.order[0][len(kept):] == -1).all()
    # the revealed cells are the empty ones with the smallest keys
    empty = np.flatnonzero(ps.givens[0] == 0)
    assert set(np.flatnonzero(new[0])) == set(empty[np.argsort(keys[0, empty])[:5]])
    assert (reveal(ps, 100, keys).givens > 0).all()          # more than the empty cells: all of them


def test_singles_are_exactly_the_naked_and_hidden_singles():
    from tasks.sudoku.puzzles import PEERS, UNITS, singles
    rng = np.random.default_rng(1)
    grid = parse_grid(EULER_SOL).astype(np.int64)
    for _ in range(20):
        g = grid.copy()
        g[rng.choice(81, size=rng.integers(30, 60), replace=False)] = 0
        s = singles(g[None])[0]

        def cands(c):
            return set(range(1, 10)) - {int(g[p]) for p in PEERS[c]} if g[c] == 0 else set()

        naked, hidden_only = singles(g[None], "naked")[0], singles(g[None], "hidden")[0]
        for c in range(81):
            if g[c]:
                assert s[c] == 0
                continue
            hidden = {d for u in UNITS if c in u for d in cands(c)
                      if not any(d in cands(o) for o in u if o != c)}
            want = cands(c) if len(cands(c)) == 1 else hidden
            assert len(want) <= 1 and s[c] == (want.pop() if want else 0)
            assert naked[c] == (s[c] if len(cands(c)) == 1 else 0)
            assert hidden_only[c] == (0 if len(cands(c)) == 1 else s[c])
            if s[c]:
                assert s[c] == grid[c]


def test_learning_checks_have_thresholds(task):
    checks = {c.name: c for c in task.checks(8, seed=0)}
    assert set(checks) == {"cell_given_rest_acc", "naked_singles_acc", "hidden_singles_acc"}
    assert checks["hidden_singles_acc"].learned_at is None and all(c.about for c in checks.values())
    assert checks["cell_given_rest_acc"].learned_at == 0.99 and checks["naked_singles_acc"].learned_at == 0.95
    s = checks["naked_singles_acc"]
    assert s.where.any() and ((s.prompts == sudoku_task.MASK) | ~s.where).all()   # only masked cells count
    assert (s.targets[s.where] == np.tile(parse_grid(EULER_SOL), (len(s.targets), 1))[s.where]).all()


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
    from harness.report import build as report
    from harness.run import cli as run
    monkeypatch.setenv("TOKENORDER_CACHE", str(tmp_path / "cache"))
    base = ["--scale", "smoke", "--results-dir", str(tmp_path / "res"), "--ckpt-dir", str(tmp_path / "ck"),
            "--no-progress", "--threads", "1"]
    samplers = "vanilla,top_prob,margin,arm_solver,arm_fixed"
    assert run.main(["--task", "sudoku", "--sampler", samplers] + base) == 0
    assert run.main(["--task", "sudoku_hard", "--sampler", "margin,arm_solver"] + base) == 0
    files = sorted((tmp_path / "res").rglob("*.jsonl"))
    assert len(files) == 2 * 7                           # two difficulty levels in the smoke preset
    header = json.loads(files[0].read_text().splitlines()[0])
    assert header["task_info"]["n_train"] == 48
    checks = {f.name.split("__")[0]: set(json.loads(f.read_text().splitlines()[0])["task_info"]["learning_check"])
              for f in files if "/sudoku/" in str(f)}
    assert checks["margin"] == {"cell_given_rest_acc", "naked_singles_acc", "hidden_singles_acc"}
    arm_checks = {"next_move_token_acc", "next_value_acc"}      # the digits alone are reported beside the moves
    assert checks["arm_solver"] == checks["arm_fixed"] == arm_checks
    hard_arm = [json.loads(f.read_text().splitlines()[0]) for f in files if "/sudoku_hard/" in str(f) and "arm_" in f.name]
    assert hard_arm and all(set(h["task_info"]["learning_check"]) == arm_checks for h in hard_arm)
    arm_header = next(json.loads(f.read_text().splitlines()[0]) for f in files if "arm_solver" in f.name)
    assert arm_header["task_info"]["learning_check_learned_at"] == {"next_move_token_acc": 0.9}
    ckpts = {p.parent.name.split("-")[0] for p in (tmp_path / "ck").rglob("ckpt.pt")}
    assert ckpts == {"mdm", "arm_solver", "arm_fixed"}  # levels and the hard task reuse the easy-trained models
    mdm = [json.loads(f.read_text().splitlines()[0]) for f in files if "margin" in f.name]
    assert len({h["model"]["fingerprint"] for h in mdm}) == 1
    assert {h["variant"] for h in mdm} == {"9x9", "9x9+8"}
    assert report.main(["--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep")]) == 0
    t2 = (tmp_path / "rep" / "table2.md").read_text()
    assert "ARM (with ordering)" in t2 and "87.18" in t2 and "89.49" in t2 and "Decoding order" in t2
    assert "level `9x9+8`" in t2 and "Across difficulty levels" in t2 and "**Learning check**" in t2
    assert "has NOT learned the task" in t2                # a 30-iteration model fails its check
    t5 = (tmp_path / "rep" / "table5.md").read_text()
    assert "49.88" in t5 and "Is the hard split harder?" in t5
    assert (tmp_path / "rep" / "table2_order.png").exists()


def test_unknown_arm_order_is_a_one_line_error(capsys, tmp_path):
    from harness.run import cli as run
    assert run.main(["--task", "sudoku", "--sampler", "arm_random", "--scale", "smoke",
                     "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "arm_solver" in err[0]
    assert run.main(["--task", "lo_nae_sat", "--sampler", "arm_solver", "--scale", "smoke",
                     "--results-dir", str(tmp_path)]) == 2
