"""Sudoku loaders and writers: each format on tiny files, round trips, and one-line errors naming the line."""
from __future__ import annotations

import re

import numpy as np
import pytest

from tasks.sudoku.formats import (detect_format, load_puzzles, write_csv, write_lines, write_shah_npy)
from tasks.sudoku.puzzles import PuzzleSet, SudokuFormatError, grid_string, parse_grid

P1 = "003020600900305001001806400008102900700000008006708200002609500800203009005010300"  # Project Euler 96, Grid 01
S1 = "483921657967345821251876493548132976729564138136798245372689514814253769695417382"
P2 = "200080300060070084030500209000105408000000000402706000301007040720040060004010003"  # Project Euler 96, Grid 02
S2 = "245981376169273584837564219976125438513498627482736951391657842728349165654812793"
SWAP = str.maketrans("38", "83")                       # digit relabelling: a valid grid that breaks givens
NO_SOLUTION = "12345678." + "........9" + "." * 63      # r1c9 must be 9, but column 9 already holds a 9
K1, K2 = 81 - P1.count("0"), 81 - P2.count("0")
TWO_PLUS = "".join(c if i < 30 else "0" for i, c in enumerate(P1))   # 12 givens: never unique


def lines_file(tmp_path, *lines, name="p.txt"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def shah_record(puzzle, solution, order=None, strategy=2):
    """Return one [325] Shah record: givens row-major (strategy 0), then empties in ``order``."""
    g, s = parse_grid(puzzle), parse_grid(solution)
    givens = [c for c in range(81) if g[c]]
    order = [c for c in range(81) if not g[c]] if order is None else order
    rec = [len(givens)]
    for i, c in enumerate(givens + order):
        rec += [c // 9, c % 9, int(s[c]), 0 if i < len(givens) else strategy]
    return np.array(rec, np.int64)


def assert_same(a: PuzzleSet, b: PuzzleSet, order=True):
    np.testing.assert_array_equal(a.givens, b.givens)
    np.testing.assert_array_equal(a.solutions, b.solutions)
    if order:
        np.testing.assert_array_equal(a.order, b.order)
        np.testing.assert_array_equal(a.strategy, b.strategy)


# ------------------------------------------------------------------------------------- good files

def test_lines_with_and_without_solution(tmp_path):
    path = lines_file(tmp_path, "# two puzzles", "", P1 + " " + S1, P2.replace("0", "."), P1 + "," + S1)
    ps = load_puzzles(path)
    assert len(ps) == 3 and ps.source == ["p.txt:3", "p.txt:4", "p.txt:5"]
    assert grid_string(ps.givens[0]) == P1 and grid_string(ps.solutions[0]) == S1
    assert grid_string(ps.solutions[1]) == S2                 # solved by search
    assert (ps.order == -1).all() and ((ps.strategy == 0) == (ps.givens > 0)).all()
    assert ((ps.strategy == -1) == (ps.givens == 0)).all()
    assert len(load_puzzles(path, limit=2)) == 2 and len(load_puzzles(path, limit=0)) == 0


def test_grid_blocks(tmp_path):
    rows = [P1[9 * r:9 * r + 9] for r in range(9)]
    path = lines_file(tmp_path, "Grid 01", *rows, "Grid 02", *[P2[9 * r:9 * r + 9] for r in range(9)])
    ps = load_puzzles(path)
    assert [grid_string(g) for g in ps.givens] == [P1, P2] and ps.source == ["p.txt:2", "p.txt:12"]
    with pytest.raises(SudokuFormatError, match=r"p\.txt:2: grid block of 8 lines"):
        load_puzzles(lines_file(tmp_path, "Grid 01", *rows[:8], "", P2))


def test_radcliffe_csv(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("id,puzzle,solution,clues,difficulty\n"
                    f"7,{P1.replace('0', '.')},{S1},{K1},2.2\n8,{P2.replace('0', '.')},{S2},{K2},0.0\n")
    ps = load_puzzles(path)
    assert [grid_string(g) for g in ps.givens] == [P1, P2] and ps.source == ["r.csv:2", "r.csv:3"]
    assert grid_string(ps.solutions[1]) == S2


def test_kaggle_csv_and_headerless(tmp_path):
    path = tmp_path / "k.csv"
    path.write_text(f"quizzes,solutions\n{P1},{S1}\n{P2},{S2}\n")
    assert [grid_string(s) for s in load_puzzles(path).solutions] == [S1, S2]
    path = tmp_path / "q.csv"
    path.write_text(f"Question\n{P2}\n")                      # no solution column: solved by search
    assert grid_string(load_puzzles(path).solutions[0]) == S2
    path = tmp_path / "h.csv"
    path.write_text(f"{P1},{S1}\n")                           # no header at all: read as lines
    assert grid_string(load_puzzles(path).givens[0]) == P1


def test_shah_npy(tmp_path):
    g1 = parse_grid(P1)
    order = [c for c in range(80, -1, -1) if not g1[c]]      # any fill order, kept as written
    recs = np.stack([shah_record(P1, S1, order, strategy=3), shah_record(P2, S2, strategy=7)])
    path = tmp_path / "sudoku-test-data.npy"
    np.save(path, recs.astype(np.int32))
    ps = load_puzzles(path)
    assert ps.source == ["sudoku-test-data.npy#0", "sudoku-test-data.npy#1"]
    assert grid_string(ps.givens[0]) == P1 and grid_string(ps.solutions[0]) == S1
    assert ps.order[0, :len(order)].tolist() == order and (ps.order[0, len(order):] == -1).all()
    assert ps.has_order().all()
    assert (ps.strategy[0][g1 > 0] == 0).all() and (ps.strategy[0][g1 == 0] == 3).all()
    assert (ps.strategy[1][ps.givens[1] == 0] == 7).all()
    np.save(path, recs.reshape(-1))                           # a flat array of 325 * N integers
    assert_same(load_puzzles(path), ps)
    assert len(load_puzzles(path, limit=1)) == 1


# ------------------------------------------------------------------------------------- round trips

def test_round_trips(tmp_path):
    np.save(tmp_path / "s.npy", np.stack([shah_record(P1, S1, strategy=4), shah_record(P2, S2, strategy=5)]))
    ps = load_puzzles(tmp_path / "s.npy")
    write_shah_npy(ps, tmp_path / "s2.npy")
    assert_same(load_puzzles(tmp_path / "s2.npy"), ps)
    write_lines(ps, tmp_path / "a.txt")
    assert_same(load_puzzles(tmp_path / "a.txt"), ps, order=False)
    write_lines(ps, tmp_path / "b.txt", with_solution=False)
    assert_same(load_puzzles(tmp_path / "b.txt"), ps, order=False)
    write_csv(ps, tmp_path / "c.csv")
    assert (tmp_path / "c.csv").read_text().splitlines()[0] == "id,puzzle,solution,clues,difficulty"
    assert_same(load_puzzles(tmp_path / "c.csv"), ps, order=False)
    ps.save(tmp_path / "d.npz")
    assert_same(load_puzzles(tmp_path / "d.npz"), ps)
    with pytest.raises(SudokuFormatError, match="fill order"):
        write_shah_npy(load_puzzles(tmp_path / "a.txt"), tmp_path / "e.npy")


def test_detect_and_missing(tmp_path):
    assert [detect_format(x) for x in ("a.npy", "a.CSV", "a.txt", "a", "a.npz")] == \
        ["shah", "csv", "lines", "lines", "npz"]
    with pytest.raises(FileNotFoundError, match="nope.txt: no such puzzle file"):
        load_puzzles(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="unknown puzzle format"):
        load_puzzles(lines_file(tmp_path, P1), fmt="xml")


# ------------------------------------------------------------------------------------- bad text files

@pytest.mark.parametrize("line, message", [
    (P1[:80], r"p\.txt:3: puzzle has 80 characters, expected 81"),
    (P1[:80] + "x", r"p\.txt:3: bad character\(s\) 'x'"),
    ("55" + P1[2:], r"p\.txt:3: givens clash: digit 5 twice in row 1 \(r1c1 and r1c2\)"),
    (P1 + " " + S1.translate(SWAP), r"p\.txt:3: solution does not match the givens at r1c3 \(given 3, solution 8\)"),
    (P1 + " " + S1[1] + S1[0] + S1[2:], r"p\.txt:3: solution is not a valid Sudoku: digit 8 twice in column 1"),
    (P1 + " " + S1[:80], r"p\.txt:3: solution has 80 characters"),
    (P1 + " " + S1[:80] + "0", r"p\.txt:3: solution has empty cells"),
    (P1 + " " + S1 + " " + S1, r"p\.txt:3: 3 fields"),
    (NO_SOLUTION, r"p\.txt:3: no solution"),
    (TWO_PLUS, r"p\.txt:3: 2\+ solutions; a puzzle must have exactly one \(pass require_unique=False"),
])
def test_bad_lines(tmp_path, line, message):
    path = lines_file(tmp_path, "# header", P2, line, "garbage after the bad line")
    with pytest.raises(SudokuFormatError, match=message) as e:
        load_puzzles(path)
    assert "\n" not in str(e.value) and str(e.value).startswith(str(path))


def test_first_bad_line_wins(tmp_path):
    path = lines_file(tmp_path, P1, TWO_PLUS, P1[:5])        # the search error on line 2 comes first
    with pytest.raises(SudokuFormatError, match=r":2: 2\+ solutions"):
        load_puzzles(path)


def test_not_unique_allowed(tmp_path):
    ps = load_puzzles(lines_file(tmp_path, TWO_PLUS), require_unique=False)
    assert (ps.solutions[0][ps.givens[0] > 0] == ps.givens[0][ps.givens[0] > 0]).all()
    with pytest.raises(SudokuFormatError, match="no solution"):
        load_puzzles(lines_file(tmp_path, NO_SOLUTION), require_unique=False)


def test_bad_csv(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("id,puzzle,solution,clues,difficulty\n"
                    f"41,{P2},{S2},{K2},0\n42,{'55' + P1[2:]},{S1},{K1},0\n")
    with pytest.raises(SudokuFormatError, match=r"x\.csv:3 \(id 42\): givens clash: digit 5 twice in row 1"):
        load_puzzles(path)
    path.write_text(f"id,puzzle,solution,clues,difficulty\n41,{P2},{S2},{K2 + 1},0\n")
    says = rf"x\.csv:2 \(id 41\): clues column says {K2 + 1} but the puzzle has {K2} "
    with pytest.raises(SudokuFormatError, match=says):
        load_puzzles(path)
    path.write_text(f"id,puzzle,solution\n41,{P2}\n")
    with pytest.raises(SudokuFormatError, match=r"x\.csv:2 \(id 41\): 2 fields, expected 3"):
        load_puzzles(path)
    path.write_text(f"id,grid\n41,{P2}\n")
    with pytest.raises(SudokuFormatError, match=r"x\.csv:1: no puzzle column"):
        load_puzzles(path)


# ------------------------------------------------------------------------------------- bad Shah files

def bad_shah(tmp_path, edit, **kw):
    recs = np.stack([shah_record(P2, S2), shah_record(P1, S1)])
    edit(recs[1])
    np.save(tmp_path / "x.npy", recs)
    with pytest.raises(SudokuFormatError) as e:
        load_puzzles(tmp_path / "x.npy", **kw)
    assert "\n" not in str(e.value) and "x.npy record 1: " in str(e.value)
    return str(e.value)


def test_bad_shah_records(tmp_path):
    def repeat(r):                       # the last quad names the cell of the first one
        r[-4:-2] = r[1:3]
    assert "cell (0, 2) appears twice (quads 0 and 80)" in bad_shah(tmp_path, repeat)

    def strategy(r):
        r[-1] = 9
    msg = bad_shah(tmp_path, strategy)
    assert "has strategy id 9, expected 2..8" in msg and "strict_strategy=False" in msg

    def value(r):
        r[-2] = 10
    assert "has value 10, expected 1..9" in bad_shah(tmp_path, value)

    def coord(r):
        r[-4] = 9
    assert "quad 80 has (row, col) = (9, 8)" in bad_shah(tmp_path, coord)

    def k(r):
        r[0] -= 1
    assert "has strategy 0 (given); is k right?" in bad_shah(tmp_path, k)

    def clash(r):                        # swap the values of two empty cells: the grid breaks
        r[-2], r[-6] = r[-6], r[-2]
    assert "not a valid Sudoku: digit" in bad_shah(tmp_path, clash)


def test_shah_options_and_shapes(tmp_path):
    recs = np.stack([shah_record(P1, S1)])
    recs[0, -1] = 9
    np.save(tmp_path / "u.npy", recs)
    ps = load_puzzles(tmp_path / "u.npy", strict_strategy=False)
    assert ps.strategy[0, 80] == -1 and (ps.strategy[0][(ps.givens[0] == 0)][:-1] == 2).all()
    np.save(tmp_path / "w.npy", np.zeros((2, 324), np.int64))
    with pytest.raises(SudokuFormatError, match=r"w\.npy: array of shape \(2, 324\), expected \[N, 325\]"):
        load_puzzles(tmp_path / "w.npy")
    two = np.stack([shah_record(P2, S2), shah_record(TWO_PLUS, S1)])
    np.save(tmp_path / "t.npy", two)
    with pytest.raises(SudokuFormatError, match=r"t\.npy record 1: 2\+ solutions"):
        load_puzzles(tmp_path / "t.npy")
    assert len(load_puzzles(tmp_path / "t.npy", require_unique=False)) == 2


def test_csv_start_skips_puzzles_and_keeps_their_line_numbers(tmp_path):
    """``start`` reads a big file in pieces: the piece equals the same rows of a whole read, sources intact."""
    from tasks.sudoku.formats import load_csv, write_csv
    from tasks.sudoku.generate import generate
    ps = generate(4, seed=11, kind="easy")
    write_csv(ps, tmp_path / "p.csv")
    whole = load_csv(tmp_path / "p.csv")
    piece = load_csv(tmp_path / "p.csv", start=2, limit=1)
    assert len(piece) == 1 and (piece.givens == whole.givens[2:3]).all()
    assert piece.source == whole.source[2:3]
    assert len(load_csv(tmp_path / "p.csv", start=4)) == 0


@pytest.mark.parametrize("content,needle", [
    (b"", "not a plain numeric .npy array"),                            # an empty file
    (b"garbage, not numpy", "not a plain numeric .npy array"),
    (None, "holds no puzzles"),                                         # a valid .npy with zero rows
])
def test_empty_or_garbage_npy_is_one_line(tmp_path, content, needle):
    import numpy as np
    from tasks.sudoku.formats import load_shah_npy
    path = tmp_path / "sudoku-test-data.npy"
    if content is None:
        np.save(path, np.zeros((0, 325), dtype=np.int64))
    else:
        path.write_bytes(content)
    with pytest.raises(SudokuFormatError, match=re.escape(needle)) as e:
        load_shah_npy(path)
    assert "\n" not in str(e.value) and "sudoku-test-data.npy" in str(e.value)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not really a zip", b"plain text"])
def test_garbage_npz_names_the_file(tmp_path, content):
    from tasks.sudoku.puzzles import PuzzleSet
    from tasks.zebra.arrays import ZebraSet
    path = tmp_path / "set.npz"
    path.write_bytes(content)
    with pytest.raises(SudokuFormatError, match=r"set\.npz: not a puzzle set"):
        PuzzleSet.load(path)
    with pytest.raises(ValueError, match=r"set\.npz: not a Zebra set"):
        ZebraSet.load(path)
