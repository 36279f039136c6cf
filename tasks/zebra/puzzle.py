"""Zebra (Einstein) puzzles after Shah et al. 2024 (m houses x n attributes, each attribute a permutation).

Conventions. Houses are 0..m-1 left to right; attribute a (0..n-1) takes values 0..m-1, one per house.
``solution[a, h]`` is the value of attribute a in house h. A clue side is ``("attr", a, v)`` (the house
holding value v of attribute a) or ``("house", k)`` (house k itself); ``pos(side)`` is that house.

Shah's text syntax, ``kind LHS s s s RHS s s s CLUE_END``, with each side three tokens ``[c/n] row val``.
Our reading: ``row`` indexes the solution table, whose row 0 holds house numbers and row i >= 1 attribute
i-1, so ``c r v`` (r >= 1) is ("attr", r-1, v) and ``n 0 k`` is ("house", k): ``immediate-left LHS n 0 2
RHS c 1 2`` = "house 2 is immediately left of the house where attribute 0 is 2". The loader decides by the
row (0 -> house, >= 1 -> attribute) and rejects a letter that disagrees. Numbers in the file are offset by
``base`` (0 or 1, read from the smallest house number in row 0).

The solver (:func:`solve`) keeps, per attribute value, the bitmask of houses still possible (equivalently
the candidate set cand[a][h] of every cell) and propagates to a fixpoint: each clue as an arc-consistency
filter on the two sides' possible houses, then the all-different singles of each attribute (naked: a cell
down to one value removes it from the other houses; hidden: a value possible in one house only).
After every filter/single step the newly determined cells are appended to ``order`` in (a, h) scan order.
If propagation stalls it branches (DFS) to count solutions, capped at 2.

:func:`generate` draws a random solution, adds random true clues until propagation alone determines every
cell, then drops clues in random order while that still holds. Propagation is monotone in the clue set,
so one pass leaves a minimal set: dropping any one kept clue leaves propagation stuck.
"""
from __future__ import annotations

import pickle
from functools import lru_cache
from dataclasses import dataclass, field

import numpy as np

CLUE_KINDS = {
    "found-at": "lhs attr, rhs house: pos(L) == k (the value is in house k)",
    "not-at": "lhs attr, rhs house: pos(L) != k",
    "same-house": "both attr (different attributes): pos(L) == pos(R)",
    "not-same-house": "both attr (different attributes): pos(L) != pos(R)",
    "left-of": "pos(L) < pos(R) (anywhere to the left)",
    "right-of": "pos(L) > pos(R) (anywhere to the right)",
    "immediate-left": "pos(L) == pos(R) - 1",
    "immediate-right": "pos(L) == pos(R) + 1",
    "beside": "|pos(L) - pos(R)| == 1",
    "one-between": "|pos(L) - pos(R)| == 2 (exactly one house between)",
    "two-between": "|pos(L) - pos(R)| == 3 (exactly two houses between)",
}
"""Clue kind -> exact semantics. For the positional kinds (left-of ... two-between) each side is an attr or a
house, at least one an attr. A side ("attr", a, v) means the house holding value v of attribute a."""

RELATIONS = {
    "found-at": lambda x, y: x == y,
    "not-at": lambda x, y: x != y,
    "same-house": lambda x, y: x == y,
    "not-same-house": lambda x, y: x != y,
    "left-of": lambda x, y: x < y,
    "right-of": lambda x, y: x > y,
    "immediate-left": lambda x, y: x == y - 1,
    "immediate-right": lambda x, y: x == y + 1,
    "beside": lambda x, y: abs(x - y) == 1,
    "one-between": lambda x, y: abs(x - y) == 2,
    "two-between": lambda x, y: abs(x - y) == 3,
}
_POSITIONAL = ("left-of", "right-of", "immediate-left", "immediate-right", "beside", "one-between", "two-between")
KIND_WEIGHTS = {"found-at": 1.0, "not-at": 1.0, "same-house": 2.0, "not-same-house": 1.0, "left-of": 1.0,
                "right-of": 1.0, "immediate-left": 1.0, "immediate-right": 1.0, "beside": 1.0,
                "one-between": 1.0, "two-between": 0.5}
"""Relative frequency of each kind among the random clues the generator proposes (our choice)."""
SIZES = tuple((m, n) for m in range(3, 7) for n in range(3, 7))
"""Shah's sizes: (houses m, attributes n) in 3..6 x 3..6."""


@dataclass(frozen=True)
class Clue:
    """One clue: ``kind`` in CLUE_KINDS; each side ("attr", a, v) or ("house", k)."""

    kind: str
    lhs: tuple
    rhs: tuple


def check_clue(clue: Clue, m: int, n: int) -> None:
    """Raise ValueError unless ``clue`` is well formed for m houses and n attributes."""
    if clue.kind not in CLUE_KINDS:
        raise ValueError(f"unknown clue kind {clue.kind!r}")
    for side in (clue.lhs, clue.rhs):
        if side[0] == "attr":
            if len(side) != 3 or not (0 <= side[1] < n and 0 <= side[2] < m):
                raise ValueError(f"bad attr side {side} for {m} houses x {n} attributes")
        elif side[0] == "house":
            if len(side) != 2 or not 0 <= side[1] < m:
                raise ValueError(f"bad house side {side} for {m} houses")
        else:
            raise ValueError(f"bad side {side}")
    kl, kr = clue.lhs[0], clue.rhs[0]
    if clue.kind in ("found-at", "not-at"):
        ok = kl == "attr" and kr == "house"
    elif clue.kind in ("same-house", "not-same-house"):
        ok = kl == kr == "attr" and clue.lhs[1] != clue.rhs[1]
    else:
        ok = (kl == "attr" or kr == "attr") and clue.lhs != clue.rhs
    if not ok:
        raise ValueError(f"bad arity for {clue.kind}: {clue.lhs}, {clue.rhs}")


def _pos(side: tuple, solution: np.ndarray) -> int:
    if side[0] == "house":
        return side[1]
    return int(np.flatnonzero(solution[side[1]] == side[2])[0])


def holds(clue: Clue, solution: np.ndarray) -> bool:
    """Return whether ``clue`` is true of ``solution`` ([n, m], value of attribute a in house h)."""
    return bool(RELATIONS[clue.kind](_pos(clue.lhs, solution), _pos(clue.rhs, solution)))


@dataclass
class ZebraPuzzle:
    """m houses, n attributes, the clues, ``solution`` [n, m] int, ``order`` the (attribute, house) cells
    in the order the solver determined them, ``source`` where it came from."""

    m: int
    n: int
    clues: list
    solution: np.ndarray
    order: list = field(default_factory=list)
    source: str = ""


@dataclass
class SolveResult:
    """solutions_found capped at 2; solution the unique one (else None); order the cells determined by
    propagation before any branching; stuck True iff propagation alone did not determine every cell."""

    solutions_found: int
    solution: np.ndarray | None
    order: list
    stuck: bool


# ---- propagation -------------------------------------------------------------------------------------
# The state is pos[a][v], the bitmask of houses where value v of attribute a may still be; the candidate
# set of cell (a, h) is {v : h in pos[a][v]}. Both views hold the same information (a permutation matrix).
@lru_cache(maxsize=None)
def _images(kind, m):
    """img_l[R] = houses x with rel(x, y) for some y in mask R; img_r[L] likewise for y (2**m entries)."""
    r = RELATIONS[kind]
    img_l = [sum(1 << x for x in range(m) if any(R >> y & 1 and r(x, y) for y in range(m))) for R in range(1 << m)]
    img_r = [sum(1 << y for y in range(m) if any(L >> x & 1 and r(x, y) for x in range(m))) for L in range(1 << m)]
    return img_l, img_r


def _singles(pos, m, n):
    """One sweep of singles per attribute. A value possible in one house only removes that house from
    the other values (hidden single); a house possible for one value only pins that value there (naked
    single). Returns changed, or None on contradiction."""
    changed = False
    full = (1 << m) - 1
    for a in range(n):
        row = pos[a]
        for v in range(m):
            p = row[v]
            if not p:
                return None
            if p & (p - 1) == 0:
                for w in range(m):
                    if w != v and row[w] & p:
                        row[w] &= ~p
                        changed = True
        union = 0
        for p in row:
            union |= p
        if union != full:
            return None
        for h in range(m):
            bit = 1 << h
            vs = [v for v in range(m) if row[v] & bit]
            if len(vs) == 1 and row[vs[0]] != bit:
                row[vs[0]] = bit
                changed = True
    return changed


class _Prop:
    """Propagation for one size (m, n)."""

    def __init__(self, m, n):
        self.m, self.n = m, n

    def img(self, kind):
        return _images(kind, self.m)

    def run(self, pos, clues, order=None, done=None):
        """Propagate to fixpoint in place. Returns False on contradiction. If ``order`` is given, newly
        determined cells are appended in (a, h) scan order after every step (``done`` the set seen)."""
        m, n = self.m, self.n

        def record():
            for a in range(n):
                row = pos[a]
                for h in range(m):
                    if (a, h) not in done and sum(p >> h & 1 for p in row) == 1:
                        done.add((a, h))
                        order.append((a, h))

        if order is not None:
            record()
        while True:
            changed = False
            for cl in clues:
                img_l, img_r = self.img(cl.kind)
                L, R = cl.lhs, cl.rhs
                pl = pos[L[1]][L[2]] if L[0] == "attr" else 1 << L[1]
                pr = pos[R[1]][R[2]] if R[0] == "attr" else 1 << R[1]
                nl = pl & img_l[pr]
                nr = pr & img_r[nl]
                if not nl or not nr:
                    return False
                if nl != pl or nr != pr:
                    if nl != pl:
                        pos[L[1]][L[2]] = nl
                    if nr != pr:
                        pos[R[1]][R[2]] = nr
                    changed = True
                    if order is not None:
                        record()
            r = _singles(pos, m, n)
            if r is None:
                return False
            if r:
                changed = True
                if order is not None:
                    record()
            if not changed:
                return True


def _fresh(m, n):
    return [[(1 << m) - 1] * m for _ in range(n)]


def _determined(pos):
    """Every value pinned to one house (at a singles fixpoint: every cell has one candidate)."""
    return all(p & (p - 1) == 0 for row in pos for p in row)


def _to_array(pos, m, n):
    sol = np.zeros((n, m), dtype=np.int64)
    for a in range(n):
        for v in range(m):
            sol[a, pos[a][v].bit_length() - 1] = v
    return sol


def _count(prop, pos, clues, cap, found):
    """DFS from a propagated state (branching on the value with the fewest houses left); appends
    solutions to ``found`` up to ``cap``."""
    m, n = prop.m, prop.n
    best = None
    for a in range(n):
        for v in range(m):
            p = pos[a][v]
            if p & (p - 1):
                k = bin(p).count("1")
                if best is None or k < best[0]:
                    best = (k, a, v)
    if best is None:
        sol = _to_array(pos, m, n)
        if all(holds(cl, sol) for cl in clues):
            found.append(sol)
        return
    _, a, v = best
    p = pos[a][v]
    for h in range(m):
        if p >> h & 1 and len(found) < cap:
            sub = [row[:] for row in pos]
            sub[a][v] = 1 << h
            if prop.run(sub, clues):
                _count(prop, sub, clues, cap, found)


def solve(m: int, n: int, clues: list) -> SolveResult:
    """Propagate ``clues`` from all-candidates; branch only if stuck, counting solutions up to 2."""
    prop = _Prop(m, n)
    pos = _fresh(m, n)
    order: list = []
    ok = prop.run(pos, clues, order, set())
    if not ok:
        return SolveResult(0, None, order, True)
    if _determined(pos):
        sol = _to_array(pos, m, n)
        if all(holds(cl, sol) for cl in clues):
            return SolveResult(1, sol, order, False)
        return SolveResult(0, None, order, True)  # not reached for well-formed clues (arc consistency)
    found: list = []
    _count(prop, pos, clues, 2, found)
    return SolveResult(len(found), found[0] if len(found) == 1 else None, order, True)


# ---- generation ---------------------------------------------------------------------------------------
_TAG = 0x7EB4A  # mixed into every puzzle seed


def puzzle_rng(m: int, n: int, seed: int, i: int) -> np.random.Generator:
    """The random generator of puzzle ``i`` of size (m, n) under ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([_TAG, int(seed), int(m), int(n), int(i)]))


def _random_clue(rng, sol, m, n, kinds, probs):
    """A random clue true of ``sol`` (rejection sampling over sides of a random kind)."""
    while True:
        kind = kinds[rng.choice(len(kinds), p=probs)]
        lhs = ("attr", int(rng.integers(n)), int(rng.integers(m)))
        if kind in ("found-at", "not-at"):
            rhs = ("house", int(rng.integers(m)))
        elif kind in ("same-house", "not-same-house"):
            a2 = int(rng.integers(n - 1))
            rhs = ("attr", a2 + (a2 >= lhs[1]), int(rng.integers(m)))
        else:
            rhs = ("house", int(rng.integers(m))) if rng.random() < 0.2 else \
                ("attr", int(rng.integers(n)), int(rng.integers(m)))
            if rng.random() < 0.5:
                lhs, rhs = rhs, lhs
            if lhs == rhs:
                continue
        cl = Clue(kind, lhs, rhs)
        if holds(cl, sol):
            return cl


def generate(m: int, n: int, seed: int, i: int) -> ZebraPuzzle:
    """Puzzle ``i`` of size (m houses, n attributes): unique solution, solved by propagation alone, with a
    clue set minimal for that. Deterministic in (m, n, seed, i)."""
    if m < 2 or n < 2:
        raise ValueError(f"need m, n >= 2, got {m}, {n}")
    rng = puzzle_rng(m, n, seed, i)
    sol = np.stack([rng.permutation(m) for _ in range(n)]).astype(np.int64)
    kinds = [k for k in CLUE_KINDS if not (k == "two-between" and m < 4) and not (k == "one-between" and m < 3)]
    w = np.array([KIND_WEIGHTS[k] for k in kinds])
    probs = w / w.sum()
    prop = _Prop(m, n)
    pos = _fresh(m, n)
    clues: list = []
    while not _determined(pos):
        cl = _random_clue(rng, sol, m, n, kinds, probs)
        if cl in clues:
            continue
        clues.append(cl)
        prop.run(pos, clues)  # monotone: same fixpoint as propagating all clues from scratch
    for j in rng.permutation(len(clues)):
        trial = [c for c in clues if c is not None and c is not clues[j]]
        pos = _fresh(m, n)
        if prop.run(pos, trial) and _determined(pos):
            clues[j] = None
    clues = [c for c in clues if c is not None]
    res = solve(m, n, clues)
    assert not res.stuck and np.array_equal(res.solution, sol)
    return ZebraPuzzle(m, n, clues, sol, res.order, f"gen:{m}x{n}:{seed}:{i}")


def _gen_job(args):
    return generate(*args)


def generate_many(count: int, seed: int, sizes=SIZES, workers: int = 1, start: int = 0,
                  progress: bool = False) -> list:
    """Return puzzles ``start .. start+count-1`` cycling through ``sizes`` ((m, n) pairs): puzzle j is
    generate(m, n, seed, j) with (m, n) = sizes[j % len(sizes)]. The same list for any ``workers``, so a
    set extends by prefix."""
    from tasks.parallel import imap_ordered
    sizes = list(sizes)
    jobs = [(*sizes[j % len(sizes)], seed, j) for j in range(start, start + count)]
    return list(imap_ordered(_gen_job, jobs, count, workers, progress, "zebra"))


# ---- Shah-format pickle --------------------------------------------------------------------------------
def clue_tokens(clue: Clue, base: int = 0) -> list:
    """Shah's tokens for one clue."""
    def side(s):
        return ["n", "0", str(s[1] + base)] if s[0] == "house" else ["c", str(s[1] + 1), str(s[2] + base)]
    return [clue.kind, "LHS", *side(clue.lhs), "RHS", *side(clue.rhs), "CLUE_END"]


KIND_ALIASES = {
    "found": "found-at", "at": "found-at", "is-at": "found-at", "in-house": "found-at",
    "not-found-at": "not-at", "not-in-house": "not-at",
    "same": "same-house", "same-as": "same-house", "together": "same-house",
    "not-same": "not-same-house", "different-house": "not-same-house", "not-together": "not-same-house",
    "left": "left-of", "somewhere-left": "left-of", "right": "right-of", "somewhere-right": "right-of",
    "consecutive": "immediate-left", "directly-left": "immediate-left", "immediately-left": "immediate-left",
    "immediate-left-of": "immediate-left", "directly-left-of": "immediate-left",
    "directly-right": "immediate-right", "immediately-right": "immediate-right",
    "immediate-right-of": "immediate-right", "directly-right-of": "immediate-right",
    "next-to": "beside", "adjacent": "beside", "neighbor": "beside", "neighbour": "beside", "nextto": "beside",
    "one-house-between": "one-between", "two-houses-between": "two-between",
}
"""Other spellings of the clue kinds (after lower-casing and '_'/' ' -> '-'), e.g. ``found_at``, ``next_to``,
``consecutive`` (= immediately left of, as in the common SAT-based generators)."""


def normalize_kind(kind: str) -> str:
    """Return the canonical clue kind for ``kind`` (any case, '_' or '-'); raise ValueError if unknown."""
    k = str(kind).strip().lower().replace("_", "-").replace(" ", "-")
    k = KIND_ALIASES.get(k, k)
    if k not in CLUE_KINDS:
        raise ValueError(f"unknown clue type {kind!r} (known: {', '.join(CLUE_KINDS)})")
    return k


def parse_clue(tokens, m: int, n: int, base: int = 0) -> Clue:
    """Return the Clue written as one clue (a token list or a whitespace-separated string) in Shah's syntax."""
    t = tokens.split() if isinstance(tokens, str) else [str(x) for x in tokens]
    if len(t) == 9 and t[1] == "LHS" and t[5] == "RHS" and t[-1] != "CLUE_END":
        t = t + ["CLUE_END"]
    if len(t) != 10 or t[1] != "LHS" or t[5] != "RHS" or t[9] != "CLUE_END":
        raise ValueError(f"bad clue syntax {' '.join(t)!r}")
    kind = normalize_kind(t[0])

    def side(letter, row, val):
        try:
            row, val = int(row), int(val) - base
        except ValueError:
            raise ValueError(f"non-integer clue side {letter} {row} {val}") from None
        if letter not in ("c", "n") or (letter == "n") != (row == 0):
            raise ValueError(f"bad clue side {letter} {row} {val + base}")
        return ("house", val) if row == 0 else ("attr", row - 1, val)

    clue = Clue(kind, side(*t[2:5]), side(*t[6:9]))
    check_clue(clue, m, n)
    return clue


def _split_clues(clues):
    """Return (clues as token lists, answer tokens after ANSWER or None) from any of the accepted forms."""
    if isinstance(clues, str):
        clues = clues.split()
    clues = list(clues)
    if not any(isinstance(c, str) and c in ("LHS", "CLUE_END", "ANSWER") for c in clues):
        return [c.split() if isinstance(c, str) else [str(x) for x in c] for c in clues], None
    tokens = [str(c) for c in clues]  # one flat token sequence, optionally followed by ANSWER and triples
    answer = None
    if "ANSWER" in tokens:
        k = tokens.index("ANSWER")
        tokens, answer = tokens[:k], tokens[k + 1:]
    out, cur = [], []
    for t in tokens:
        cur.append(t)
        if t == "CLUE_END":
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)  # unterminated: parse_clue names the syntax error
    return out, answer


def _answer_order(answer, n):
    """Return order entries (row, col, value) from Shah's answer triples ``attr col value`` (attr from 0)."""
    out = []
    for i in range(0, len(answer) - 2, 3):
        trip = answer[i:i + 3]
        if not all(str(x).lstrip("-").isdigit() for x in trip):
            break  # end / padding tokens
        out.append((int(trip[0]) + 1, int(trip[1]), int(trip[2])))
    return out


def _parse_order(order_raw, n, m, house_of_col, table, attr_rows):
    """Return the solver order as (attribute, house) cells. Entries are (row, col) or (row, col, value) of
    the solution table; rows count from the house row (1..n) unless ``attr_rows`` or the entries show they
    count attributes from 0 (a row 0 entry, and none at n). Entries on the house row are skipped."""
    entries = []
    for p in order_raw:
        try:
            e = tuple(int(x) for x in p)
        except (TypeError, ValueError):
            raise ValueError(f"order entry {p!r} is not a tuple of integers") from None
        if len(e) not in (2, 3):
            raise ValueError(f"order entry {p!r} should be (row, col) or (row, col, value)")
        entries.append(e)
    rows = {e[0] for e in entries}
    if attr_rows is None:
        attr_rows = 0 in rows and n not in rows
    order, seen = [], set()
    for e in entries:
        r = e[0] + 1 if attr_rows else e[0]
        col = e[1]
        if r == 0 and not attr_rows and 0 <= col < m:
            continue
        if not (1 <= r <= n and 0 <= col < m):
            raise ValueError(f"order entry {e} out of range")
        if len(e) == 3 and table[r, col] != e[2]:
            raise ValueError(f"order entry {e} disagrees with the solution table ({table[r, col]})")
        cell = (r - 1, int(house_of_col[col]))
        if cell in seen:
            raise ValueError(f"order entry {e} repeated")
        seen.add(cell)
        order.append(cell)
    return order


def _parse_example(ex, source):
    if isinstance(ex, dict):
        ex = [ex.get("clues"), ex.get("solution", ex.get("table")), ex.get("order")]
    if not isinstance(ex, (list, tuple)) or len(ex) not in (2, 3):
        raise ValueError("expected [clues, solution table, order] (or [clue tokens with ANSWER, table])")
    clues_raw, table = ex[0], ex[1]
    order_raw = ex[2] if len(ex) == 3 else None
    try:
        table = np.asarray(table, dtype=np.int64)
    except (ValueError, TypeError):
        raise ValueError("solution table is not a rectangular integer array") from None
    if table.ndim != 2 or table.shape[0] < 2 or table.shape[1] < 1:
        raise ValueError(f"solution table has shape {table.shape}")
    n, m = table.shape[0] - 1, table.shape[1]
    base = int(table[0].min())
    if base not in (0, 1):
        raise ValueError(f"house numbers start at {base}, expected 0 or 1")
    want = np.arange(base, base + m)
    for r in range(n + 1):
        if not np.array_equal(np.sort(table[r]), want):
            raise ValueError(f"solution row {r} is not a permutation of {base}..{base + m - 1}")
    cols = np.argsort(table[0])  # column of house k
    house_of_col = table[0] - base
    sol = table[1:, cols] - base
    clue_lists, answer = _split_clues(clues_raw)
    clues = [parse_clue(c, m, n, base) for c in clue_lists]
    for c in clues:
        if not holds(c, sol):
            raise ValueError(f"clue {' '.join(clue_tokens(c, base))!r} is false for the solution")
    if order_raw is not None:
        order = _parse_order(order_raw, n, m, house_of_col, table, None)
    elif answer is not None:
        order = _parse_order(_answer_order(answer, n), n, m, house_of_col, table, False)
    else:
        order = []
    return ZebraPuzzle(m, n, clues, sol, order, source)


SAFE_GLOBALS = frozenset({
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "list"), ("builtins", "tuple"),
    ("builtins", "dict"), ("builtins", "int"), ("builtins", "float"), ("builtins", "str"), ("builtins", "bytes"),
    ("builtins", "bool"), ("builtins", "complex"), ("collections", "OrderedDict"),
    ("_codecs", "encode"),                                # bytes under pickle protocol 2 (numpy array data)
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),   # protocol 5 arrays
})
"""The only names a Zebra pickle may refer to: plain containers, numbers, strings and numpy arrays/scalars."""


class PlainUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain data (see :data:`SAFE_GLOBALS`): a file that names any other
    function or class (``os.system`` through ``__reduce__``, say) is refused before anything runs."""

    def find_class(self, module: str, name: str):
        """Return the named object when it is in :data:`SAFE_GLOBALS`; raise UnpicklingError otherwise."""
        import _compat_pickle                                # Python 2 names (__builtin__.set), as pickle maps them
        py3 = _compat_pickle.NAME_MAPPING.get((module, name), (_compat_pickle.IMPORT_MAPPING.get(module, module), name))
        if (module, name) in SAFE_GLOBALS or py3 in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it names {module}.{name}, and a Zebra file may hold only lists, numbers, "
                                     f"strings and numpy arrays; nothing was run")


def load_pickle(path) -> list:
    """Return the ZebraPuzzles of a pickle in Shah's layout: a list of examples [clues, solution table, order].

    clues: one token list (or string) per clue, one string or flat token list of clues each ended by
    CLUE_END, or Shah's tokenised training form (clue tokens, ``ANSWER``, then ``attr col value`` triples,
    which give the order when no third element does); kinds in any spelling :func:`normalize_kind` knows.
    table: row 0 house numbers, row i attribute i-1, numbers from 0 or 1, columns in any house order.
    order: (row, col) or (row, col, value) table cells; rows 1..n, or 0..n-1 when the entries count
    attributes from 0. A dict example with keys clues/solution/order works too. Malformed examples raise
    a one-line ValueError naming the file and the example's index."""
    try:
        with open(path, "rb") as f:
            data = PlainUnpickler(f).load()
    except FileNotFoundError:
        raise FileNotFoundError(f"no Zebra file at {path}: pass the directory holding Shah's pickles with "
                                f"--data-dir, or leave it out to generate puzzles") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as e:
        raise ValueError(f"{path}: not a readable Zebra pickle ({type(e).__name__}: {' '.join(str(e).split())})"
                         ) from None
    if not isinstance(data, (list, tuple)):
        raise ValueError(f"{path}: expected a list of examples, got {type(data).__name__}")
    out = []
    for i, ex in enumerate(data):
        try:
            out.append(_parse_example(ex, f"{path}#{i}"))
        except ValueError as e:
            raise ValueError(f"{path}: example {i}: {e}") from None
    return out


def dump_pickle(puzzles, path, base: int = 0) -> None:
    """Write ``puzzles`` in the layout :func:`load_pickle` reads (clues as token lists, houses in order)."""
    data = []
    for p in puzzles:
        table = np.vstack([np.arange(p.m), np.asarray(p.solution)]) + base
        data.append([[clue_tokens(c, base) for c in p.clues], table.tolist(),
                     [(a + 1, h) for a, h in p.order]])
    with open(path, "wb") as f:
        pickle.dump(data, f)
