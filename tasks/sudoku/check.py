"""The exact Sudoku checker: a prediction is correct when it is a valid completed grid that keeps every given.

Correctness never consults a reference solution (a puzzle with several completions accepts each of them);
the reference is used only for cell accuracy. Everything is vectorised over puzzles.
"""
from __future__ import annotations

import numpy as np

from tasks.sudoku.puzzles import UNITS, unit_name

_DIGITS = np.arange(1, 10)


def _as_grids(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 1 and a.size == 81:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != 81:
        raise ValueError(f"{name} has shape {a.shape}, expected [N, 81]")
    return a.astype(np.int16, copy=False)


def cell_name(c: int) -> str:
    """Return the 1-based name 'r3c7' of cell index ``c``."""
    return f"r{c // 9 + 1}c{c % 9 + 1}"


def unit_ok(grids) -> np.ndarray:
    """Return [N, 27] bool: whether each unit (rows, columns, boxes) of each grid is a permutation of 1..9."""
    g = _as_grids(grids, "grids")
    return (np.sort(g[:, UNITS], axis=2) == _DIGITS).all(axis=2)


def check_grids(givens, preds, solutions=None) -> dict[str, np.ndarray]:
    """Return {'valid', 'keeps_givens', 'correct', 'cell_acc', 'errors'}, each an [N] array, for N predictions.

    valid: every row, column and box is a permutation of 1..9; keeps_givens: every given cell unchanged;
    correct = valid & keeps_givens; cell_acc: fraction of the empty cells where the prediction equals the
    solution (NaN without solutions or for a puzzle with no empty cell); errors: number of bad units (0..27)."""
    g, p = _as_grids(givens, "givens"), _as_grids(preds, "preds")
    if g.shape != p.shape:
        raise ValueError(f"givens {g.shape} and preds {p.shape} differ in shape")
    ok = unit_ok(p)
    valid = ok.all(1)
    keeps = ((g == 0) | (p == g)).all(1)
    if solutions is None:
        acc = np.full(len(g), np.nan)
    else:
        s = _as_grids(solutions, "solutions")
        if s.shape != g.shape:
            raise ValueError(f"solutions {s.shape} and givens {g.shape} differ in shape")
        empty = g == 0
        n_empty = empty.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(n_empty > 0, ((p == s) & empty).sum(1) / n_empty, np.nan)
    return {"valid": valid, "keeps_givens": keeps, "correct": valid & keeps, "cell_acc": acc.astype(np.float64),
            "errors": (~ok).sum(1).astype(np.int64)}


def problems(givens, pred) -> list[str]:
    """Return every reason one predicted grid is wrong (empty list when it is correct), most basic first."""
    g = np.asarray(givens).reshape(81).astype(int)
    p = np.asarray(pred).reshape(81).astype(int)
    out = []
    for c in np.flatnonzero((g != 0) & (p != g)):
        out.append(f"given at {cell_name(c)} left empty (was {g[c]})" if p[c] == 0
                   else f"given at {cell_name(c)} changed {g[c]}->{p[c]}")
    for c in np.flatnonzero((g == 0) & (p == 0)):
        out.append(f"cell {cell_name(c)} empty")
    for c in np.flatnonzero((p < 0) | (p > 9)):
        out.append(f"cell {cell_name(c)} holds {p[c]}, not a digit 1-9")
    words = {2: "twice", 3: "three times"}
    for u, cells in enumerate(UNITS):
        counts = np.bincount(np.clip(p[cells], 0, 10), minlength=11)
        for d in range(1, 10):
            if counts[d] > 1:
                out.append(f"digit {d} {words.get(counts[d], f'{counts[d]} times')} in {unit_name(u)}")
    return out


def explain(givens, pred) -> str:
    """Return a one-line reason why a predicted grid is wrong (or 'correct ...' when it is not wrong)."""
    found = problems(givens, pred)
    if not found:
        return "correct: a valid completed grid that keeps every given"
    line = "; ".join(found[:2])
    return line + (f" (+{len(found) - 2} more)" if len(found) > 2 else "")
