"""Zebra puzzles as arrays (:class:`ZebraSet`): what training batches, symmetries and the checker work on.

One row per puzzle, padded to the largest puzzle of the set (or of a layout):

* ``clues`` [N, C, 5]: kind id (index into :data:`KINDS`), lhs type, lhs value, rhs type, rhs value. A side's
  type is -1 for a house side ("house k": value k) or the attribute a >= 0 (value v of attribute a). The
  puzzle's clues come first; padding rows are all -1.
* ``solution`` [N, A, H]: value of attribute a in house h, -1 outside the puzzle (a >= n or h >= m).
* ``rank`` [N, A, H]: the cell's step in the solver's fill order, -1 when the order lacks it or outside.

:func:`random_symmetries` draws, per puzzle, the symmetries that keep a puzzle's meaning, uniqueness and
solver order: relabel each attribute's values, permute the attributes, mirror the street (house h <-> m-1-h,
left <-> right), state each clue the other way round (``left-of(L, R)`` = ``right-of(R, L)``) and shuffle
the clues. :func:`clues_hold` evaluates every clue on predicted tables at once.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import zipfile

import numpy as np

from tasks.zebra.puzzle import CLUE_KINDS, RELATIONS, Clue, ZebraPuzzle

KINDS = list(CLUE_KINDS)
"""Clue kind id -> name."""
KIND_ID = {k: i for i, k in enumerate(KINDS)}
CONVERSE = np.array([KIND_ID[{"left-of": "right-of", "right-of": "left-of", "immediate-left": "immediate-right",
                              "immediate-right": "immediate-left"}.get(k, k)] for k in KINDS])
"""Kind id -> the kind that says the same with the sides swapped (or the street mirrored)."""
SWAPPABLE = np.array([k not in ("found-at", "not-at") for k in KINDS])
"""Kinds whose sides may be swapped (found-at / not-at keep the attribute on the left)."""
HOUSE_SIDE = -1


def _side(s: tuple) -> tuple[int, int]:
    return (HOUSE_SIDE, s[1]) if s[0] == "house" else (s[1], s[2])


def _unside(t: int, v: int) -> tuple:
    return ("house", int(v)) if t == HOUSE_SIDE else ("attr", int(t), int(v))


@dataclass
class ZebraSet:
    """Puzzles as padded arrays; see the module docstring for the fields."""

    houses: np.ndarray
    attrs: np.ndarray
    n_clues: np.ndarray
    clues: np.ndarray
    solution: np.ndarray
    rank: np.ndarray
    source: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.houses)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Return (max clues C, max attributes A, max houses H) of the padding."""
        return self.clues.shape[1], self.solution.shape[1], self.solution.shape[2]

    @classmethod
    def from_puzzles(cls, puzzles: list[ZebraPuzzle], shape: tuple[int, int, int] | None = None) -> "ZebraSet":
        """Return the set of ``puzzles`` padded to ``shape`` (C, A, H), by default the largest puzzle's."""
        N = len(puzzles)
        C = max([len(p.clues) for p in puzzles], default=0)
        A = max([p.n for p in puzzles], default=0)
        H = max([p.m for p in puzzles], default=0)
        if shape is not None:
            _fits((C, A, H), shape)
            C, A, H = shape
        clues = np.full((N, C, 5), -1, dtype=np.int64)
        sol = np.full((N, A, H), -1, dtype=np.int64)
        rank = np.full((N, A, H), -1, dtype=np.int64)
        for i, p in enumerate(puzzles):
            for j, c in enumerate(p.clues):
                clues[i, j] = (KIND_ID[c.kind], *_side(c.lhs), *_side(c.rhs))
            sol[i, :p.n, :p.m] = p.solution
            for k, (a, h) in enumerate(p.order):
                rank[i, a, h] = k
        return cls(np.array([p.m for p in puzzles], dtype=np.int64), np.array([p.n for p in puzzles], dtype=np.int64),
                   np.array([len(p.clues) for p in puzzles], dtype=np.int64), clues, sol, rank,
                   [p.source for p in puzzles])

    def puzzle(self, i: int) -> ZebraPuzzle:
        """Return puzzle ``i`` as a ZebraPuzzle (solver order from ``rank``)."""
        m, n = int(self.houses[i]), int(self.attrs[i])
        clues = [Clue(KINDS[c[0]], _unside(c[1], c[2]), _unside(c[3], c[4])) for c in self.clues[i, :self.n_clues[i]]]
        r = self.rank[i, :n, :m]
        cells = [(int(a), int(h)) for a, h in zip(*np.nonzero(r >= 0))]
        order = sorted(cells, key=lambda c: r[c])
        return ZebraPuzzle(m, n, clues, self.solution[i, :n, :m].copy(), order, self.source[i] if self.source else "")

    def subset(self, idx) -> "ZebraSet":
        """Return the puzzles at ``idx`` (an index array or slice)."""
        idx = np.arange(len(self))[idx] if isinstance(idx, slice) else np.asarray(idx)
        return ZebraSet(self.houses[idx], self.attrs[idx], self.n_clues[idx], self.clues[idx], self.solution[idx],
                        self.rank[idx], [self.source[i] for i in idx] if self.source else [])

    def padded(self, shape: tuple[int, int, int]) -> "ZebraSet":
        """Return the set padded to ``shape`` (C, A, H), itself when already so (the arrays are shared, not
        copied); ValueError naming the field when a puzzle is larger."""
        if self.shape == tuple(shape):
            return self
        have = (int(self.n_clues.max(initial=0)), int(self.attrs.max(initial=0)), int(self.houses.max(initial=0)))
        _fits(have, shape)
        C, A, H = shape
        clues = np.full((len(self), C, 5), -1, dtype=np.int64)
        sol = np.full((len(self), A, H), -1, dtype=np.int64)
        rank = sol.copy()
        c0, a0, h0 = (min(x, y) for x, y in zip(self.shape, shape))
        clues[:, :c0] = self.clues[:, :c0]
        sol[:, :a0, :h0] = self.solution[:, :a0, :h0]
        rank[:, :a0, :h0] = self.rank[:, :a0, :h0]
        return ZebraSet(self.houses, self.attrs, self.n_clues, clues, sol, rank, list(self.source))

    def has_order(self) -> np.ndarray:
        """Return [N] bool: the solver order covers every cell of the puzzle."""
        return (self.rank >= 0).sum((1, 2)) == self.houses * self.attrs

    def keys(self) -> list[bytes]:
        """Return one digest per puzzle of its size, clue set (in any order) and solution, for de-duplication."""
        out = []
        for i in range(len(self)):
            c = self.clues[i, :self.n_clues[i]]
            c = c[np.lexsort(c.T[::-1])] if len(c) else c
            h = hashlib.sha256(np.array([self.houses[i], self.attrs[i]]).tobytes())
            h.update(c.astype(np.int16).tobytes())
            h.update(self.solution[i].astype(np.int8).tobytes())
            out.append(h.digest()[:16])
        return out

    def save(self, path: str | Path) -> None:
        """Write the set to ``path`` (.npz)."""
        np.savez_compressed(path, houses=self.houses, attrs=self.attrs, n_clues=self.n_clues, clues=self.clues.astype(np.int8),
                            solution=self.solution.astype(np.int8), rank=self.rank.astype(np.int16),
                            source=np.array(self.source, dtype=object).astype(str))

    @classmethod
    def load(cls, path: str | Path) -> "ZebraSet":
        """Return the set stored at ``path`` by :meth:`save`; a file that is not such a set raises ValueError
        naming it (no pickled objects are read)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(z["houses"].astype(np.int64), z["attrs"].astype(np.int64), z["n_clues"].astype(np.int64),
                           z["clues"].astype(np.int64), z["solution"].astype(np.int64), z["rank"].astype(np.int64),
                           z["source"].tolist())
        except FileNotFoundError:
            raise
        except (OSError, ValueError, EOFError, KeyError, AttributeError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: not a Zebra set written by ZebraSet.save ({type(e).__name__}: "
                             f"{' '.join(str(e).split())[:160]}); delete it if it is a cache, or pass another file"
                             ) from None

    @staticmethod
    def concat(sets: list["ZebraSet"]) -> "ZebraSet":
        """Return the sets one after another, padded to the largest."""
        sets = [s for s in sets if len(s)]
        shape = tuple(max(s.shape[k] for s in sets) for k in range(3))
        sets = [s.padded(shape) for s in sets]
        return ZebraSet(*(np.concatenate([getattr(s, f) for s in sets]) for f in
                          ("houses", "attrs", "n_clues", "clues", "solution", "rank")),
                        [x for s in sets for x in s.source])


def _fits(have: tuple[int, int, int], shape: tuple[int, int, int]) -> None:
    for what, h, s in zip(("clues", "attributes", "houses"), have, shape):
        if h > s:
            raise ValueError(f"a puzzle has {h} {what}, the layout holds at most {s}: raise max_{what} in the "
                             f"task's scale preset")


def _ranked_perm(rng: np.random.Generator, shape: tuple, size: np.ndarray) -> np.ndarray:
    """Return int arrays [*shape, K] each a random permutation of 0..size-1 followed by size..K-1 in place."""
    K = shape[-1]
    keys = rng.random(shape)
    keys = np.where(np.arange(K) < size[..., None], keys, 2.0 + np.arange(K))
    return np.argsort(keys, axis=-1)


def random_symmetries(zs: ZebraSet, rng: np.random.Generator) -> ZebraSet:
    """Return ``zs`` with an independent random symmetry applied to each puzzle (see the module docstring)."""
    N = len(zs)
    C, A, H = zs.shape
    rows = np.arange(N)[:, None]
    m, n = zs.houses, zs.attrs
    sol, rank, cl = zs.solution, zs.rank, zs.clues.copy()
    # relabel the values of each attribute: value v of attribute a becomes relabel[i, a, v]
    relabel = _ranked_perm(rng, (N, A, H), np.broadcast_to(m[:, None], (N, A)))
    inside = sol >= 0
    sol = np.where(inside, np.take_along_axis(relabel, np.where(inside, sol, 0), 2), -1)
    for t, v in ((1, 2), (3, 4)):
        is_attr = cl[..., t] >= 0
        new = relabel[rows, np.where(is_attr, cl[..., t], 0), np.where(is_attr, cl[..., v], 0)]
        cl[..., v] = np.where(is_attr, new, cl[..., v])
    # permute the attributes: attribute a becomes sigma[i, a]
    sigma = _ranked_perm(rng, (N, A), n)
    inv = np.argsort(sigma, axis=1)
    sol = np.take_along_axis(sol, inv[:, :, None].repeat(H, 2), 1)
    rank = np.take_along_axis(rank, inv[:, :, None].repeat(H, 2), 1)
    for t in (1, 3):
        is_attr = cl[..., t] >= 0
        cl[..., t] = np.where(is_attr, sigma[rows, np.where(is_attr, cl[..., t], 0)], cl[..., t])
    # mirror the street
    flip = rng.random(N) < 0.5
    h = np.arange(H)[None]
    hsrc = np.where(flip[:, None] & (h < m[:, None]), m[:, None] - 1 - h, h)
    sol = np.take_along_axis(sol, hsrc[:, None, :].repeat(A, 1), 2)
    rank = np.take_along_axis(rank, hsrc[:, None, :].repeat(A, 1), 2)
    valid = cl[..., 0] >= 0
    for t, v in ((1, 2), (3, 4)):
        house = (cl[..., t] == HOUSE_SIDE) & valid & flip[:, None]
        cl[..., v] = np.where(house, m[:, None] - 1 - cl[..., v], cl[..., v])
    cl[..., 0] = np.where(valid & flip[:, None], CONVERSE[np.where(valid, cl[..., 0], 0)], cl[..., 0])
    # state clues the other way round
    swap = valid & SWAPPABLE[np.where(valid, cl[..., 0], 0)] & (rng.random((N, C)) < 0.5)
    cl = np.where(swap[..., None], cl[..., [0, 3, 4, 1, 2]], cl)
    cl[..., 0] = np.where(swap, CONVERSE[np.where(valid, cl[..., 0], 0)], cl[..., 0])
    # shuffle the clues (padding stays last)
    keys = np.where(np.arange(C)[None] < zs.n_clues[:, None], rng.random((N, C)), 2.0 + np.arange(C))
    cl = np.take_along_axis(cl, np.argsort(keys, 1)[:, :, None].repeat(5, 2), 1)
    return ZebraSet(zs.houses, zs.attrs, zs.n_clues, cl, sol, rank, list(zs.source))


def clues_hold(clues: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """Return [N, C] bool: each clue is true of the predicted table (padding rows count as true).

    ``tables`` [N, A, H] holds the value of attribute a in house h (-1 or any other non-value where the
    prediction has none); a side naming a value no house holds makes its clue false."""
    N, C, _ = clues.shape
    rows = np.arange(N)[:, None]

    def where_is(t, v):
        attr = t >= 0
        row = tables[rows, np.where(attr, t, 0)]                      # [N, C, H]
        eq = row == v[..., None]
        return np.where(attr, eq.argmax(-1), v), np.where(attr, eq.any(-1), True)

    x, okx = where_is(clues[..., 1], clues[..., 2])
    y, oky = where_is(clues[..., 3], clues[..., 4])
    kind = clues[..., 0]
    truth = np.zeros((N, C), dtype=bool)
    for k, rel in RELATIONS.items():
        sel = kind == KIND_ID[k]
        truth |= sel & rel(x, y)
    return np.where(kind < 0, True, truth & okx & oky)


def reveal(zs: ZebraSet, counts, keys: np.ndarray) -> ZebraSet:
    """Return ``zs`` with ``counts[i]`` cells of puzzle i stated as extra ``found-at`` clues ("value v of
    attribute a is in house h", from the solution): the puzzle's cells with the smallest ``keys[i]`` (uniform
    draws [N, A*H]; fewer when the puzzle has fewer cells). The clue array grows to hold them; the solution
    and the solver order are unchanged. This is Zebra's "more givens": an easier puzzle with the same answer."""
    N = len(zs)
    C, A, H = zs.shape
    counts = np.minimum(np.broadcast_to(np.asarray(counts, dtype=np.int64), (N,)), zs.houses * zs.attrs)
    inside = (zs.solution >= 0).reshape(N, -1)
    k = np.where(inside, np.asarray(keys, dtype=float).reshape(N, A * H), 2.0)
    rank = np.argsort(np.argsort(k, axis=1), axis=1)
    pick = inside & (rank < counts[:, None])
    extra = int(counts.max(initial=0))
    clues = np.concatenate([zs.clues, np.full((N, extra, 5), -1, dtype=zs.clues.dtype)], axis=1)
    n_idx, cell = np.nonzero(pick)
    a, h = cell // H, cell % H
    slot = zs.n_clues[n_idx] + (np.cumsum(pick, axis=1) - 1)[n_idx, cell]
    clues[n_idx, slot] = np.stack([np.full_like(a, KIND_ID["found-at"]), a, zs.solution[n_idx, a, h],
                                   np.full_like(a, HOUSE_SIDE), h], 1)
    return ZebraSet(zs.houses, zs.attrs, zs.n_clues + counts, clues, zs.solution, zs.rank, list(zs.source))
