"""The seven-strategy Sudoku solver: each strategy on a constructed candidate state with its exact
eliminations, puzzles that need each strategy, fill-order validity, credit rule, well-known puzzles."""
import numpy as np
import pytest

import tasks.sudoku.logic as L
from tasks.sudoku.logic import solve_status, solve_with_strategies
from tasks.sudoku.puzzles import parse_grid
from tasks.sudoku.search import count_solutions

ALL = set(range(1, 10))


def state(spec: dict[int, set[int]], empty=range(81)):
    """Return (planes, cell masks): the cells of ``empty`` hold all nine candidates unless ``spec`` says."""
    P = [0] * 10
    for i in empty:
        for d in spec.get(i, ALL):
            P[d] |= 1 << i
    return P, L._cell_masks(P)


def cands(P) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for d in range(1, 10):
        for i in range(81):
            if P[d] >> i & 1:
                out.setdefault(i, set()).add(d)
    return out


def removed(before, after) -> set[tuple[int, int]]:
    """Return the (cell, digit) candidates present in ``before`` and gone in ``after``."""
    return {(i, d) for i, ds in before.items() for d in ds if d not in after.get(i, set())}


def run(fn, spec, empty=range(81)):
    P, cm = state(spec, empty)
    before = cands(P)
    hit = fn(P, cm)
    assert cm == L._cell_masks(P), "cell masks out of step with the planes"
    return hit, removed(before, cands(P))


def cell(r, c):
    return 9 * r + c


BOX0 = {0, 1, 2, 9, 10, 11, 18, 19, 20}


def test_naked_pair_exact_eliminations():
    hit, rem = run(L.naked_pairs, {0: {1, 2}, 1: {1, 2}})
    # row 0 and box 0 (both hold the pair) lose 1 and 2; column cells do not
    others = (set(range(9)) | BOX0) - {0, 1}
    assert hit and rem == {(i, d) for i in others for d in (1, 2)}


def test_naked_pair_needs_identical_pairs():
    hit, rem = run(L.naked_pairs, {0: {1, 2}, 1: {1, 3}})
    assert not hit and not rem


@pytest.mark.parametrize("spec", [
    {cell(4, 0): {1, 2}, cell(4, 3): {2, 3}, cell(4, 8): {1, 3}},           # 2-2-2
    {cell(4, 0): {1, 2, 3}, cell(4, 3): {1, 2, 3}, cell(4, 8): {1, 2, 3}},  # 3-3-3
    {cell(4, 0): {1, 2, 3}, cell(4, 3): {1, 2}, cell(4, 8): {2, 3}},        # 3-2-2
])
def test_naked_triplet_exact_eliminations(spec):
    assert not run(L.naked_pairs, spec)[0]  # no pair inside: only the triplet can fire
    hit, rem = run(L.naked_triplets, spec)
    rest = {cell(4, c) for c in range(9)} - set(spec)  # three different boxes: only the row
    assert hit and rem == {(i, d) for i in rest for d in (1, 2, 3)}


def test_naked_triplet_union_of_four_does_nothing():
    assert run(L.naked_triplets, {cell(4, 0): {1, 2}, cell(4, 3): {2, 3}, cell(4, 8): {3, 4}}) == (False, set())


def test_locked_candidates_pointing():
    # digit 5 in box 0 only in row 0 (cells 0, 1) -> removed from row 0 outside box 0
    spec = {i: ALL - {5} for i in BOX0 - {0, 1}}
    hit, rem = run(L.locked_candidates, spec)
    assert hit and rem == {(i, 5) for i in range(3, 9)}


def test_locked_candidates_pointing_column():
    # digit 4 in box 4 only in column 4 -> removed from column 4 outside box 4
    box4 = {cell(r, c) for r in (3, 4, 5) for c in (3, 4, 5)}
    spec = {i: ALL - {4} for i in box4 if i % 9 != 4}
    hit, rem = run(L.locked_candidates, spec)
    assert hit and rem == {(cell(r, 4), 4) for r in (0, 1, 2, 6, 7, 8)}


def test_locked_candidates_claiming():
    # digit 7 in row 3 only in box 3 (columns 0-2) -> removed from box 3 outside row 3
    spec = {cell(3, c): ALL - {7} for c in range(3, 9)}
    hit, rem = run(L.locked_candidates, spec)
    assert hit and rem == {(cell(r, c), 7) for r in (4, 5) for c in (0, 1, 2)}


def test_xy_wing_exact_eliminations():
    # pivot r4c4 {1,2}; pincers r3c3 {1,3} (same box) and r4c8 {2,3} (same row): z = 3 leaves every cell
    # seeing both pincers: r3c6-8 (row 3 / box 5) and r4c3, r4c5 (box 4 / row 4)
    spec = {cell(4, 4): {1, 2}, cell(3, 3): {1, 3}, cell(4, 8): {2, 3}}
    assert not run(L.naked_pairs, spec)[0] and not run(L.naked_triplets, spec)[0]
    hit, rem = run(L.xy_wings, spec)
    assert hit and rem == {(i, 3) for i in (cell(3, 6), cell(3, 7), cell(3, 8), cell(4, 3), cell(4, 5))}


def test_xy_wing_pincers_in_row_and_column():
    spec = {cell(4, 4): {1, 2}, cell(4, 0): {1, 3}, cell(0, 4): {2, 3}}
    hit, rem = run(L.xy_wings, spec)
    assert hit and rem == {(cell(0, 0), 3)}


def test_xy_wing_needs_a_common_z():
    assert run(L.xy_wings, {cell(4, 4): {1, 2}, cell(4, 0): {1, 3}, cell(0, 4): {2, 5}}) == (False, set())


@pytest.mark.parametrize("fourth", [cell(2, 3), cell(0, 0)])
def test_unique_rectangle_type1(fourth):
    corners = [cell(0, 0), cell(0, 3), cell(2, 0), cell(2, 3)]  # rows 0, 2; columns 0, 3; boxes 0 and 1
    spec = {i: {4, 9} for i in corners}
    spec[fourth] = {4, 6, 9}
    hit, rem = run(L.unique_rectangles, spec)
    assert hit and rem == {(fourth, 4), (fourth, 9)}


def test_unique_rectangle_needs_exactly_two_boxes():
    corners = [cell(0, 0), cell(0, 4), cell(4, 0), cell(4, 4)]  # four boxes: no deadly pattern
    spec = {i: {4, 9} for i in corners}
    spec[corners[3]] = {4, 6, 9}
    assert run(L.unique_rectangles, spec) == (False, set())


def test_lone_single_placed_first_and_credited():
    g = np.zeros(81, np.int8)
    g[[1, 2, 3, 4]] = [1, 2, 3, 4]           # row 0
    g[[cell(3, 0), cell(4, 0), cell(5, 0)]] = [5, 6, 7]  # column 0
    g[cell(1, 1)] = 8                          # box 0: cell 0 can only hold 9, and 9 has other places in row 0
    tr = solve_with_strategies(g)
    assert tr.order[0] == 0 and tr.strategy[0] == L.LONE_SINGLE and tr.grid[0] == 9


def test_hidden_single_placed_and_credited():
    g = np.zeros(81, np.int8)
    for r, c in [(1, 4), (2, 1), (4, 6), (7, 7)]:  # 1s block row 0 everywhere but column 8
        g[cell(r, c)] = 1
    tr = solve_with_strategies(g)
    assert tr.order[0] == 8 and tr.strategy[0] == L.HIDDEN_SINGLE and tr.grid[8] == 1


# Generated puzzles (tasks.sudoku.generate) on which the solver gets stuck without the named strategy.
NEEDS = {
    L.NAKED_PAIR: "000030020280004000004008300708001003000000060000503040000010000007005000100089206",
    L.NAKED_TRIPLET: "000030020280004000004008300708001003000000060000503040000010000007005000100089206",
    L.LOCKED_CANDIDATE: "000900700600700300008005002005000000000476080000000470049000000000587040080200100",
    L.XY_WING: "000000002005700980003000076030001060000980000700450803100008300000500000509000010",
    L.UNIQUE_RECTANGLE: "000402800830000010400015007000200000090053401100004009085000000640000000000006000",
}
PE96_1 = "003020600900305001001806400008102900700000008006708200002609500800203009005010300"
INKALA = "800000000003600000070090200050007000000045700000100030001000068008500010090000400"


def check_trace(givens: np.ndarray, tr) -> None:
    """Fill order is valid: every empty cell once (if solved), no given, each placement the solution's
    digit, strategies aligned and credited by the rule."""
    n, sol = count_solutions(givens)
    assert n == 1
    empty = set(np.flatnonzero(givens == 0).tolist())
    assert len(tr.order) == len(set(tr.order)) and set(tr.order) <= empty
    if tr.solved:
        assert set(tr.order) == empty and (tr.grid == sol).all()
    for c in tr.order:
        assert tr.grid[c] == sol[c]
    assert len(tr.strategy) == len(tr.order)
    assert set(tr.strategy) <= set(tr.used) | {L.LONE_SINGLE, L.HIDDEN_SINGLE}
    assert all(s in (2, 3, 4, 5, 6, 7, 8) for s in tr.strategy)
    assert list(tr.grid[givens > 0]) == list(givens[givens > 0])


@pytest.mark.parametrize("sid", sorted(NEEDS))
def test_puzzle_needs_strategy(sid):
    g = parse_grid(NEEDS[sid])
    tr = solve_with_strategies(g)
    assert tr.solved and sid in tr.used
    check_trace(g, tr)
    if any(s >= 4 for s in tr.used):
        assert any(s >= 4 for s in tr.strategy)  # some placement is credited to an elimination
    assert tr.uses_uniqueness == (sid == L.UNIQUE_RECTANGLE)
    without = tuple(e for e in L.ELIMINATIONS if e[0] != sid)
    status, *_ = L._solve([int(v) for v in g], False, without)
    assert status == 0, "solvable without the strategy: it is not needed"


def test_eliminations_are_sound(monkeypatch):
    """No elimination ever removes a solution digit (on unique puzzles)."""
    for text in set(NEEDS.values()) | {INKALA}:
        g = parse_grid(text)
        sol = count_solutions(g)[1]
        calls = []

        def wrap(fn):
            def w(P, cm):
                r = fn(P, cm)
                for i in range(81):
                    if g[i] == 0 and P[sol[i]] >> i & 1 == 0:
                        # the cell must have been filled (then the planes no longer hold it)
                        assert all(not P[d] >> i & 1 for d in range(1, 10)), f"{fn.__name__} removed {sol[i]}@{i}"
                calls.append(fn.__name__)
                return r
            return w

        monkeypatch.setattr(L, "ELIMINATIONS", tuple((s, wrap(f)) for s, f in L.ELIMINATIONS))
        L._solve([int(v) for v in g], False, L.ELIMINATIONS)
        assert calls


def test_project_euler_96_first_grid_singles_only():
    g = parse_grid(PE96_1)
    tr = solve_with_strategies(g)
    assert tr.solved and not tr.contradiction and set(tr.used) <= {2, 3}
    check_trace(g, tr)
    assert tr.order[0] == min(i for i in range(81) if g[i] == 0 and
                              len({1, 2, 3, 4, 5, 6, 7, 8, 9} - {int(g[p]) for p in L.PEERS[i]}) == 1)


def test_inkala_hardest_is_stuck():
    g = parse_grid(INKALA)
    tr = solve_with_strategies(g)
    assert not tr.solved and not tr.contradiction
    check_trace(g, tr)
    assert solve_status(g) == (0, tr.uses_uniqueness)


def test_contradictions():
    g = np.zeros(81, np.int8)
    g[0] = g[5] = 3  # two 3s in row 0
    tr = solve_with_strategies(g)
    assert tr.contradiction and not tr.solved and tr.order == []
    g = np.zeros(81, np.int8)
    g[1:9] = range(1, 9)
    g[cell(4, 0)] = 9  # cell 0 has no candidate left
    assert solve_with_strategies(g).contradiction
    with pytest.raises(ValueError):
        solve_with_strategies(np.full(81, 10))


def test_solved_grid_and_determinism():
    g = parse_grid(NEEDS[L.XY_WING])
    sol = count_solutions(g)[1]
    tr = solve_with_strategies(sol)
    assert tr.solved and tr.order == [] and tr.used == []
    a, b = solve_with_strategies(g), solve_with_strategies(g.copy())
    assert a.order == b.order and a.strategy == b.strategy and a.used == b.used


def test_status_twin_matches_ordered_solver():
    for text in set(NEEDS.values()) | {PE96_1, INKALA}:
        g = parse_grid(text)
        tr = solve_with_strategies(g)
        status, ur = solve_status(g)
        assert status == (1 if tr.solved else 0) and ur == tr.uses_uniqueness
        empty = [i for i in range(81) if g[i] == 0]
        if tr.solved:  # the solver's first placement is filled back by the singles closure
            h = g.copy()
            h[tr.order[0]] = tr.grid[tr.order[0]]
            assert solve_status(g, target=tr.order[0])[0] == 2 and solve_status(h)[0] == 1
        assert solve_status(g, target=empty[-1])[0] in (0, 1, 2)
