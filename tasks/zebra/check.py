"""The Zebra checker: a prediction is correct only if the whole table equals the unique solution.

Two independent verdicts are computed for every prediction: equality with the reference solution, and
the clues themselves (every attribute a permutation of the houses' values and every clue true). For a
puzzle with a unique solution the two agree; a disagreement means a checker bug or a puzzle that is not
unique, and is reported instead of hidden.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.zebra.arrays import ZebraSet, clues_hold
from tasks.zebra.puzzle import ZebraPuzzle


def check_tables(zs: ZebraSet, tables: np.ndarray) -> dict[str, np.ndarray]:
    """Return per-puzzle verdicts on predicted ``tables`` [N, A, H] (values; anything else is 'no value'):
    ``correct`` (equals the solution), ``cell_acc`` (fraction of the puzzle's cells right), ``valid`` (every
    attribute a permutation of 0..m-1), ``clues_ok`` (valid and every clue true), ``agree`` (the two
    verdicts match) and ``clues_false`` (number of false clues)."""
    tables = np.asarray(tables, dtype=np.int64)
    sol = zs.solution
    if tables.shape != sol.shape:
        raise ValueError(f"predicted tables have shape {tables.shape}, the puzzles {sol.shape}")
    inside = sol >= 0
    pred = np.where(inside, tables, -1)
    right = (pred == sol) & inside
    n_cells = inside.sum((1, 2))
    correct = right.sum((1, 2)) == n_cells
    m = zs.houses[:, None, None]
    v = np.arange(sol.shape[2])[None, None]
    rows = np.arange(sol.shape[1])[None, :] < zs.attrs[:, None]
    counts = (pred[..., None] == v[:, :, None, :]).sum(2)   # [N, A, values]: houses holding each value
    valid = ((counts == 1) | (v >= m)).all(2) | ~rows
    valid = valid.all(1)
    hold = clues_hold(zs.clues, pred)
    false = (~hold).sum(1)
    clues_ok = valid & (false == 0)
    return {"correct": correct, "cell_acc": right.sum((1, 2)) / np.maximum(n_cells, 1), "valid": valid,
            "clues_ok": clues_ok, "agree": clues_ok == correct, "clues_false": false}


@dataclass
class CheckResult:
    """Verdicts on one predicted table; see :func:`check_tables`."""

    correct: bool
    cell_acc: float
    valid: bool
    clues_ok: bool
    clues_false: int

    @property
    def agree(self) -> bool:
        """Return whether the reference and the clues give the same verdict."""
        return self.correct == self.clues_ok


def check_solution(puzzle: ZebraPuzzle, table) -> CheckResult:
    """Return the verdicts on ``table`` ([n attributes, m houses] values) for ``puzzle``."""
    table = np.asarray(table, dtype=np.int64)
    if table.shape != (puzzle.n, puzzle.m):
        raise ValueError(f"table has shape {table.shape}, the puzzle needs ({puzzle.n}, {puzzle.m})")
    zs = ZebraSet.from_puzzles([puzzle])
    r = check_tables(zs, table[None])
    return CheckResult(bool(r["correct"][0]), float(r["cell_acc"][0]), bool(r["valid"][0]), bool(r["clues_ok"][0]),
                       int(r["clues_false"][0]))
