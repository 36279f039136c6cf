"""Where the Zebra splits come from: Shah et al.'s pickles when the data directory holds them, else the
generator, with generated sets cached on disk so a run pays for generation once.

``zebra-train-data.pkl`` / ``zebra-test-data.pkl`` in ``--data-dir`` (or its ``zebra/`` subfolder) are read
with :func:`tasks.zebra.puzzle.load_pickle` (every clue checked against the solution) and converted once to
a cached ``.npz`` keyed by the file's size and modification time. Otherwise each split has its own fixed
seed; puzzle j is a pure function of (seed, size, j), so a smaller set is a prefix of a larger one and the
cache only grows. Sizes cycle through the preset's (houses, attributes) list.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from tasks.datafiles import cache_dir, find_file, replace_atomically
from tasks.zebra.arrays import ZebraSet

SPLIT_SEEDS = {"train": 1, "test": 2}
SHAH_FILES = {"train": "zebra-train-data.pkl", "test": "zebra-test-data.pkl"}
GEN_VERSION = 1


def _sizes_tag(sizes) -> str:
    return "-".join(f"{m}x{n}" for m, n in sizes)


def generated(split: str, n: int, sizes, workers: int | None = None, progress: bool = True) -> ZebraSet:
    """Return the first ``n`` generated puzzles of ``split`` over ``sizes``, generating only what the cache lacks."""
    from tasks.zebra.puzzle import generate_many
    seed = SPLIT_SEEDS[split]
    path = cache_dir() / "zebra" / f"{split}-seed{seed}-{_sizes_tag(sizes)}-v{GEN_VERSION}.npz"
    have = ZebraSet.load(path) if path.exists() else None
    k = len(have) if have is not None else 0
    if k < n:
        workers = workers or os.cpu_count() or 1
        print(f"[data] generating {n - k} Zebra puzzles ({split}, seed {seed}, {workers} workers) -> {path}",
              file=sys.stderr)
        more = ZebraSet.from_puzzles(generate_many(n - k, seed, sizes, workers=workers, start=k, progress=progress))
        have = more if have is None else ZebraSet.concat([have, more])
        replace_atomically(path, have.save)
    return have.subset(slice(0, n))


def from_pickle(path: Path, progress: bool = True) -> ZebraSet:
    """Return every puzzle of one of Shah et al.'s pickles, converted once and cached."""
    from tasks.zebra.puzzle import load_pickle
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    cached = cache_dir() / "zebra" / f"{path.stem}-{key}.npz"
    if cached.exists():
        return ZebraSet.load(cached)
    if progress:
        print(f"[data] reading {path} (checked and cached as {cached})", file=sys.stderr)
    zs = ZebraSet.from_puzzles(load_pickle(path))
    replace_atomically(cached, zs.save)
    return zs


def load_split(split: str, n: int, sizes, data_dir: str | None = None, progress: bool = True
               ) -> tuple[ZebraSet, str]:
    """Return (the first ``n`` puzzles of ``split`` whose size is in ``sizes``, a description of the source)."""
    if split not in SPLIT_SEEDS:
        raise ValueError(f"unknown Zebra split '{split}'; choose one of: {', '.join(SPLIT_SEEDS)}")
    sizes = [tuple(s) for s in sizes]
    path = find_file(data_dir, SHAH_FILES[split], "zebra")
    if path is not None:
        zs = from_pickle(path, progress)
        keep = [i for i in range(len(zs)) if (int(zs.houses[i]), int(zs.attrs[i])) in sizes][:n]
        if len(keep) < n:
            raise ValueError(f"{path} has {len(keep)} puzzles of the sizes {_sizes_tag(sizes)}, the preset asks "
                             f"for {n}: lower the preset's data size or remove --data-dir to generate")
        return zs.subset(keep), f"shah:{path.name}"
    return generated(split, n, sizes, progress=progress), f"generated:seed{SPLIT_SEEDS[split]}"


def drop_overlap(test: ZebraSet, train: ZebraSet) -> ZebraSet:
    """Return ``test`` without the puzzles that also occur in ``train`` (same size, clue set and solution)."""
    seen = set(train.keys())
    keep = [i for i, k in enumerate(test.keys()) if k not in seen]
    return test.subset(keep)
