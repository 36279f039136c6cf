"""The Sudoku puzzle type shared by the solver, generator, loaders, checker and task adapters.

A grid is 81 int8 values in row-major order (cell = 9 * row + col), 0 for an empty cell and 1..9 for a
digit. A :class:`PuzzleSet` holds N puzzles as arrays, so a million puzzles is a few arrays, not a million
objects. Strategy ids follow Shah et al.'s data files (PAPER.md §3.3): 0 given, 2 lone single,
3 hidden single, 4 naked pair, 5 naked triplet, 6 locked candidate, 7 XY-wing, 8 unique rectangle;
-1 means unknown (a cell the solver never filled, or a source that does not say).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import zipfile

import numpy as np

GIVEN, LONE_SINGLE, HIDDEN_SINGLE, NAKED_PAIR, NAKED_TRIPLET, LOCKED_CANDIDATE, XY_WING, UNIQUE_RECTANGLE = \
    0, 2, 3, 4, 5, 6, 7, 8
UNKNOWN = -1
STRATEGY_NAMES = {GIVEN: "given", LONE_SINGLE: "lone single", HIDDEN_SINGLE: "hidden single",
                  NAKED_PAIR: "naked pair", NAKED_TRIPLET: "naked triplet", LOCKED_CANDIDATE: "locked candidate",
                  XY_WING: "XY-wing", UNIQUE_RECTANGLE: "unique rectangle"}
"""Shah et al.'s strategy ids and the names used in reports."""

CELLS = np.arange(81)
ROW, COL = CELLS // 9, CELLS % 9
BOX = (ROW // 3) * 3 + COL // 3
UNITS = np.array([[9 * r + c for c in range(9)] for r in range(9)]
                 + [[9 * r + c for r in range(9)] for c in range(9)]
                 + [[9 * (3 * (b // 3) + i // 3) + 3 * (b % 3) + i % 3 for i in range(9)] for b in range(9)])
"""[27, 9] cell indices: rows 0-8, columns 9-17, boxes 18-26."""
PEERS = np.array([sorted({int(c) for u in UNITS if i in u for c in u} - {i}) for i in range(81)])
"""[81, 20] the cells sharing a row, column or box with each cell."""


class SudokuFormatError(ValueError):
    """A puzzle that cannot be read or is not a valid Sudoku; the message names where and why."""


@dataclass
class PuzzleSet:
    """N puzzles: givens and solutions [N, 81] int8; order [N, 81] int8 cell indices in solver fill order
    (empty cells only, -1 after the last); strategy [N, 81] int8 per cell (ids above); source per puzzle."""

    givens: np.ndarray
    solutions: np.ndarray
    order: np.ndarray
    strategy: np.ndarray
    source: list[str] = field(default_factory=list)

    def __post_init__(self):
        n = len(self.givens)
        for name in ("givens", "solutions", "order", "strategy"):
            a = getattr(self, name)
            if a.shape != (n, 81):
                raise ValueError(f"PuzzleSet.{name} has shape {a.shape}, expected ({n}, 81)")
        if not self.source:
            self.source = [f"#{i}" for i in range(n)]

    def __len__(self) -> int:
        return len(self.givens)

    def subset(self, index) -> "PuzzleSet":
        """Return the puzzles at ``index`` (a slice, index array or bool mask) as a new set."""
        idx = np.arange(len(self))[index]
        return PuzzleSet(self.givens[idx], self.solutions[idx], self.order[idx], self.strategy[idx],
                         [self.source[i] for i in idx])

    @staticmethod
    def empty() -> "PuzzleSet":
        """Return a set of zero puzzles."""
        z = np.zeros((0, 81), np.int8)
        return PuzzleSet(z, z.copy(), z.copy(), z.copy(), [])

    @staticmethod
    def concat(sets: list["PuzzleSet"]) -> "PuzzleSet":
        """Return the puzzles of ``sets`` one after another."""
        sets = [s for s in sets if len(s)]
        if not sets:
            return PuzzleSet.empty()
        return PuzzleSet(*(np.concatenate([getattr(s, f) for s in sets]) for f in
                           ("givens", "solutions", "order", "strategy")), [x for s in sets for x in s.source])

    def has_order(self) -> np.ndarray:
        """Return [N] bool: whether the solver filled every empty cell (a full, known fill order)."""
        n_empty = (self.givens == 0).sum(1)
        return (self.order >= 0).sum(1) == n_empty

    def save(self, path) -> None:
        """Write the set to ``path`` (.npz)."""
        np.savez_compressed(path, givens=self.givens, solutions=self.solutions, order=self.order,
                            strategy=self.strategy, source=np.array(self.source))

    @staticmethod
    def load(path) -> "PuzzleSet":
        """Return the set stored at ``path`` by :meth:`save`; a file that is not such a set raises
        SudokuFormatError naming it (no pickled objects are read)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                return PuzzleSet(z["givens"], z["solutions"], z["order"], z["strategy"],
                                 [str(s) for s in z["source"]])
        except FileNotFoundError:
            raise
        except (OSError, ValueError, EOFError, KeyError, AttributeError, zipfile.BadZipFile) as e:
            raise SudokuFormatError(f"{path}: not a puzzle set written by PuzzleSet.save ({type(e).__name__}: "
                                    f"{' '.join(str(e).split())[:160]}); delete it if it is a cache, or pass "
                                    f"another file") from None


def parse_grid(text: str, where: str = "input") -> np.ndarray:
    """Return the [81] int8 grid of an 81-character string ('0' or '.' empty); raises SudokuFormatError."""
    s = text.strip()
    if len(s) != 81:
        raise SudokuFormatError(f"{where}: expected 81 characters (digits 1-9, '0' or '.' for empty), got {len(s)}")
    bad = sorted({ch for ch in s if ch not in "0123456789."})
    if bad:
        raise SudokuFormatError(f"{where}: bad character(s) {''.join(bad)!r}; use digits 1-9 and '0' or '.' for empty")
    return np.array([0 if ch == "." else int(ch) for ch in s], dtype=np.int8)


def grid_string(grid: np.ndarray, empty: str = "0") -> str:
    """Return the 81-character string of a grid (``empty`` for empty cells)."""
    return "".join(empty if v == 0 else str(int(v)) for v in np.asarray(grid).reshape(81))


def conflicts(grid: np.ndarray) -> list[tuple[int, int, int]]:
    """Return (unit, cell_a, cell_b) for every pair of filled cells in one unit holding the same digit."""
    g = np.asarray(grid).reshape(81)
    out = []
    for u, cells in enumerate(UNITS):
        seen: dict[int, int] = {}
        for c in cells:
            v = int(g[c])
            if v:
                if v in seen:
                    out.append((u, seen[v], int(c)))
                else:
                    seen[v] = int(c)
    return out


def unit_name(u: int) -> str:
    """Return 'row r', 'column c' or 'box b' (1-based) for unit index ``u``."""
    kind, k = divmod(u, 9)
    return f"{('row', 'column', 'box')[kind]} {k + 1}"


def random_symmetries(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return n random Sudoku symmetries as (perm [n, 81], digit_map [n, 10]): the new grid is
    ``digit_map[old[perm]]``. Each draws a band and stack permutation, a row and column permutation inside
    each, a transpose with probability 1/2 and a relabelling of 1..9 (0 stays 0)."""
    def line_perm() -> np.ndarray:
        bands = rng.permuted(np.tile(np.arange(3), (n, 1)), axis=1)
        inner = rng.permuted(np.tile(np.arange(3), (n, 3, 1)), axis=2)
        return (3 * bands[:, :, None] + np.take_along_axis(inner, bands[:, :, None].repeat(3, 2), 1)).reshape(n, 9)

    rows, cols = line_perm(), line_perm()
    perm = (9 * rows[:, :, None] + cols[:, None, :]).reshape(n, 81)
    flip = rng.random(n) < 0.5
    perm[flip] = perm[flip].reshape(-1, 9, 9).transpose(0, 2, 1).reshape(-1, 81)
    digits = np.zeros((n, 10), np.int8)
    digits[:, 1:] = rng.permuted(np.tile(np.arange(1, 10, dtype=np.int8), (n, 1)), axis=1)
    return perm, digits


def apply_symmetries(ps: PuzzleSet, perm: np.ndarray, digit_map: np.ndarray) -> PuzzleSet:
    """Return the puzzles of ``ps`` transformed by one symmetry each (perm [N, 81], digit_map [N, 10]).

    Symmetries keep uniqueness and which strategies solve a puzzle; the fill order and per-cell strategies
    move with their cells (the order is the transformed cells in the same sequence)."""
    take = lambda a: np.take_along_axis(a, perm, 1)  # noqa: E731
    givens = np.take_along_axis(digit_map, take(ps.givens).astype(np.int64), 1).astype(np.int8)
    solutions = np.take_along_axis(digit_map, take(ps.solutions).astype(np.int64), 1).astype(np.int8)
    inv = np.argsort(perm, axis=1)
    order = np.where(ps.order >= 0, np.take_along_axis(inv, np.maximum(ps.order, 0).astype(np.int64), 1), -1)
    return PuzzleSet(givens, solutions, order.astype(np.int8), take(ps.strategy), list(ps.source))


def reveal(ps: PuzzleSet, counts: np.ndarray, keys: np.ndarray) -> PuzzleSet:
    """Return ``ps`` with ``counts[i]`` more cells of puzzle i given, from the solution: the empty cells with the
    smallest ``keys[i]`` (uniform draws [N, 81], so the choice is uniform; fewer when fewer are empty). The new
    givens leave the fill order (the rest keeps its sequence) and their strategy becomes 'given', so a revealed
    puzzle is a valid puzzle with a valid solver order."""
    n = len(ps)
    counts = np.broadcast_to(np.asarray(counts, dtype=np.int64), (n,))
    empty = ps.givens == 0
    keys = np.where(empty, np.asarray(keys, dtype=float).reshape(n, 81), 2.0)  # empty cells first, by key
    rank = np.argsort(np.argsort(keys, axis=1), axis=1)
    show = empty & (rank < counts[:, None])
    givens = np.where(show, ps.solutions, ps.givens).astype(np.int8)
    strategy = np.where(show, GIVEN, ps.strategy).astype(np.int8)
    shown_at = np.take_along_axis(show, np.maximum(ps.order, 0).astype(np.int64), 1) & (ps.order >= 0)
    keep = (ps.order >= 0) & ~shown_at
    order = np.full_like(ps.order, -1)
    slot = np.cumsum(keep, axis=1) - 1
    rows, cols = np.nonzero(keep)
    order[rows, slot[rows, cols]] = ps.order[rows, cols]
    return PuzzleSet(givens, ps.solutions.copy(), order, strategy, list(ps.source))


def singles(givens: np.ndarray, kinds: str = "both") -> np.ndarray:
    """Return [N, 81] int8: the digit each empty cell must hold by a naked single (``kinds="naked"``: its peers
    leave one candidate), a hidden single (``"hidden"``: the only place for a digit in one of its units, and
    not a naked single) or either (``"both"``) of the puzzle as given (one step, no chaining); 0 elsewhere."""
    if kinds not in ("both", "naked", "hidden"):
        raise ValueError(f"kinds must be 'both', 'naked' or 'hidden', got {kinds!r}")
    g = np.asarray(givens, dtype=np.int64).reshape(-1, 81)
    n = len(g)
    onehot = g[:, :, None] == np.arange(1, 10)[None, None]             # [N, 81, 9]
    seen = onehot[:, PEERS].any(2)                                      # [N, 81, 9] digit in a peer
    cand = ~seen & (g == 0)[:, :, None]
    naked = np.zeros((n, 81), np.int8)
    is_naked = cand.sum(2) == 1
    naked[is_naked] = (cand[is_naked].argmax(1) + 1).astype(np.int8)
    hidden = np.zeros((n, 81), np.int8)
    unit_cand = cand[:, UNITS]                                          # [N, 27, 9 cells, 9 digits]
    only = (unit_cand.sum(2) == 1) & ~onehot[:, UNITS].any(2)          # [N, 27, 9 digits]
    u_n, u, d = np.nonzero(only)
    cells = UNITS[u, unit_cand[u_n, u, :, d].argmax(1)]
    hidden[u_n, cells] = (d + 1).astype(np.int8)
    if kinds == "naked":
        return naked
    hidden = np.where(is_naked, 0, hidden).astype(np.int8)
    return hidden if kinds == "hidden" else np.where(is_naked, naked, hidden).astype(np.int8)
