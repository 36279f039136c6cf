"""The Sudoku generator: unique solutions, easy ones solved by the strategy solver and hard ones not,
near-minimality, stored order/strategy equal to the solver's, determinism across worker counts, labelling."""
import numpy as np
import pytest

from tasks.sudoku.generate import generate, label, make_puzzle, split_by_difficulty
from tasks.sudoku.logic import solve_with_strategies
from tasks.sudoku.puzzles import GIVEN, UNKNOWN, PuzzleSet
from tasks.sudoku.search import count_solutions


@pytest.fixture(scope="module")
def easy():
    return generate(6, seed=11, kind="easy")


@pytest.fixture(scope="module")
def hard():
    return generate(3, seed=11, kind="hard")


def check_rows(ps: PuzzleSet, solved: bool) -> None:
    for k in range(len(ps)):
        g, s = ps.givens[k], ps.solutions[k]
        n, sol = count_solutions(g)
        assert n == 1 and (sol == s).all()
        assert ((g == 0) | (g == s)).all() and 17 <= (g > 0).sum() <= 35
        tr = solve_with_strategies(g)
        assert tr.solved == solved and not tr.contradiction
        m = len(tr.order)
        assert list(ps.order[k, :m]) == tr.order and (ps.order[k, m:] == -1).all()
        assert (ps.strategy[k][g > 0] == GIVEN).all()
        assert list(ps.strategy[k][tr.order]) == tr.strategy
        unfilled = (g == 0) & ~np.isin(np.arange(81), tr.order)
        assert (ps.strategy[k][unfilled] == UNKNOWN).all()
        assert unfilled.any() != solved


def test_easy_puzzles(easy):
    assert len(easy) == 6 and easy.has_order().all()
    assert easy.source == [f"gen:11:easy:{i}" for i in range(6)]
    check_rows(easy, solved=True)


def test_hard_puzzles(hard):
    assert len(hard) == 3 and not hard.has_order().any()
    check_rows(hard, solved=False)


def test_easy_is_minimal(easy):
    """Emptying any one given breaks uniqueness or the strategy solver."""
    g = easy.givens[0]
    for c in np.flatnonzero(g):
        h = g.copy()
        h[c] = 0
        assert count_solutions(h)[0] > 1 or not solve_with_strategies(h).solved


def test_hard_is_minimal(hard):
    g = hard.givens[0]
    for c in np.flatnonzero(g):
        h = g.copy()
        h[c] = 0
        assert count_solutions(h)[0] > 1


def test_deterministic_across_workers(easy):
    a = generate(4, seed=11, kind="easy", workers=2)
    for f in ("givens", "solutions", "order", "strategy"):
        assert (getattr(a, f) == getattr(easy, f)[:4]).all()
    row = make_puzzle(11, "easy", 2)
    assert all((x == getattr(easy, f)[2]).all() for x, f in zip(row, ("givens", "solutions", "order", "strategy")))
    assert not (generate(1, seed=12, kind="easy").givens == easy.givens[0]).all()


def test_label_and_split(easy, hard):
    both = PuzzleSet.concat([easy, hard])
    bare = PuzzleSet(both.givens, np.zeros_like(both.solutions), np.full_like(both.order, -1),
                     np.full_like(both.strategy, -1), list(both.source))
    lab = label(bare)
    for f in ("solutions", "order", "strategy"):
        assert (getattr(lab, f) == getattr(both, f)).all()
    e, h = split_by_difficulty(bare)
    assert e.source == easy.source and h.source == hard.source
    assert (e.order == easy.order).all() and (h.solutions == hard.solutions).all()
    assert len(label(PuzzleSet.empty())) == 0


def test_bad_kind():
    with pytest.raises(ValueError):
        generate(1, 0, kind="medium")
