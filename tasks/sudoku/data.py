"""Where the Sudoku splits come from: Shah et al.'s files when a data directory holds them, else the
generator, with generated sets cached on disk so a run pays for generation once.

Splits: ``train`` and ``test`` are easy puzzles (solved by the seven strategies without guessing; Table 2),
``hard`` are unique-solution puzzles the strategy solver cannot finish (Table 5). With Shah et al.'s
``sudoku-train-data.npy`` / ``sudoku-test-data.npy`` in the data directory (or its ``sudoku/``
subfolder) those are used for train and test; with Radcliffe's CSV (``sudoku-3m.csv``) beside them the
hard split is its puzzles that are in neither Shah file and that the strategy solver cannot finish (PAPER.md
§3.3), as the paper built it. Anything missing is generated: each split has its own fixed seed (a property
of the dataset, not of a run), puzzle i is a pure function of (seed, kind, i), so a smaller set is a
prefix of a larger one and the cache only ever grows.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from tasks.datafiles import cache_dir, find_file, replace_atomically
from tasks.sudoku.puzzles import PuzzleSet, grid_string

SPLIT_SEEDS = {"train": 1, "test": 2, "hard": 3}
SPLIT_KIND = {"train": "easy", "test": "easy", "hard": "hard"}
GEN_VERSION = 1
SHAH_FILES = {"train": "sudoku-train-data.npy", "test": "sudoku-test-data.npy"}
RADCLIFFE_FILE = "sudoku-3m.csv"


def generated(kind: str, n: int, seed: int, workers: int | None = None, progress: bool = True) -> PuzzleSet:
    """Return the first ``n`` generated puzzles of ``kind`` and ``seed``, generating only what the cache lacks."""
    from tasks.sudoku.generate import generate
    path = cache_dir() / "sudoku" / f"{kind}-seed{seed}-v{GEN_VERSION}.npz"
    have = PuzzleSet.load(path) if path.exists() else PuzzleSet.empty()
    if len(have) < n:
        workers = workers or os.cpu_count() or 1
        print(f"[data] generating {n - len(have)} {kind} Sudoku puzzles (seed {seed}, {workers} workers) -> {path}",
              file=sys.stderr)
        more = generate(n - len(have), seed, kind=kind, workers=workers, progress=progress, start=len(have))
        have = PuzzleSet.concat([have, more])
        replace_atomically(path, have.save)
    return have.subset(slice(0, n))


def load_split(split: str, n: int, data_dir: str | None = None, progress: bool = True) -> tuple[PuzzleSet, str]:
    """Return (the first ``n`` puzzles of ``split``, a description of where they came from)."""
    from tasks.sudoku.formats import load_puzzles
    if split in SHAH_FILES and (path := find_file(data_dir, SHAH_FILES[split], "sudoku")):
        ps = load_puzzles(path, fmt="shah", limit=n, require_unique=False)  # unique by construction
        return ps, f"Shah et al. {path.name} (first {len(ps)})"
    if split == "hard" and (csv := find_file(data_dir, RADCLIFFE_FILE, "sudoku")):
        return radcliffe_hard(csv, n, data_dir, progress), f"Radcliffe {csv.name} minus Shah files, solver-stuck"
    ps = generated(SPLIT_KIND[split], n, SPLIT_SEEDS[split], progress=progress)
    return ps, f"generated ({SPLIT_KIND[split]}, seed {SPLIT_SEEDS[split]}, generator v{GEN_VERSION})"


def radcliffe_hard(csv: Path, n: int, data_dir: str | None, progress: bool) -> PuzzleSet:
    """Return up to ``n`` Radcliffe puzzles absent from Shah's files that the strategy solver cannot finish."""
    from tasks.sudoku.formats import load_puzzles
    from tasks.sudoku.generate import split_by_difficulty
    known: set[str] = set()
    for split, name in SHAH_FILES.items():
        if path := find_file(data_dir, name, "sudoku"):
            known.update(grid_string(g) for g in load_puzzles(path, fmt="shah", require_unique=False).givens)
    out, offset, chunk = [], 0, max(4 * n, 10000)
    while sum(len(p) for p in out) < n:
        new = load_puzzles(csv, fmt="csv", start=offset, limit=chunk)  # each piece is read and checked once
        if not len(new):
            break
        offset += len(new)
        keep = np.array([grid_string(g) not in known for g in new.givens], dtype=bool)
        _, hard = split_by_difficulty(new.subset(keep))
        out.append(hard)
    return PuzzleSet.concat(out).subset(slice(0, n))


def drop_overlap(test: PuzzleSet, train: PuzzleSet) -> PuzzleSet:
    """Return ``test`` without puzzles whose givens also appear in ``train``."""
    seen = {grid_string(g) for g in train.givens}
    keep = np.array([grid_string(g) not in seen for g in test.givens], dtype=bool)
    return test.subset(keep)
