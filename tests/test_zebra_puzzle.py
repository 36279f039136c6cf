"""Zebra puzzles: clue semantics, solver, generator (uniqueness, minimality, determinism), pickle I/O."""
import pickle
import re

import numpy as np
import pytest
from conftest import HostilePayload

from tasks.zebra.puzzle import (CLUE_KINDS, Clue, ZebraPuzzle, check_clue, dump_pickle, generate,
                                generate_many, holds, load_pickle, parse_clue, solve)

# 4 houses, 2 attributes. attr 0 value v sits in house SOL[0].index(v): value 2 -> house 0, 0 -> 1, 3 -> 2, 1 -> 3.
SOL = np.array([[2, 0, 3, 1],
                [1, 3, 0, 2]])
A = lambda a, v: ("attr", a, v)  # noqa: E731
H = lambda k: ("house", k)  # noqa: E731

# (kind, lhs, rhs, expected): pos(A(0,2))=0, pos(A(0,0))=1, pos(A(0,3))=2, pos(A(0,1))=3; pos(A(1,1))=0, pos(A(1,2))=3
CASES = [
    ("found-at", A(0, 3), H(2), True), ("found-at", A(0, 3), H(1), False),
    ("not-at", A(0, 3), H(1), True), ("not-at", A(0, 3), H(2), False),
    ("same-house", A(0, 2), A(1, 1), True), ("same-house", A(0, 2), A(1, 2), False),
    ("not-same-house", A(0, 2), A(1, 2), True), ("not-same-house", A(0, 1), A(1, 2), False),
    ("left-of", A(0, 2), A(0, 1), True), ("left-of", A(0, 1), A(0, 2), False), ("left-of", A(0, 0), H(1), False),
    ("right-of", A(0, 1), A(0, 0), True), ("right-of", A(0, 0), A(0, 3), False), ("right-of", H(2), A(1, 1), True),
    ("immediate-left", A(0, 2), A(0, 0), True), ("immediate-left", A(0, 2), A(0, 3), False),
    ("immediate-left", H(2), A(1, 2), True), ("immediate-left", A(0, 0), A(0, 2), False),
    ("immediate-right", A(0, 0), A(0, 2), True), ("immediate-right", A(0, 3), A(0, 2), False),
    ("immediate-right", A(0, 2), A(0, 0), False),
    ("beside", A(0, 0), A(0, 2), True), ("beside", A(0, 2), A(0, 0), True), ("beside", A(0, 2), A(0, 3), False),
    ("beside", A(1, 2), H(2), True),
    ("one-between", A(0, 2), A(0, 3), True), ("one-between", A(0, 3), A(0, 2), True),
    ("one-between", A(0, 2), A(0, 1), False), ("one-between", A(0, 2), A(0, 0), False),
    ("two-between", A(0, 2), A(0, 1), True), ("two-between", A(1, 2), H(0), True),
    ("two-between", A(0, 2), A(0, 3), False),
]


@pytest.mark.parametrize("kind,lhs,rhs,want", CASES)
def test_clue_semantics(kind, lhs, rhs, want):
    clue = Clue(kind, lhs, rhs)
    check_clue(clue, 4, 2)
    assert holds(clue, SOL) is want


def test_every_kind_has_true_and_false_cases():
    for kind in CLUE_KINDS:
        assert {w for k, _, _, w in CASES if k == kind} == {True, False}, kind


@pytest.mark.parametrize("clue", [Clue("found-at", H(1), A(0, 1)), Clue("same-house", A(0, 1), A(0, 2)),
                                  Clue("beside", H(1), H(2)), Clue("nearby", A(0, 1), H(1)),
                                  Clue("found-at", A(2, 1), H(1)), Clue("not-at", A(0, 4), H(1))])
def test_malformed_clue_rejected(clue):
    with pytest.raises(ValueError):
        check_clue(clue, 4, 2)


def test_shah_syntax():
    c = parse_clue("immediate-left LHS n 0 2 RHS c 1 2 CLUE_END", 4, 2)
    assert c == Clue("immediate-left", H(2), A(0, 2))
    c = parse_clue(["found-at", "LHS", "c", "2", "3", "RHS", "n", "0", "1", "CLUE_END"], 4, 2, base=1)
    assert c == Clue("found-at", A(1, 2), H(0))


def test_solver_small_hand_puzzle():
    # 3 houses, 1 attribute: value 0 in house 2, value 1 immediately left of value 0 -> [2, 1, 0]
    clues = [Clue("found-at", A(0, 0), H(2)), Clue("immediate-left", A(0, 1), A(0, 0))]
    r = solve(3, 1, clues)
    assert (r.solutions_found, r.stuck) == (1, False)
    assert r.solution.tolist() == [[2, 1, 0]]
    assert sorted(r.order) == [(0, 0), (0, 1), (0, 2)]
    r = solve(3, 1, clues[1:])  # two solutions: [1,0,2] and [2,1,0]
    assert (r.solutions_found, r.solution, r.stuck) == (2, None, True)
    r = solve(3, 1, clues + [Clue("found-at", A(0, 1), H(0))])
    assert r.solutions_found == 0 and r.solution is None


SIZES = [(3, 3), (4, 5), (5, 4), (6, 6)]


@pytest.fixture(scope="module")
def puzzles():
    return [generate(m, n, 7, i) for m, n in SIZES for i in range(3)]


def test_generated_unique_and_consistent(puzzles):
    for p in puzzles:
        assert p.solution.shape == (p.n, p.m)
        for row in p.solution:
            assert sorted(row.tolist()) == list(range(p.m))
        assert all(holds(c, p.solution) for c in p.clues)
        r = solve(p.m, p.n, p.clues)
        assert r.solutions_found == 1 and not r.stuck
        assert np.array_equal(r.solution, p.solution)
        assert r.order == p.order
        assert sorted(p.order) == [(a, h) for a in range(p.n) for h in range(p.m)]


def test_order_exact_on_hand_puzzle():
    """found-at removes value 0 from houses 0, 1; immediate-left then pins value 1 to house 1, which leaves
    house 0 with {2} (first determined); the naked single then fixes houses 1 and 2 in scan order."""
    clues = [Clue("found-at", A(0, 0), H(2)), Clue("immediate-left", A(0, 1), A(0, 0))]
    assert solve(3, 1, clues).order == [(0, 0), (0, 1), (0, 2)]


def test_order_prefix_is_stuck_without_later_cells(puzzles):
    """With a clue dropped, propagation stalls: the order lists only the cells it determined, each once."""
    for p in puzzles:
        r = solve(p.m, p.n, p.clues[1:])
        assert r.stuck and len(set(r.order)) == len(r.order) < p.m * p.n


def test_generated_minimal(puzzles):
    for p in puzzles:
        for j in range(len(p.clues)):
            r = solve(p.m, p.n, p.clues[:j] + p.clues[j + 1:])
            assert r.stuck or r.solutions_found != 1


def test_generate_deterministic():
    a, b = generate(5, 5, 3, 11), generate(5, 5, 3, 11)
    assert a.clues == b.clues and np.array_equal(a.solution, b.solution) and a.order == b.order
    assert generate(5, 5, 4, 11).clues != a.clues


def test_generate_many_same_for_any_workers():
    sizes = [(3, 3), (4, 3)]
    one = generate_many(6, 5, sizes=sizes, workers=1)
    two = generate_many(6, 5, sizes=sizes, workers=2)
    assert [(p.m, p.n) for p in one] == [(3, 3), (4, 3)] * 3
    for p, q in zip(one, two):
        assert p.clues == q.clues and np.array_equal(p.solution, q.solution) and p.order == q.order


@pytest.mark.parametrize("base", [0, 1])
def test_pickle_round_trip(tmp_path, puzzles, base):
    path = tmp_path / "z.pkl"
    dump_pickle(puzzles, path, base=base)
    back = load_pickle(path)
    assert len(back) == len(puzzles)
    for p, q in zip(puzzles, back):
        assert (p.m, p.n, p.clues, p.order) == (q.m, q.n, q.clues, q.order)
        assert np.array_equal(p.solution, q.solution)


def test_pickle_shuffled_columns_and_string_clues(tmp_path):
    # houses listed out of order in row 0; clues as one CLUE_END-separated string
    table = [[2, 0, 1], [0, 2, 1]]  # house 2 has value 0, house 0 value 2, house 1 value 1
    ex = ["found-at LHS c 1 2 RHS n 0 0 CLUE_END found-at LHS c 1 1 RHS n 0 1 CLUE_END", table, [(1, 1), (1, 2)]]
    path = tmp_path / "s.pkl"
    path.write_bytes(pickle.dumps([ex]))
    (p,) = load_pickle(path)
    assert p.solution.tolist() == [[2, 1, 0]]
    assert p.order == [(0, 0), (0, 1)]
    assert len(p.clues) == 2


GOOD = [[["found-at", "LHS", "c", "1", "2", "RHS", "n", "0", "0", "CLUE_END"]], [[0, 1, 2], [2, 0, 1]], [(1, 0)]]
BAD = {
    "unknown clue type": [[["somewhere", "LHS", "c", "1", "2", "RHS", "n", "0", "0", "CLUE_END"]],
                          GOOD[1], []],
    "bad clue syntax": [[["found-at", "LHS", "c", "1", "2", "RHS", "n", "0", "CLUE_END"]], GOOD[1], []],
    "bad arity": [[["found-at", "LHS", "n", "0", "2", "RHS", "c", "1", "0", "CLUE_END"]], GOOD[1], []],
    "not a permutation": [GOOD[0], [[0, 1, 2], [2, 2, 1]], []],
    "is false for the solution": [[["found-at", "LHS", "c", "1", "2", "RHS", "n", "0", "1", "CLUE_END"]],
                                  GOOD[1], []],
    "out of range": [GOOD[0], GOOD[1], [(3, 0)]],
    "expected [clues": [GOOD[0]],
}


@pytest.mark.parametrize("why", list(BAD))
def test_pickle_malformed_rejected(tmp_path, why):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps([GOOD, GOOD, BAD[why]]))
    with pytest.raises(ValueError, match=rf"example 2: .*{re.escape(why)}"):
        load_pickle(path)


def test_pickle_good_loads(tmp_path):
    path = tmp_path / "good.pkl"
    path.write_bytes(pickle.dumps([GOOD]))
    (p,) = load_pickle(path)
    assert isinstance(p, ZebraPuzzle) and p.solution.tolist() == [[2, 0, 1]]


def test_a_hostile_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([GOOD, [HostilePayload(marker), GOOD[1], []]]))
    with pytest.raises(ValueError, match=r"evil\.pkl: not a readable Zebra pickle .*names (io|builtins)\.open") as e:
        load_pickle(path)
    assert "\n" not in str(e.value) and not marker.exists()


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_numpy_tables_and_sets_still_load(tmp_path, protocol):
    ex = [GOOD[0], np.array(GOOD[1], dtype=np.int64), [tuple(np.int64(v) for v in GOOD[2][0])]]
    path = tmp_path / "np.pkl"
    path.write_bytes(pickle.dumps([ex, {"clues": GOOD[0], "solution": GOOD[1], "order": set()}], protocol=protocol))
    a, b = load_pickle(path)
    assert a.solution.tolist() == b.solution.tolist() == [[2, 0, 1]]


def test_a_file_that_is_not_a_pickle_is_one_line(tmp_path):
    path = tmp_path / "text.pkl"
    path.write_text("hello, I am not a pickle\n")
    with pytest.raises(ValueError, match=r"text\.pkl: not a readable Zebra pickle") as e:
        load_pickle(path)
    assert "\n" not in str(e.value)
