"""Puzzle generator in the style of Radcliffe's Kaggle set, split like Shah et al. (easy / hard).

Puzzle i of ``generate(n, seed, kind)`` depends only on (seed, kind, i): its generator is
``np.random.default_rng(SeedSequence([seed, KINDS[kind], i]))``, so any worker count gives the same set.
An attempt draws a full grid (:func:`search.random_grid`) and a random order of the 81 cells, and empties
the cells in that order, keeping each removal only while the puzzle stays valid (greedy: the result is
minimal for the test, emptying any one more given breaks it):

- easy: valid = unique solution and solved by :func:`logic.solve_with_strategies`. Always kept.
- hard: valid = unique solution. Kept only if the strategy solver gets stuck on the final puzzle, else
  a new attempt starts from the same random stream (about 3 attempts per hard puzzle).

One removal test (grid valid with solution ``sol``, cell c = v just emptied), cheapest first:
c is a naked single -> valid; the singles closure fills c -> valid (the solver's whole run is unchanged);
a solution with c != v exists (DFS from the closure) -> invalid, since the smaller puzzle is unique iff
none exists; hard -> valid; easy -> valid iff the solver, continued from the closure, finishes (the unique
rectangle is sound here: uniqueness was just proved). On a 2-core CPU: ~90 easy and ~36 hard puzzles/s
per core, 22-28 givens (mean 24.5); benchmarks/sudoku_generator.py. Making every puzzle minimal for
uniqueness and keeping the easy ones (Radcliffe + Shah's filter) gives nearly the same easy set (mean
givens 24.3 vs 24.6, same strategy shares) at ~60/s.
"""
from __future__ import annotations

import numpy as np

from tasks.parallel import imap_ordered
from tasks.sudoku.logic import _DIG, _PEERM, fixpoint_status, planes_from_grid, singles_closure, solve_with_strategies
from tasks.sudoku.puzzles import GIVEN, PEERS, UNKNOWN, PuzzleSet
from tasks.sudoku.search import count_solutions, random_grid

KINDS = {"easy": 0, "hard": 1}
"""Kind name -> code mixed into each puzzle's seed."""
_PEER_T = tuple(tuple(int(p) for p in row) for row in PEERS)
_ALL1 = 0x3FF  # bits 0..9


def puzzle_rng(seed: int, kind: str, i: int) -> np.random.Generator:
    """Return the random generator of puzzle ``i`` of ``generate(., seed, kind)``."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), KINDS[kind], int(i)]))


def _has_solution(P: list[int], empty: int, sol: list[int]) -> bool:
    """Return whether the candidate planes admit a solution (DFS, singles closure at each node, branching
    on the lowest bivalue cell, else the lowest empty cell, trying the digit of ``sol`` first: a second
    solution mostly agrees with the first). Works in place."""
    empty = singles_closure(P, empty)
    if empty < 0:
        return False
    if not empty:
        return True
    s1 = s2 = s3 = 0
    for d in _DIG:
        x = P[d]
        s3 |= s2 & x
        s2 |= s1 & x
        s1 |= x
    pick = (s2 & ~s3) or empty
    low = pick & -pick
    i = low.bit_length() - 1
    nb = ~low
    first = sol[i]
    for d in (first, *_DIG):
        if P[d] & low:
            Q = [x & nb for x in P]
            Q[d] &= ~_PEERM[i]
            if _has_solution(Q, empty & nb, sol):
                return True
            P[d] &= nb
    return False


def _removable(grid: list[int], c: int, v: int, kind: str, sol: list[int]) -> bool:
    """Return whether the puzzle ``grid`` (valid for ``kind``, with cell ``c`` = ``v`` just emptied) is
    still valid. ``grid`` has a unique solution, so the smaller one is unique iff no solution has c != v."""
    seen = 0
    for p in _PEER_T[c]:
        seen |= 1 << grid[p]
    if seen | 1 == _ALL1 ^ (1 << v):
        return True  # c is a naked single of the smaller puzzle
    P, empty, G = planes_from_grid(grid)
    empty = singles_closure(P, empty, G, 1 << c)
    if empty == -2:
        return True  # the singles closure fills c back: the solver's run is the same as before
    Q = list(P)
    Q[v] &= ~(1 << c)
    if _has_solution(Q, empty, sol):
        return False  # a second solution
    return kind == "hard" or fixpoint_status(P, empty, G)[0] == 1


def _reduce(sol: list[int], cells, kind: str) -> list[int]:
    """Return the givens left after removing ``cells`` in turn from the full grid ``sol`` while valid."""
    grid = list(sol)
    for c in cells:
        v = grid[c]
        grid[c] = 0
        if not _removable(grid, c, v, kind, sol):
            grid[c] = v
    return grid


def make_puzzle(seed: int, kind: str, i: int):
    """Return (givens, solution, order, strategy) [81] int8 rows of puzzle ``i`` (see module doc)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    rng = puzzle_rng(seed, kind, i)
    while True:
        sol = [int(v) for v in random_grid(rng)]
        grid = _reduce(sol, [int(c) for c in rng.permutation(81)], kind)
        tr = solve_with_strategies(grid)
        if kind == "easy":
            if tr.solved and tr.grid.tolist() == sol:  # always, as the last kept state was solved
                break
        elif not tr.solved and not tr.contradiction:
            break
    return _rows(np.array(grid, np.int8), np.array(sol, np.int8), tr)


def _rows(givens: np.ndarray, solution: np.ndarray, tr):
    """Return (givens, solution, order, strategy) [81] int8 rows for a solver trace."""
    order = np.full(81, -1, np.int8)
    order[:len(tr.order)] = tr.order
    strategy = np.full(81, UNKNOWN, np.int8)
    strategy[givens > 0] = GIVEN
    strategy[tr.order] = tr.strategy
    return givens, solution, order, strategy


def _make(args) -> bytes:
    return np.concatenate(make_puzzle(*args)).tobytes()


def generate(n: int, seed: int, kind: str = "easy", workers: int = 1, progress: bool = False,
             start: int = 0) -> PuzzleSet:
    """Return puzzles ``start .. start+n-1`` of ``kind`` ('easy' or 'hard') and ``seed``; puzzle i depends only
    on (seed, kind, i), so the set is the same for any ``workers`` and extends by prefix."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    out = np.empty((n, 4 * 81), np.int8)
    jobs = ((seed, kind, start + i) for i in range(n))
    for i, r in enumerate(imap_ordered(_make, jobs, n, workers, progress, f"sudoku {kind}")):
        out[i] = np.frombuffer(r, np.int8)
    g, s, o, t = (np.ascontiguousarray(out[:, 81 * k:81 * (k + 1)]) for k in range(4))
    return PuzzleSet(g, s, o, t, [f"gen:{seed}:{kind}:{start + i}" for i in range(n)])


def _label_one(args) -> tuple[bytes, int]:
    givens, solution = (np.frombuffer(a, np.int8) for a in args)
    tr = solve_with_strategies(givens)
    if not solution.any():
        if tr.solved:
            solution = tr.grid
        else:
            cnt, sol = count_solutions(givens, 2)
            solution = sol if cnt == 1 else np.zeros(81, np.int8)
    return np.concatenate(_rows(givens, solution, tr)).tobytes(), (-1 if tr.contradiction else int(tr.solved))


def _label(ps: PuzzleSet, todo: np.ndarray, workers: int, progress: bool):
    solutions, order, strategy = ps.solutions.copy(), ps.order.copy(), ps.strategy.copy()
    status = np.where(ps.has_order(), 1, 0)
    idx = np.flatnonzero(todo)
    jobs = ((ps.givens[k].tobytes(), ps.solutions[k].tobytes()) for k in idx)
    for k, (r, st) in zip(idx, imap_ordered(_label_one, jobs, len(idx), workers, progress, "sudoku label")):
        row = np.frombuffer(r, np.int8)
        solutions[k], order[k], strategy[k], status[k] = row[81:162], row[162:243], row[243:], st
    return PuzzleSet(ps.givens.copy(), solutions, order, strategy, list(ps.source)), status


def _lacking(ps: PuzzleSet) -> np.ndarray:
    return ~(ps.order >= 0).any(1) & (ps.givens == 0).any(1)


def label(ps: PuzzleSet, workers: int = 1, progress: bool = False, relabel: bool = False) -> PuzzleSet:
    """Return ``ps`` with order/strategy filled by the strategy solver for puzzles that have no order (all
    of them when ``relabel``); an all-zero solution is filled in too when the puzzle has exactly one."""
    todo = np.ones(len(ps), bool) if relabel else _lacking(ps)
    return _label(ps, todo, workers, progress)[0]


def split_by_difficulty(ps: PuzzleSet, workers: int = 1, progress: bool = False) -> tuple[PuzzleSet, PuzzleSet]:
    """Return (easy, hard): puzzles the strategy solver finishes, and those where it gets stuck (puzzles
    without an order are labelled first; ones where it finds a contradiction are in neither)."""
    out, status = _label(ps, _lacking(ps), workers, progress)
    return out.subset(status == 1), out.subset(status == 0)
