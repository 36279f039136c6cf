"""Human-style Sudoku solver with exactly Shah et al.'s seven strategies (no guessing).

State: per digit d a bit-plane ``P[d]`` (81-bit int: the empty cells where d is still a candidate). Every
step applies the easiest strategy that makes progress, then starts over from the top:

1. (2) lone single: the lowest-index empty cell with exactly one candidate -> place it.
2. (3) hidden single: scan units in order rows 0-8, columns 0-8, boxes 0-8 and inside each unit digits
   1..9; the first (unit, digit) with exactly one candidate cell -> place it.
3. Elimination strategies, tried in order; the first that removes at least one candidate is applied as
   one *sweep*: every instance found while scanning its fixed order is applied at once, each on the
   candidates as left by the previous one. Then back to step 1.
   (4) naked pair: two cells of a unit with the same two candidates -> remove both digits from the rest
       of the unit. Units 0..26, cell pairs in unit order.
   (5) naked triplet: three cells of a unit, each with 2 or 3 candidates, whose union has size 3 (covers
       3-3-3, 3-3-2, 3-2-2, 2-2-2) -> remove the three digits from the rest of the unit.
   (6) locked candidates: pointing (boxes 0..8, digits 1..9: the digit's candidates in the box lie in
       one row / column -> remove it from the rest of that row / column), then claiming (rows, then
       columns, digits 1..9: the candidates in the line lie in one box -> remove from the rest of the box).
   (7) XY-wing: pivot {x,y} (cells in index order), pincers {x,z} and {y,z} among its bivalue peers
       (index order) -> remove z from every cell that sees both pincers.
   (8) unique rectangle type 1: four empty cells in two rows, two columns and exactly two boxes, three
       bivalue {a,b} and the fourth holding a, b and more -> remove a and b from the fourth (scan: row,
       equal bivalue pairs in it, second row, in index order). Sound only when the puzzle has a unique
       solution (``uses_uniqueness`` flags it).
4. Stuck when no strategy makes progress.

Credit of a placement: the largest elimination id applied since the previous placement, else the single's
own id (2 or 3). ``used`` lists the single kinds that placed a cell and the elimination strategies that
removed a candidate. ``contradiction``: clashing givens, an empty cell without candidates, or (checked
when stuck) a unit where a digit has neither a place nor a candidate. The fill order is a pure function
of the givens. Cost: about 0.4 ms per near-minimal easy puzzle, 0.7 ms per hard one (pure Python on
int bitsets; benchmarks/sudoku_generator.py). :func:`solve_status` is an order-free twin for the
generator: singles in batches, same solved / stuck / contradiction outcome, no fill order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tasks.sudoku.puzzles import (HIDDEN_SINGLE, LOCKED_CANDIDATE, LONE_SINGLE, NAKED_PAIR, NAKED_TRIPLET, PEERS,
                                  UNIQUE_RECTANGLE, UNITS, XY_WING)

_BIT = tuple(1 << i for i in range(81))
_UNITS = tuple(tuple(int(c) for c in u) for u in UNITS)
_UM = tuple(sum(1 << c for c in u) for u in _UNITS)
_ROWM, _COLM, _BOXM = _UM[0:9], _UM[9:18], _UM[18:27]
_PEERM = tuple(sum(1 << int(p) for p in row) for row in PEERS)
_POP = tuple(bin(m).count("1") for m in range(1024))
_DIGITS = tuple(tuple(d for d in range(1, 10) if m >> d & 1) for m in range(1024))
_DIG = range(1, 10)
# locked candidates: the rows / columns through each box, the boxes along each row / column
_BOX_ROWS = tuple(tuple(3 * (b // 3) + k for k in range(3)) for b in range(9))
_BOX_COLS = tuple(tuple(3 * (b % 3) + k for k in range(3)) for b in range(9))
_ROW_BOXES = tuple(tuple(3 * (r // 3) + k for k in range(3)) for r in range(9))
_COL_BOXES = tuple(tuple(c // 3 + 3 * k for k in range(3)) for c in range(9))


@dataclass
class SolveTrace:
    """What :func:`solve_with_strategies` did: the grid as far as it got, fill order and per-cell credit."""

    grid: np.ndarray
    order: list[int] = field(default_factory=list)
    strategy: list[int] = field(default_factory=list)
    solved: bool = False
    contradiction: bool = False
    used: list[int] = field(default_factory=list)
    uses_uniqueness: bool = False


def _cell_masks(P: list[int]) -> list[int]:
    """Return [81] candidate masks (bit d for digit d) built from the planes."""
    cm = [0] * 81
    for d in _DIG:
        bit = 1 << d
        x = P[d]
        while x:
            low = x & -x
            cm[low.bit_length() - 1] |= bit
            x ^= low
    return cm


def _elim(P: list[int], cm: list[int], cells: int, d: int) -> bool:
    """Remove digit ``d`` from the cells of bitset ``cells``; return whether anything was removed."""
    x = P[d] & cells
    if not x:
        return False
    P[d] ^= x
    nb = ~(1 << d)
    while x:
        low = x & -x
        cm[low.bit_length() - 1] &= nb
        x ^= low
    return True


def _clear_digits_outside(P: list[int], cm: list[int], u: int, subset: int, m: int) -> bool:
    """Remove the digits of mask ``m`` from unit ``u``'s cells outside the ``subset`` bitmask (a naked
    pair's or triplet's cells); return whether any candidate was removed."""
    rest = _UM[u] & ~subset
    hit = False
    for d in _DIGITS[m]:
        hit |= _elim(P, cm, rest, d)
    return hit


def naked_pairs(P: list[int], cm: list[int]) -> bool:
    """Apply one naked-pair sweep; return whether any candidate was removed."""
    hit = False
    for u in range(27):
        cells = [c for c in _UNITS[u] if _POP[cm[c]] == 2]
        n = len(cells)
        for i in range(n):
            a = cells[i]
            m = cm[a]
            if _POP[m] != 2:
                continue
            for j in range(i + 1, n):
                b = cells[j]
                if cm[b] == m:
                    hit |= _clear_digits_outside(P, cm, u, _BIT[a] | _BIT[b], m)
    return hit


def naked_triplets(P: list[int], cm: list[int]) -> bool:
    """Apply one naked-triplet sweep; return whether any candidate was removed."""
    hit = False
    for u in range(27):
        cells = [c for c in _UNITS[u] if 2 <= _POP[cm[c]] <= 3]
        n = len(cells)
        if n < 3:
            continue
        for i in range(n - 2):
            a = cells[i]
            for j in range(i + 1, n - 1):
                b = cells[j]
                ab = cm[a] | cm[b]
                if _POP[ab] > 3:
                    continue
                for k in range(j + 1, n):
                    c = cells[k]
                    m = ab | cm[c]
                    if _POP[m] == 3 and cm[a] and cm[b] and cm[c]:
                        hit |= _clear_digits_outside(P, cm, u, _BIT[a] | _BIT[b] | _BIT[c], m)
    return hit


def locked_candidates(P: list[int], cm: list[int]) -> bool:
    """Apply one locked-candidates sweep (pointing, then claiming); return whether anything was removed."""
    hit = False
    for b in range(9):
        bm = _BOXM[b]
        for d in _DIG:
            x = P[d] & bm
            if not x:
                continue
            for r in _BOX_ROWS[b]:
                if not x & ~_ROWM[r]:
                    hit |= _elim(P, cm, _ROWM[r] & ~bm, d)
                    break
            else:
                for c in _BOX_COLS[b]:
                    if not x & ~_COLM[c]:
                        hit |= _elim(P, cm, _COLM[c] & ~bm, d)
                        break
    for lines, boxes_of in ((_ROWM, _ROW_BOXES), (_COLM, _COL_BOXES)):
        for li in range(9):
            lm = lines[li]
            for d in _DIG:
                x = P[d] & lm
                if not x:
                    continue
                for b in boxes_of[li]:
                    if not x & ~_BOXM[b]:
                        hit |= _elim(P, cm, _BOXM[b] & ~lm, d)
                        break
    return hit


def xy_wings(P: list[int], cm: list[int]) -> bool:
    """Apply one XY-wing sweep; return whether any candidate was removed."""
    hit = False
    biv = [c for c in range(81) if _POP[cm[c]] == 2]
    if len(biv) < 3:
        return False
    for p in biv:
        m = cm[p]
        if _POP[m] != 2:
            continue
        x, y = _DIGITS[m]
        peers = _PEERM[p]
        wx, wy = [], []  # pincers {x,z} and {y,z}
        for q in biv:
            if peers >> q & 1:
                mq = cm[q]
                if _POP[mq] != 2 or mq == m:
                    continue
                if mq & (1 << x):
                    wx.append(q)
                elif mq & (1 << y):
                    wy.append(q)
        for q1 in wx:
            z1 = cm[q1] & ~(1 << x)
            for q2 in wy:
                if cm[q2] & ~(1 << y) == z1 and _POP[cm[q1]] == 2 and _POP[cm[q2]] == 2 and cm[p] == m:
                    z = z1.bit_length() - 1
                    if _elim(P, cm, _PEERM[q1] & _PEERM[q2], z):
                        hit = True
    return hit


def unique_rectangles(P: list[int], cm: list[int]) -> bool:
    """Apply one unique-rectangle (type 1) sweep; return whether any candidate was removed."""
    hit = False
    for r1 in range(9):
        row = [9 * r1 + c for c in range(9) if _POP[cm[9 * r1 + c]] == 2]
        for i in range(len(row)):
            a = row[i]
            m = cm[a]
            for j in range(i + 1, len(row)):
                b = row[j]
                if cm[b] != m or cm[a] != m:
                    continue
                c1, c2 = a % 9, b % 9
                same_stack = c1 // 3 == c2 // 3
                for r2 in range(9):
                    if r2 == r1 or (r1 // 3 == r2 // 3) == same_stack:
                        continue  # needs exactly two boxes
                    c, dcell = 9 * r2 + c1, 9 * r2 + c2
                    for corner, fourth in ((c, dcell), (dcell, c)):
                        if cm[corner] == m and cm[fourth] & m == m and cm[fourth] != m:
                            for d in _DIGITS[m]:
                                hit |= _elim(P, cm, _BIT[fourth], d)
    return hit


ELIMINATIONS = ((NAKED_PAIR, naked_pairs), (NAKED_TRIPLET, naked_triplets), (LOCKED_CANDIDATE, locked_candidates),
                (XY_WING, xy_wings), (UNIQUE_RECTANGLE, unique_rectangles))
"""The elimination strategies in the order they are tried: (Shah id, sweep function on (planes, cell masks))."""


def planes_from_grid(grid) -> tuple[list[int], int, list[int]] | None:
    """Return (candidate planes P[0..9], empty-cell bitset, placed planes G[0..9]) of a grid (plane d: a
    bitset of cells), or None when givens clash."""
    P = [0] * 10
    empty = 0
    blocked = [0] * 10
    G = [0] * 10
    for i in range(81):
        v = grid[i]
        if v:
            if blocked[v] >> i & 1:
                return None
            blocked[v] |= _PEERM[i]
            G[v] |= _BIT[i]
        else:
            empty |= _BIT[i]
    for d in _DIG:
        P[d] = empty & ~blocked[d]
    return P, empty, G


def _solve(grid: list[int], record: bool, eliminations=ELIMINATIONS):
    """Run the solver on ``grid`` (a list, filled in place). Return (status, used bitmask, order, strategy)
    with status 1 solved, 0 stuck, -1 contradiction."""
    order: list[int] = []
    strat: list[int] = []
    used = 0
    st = planes_from_grid(grid)
    if st is None:
        return -1, used, order, strat
    P, empty, _ = st
    pending = 0
    UM, BIT, PEERM = _UM, _BIT, _PEERM
    while empty:
        once = twice = 0
        for d in _DIG:
            x = P[d]
            twice |= once & x
            once |= x
        if empty & ~once:
            return -1, used, order, strat
        singles = once & ~twice
        if singles:
            low = singles & -singles
            i = low.bit_length() - 1
            for d in _DIG:
                if P[d] & low:
                    break
            kind = LONE_SINGLE
        else:
            i = -1
            for u in range(27):
                um = UM[u]
                if not um & empty:
                    continue
                for d in _DIG:
                    x = P[d] & um
                    if x and not x & (x - 1):
                        i = x.bit_length() - 1
                        break
                if i >= 0:
                    break
            if i < 0:
                cm = _cell_masks(P)
                for sid, fn in eliminations:
                    if fn(P, cm):
                        used |= 1 << sid
                        if sid > pending:
                            pending = sid
                        break
                else:
                    return (-1 if _unit_contradiction(P, grid) else 0), used, order, strat
                continue
            kind = HIDDEN_SINGLE
        # place d at i
        grid[i] = d
        empty ^= BIT[i]
        nb = ~BIT[i]
        for e in _DIG:
            P[e] &= nb
        P[d] &= ~PEERM[i]
        used |= 1 << kind
        if record:
            order.append(i)
            strat.append(pending or kind)
        pending = 0
    return 1, used, order, strat


def _unit_contradiction(P: list[int], grid: list[int]) -> bool:
    """Return whether some unit has a digit with neither a placed cell nor a candidate."""
    for u in range(27):
        have = 0
        for c in _UNITS[u]:
            if grid[c]:
                have |= 1 << grid[c]
        for d in _DIG:
            if not have >> d & 1 and not P[d] & _UM[u]:
                return True
    return False


def solve_with_strategies(givens) -> SolveTrace:
    """Return the :class:`SolveTrace` of the seven-strategy solver on ``givens`` ([81] ints, 0 empty)."""
    grid = [int(v) for v in np.asarray(givens).reshape(81)]
    if any(v < 0 or v > 9 for v in grid):
        raise ValueError("givens must be digits 0..9")
    status, used, order, strat = _solve(grid, True)
    return SolveTrace(grid=np.array(grid, dtype=np.int8), order=order, strategy=strat, solved=status == 1,
                      contradiction=status < 0, used=[s for s in range(10) if used >> s & 1],
                      uses_uniqueness=bool(used >> UNIQUE_RECTANGLE & 1))


def solve_status(givens, target: int = -1) -> tuple[int, bool]:
    """Return (status, unique rectangle fired) of the solver on ``givens`` without recording the order:
    status 1 solved, 0 stuck, -1 contradiction, 2 when cell ``target`` (empty) is placed by the very first
    singles closure (then the outcome equals that of ``givens`` with ``target`` filled in)."""
    st = planes_from_grid([int(v) for v in givens])
    if st is None:
        return -1, False
    P, empty, G = st
    empty = singles_closure(P, empty, G, _BIT[target] if target >= 0 else 0)
    if empty == -2:
        return 2, False
    return fixpoint_status(P, empty, G)


def singles_closure(P: list[int], empty: int, G: list[int] | None = None, target_bit: int = 0) -> int:
    """Place lone and hidden singles in batches until none is left (in place on the planes ``P`` and, when
    given, the placed-digit planes ``G``). Return the new empty-cell bitset, -1 on a contradiction, or -2
    as soon as a cell of ``target_bit`` is placed. The singles closure does not depend on the order of
    placements (on a consistent puzzle), so this reaches the state :func:`_solve` reaches when stuck."""
    UM, PEERM = _UM, _PEERM
    while empty:
        once = twice = 0
        for d in _DIG:
            x = P[d]
            twice |= once & x
            once |= x
        if empty & ~once:
            return -1
        singles = once & ~twice
        if singles:
            for d in _DIG:
                s = singles & P[d]
                if not s:
                    continue
                if G is not None:
                    G[d] |= s
                while s:
                    low = s & -s
                    s ^= low
                    if not P[d] & low:
                        return -1
                    P[d] &= ~PEERM[low.bit_length() - 1]
            nb = ~singles
            for d in _DIG:
                P[d] &= nb
            empty &= nb
            if singles & target_bit:
                return -2
            continue
        placed = 0
        for u in range(27):
            um = UM[u] & empty
            if not um:
                continue
            for d in _DIG:
                x = P[d] & um
                if x and not x & (x - 1):
                    empty ^= x
                    um ^= x
                    placed |= x
                    nb = ~x
                    for e in _DIG:
                        P[e] &= nb
                    P[d] &= ~PEERM[x.bit_length() - 1]
                    if G is not None:
                        G[d] |= x
        if not placed:
            return empty
        if placed & target_bit:
            return -2
    return empty


def fixpoint_status(P: list[int], empty: int, G: list[int]) -> tuple[int, bool]:
    """Return (1 solved / 0 stuck / -1 contradiction, unique rectangle fired) of the solver continued from a
    singles-closed state (order-free twin of :func:`_solve`: same status on puzzles whose deductions are
    sound). Works in place."""
    used = 0
    while True:
        if empty < 0:
            return -1, bool(used >> UNIQUE_RECTANGLE & 1)
        if not empty:
            return 1, bool(used >> UNIQUE_RECTANGLE & 1)
        cm = _cell_masks(P)
        for sid, fn in ELIMINATIONS:
            if fn(P, cm):
                used |= 1 << sid
                break
        else:
            bad = any(not (P[d] | G[d]) & um for um in _UM for d in _DIG)
            return (-1 if bad else 0), bool(used >> UNIQUE_RECTANGLE & 1)
        empty = singles_closure(P, empty, G)
