"""The permutation families of the paper's pi-learners (PAPER.md 2, Figure 2 left; App. C.1) and distances
of a permutation from the identity.

A family is a distribution over permutations of ``L`` positions:

* ``identity``    -- the point mass at the identity (the pi-learner is then the left-to-right ARM);
* ``much_closer`` -- ``round(sqrt(L))`` random swaps applied to the identity;
* ``closer``      -- ``round(L / 10)`` random swaps applied to the identity;
* ``uniform``     -- a uniformly random permutation (``rng.permutation``).

A swap is a transposition of two distinct positions drawn uniformly at random, independently of the
earlier swaps; the swaps are applied one after another. Two swaps can touch the same position (or undo
each other), so ``k`` swaps give a Cayley distance (minimum number of transpositions back to the
identity) of *at most* ``k``; it equals ``k`` exactly when no two swaps share a cycle, which is typical
when ``k`` is much smaller than ``sqrt(L)`` and common for ``k = L/10`` at large ``L``.

Note the family names assume ``sqrt(L) < L/10``, i.e. ``L > 100`` (at the paper's L = 2048: 45 vs 205 swaps).
For shorter sequences "much closer" has as many swaps as "closer" or more.

A permutation ``perm`` acts on a sequence ``x`` as ``x[perm]``: position ``i`` of the permuted sequence holds
token ``x[perm[i]]``, so the pi-learner predicts ``x[perm[0]], x[perm[1]], ...`` in that order.
"""
from __future__ import annotations

import math

import numpy as np

FAMILIES = ("identity", "much_closer", "closer", "uniform")
"""Family names, from the identity to the farthest."""

_FAMILY_STREAM = {name: i for i, name in enumerate(FAMILIES)}


def _check(family: str, L: int) -> None:
    if family not in FAMILIES:
        raise ValueError(f"unknown permutation family {family!r}; choose one of: {', '.join(FAMILIES)}")
    if int(L) < 2:
        raise ValueError(f"a permutation family needs a sequence length L >= 2, got {L}")


def n_swaps(family: str, L: int) -> int | None:
    """Return the number of random swaps that defines ``family`` at length ``L`` (0 for identity, None for
    uniform, which is not built from swaps)."""
    _check(family, L)
    return {"identity": 0, "much_closer": int(round(math.sqrt(L))), "closer": int(round(L / 10)),
            "uniform": None}[family]


def apply_swaps(L: int, pairs: np.ndarray) -> np.ndarray:
    """Return the int64 permutation of ``L`` positions obtained by applying the transpositions ``pairs``
    ([k, 2] position pairs) to the identity, in order. (A loop over the k swaps, which compose; never
    over tokens.)"""
    perm = np.arange(L, dtype=np.int64)
    for a, b in np.asarray(pairs, dtype=np.int64).reshape(-1, 2):
        perm[a], perm[b] = perm[b], perm[a]
    return perm


def random_swaps(L: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``k`` uniformly random transpositions of two distinct positions, as a [k, 2] int64 array."""
    a = rng.integers(0, L, size=k)
    b = rng.integers(0, L - 1, size=k)
    b = b + (b >= a)  # uniform over the L - 1 positions other than a
    return np.stack([a, b], axis=1).astype(np.int64)


def draw(family: str, L: int, rng: np.random.Generator) -> np.ndarray:
    """Return one int64 permutation of ``L`` positions drawn from ``family`` with ``rng``."""
    _check(family, L)
    if family == "uniform":
        return rng.permutation(L).astype(np.int64)
    return apply_swaps(L, random_swaps(L, n_swaps(family, L), rng))


def permutation(family: str, L: int, index: int, seed: int = 0) -> np.ndarray:
    """Return permutation number ``index`` of ``family``: a pure function of (seed, family, index, L)."""
    _check(family, L)
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    return draw(family, L, np.random.default_rng([seed, _FAMILY_STREAM[family], index, L]))


def family_permutations(family: str, L: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """Return ``count`` permutations of ``family``: ``[permutation(family, L, j, seed) for j < count]``."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    return [permutation(family, L, j, seed) for j in range(count)]


# ------------------------------------------------------------------------------------------------ distances

def check_permutation(perm) -> np.ndarray:
    """Return ``perm`` as an int64 array after checking it is a permutation of 0..L-1 (ValueError if not)."""
    p = np.asarray(perm, dtype=np.int64)
    if p.ndim != 1 or not np.array_equal(np.sort(p), np.arange(p.size)):
        raise ValueError("not a permutation: expected each of 0..L-1 exactly once")
    return p


def displaced(perm) -> int:
    """Return the number of positions i with perm[i] != i (Hamming distance from the identity)."""
    p = check_permutation(perm)
    return int((p != np.arange(p.size)).sum())


def n_cycles(perm) -> int:
    """Return the number of cycles of ``perm`` (fixed points count as cycles of length 1)."""
    p = check_permutation(perm)
    # Label every position with the smallest position of its cycle by pointer jumping: after r rounds each
    # label is the minimum over 2**r steps along the cycle, so ceil(log2 L) rounds cover every cycle.
    label, step = np.arange(p.size), p.copy()
    for _ in range(max(1, math.ceil(math.log2(max(p.size, 2))))):
        label = np.minimum(label, label[step])
        step = step[step]
    return int(np.unique(label).size)


def cayley(perm) -> int:
    """Return the Cayley distance from the identity: L - #cycles, the minimum number of transpositions."""
    p = check_permutation(perm)
    return int(p.size - n_cycles(p))


def kendall_tau(perm, chunk: int = 1024) -> int:
    """Return the number of inversions (pairs i < j with perm[i] > perm[j]): the Kendall-tau distance from the
    identity, i.e. the minimum number of adjacent swaps. Vectorised in row chunks (O(L^2) work, O(chunk*L) memory)."""
    p = check_permutation(perm)
    L, total = p.size, 0
    idx = np.arange(L)
    for s in range(0, L, chunk):
        rows = slice(s, min(L, s + chunk))
        later = idx[None, :] > idx[rows, None]
        total += int((later & (p[None, :] < p[rows, None])).sum())
    return total


def distances(perm) -> dict:
    """Return the distances of ``perm`` from the identity, raw and normalised to [0, 1]:
    ``displaced`` (/L), ``cayley`` (/(L-1), its maximum), ``kendall`` (/(L(L-1)/2), its maximum).
    A uniform permutation scores about 1, 1 and 0.5."""
    p = check_permutation(perm)
    L = p.size
    d, c, k = displaced(p), cayley(p), kendall_tau(p)
    return {"displaced": d, "cayley": c, "kendall": k, "displaced_frac": d / L,
            "cayley_frac": c / max(1, L - 1), "kendall_frac": k / max(1, L * (L - 1) // 2)}
