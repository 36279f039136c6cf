"""The exact checker: validity, kept givens, correctness without the reference, cell accuracy, explanations."""
from __future__ import annotations

import numpy as np
import pytest

from tasks.sudoku.check import check_grids, explain, problems, unit_ok
from tasks.sudoku.puzzles import parse_grid

PUZZLE = parse_grid("003020600900305001001806400008102900700000008006708200002609500800203009005010300")
SOLUTION = parse_grid("483921657967345821251876493548132976729564138136798245372689514814253769695417382")
N_EMPTY = int((PUZZLE == 0).sum())


def relabel(grid, a, b):
    """Return the grid with digits a and b swapped everywhere (still valid when the grid was)."""
    g = grid.copy()
    g[grid == a], g[grid == b] = b, a
    return g


def cyclic_grid():
    """Rows are the first row shifted left by r: rows and columns are permutations, every box is not."""
    base = SOLUTION[:9]
    return np.concatenate([np.roll(base, -r) for r in range(9)]).astype(np.int8)


def test_correct_grid_accepted():
    r = check_grids(PUZZLE[None], SOLUTION[None], SOLUTION[None])
    assert r["valid"][0] and r["keeps_givens"][0] and r["correct"][0]
    assert r["errors"][0] == 0 and r["cell_acc"][0] == 1.0
    assert explain(PUZZLE, SOLUTION).startswith("correct")
    assert problems(PUZZLE, SOLUTION) == []


def test_only_boxes_broken():
    g = cyclic_grid()
    ok = unit_ok(g[None])[0]
    assert ok[:18].all() and not ok[18:].any()          # rows and columns fine, all 9 boxes broken
    r = check_grids(np.zeros((1, 81), np.int8), g[None])
    assert not r["valid"][0] and not r["correct"][0] and r["keeps_givens"][0]
    assert r["errors"][0] == 9 and np.isnan(r["cell_acc"][0])
    assert "twice in box 1" in explain(np.zeros(81, np.int8), g)


def test_changed_given_rejected():
    pred = relabel(SOLUTION, 3, 8)                    # a valid grid, but givens 3 and 8 are swapped
    r = check_grids(PUZZLE[None], pred[None], SOLUTION[None])
    assert r["valid"][0] and not r["keeps_givens"][0] and not r["correct"][0] and r["errors"][0] == 0
    assert explain(PUZZLE, pred).startswith("given at r1c3 changed 3->8")


def test_single_swapped_cell_pair():
    pred = SOLUTION.copy()
    pred[0], pred[1] = pred[1], pred[0]               # r1c1, r1c2 are empty in the puzzle; row stays fine
    r = check_grids(PUZZLE[None], pred[None], SOLUTION[None])
    assert not r["valid"][0] and r["keeps_givens"][0]
    assert r["errors"][0] == 2                         # columns 1 and 2 break; row 1 and box 1 still fine
    assert r["cell_acc"][0] == pytest.approx((N_EMPTY - 2) / N_EMPTY)
    assert explain(PUZZLE, pred) == "digit 8 twice in column 1; digit 4 twice in column 2"


def test_correct_without_reference():
    """A valid completion keeping the givens is correct even when it differs from the reference solution."""
    givens = np.zeros((1, 81), np.int8)
    other = relabel(SOLUTION, 1, 2)
    r = check_grids(givens, other[None], SOLUTION[None])
    assert r["correct"][0]
    assert r["cell_acc"][0] == pytest.approx(1 - 18 / 81)


def test_batch_and_empty_cells():
    preds = np.stack([SOLUTION, PUZZLE, cyclic_grid(), relabel(SOLUTION, 3, 8)])
    givens = np.repeat(PUZZLE[None], 4, 0)
    r = check_grids(givens, preds, np.repeat(SOLUTION[None], 4, 0))
    assert r["correct"].tolist() == [True, False, False, False]
    assert r["valid"].tolist() == [True, False, False, True]
    assert r["keeps_givens"].tolist() == [True, True, False, False]
    assert r["cell_acc"][1] == 0.0 and r["errors"][1] == 27
    assert all(v.shape == (4,) for v in r.values())
    assert r["errors"].dtype.kind == "i" and r["cell_acc"].dtype == np.float64
    assert explain(PUZZLE, PUZZLE).startswith("cell r1c1 empty; cell r1c2 empty (+")


def test_out_of_range_and_shapes():
    pred = SOLUTION.copy()
    pred[0] = 12
    assert not check_grids(PUZZLE, pred)["valid"][0]   # single grids of shape [81] are accepted
    assert "cell r1c1 holds 12" in explain(PUZZLE, pred)
    with pytest.raises(ValueError, match="expected"):
        check_grids(np.zeros((2, 80)), np.zeros((2, 80)))
    with pytest.raises(ValueError, match="differ"):
        check_grids(np.zeros((2, 81)), np.zeros((3, 81)))
