"""What the two grid-puzzle adapters (Sudoku, Zebra) share: a train split and an evaluation split per scale,
easier levels of the same evaluation puzzles (``+K``: K more cells given, chosen by a fixed per-puzzle seed),
training batches drawn per (seed, step, stream) with optional symmetry augmentation and extra reveals, the
first-n evaluation examples, and the ARM baselines' teacher-forced checks.

A puzzle adapter subclasses :class:`PuzzleTask` and supplies its data hooks (``_split``, ``_drop_overlap``,
``_cells``, ``_reveal``, ``_augment``) and its layout (``train_batch``, ``examples``, scoring, ARM layout).
"""
from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np

from tasks.base import Task


class PuzzleTask(Task):
    """A grid-puzzle task: see the module docstring. ``extra_givens`` is the level's K (0 = as generated)."""

    eval_split = "test"
    reveal_seed: int                 # which extra cells level +K reveals in evaluation puzzle i
    mdm_stream: int                  # random stream of the MDM's training batches
    arm_stream: int                  # random stream of the ARM baselines' training batches
    extra_givens = 0

    # --- data hooks (one puzzle family each) ---
    def _split(self, split: str) -> tuple[Any, str]:
        """Return (the split's puzzle set at this scale, where it came from)."""
        raise NotImplementedError

    @staticmethod
    def _drop_overlap(test, train):
        """Return ``test`` without the puzzles that are also in ``train``."""
        raise NotImplementedError

    def _cells(self, ps) -> int:
        """Return the number of cells a reveal key covers per puzzle."""
        raise NotImplementedError

    def _reveal(self, ps, counts, keys):
        """Return ``ps`` with ``counts`` more cells given, the ones with the smallest ``keys`` first."""
        raise NotImplementedError

    def _augment(self, ps, rng: np.random.Generator):
        """Return ``ps`` under random symmetries of the puzzle family drawn from ``rng``."""
        raise NotImplementedError

    # --- shared pipeline ---
    @cached_property
    def train_set(self):
        """Return the train split."""
        return self._split("train")[0]

    @cached_property
    def eval_set(self):
        """Return the evaluation split at this level (K extra givens), without any puzzle also in the train split."""
        ps, self._eval_source = self._split(self.eval_split)
        ps = self._drop_overlap(ps, self.train_set)
        if self.extra_givens:  # puzzle i's extra cells depend on (reveal_seed, i) only, not on the set's size
            n_cells = self._cells(ps)
            keys = np.stack([np.random.default_rng([self.reveal_seed, i]).random(n_cells) for i in range(len(ps))])
            ps = self._reveal(ps, self.extra_givens, keys)
        return ps

    def _train_puzzles(self, step: int, batch_size: int, seed: int, stream: int):
        """Return the training puzzles of one step: drawn with replacement, augmented and topped up with extra
        givens as the preset says, all from ``default_rng([seed, step, stream])``."""
        rng = np.random.default_rng([seed, step, stream])
        ps = self.train_set.subset(rng.integers(0, len(self.train_set), size=batch_size))
        if self.SCALES[self.scale].get("augment"):
            ps = self._augment(ps, rng)
        lo, hi = self.SCALES[self.scale].get("train_reveal", (0, 0))
        if hi > 0:
            ps = self._reveal(ps, rng.integers(lo, hi + 1, size=batch_size), rng.random((batch_size, self._cells(ps))))
        return ps

    def _check_n(self, n: int, what: str) -> None:
        """Raise a one-line ValueError when ``n`` evaluation examples are more than the split has."""
        if n > len(self.eval_set):
            raise ValueError(f"{self.name} has {len(self.eval_set)} {what} at scale {self.scale}, asked for {n}; "
                             f"lower --n")

    def arm_checks(self, order: str, n: int):
        """Return the teacher-forced next-move check of the ARM trained in ``order`` (none on a split whose
        puzzles have no solver order to force)."""
        return [self.teacher_forced_check(order, n)] if self.eval_set.has_order().any() else []
