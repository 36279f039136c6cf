"""Sudoku file formats: loaders that yield a :class:`PuzzleSet`, and writers for round trips.

Formats (``load_puzzles`` picks one by extension, ``fmt=`` overrides):

- ``shah`` (.npy): Shah et al.'s arrays [N, 325] of integers: k (number of givens), then 81 quads
  (row, col, value, strategy) with rows/cols 0..8 and values 1..9: first the k givens (strategy 0), then the
  empty cells in the solver's fill order (strategies 2..8). k may be 0..81 (a unique puzzle needs >= 17,
  which ``require_unique`` enforces in effect). A 1-D array of 325 * N integers is read as N records.
  Messages name records 0-based ("x.npy record 12") and cells by the file's 0-based (row, col).
- ``csv`` (.csv): Radcliffe's ``id,puzzle,solution,clues,difficulty`` ('.' empty) or any CSV with a puzzle
  column (puzzle/quizzes/quiz/question) and an optional solution column (solution/solutions/answer), such as
  Kaggle's ``quizzes,solutions`` ('0' empty). A header-less CSV whose first field is a puzzle is read as lines.
- ``lines`` (anything else): one puzzle per line, 81 characters ('0' or '.' empty), optionally followed by
  whitespace or a comma and an 81-digit solution; or a block of 9 lines of 9 characters (Project Euler 96;
  a "Grid NN" label line is skipped). Blank lines and lines starting with '#' are skipped.
- ``npz`` (.npz): a set written by :meth:`PuzzleSet.save`, loaded as is.

Every bad puzzle raises :class:`SudokuFormatError` with one line naming the file and line (or record), the
problem and the fix where there is one; the first bad puzzle in file order is the one reported. A missing
solution is found by search; a present one must be a valid grid agreeing with every given. With
``require_unique`` every puzzle is also searched (about 0.3 ms each, far more for the hardest) and must have
exactly one solution; pass ``require_unique=False`` for big files whose source guarantees uniqueness.
Other messages use 1-based names: r3c7, "row 3", "box 5".
"""
from __future__ import annotations

import csv
import re
import zipfile
from itertools import islice
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from tasks.sudoku.check import cell_name, unit_ok
from tasks.sudoku.puzzles import STRATEGY_NAMES, UNITS, PuzzleSet, SudokuFormatError, conflicts, unit_name
from tasks.sudoku.search import count_solutions

FORMATS = ("shah", "csv", "lines", "npz")
SHAH_WIDTH = 325
CHUNK = 65536
PUZZLE_COLUMNS = ("puzzle", "quizzes", "quiz", "question")
SOLUTION_COLUMNS = ("solution", "solutions", "answer")
_CELL_CHARS = frozenset("0123456789.")
_LABEL = re.compile(r"^grid\b", re.IGNORECASE)
_STRATEGY_HELP = ", ".join(f"{k} {v}" for k, v in STRATEGY_NAMES.items() if k)


class _Rec(NamedTuple):
    line: int
    label: str                 # extra words for messages, e.g. " (id 42)"
    puzzle: str
    solution: str | None
    clues: int | None
    err: str | None            # a problem found while reading


def _require_file(path) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{path}: no such puzzle file")
    if p.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, expected a puzzle file")
    return p


def detect_format(path) -> str:
    """Return the format name for ``path`` from its extension: shah (.npy), csv, npz, else lines."""
    ext = Path(path).suffix.lower()
    return {".npy": "shah", ".csv": "csv", ".npz": "npz"}.get(ext, "lines")


def load_puzzles(path, fmt: str | None = None, limit: int | None = None, require_unique: bool = True,
                 **options) -> PuzzleSet:
    """Return the puzzles in ``path`` (at most ``limit``) as a PuzzleSet; ``options`` go to the format's loader."""
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown puzzle format {fmt!r}; use one of {', '.join(FORMATS)}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if fmt == "shah":
        return load_shah_npy(path, limit, require_unique, **options)
    if fmt == "csv":
        return load_csv(path, limit, require_unique, **options)
    if fmt == "lines":
        return load_lines(path, limit, require_unique, **options)
    return load_npz(path, limit)


# ---------------------------------------------------------------------------------------------- npz

def load_npz(path, limit: int | None = None) -> PuzzleSet:
    """Return the set stored by PuzzleSet.save at ``path`` (first ``limit`` puzzles), without re-checking it."""
    _require_file(path)
    try:
        ps = PuzzleSet.load(path)
    except (KeyError, ValueError, OSError) as e:
        raise SudokuFormatError(f"{path}: not a PuzzleSet archive written by PuzzleSet.save ({e})") from None
    return ps if limit is None else ps.subset(slice(0, limit))


# ---------------------------------------------------------------------------------------------- text

def load_lines(path, limit: int | None = None, require_unique: bool = True, start: int = 0) -> PuzzleSet:
    """Return the puzzles of a text file (one per line, or 9-line blocks) as a PuzzleSet, skipping the first
    ``start`` puzzles unread."""
    p = _require_file(path)
    return _build_text(path, p.name, islice(_read_lines(p), start, None), limit, require_unique)


def _read_lines(p: Path) -> Iterator[_Rec]:
    block: list[tuple[int, str]] = []

    def partial() -> _Rec:
        n = len(block)
        return _Rec(block[0][0], "", "", None, None,
                    f"grid block of {n} line{'s' * (n != 1)} of 9 cells, expected 9 lines (or one 81-character line)")

    with open(p, encoding="utf-8", errors="replace") as f:
        for ln, raw in enumerate(f, 1):
            s = raw.strip()
            if len(s) == 9 and _CELL_CHARS.issuperset(s):
                block.append((ln, s))
                if len(block) == 9:
                    yield _Rec(block[0][0], "", "".join(b for _, b in block), None, None, None)
                    block = []
                continue
            if block:
                yield partial()
                block = []
            if not s or s.startswith("#") or _LABEL.match(s):
                continue
            parts = [x.strip() for x in s.split(",")] if "," in s else s.split()
            if len(parts) > 2:
                yield _Rec(ln, "", "", None, None, f"{len(parts)} fields, expected a puzzle and an optional solution "
                                                   "(81 characters each, separated by whitespace or a comma)")
            else:
                yield _Rec(ln, "", parts[0], parts[1] if len(parts) == 2 and parts[1] else None, None, None)
        if block:
            yield partial()


def load_csv(path, limit: int | None = None, require_unique: bool = True, start: int = 0) -> PuzzleSet:
    """Return the puzzles of a CSV file with a puzzle column and an optional solution column as a PuzzleSet,
    skipping the first ``start`` puzzles unchecked (to read a big file in pieces)."""
    p = _require_file(path)
    with open(p, newline="", encoding="utf-8-sig", errors="replace") as f:
        header = next(csv.reader(f), None)
    if header is None:
        raise SudokuFormatError(f"{path}: empty file, expected a CSV header such as "
                                "id,puzzle,solution,clues,difficulty")
    cols = [h.strip().lower() for h in header]
    pcol = next((cols.index(c) for c in PUZZLE_COLUMNS if c in cols), None)
    if pcol is None:
        first = header[0].strip() if header else ""
        if len(first) == 81 and _CELL_CHARS.issuperset(first):
            return load_lines(path, limit, require_unique, start)   # header-less: puzzle[,solution] per line
        raise SudokuFormatError(f"{path}:1: no puzzle column in header {','.join(header)!r}; name it one of "
                                f"{', '.join(PUZZLE_COLUMNS)} (and the solution one of {', '.join(SOLUTION_COLUMNS)})")
    return _build_text(path, p.name, islice(_read_csv(p, cols, pcol), start, None), limit, require_unique)


def _read_csv(p: Path, cols: list[str], pcol: int) -> Iterator[_Rec]:
    scol = next((cols.index(c) for c in SOLUTION_COLUMNS if c in cols), None)
    icol = cols.index("id") if "id" in cols else None
    ccol = cols.index("clues") if "clues" in cols else None
    width = len(cols)
    with open(p, newline="", encoding="utf-8-sig", errors="replace") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            ln = reader.line_num
            if not any(c.strip() for c in row):
                continue
            label = f" (id {row[icol].strip()})" if icol is not None and icol < len(row) else ""
            if len(row) != width:
                yield _Rec(ln, label, "", None, None, f"{len(row)} fields, expected {width} as in the header")
                continue
            sol = row[scol].strip() if scol is not None else ""
            clues, err = None, None
            if ccol is not None and row[ccol].strip():
                try:
                    clues = int(row[ccol].strip())
                except ValueError:
                    err = f"clues {row[ccol].strip()!r} is not a whole number"
            yield _Rec(ln, label, row[pcol].strip(), sol or None, clues, err)


def _chunks(recs: Iterator, limit: int | None) -> Iterator[list]:
    chunk: list = []
    for i, r in enumerate(recs):
        if limit is not None and i >= limit:
            break
        chunk.append(r)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _char_array(strings: list[str], ok: np.ndarray) -> np.ndarray:
    """[n, 81] uint8 character codes of the strings marked ok ('0' * 81 for the others)."""
    buf = "".join(s if o else "0" * 81 for s, o in zip(strings, ok)).encode("latin-1", "replace")
    return np.frombuffer(buf, np.uint8).reshape(len(strings), 81)


def _clashing(grids: np.ndarray) -> np.ndarray:
    """[N] bool: some unit holds one nonzero digit twice."""
    s = np.sort(grids[:, UNITS], axis=2)
    return ((s[..., 1:] == s[..., :-1]) & (s[..., 1:] > 0)).any(axis=(1, 2))


def _build_text(path, name: str, recs: Iterator[_Rec], limit, require_unique: bool) -> PuzzleSet:
    return PuzzleSet.concat([_text_chunk(path, name, c, require_unique) for c in _chunks(recs, limit)])


def _text_chunk(path, name: str, recs: list[_Rec], require_unique: bool) -> PuzzleSet:
    n = len(recs)
    pre = np.array([r.err is not None for r in recs])
    plen = ~pre & np.array([len(r.puzzle) == 81 for r in recs])
    pc = _char_array([r.puzzle for r in recs], plen)
    pchar = (((pc >= 48) & (pc <= 57)) | (pc == 46)).all(1)
    givens = np.where(pchar[:, None] & (pc != 46), pc.astype(np.int16) - 48, 0).astype(np.int8)
    clash = _clashing(givens)
    k = (givens > 0).sum(1)
    clue_bad = np.array([r.clues is not None and r.clues != k[i] for i, r in enumerate(recs)])
    has_sol = np.array([r.solution is not None for r in recs])
    slen = has_sol & np.array([r.solution is not None and len(r.solution) == 81 for r in recs])
    sc = _char_array([r.solution or "" for r in recs], slen)
    schar = ((sc >= 49) & (sc <= 57)).all(1)
    sols = np.where(slen[:, None] & schar[:, None], sc.astype(np.int16) - 48, 0).astype(np.int8)
    sol_ok = slen & schar & unit_ok(sols).all(1) & ((givens == 0) | (givens == sols)).all(1)
    flagged = pre | ~plen | ~pchar | clash | clue_bad | (has_sol & ~sol_ok)
    first = int(np.argmax(flagged)) if flagged.any() else n
    for i in range(first):
        if has_sol[i] and not require_unique:
            continue
        where = f"{path}:{recs[i].line}{recs[i].label}"
        count, found = count_solutions(givens[i], 2 if require_unique else 1)
        if count == 0:
            raise SudokuFormatError(f"{where}: no solution (the givens do not clash, but no completion exists)")
        if require_unique and count > 1:
            raise SudokuFormatError(f"{where}: 2+ solutions; a puzzle must have exactly one "
                                    "(pass require_unique=False to keep the first solution found)")
        if not has_sol[i]:
            sols[i] = found
    if first < n:
        r = recs[first]
        raise SudokuFormatError(f"{path}:{r.line}{r.label}: {_text_problem(r, givens[first], k[first])}")
    order = np.full((n, 81), -1, np.int8)
    strategy = np.where(givens > 0, 0, -1).astype(np.int8)
    return PuzzleSet(givens, sols, order, strategy, [f"{name}:{r.line}" for r in recs])


def _text_problem(r: _Rec, givens: np.ndarray, k: int) -> str:
    """The reason a flagged text record is bad (checks in the order a reader would)."""
    if r.err:
        return r.err
    if len(r.puzzle) != 81:
        return f"puzzle has {len(r.puzzle)} characters, expected 81 (digits 1-9, '0' or '.' for empty)"
    bad = sorted(set(r.puzzle) - _CELL_CHARS)
    if bad:
        return f"bad character(s) {''.join(bad)!r} in the puzzle; use digits 1-9 and '0' or '.' for empty"
    clash = conflicts(givens)
    if clash:
        u, a, b = clash[0]
        return f"givens clash: digit {givens[a]} twice in {unit_name(u)} ({cell_name(a)} and {cell_name(b)})"
    if r.clues is not None and r.clues != k:
        return f"clues column says {r.clues} but the puzzle has {k} givens"
    s = r.solution or ""
    if len(s) != 81:
        return f"solution has {len(s)} characters, expected 81 digits 1-9"
    bad = sorted(set(s) - set("123456789"))
    if bad:
        what = "empty cells" if set(bad) <= {"0", "."} else f"bad character(s) {''.join(bad)!r}"
        return f"solution has {what}; a solution is 81 digits 1-9"
    sol = np.frombuffer(s.encode(), np.uint8).astype(np.int8) - 48
    clash = conflicts(sol)
    if clash:
        u, a, b = clash[0]
        return (f"solution is not a valid Sudoku: digit {sol[a]} twice in {unit_name(u)} "
                f"({cell_name(a)} and {cell_name(b)})")
    c = int(np.flatnonzero((givens != 0) & (givens != sol))[0])
    return f"solution does not match the givens at {cell_name(c)} (given {givens[c]}, solution {sol[c]})"


# ---------------------------------------------------------------------------------------------- Shah

def load_shah_npy(path, limit: int | None = None, require_unique: bool = True,
                  strict_strategy: bool = True) -> PuzzleSet:
    """Return the puzzles of a Shah et al. .npy file (givens, solutions, fill order, strategies) as a PuzzleSet.

    With ``strict_strategy=False`` a strategy id outside 2..8 on an empty cell is read as -1 (unknown)."""
    p = _require_file(path)
    try:
        a = np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as e:   # a file starting "PK" is read as a zip
        raise SudokuFormatError(f"{path}: not a plain numeric .npy array ({type(e).__name__}: "
                                f"{' '.join(str(e).split())[:160]})") from None
    if not isinstance(a, np.ndarray):
        a.close()
        raise SudokuFormatError(f"{path}: is an .npz archive, not an .npy array; "
                                "for a PuzzleSet.save file use fmt='npz'")
    if a.dtype.kind not in "iuf":
        raise SudokuFormatError(f"{path}: dtype {a.dtype}, expected integers")
    if a.ndim == 1 and a.size and a.size % SHAH_WIDTH == 0:
        a = a.reshape(-1, SHAH_WIDTH)
    if a.ndim != 2 or a.shape[1] != SHAH_WIDTH:
        raise SudokuFormatError(f"{path}: array of shape {a.shape}, expected [N, {SHAH_WIDTH}] "
                                "(k, then 81 quads row, col, value, strategy)")
    if not len(a):
        raise SudokuFormatError(f"{path}: holds no puzzles (an array of shape {a.shape})")
    n = len(a) if limit is None else min(limit, len(a))
    out = []
    for start in range(0, n, CHUNK):
        r = np.asarray(a[start:min(n, start + CHUNK)])
        if r.dtype.kind == "f":
            whole = np.isfinite(r) & (r == np.round(r))
            if not whole.all():
                i = int(np.flatnonzero(~whole.all(1))[0])
                raise SudokuFormatError(f"{path} record {start + i}: value {r[i][~whole[i]][0]} is not a whole number")
        out.append(_shah_chunk(path, p.name, r.astype(np.int64), start, require_unique, strict_strategy))
    return PuzzleSet.concat(out)


def _shah_chunk(path, name: str, r: np.ndarray, start: int, require_unique: bool, strict: bool) -> PuzzleSet:
    m = len(r)
    pos = np.arange(81)
    k = r[:, 0]
    q = r[:, 1:].reshape(m, 81, 4)
    R, C, V, S = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    in_range = (R >= 0) & (R <= 8) & (C >= 0) & (C <= 8)
    cell = np.where(in_range, 9 * R + C, 0)
    is_given = pos < k[:, None]
    known = (S >= 2) & (S <= 8)
    struct = ((k >= 0) & (k <= 81) & in_range.all(1) & (np.sort(cell, 1) == pos).all(1)
              & ((V >= 1) & (V <= 9)).all(1) & np.where(is_given, S == 0, known if strict else S != 0).all(1))
    sols = np.zeros((m, 81), np.int8)
    np.put_along_axis(sols, cell, np.clip(V, 0, 9).astype(np.int8), 1)
    flagged = ~(struct & unit_ok(sols).all(1))
    gmask = np.zeros((m, 81), bool)
    np.put_along_axis(gmask, cell, is_given, 1)
    givens = np.where(gmask, sols, 0).astype(np.int8)
    strategy = np.full((m, 81), -1, np.int8)
    np.put_along_axis(strategy, cell, np.where(is_given, 0, np.where(known, S, -1)).astype(np.int8), 1)
    order = np.full((m, 81), -1, np.int8)
    rows, js = np.nonzero(~is_given)
    order[rows, js - k[rows].clip(0, 81)] = cell[rows, js]
    first = int(np.argmax(flagged)) if flagged.any() else m
    if require_unique:
        for i in range(first):
            count, _ = count_solutions(givens[i], 2)
            if count != 1:
                raise SudokuFormatError(f"{path} record {start + i}: "
                                        + ("no solution" if count == 0 else
                                           "2+ solutions; a puzzle must have exactly one "
                                           "(pass require_unique=False to keep it)"))
    if first < m:
        raise SudokuFormatError(f"{path} record {start + first}: {_shah_problem(r[first], strict)}")
    return PuzzleSet(givens, sols, order, strategy, [f"{name}#{start + i}" for i in range(m)])


def _shah_problem(rec: np.ndarray, strict: bool) -> str:
    """The reason a flagged Shah record is bad."""
    k = int(rec[0])
    if not 0 <= k <= 81:
        return f"k = {k} given cells (the record's first value), expected 0..81"
    seen: dict[tuple[int, int], int] = {}
    grid = np.zeros(81, np.int8)
    for j, (r, c, v, s) in enumerate(rec[1:].reshape(81, 4).tolist()):
        if not (0 <= r <= 8 and 0 <= c <= 8):
            return f"quad {j} has (row, col) = ({r}, {c}); rows and columns are 0..8"
        if (r, c) in seen:
            return f"cell ({r}, {c}) appears twice (quads {seen[r, c]} and {j})"
        seen[r, c] = j
        if not 1 <= v <= 9:
            return f"cell ({r}, {c}) has value {v}, expected 1..9"
        if j < k and s != 0:
            return f"given cell ({r}, {c}) (quad {j} < k = {k}) has strategy {s}, expected 0; is k right?"
        if j >= k and s == 0:
            return f"empty cell ({r}, {c}) (quad {j} >= k = {k}) has strategy 0 (given); is k right?"
        if j >= k and strict and not 2 <= s <= 8:
            return (f"cell ({r}, {c}) has strategy id {s}, expected 2..8 ({_STRATEGY_HELP}); "
                    "pass strict_strategy=False to read unknown ids as -1")
        grid[9 * r + c] = v
    clash = conflicts(grid)
    if clash:
        u, a, b = clash[0]
        return (f"the completed grid is not a valid Sudoku: digit {grid[a]} twice in {unit_name(u)} "
                f"(cells ({a // 9}, {a % 9}) and ({b // 9}, {b % 9}))")
    return "invalid record"


# ---------------------------------------------------------------------------------------------- writers

def _char_rows(grids: np.ndarray, empty: str = ".") -> np.ndarray:
    g = np.asarray(grids)
    return np.where(g == 0, ord(empty), g.astype(np.int16) + 48).astype(np.uint8)


def write_lines(ps: PuzzleSet, path, with_solution: bool = True) -> None:
    """Write one puzzle per line ('.' empty), followed by a space and the solution when ``with_solution``."""
    parts = [_char_rows(ps.givens)]
    if with_solution:
        parts += [np.full((len(ps), 1), ord(" "), np.uint8), _char_rows(ps.solutions)]
    body = np.concatenate(parts + [np.full((len(ps), 1), ord("\n"), np.uint8)], axis=1)
    head = "# puzzle ('.' empty)" + (" and solution" if with_solution else "") + ", one per line\n"
    with open(path, "wb") as f:
        f.write(head.encode())
        f.write(body.tobytes())


def write_csv(ps: PuzzleSet, path, difficulty=None) -> None:
    """Write Radcliffe's layout id,puzzle,solution,clues,difficulty ('.' empty; difficulty blank unless given)."""
    puz = _char_rows(ps.givens)
    sol = _char_rows(ps.solutions)
    clues = (ps.givens > 0).sum(1)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "puzzle", "solution", "clues", "difficulty"])
        for i in range(len(ps)):
            w.writerow([i, puz[i].tobytes().decode(), sol[i].tobytes().decode(), int(clues[i]),
                        "" if difficulty is None else difficulty[i]])


def write_shah_npy(ps: PuzzleSet, path, dtype=np.int16) -> None:
    """Write Shah et al.'s [N, 325] array (givens row-major, then the fill order); needs full order/strategy."""
    g = ps.givens.astype(np.int64)
    n = len(ps)
    k = (g > 0).sum(1)
    rank = np.full((n, 81), 1000, np.int64)
    rows, js = np.nonzero(ps.order >= 0)
    rank[rows, ps.order[rows, js].astype(np.int64)] = js
    empty = g == 0
    bad = ~ps.has_order() | (empty & (rank == 1000)).any(1) | (empty & ((ps.strategy < 2) | (ps.strategy > 8))).any(1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SudokuFormatError(
            f"{path}: puzzle {i} ({ps.source[i]}) has no full fill order with a strategy 2..8 for every empty cell; "
            "the Shah format needs both (load from a Shah file or the strategy solver, or use write_lines/write_csv)")
    seq = np.argsort(np.where(empty, 81 + rank, np.arange(81)), axis=1, kind="stable")
    val = np.take_along_axis(ps.solutions.astype(np.int64), seq, 1)
    strat = np.where(np.arange(81) < k[:, None], 0, np.take_along_axis(ps.strategy.astype(np.int64), seq, 1))
    quads = np.stack([seq // 9, seq % 9, val, strat], axis=2).reshape(n, 324)
    np.save(path, np.concatenate([k[:, None], quads], axis=1).astype(dtype))
