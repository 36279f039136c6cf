"""The ``zebra`` task adapter (paper Table 3): fill the solution table of an Einstein puzzle from its clues.

Data: Shah et al.'s pickles from ``--data-dir`` when present, else generated puzzles (:mod:`tasks.zebra.data`).
The token layout, shared by the MDM and the ARM baselines, is documented in :mod:`tasks.zebra.layout`: clues
as five tokens each, then the table (MDM: one token per cell at a fixed position; ARM: (attribute, house,
value) triples in the training order, ``solver`` or ``fixed``). The MDM masks and decodes only the puzzle's
cells and may write only value tokens. The score is whole-table correctness against the unique solution;
the clues are checked independently and a disagreement is recorded (:mod:`tasks.zebra.check`).

Training batches draw puzzles from the train split and, when the preset says ``augment``, apply a fresh
random symmetry to each (value relabelling, attribute permutation, mirror, clue sides and clue order;
:func:`tasks.zebra.arrays.random_symmetries`), which keeps the unique solution and the solver order.
"""
from __future__ import annotations

import hashlib
from functools import cached_property
from typing import Any

import numpy as np

from tasks.base import Check, Example, Score, Task
from tasks.puzzle_presets import PAPER_DECODE, SMOKE_ARM, SMOKE_MDM, shah_arm, ye_mdm
from tasks.zebra.arrays import ZebraSet, random_symmetries
from tasks.zebra.check import check_tables
from tasks.zebra.data import drop_overlap, load_split
from tasks.zebra.layout import ATTR, HOUSE, KIND, MASK, Layout
from tasks.zebra.puzzle import SIZES

VARIANTS: dict[str, dict[str, Any]] = {
    "3": {"sizes": [(3, 3)], "layout": {"max_houses": 3, "max_attrs": 3, "max_clues": 9}},
    "3-4": {"sizes": [(m, n) for m in (3, 4) for n in (3, 4)],
            "layout": {"max_houses": 4, "max_attrs": 4, "max_clues": 18}},
    "3-6": {"sizes": list(SIZES), "layout": {"max_houses": 6, "max_attrs": 6, "max_clues": 60}},
}
"""Variant -> the puzzle sizes (houses, attributes) it draws and the token layout that holds them. ``3-6`` is
Shah et al.'s range; 60 clue slots hold every generated 6x6 puzzle (40 clues at most in 1500) and Shah's 600-token
sequences (at most 49 ten-token clues). ``3`` (3 houses x 3 attributes, Shah's smallest size) is the ``small``
preset's; ``3-4`` the smoke test's."""

SCALES: dict[str, dict[str, Any]] = {
    "smoke": {
        "variants": ["3-4"], "data": {"train": 64, "test": 6}, "augment": True,
        "mdm": SMOKE_MDM, "arm": SMOKE_ARM,
    },
    "small": {
        # Sized for under 20 minutes on a 2-core CPU: 3 x 3 puzzles only (a 50-token MDM sequence; with 3-4 x 3-4
        # and 107 tokens a 0.8M MDM took 13+ minutes for 900 iterations and had not learned the permutation
        # rule), a 0.8M MDM and 0.2M ARMs instead of 19M / 42M, a 4000-puzzle train pool stretched by symmetries.
        "variants": ["3"], "data": {"train": 4000, "test": 300}, "augment": True,
        "mdm": {"model": "0.8M", "model_kwargs": {"pos": "learned"},
                "train": {"iters": 900, "batch_size": 128, "lr": 2e-3, "min_lr": 2e-4, "warmup": 50,
                          "amp": "bf16", "ckpt_every": 100, "log_every": 50},
                "n_eval": 300, "eval_batch_size": 150, "decode": dict(PAPER_DECODE)},
        "arm": {"model": "0.2M", "model_kwargs": {"pos": "learned"},
                "train": {"iters": 400, "batch_size": 64, "lr": 3e-3, "min_lr": 3e-4, "warmup": 30,
                          "amp": "bf16", "ckpt_every": 100, "log_every": 50},
                "n_eval": 300, "eval_batch_size": 150, "decode": {"temperature": 0.0}},
    },
    "paper": {
        # Shah et al.'s volumes and sizes: 1.5M train / 0.1M test, 3-6 houses x 3-6 attributes.
        "variants": ["3-6"], "data": {"train": 1_500_000, "test": 100_000}, "augment": False,
        # The 19M MDM with Ye et al.'s recipe as for Sudoku: lr 1e-3, 300 epochs, batch 1024 (128 x 8 devices),
        # dropout 0.1: 300 * 1.5M / 1024 = 439,453 iterations.
        "mdm": ye_mdm("19M", 439_453, eval_batch_size=1024),
        # Shah et al.'s Zebra ARM (zebra-code/train/main.py): 42M (8 x 576), lr 2e-4 decaying to 0.2x,
        # wd 0.005, batch 64, dropout 0.2, 2^21 steps.
        "arm": shah_arm(2**21),
    },
}


class Zebra(Task):
    """Zebra puzzles: fill the solution table from the clues (paper Table 3)."""

    name = "zebra"
    SCALES = SCALES
    arm_orders = ("solver", "fixed")

    def __init__(self, variant: str, scale: str, data_dir: str | None = None):
        super().__init__(variant, scale, data_dir)
        self.layout = Layout(**VARIANTS[variant]["layout"])
        self.sizes = [tuple(s) for s in VARIANTS[variant]["sizes"]]
        self.vocab_size, self.mask_id, self.seq_len = self.layout.vocab_size, MASK, self.layout.mdm_len

    @classmethod
    def all_variants(cls) -> list[str]:
        """Return every variant the task knows (any variant runs at any scale)."""
        return list(VARIANTS)

    def _split(self, split: str) -> tuple[ZebraSet, str]:
        zs, source = load_split(split, self.SCALES[self.scale]["data"][split], self.sizes, self.data_dir)
        return zs.padded(self.layout.shape), source

    @cached_property
    def train_set(self) -> ZebraSet:
        """Return the train split, padded to the layout."""
        return self._split("train")[0]

    @cached_property
    def eval_set(self) -> ZebraSet:
        """Return the test split without any puzzle that is also in the train split."""
        zs, self._eval_source = self._split("test")
        return drop_overlap(zs, self.train_set)

    def _train_puzzles(self, step: int, batch_size: int, seed: int, stream: int) -> ZebraSet:
        rng = np.random.default_rng([seed, step, stream])
        zs = self.train_set.subset(rng.integers(0, len(self.train_set), size=batch_size))
        if self.SCALES[self.scale].get("augment"):
            zs = random_symmetries(zs, rng)
        return zs

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (solved sequences [B, L], maskable = the puzzles' table cells) for MDM step ``step``."""
        return self.layout.mdm_tokens(self._train_puzzles(step, batch_size, seed, 21))

    def examples(self, n: int) -> list[Example]:
        """Return the first ``n`` test puzzles: clues given, the table's cells masked."""
        zs = self.eval_set
        if n > len(zs):
            raise ValueError(f"{self.name} has {len(zs)} test puzzles at scale {self.scale}, asked for {n}; lower --n")
        tokens, cells = self.layout.mdm_tokens(zs.subset(slice(0, n)))
        out = []
        for i in range(n):
            rank = np.full(self.seq_len, -1, dtype=np.int64)
            rank[self.layout.table_start:] = zs.rank[i].reshape(-1)
            k = int(zs.houses[i] * zs.attrs[i])
            third = np.where(rank >= 0, 1 + (3 * rank) // max(k, 1), 0)
            out.append(Example(id=zs.source[i], prompt=np.where(cells[i], MASK, tokens[i]), target=tokens[i],
                               meta={"index": i, "record": {"size": f"{zs.houses[i]}x{zs.attrs[i]}",
                                                            "solver_rank": rank.tolist(),
                                                            "solver_third": third.tolist()}}))
        return out

    def allowed(self) -> np.ndarray:
        """Return the [V] mask of value tokens (what a table cell may hold)."""
        return self.layout.value_tokens()

    def _puzzle(self, example: Example) -> ZebraSet:
        """Return the one-puzzle set of ``example``."""
        return self.eval_set.subset([example.meta["index"]])

    def _grade(self, zs: ZebraSet, table: np.ndarray, extra: dict) -> Score:
        r = check_tables(zs, table[None])
        ok = bool(r["correct"][0]) and not extra.get("illegal_moves")
        metrics = {"cell_acc": float(r["cell_acc"][0]), "valid": bool(r["valid"][0]),
                   "clues_ok": bool(r["clues_ok"][0]), "clues_false": int(r["clues_false"][0]),
                   "checker_agree": bool(r["agree"][0]), "size": f"{zs.houses[0]}x{zs.attrs[0]}", **extra}
        return Score(float(ok), ok, metrics)

    def score(self, example: Example, output: np.ndarray) -> Score:
        """Return whole-table correctness with cell accuracy and the clue check as metrics."""
        zs = self._puzzle(example)
        return self._grade(zs, self.layout.table_from_mdm(np.asarray(output)[None], zs)[0], {})

    def render(self, tokens: np.ndarray) -> str:
        """Return the clues and the table rows ('_' outside the puzzle, '?' masked)."""
        t = np.asarray(tokens)
        clues = self.layout.render_clue_tokens(t[:self.layout.table_start - 1])
        table = t[self.layout.table_start:].reshape(self.layout.max_attrs, self.layout.max_houses)
        rows = ["".join(self.layout.token_name(x) for x in row) for row in table]
        return "; ".join(clues) + " | " + "/".join(r for r in rows if r.strip("_"))

    # --- autoregressive baselines ---
    def arm_layout(self) -> tuple[int, int]:
        """Return (vocab, length) of the ARM sequences."""
        return self.layout.vocab_size, self.layout.arm_len

    def arm_train_batch(self, step: int, batch_size: int, seed: int, order: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (ARM sequences [B, L], loss mask on the triples and END) in training ``order``."""
        tokens, loss, _ = self.layout.arm_tokens(self._train_puzzles(step, batch_size, seed, 22), order)
        return tokens, loss

    def arm_prompt(self, example: Example) -> tuple[np.ndarray, int]:
        """Return (tokens whose first n are the clues and SEP, n)."""
        zs = self._puzzle(example)
        tokens, _, start = self.layout.arm_tokens(zs, "fixed")
        tokens[0, start[0]:] = 0
        return tokens[0], int(start[0])

    def arm_score(self, example: Example, tokens: np.ndarray) -> Score:
        """Return the score of the first m*n generated triples; illegal ones are counted and make it wrong."""
        zs = self._puzzle(example)
        m, n = int(zs.houses[0]), int(zs.attrs[0])
        start = 5 * int(zs.n_clues[0]) + 1
        table = np.full((self.layout.max_attrs, self.layout.max_houses), -1, dtype=np.int64)
        step = np.full(self.seq_len, -1, dtype=np.int64)
        step[self.layout.table_start:] = np.where(zs.solution[0].reshape(-1) >= 0, -2, -1)
        illegal = 0
        for j, mv in enumerate(self.layout.moves_from_arm(tokens, start, m, n)):
            if mv is None or table[mv[0], mv[1]] >= 0:
                illegal += 1
                continue
            a, h, v = mv
            table[a, h] = v
            step[self.layout.table_start + a * self.layout.max_houses + h] = j
        s = self._grade(zs, table, {"illegal_moves": illegal})
        s.order = step.tolist()
        return s

    def arm_render(self, tokens: np.ndarray) -> str:
        """Return an ARM sequence as readable clues, '|' for SEP and 'a<attr>,h<house>=<value>' moves."""
        L, t = self.layout, [int(x) for x in np.asarray(tokens)]
        parts, i = [], 0
        while i < len(t):
            if KIND <= t[i] < HOUSE and i + 5 <= len(t):
                parts += L.render_clue_tokens(np.array(t[i:i + 5]))
                i += 5
            elif ATTR <= t[i] < L.val and i + 3 <= len(t):
                parts.append(f"{L.token_name(t[i])},h{L.token_name(t[i + 1])}={L.token_name(t[i + 2])}")
                i += 3
            else:
                parts.append(L.token_name(t[i]))
                i += 1
        return " ".join(parts)

    # --- facts and checks ---
    def info(self) -> dict:
        """Return the data's sources, sizes and layout (recorded in every results header)."""
        ev, tr = self.eval_set, self.train_set
        sizes = {f"{m}x{n}": int(((ev.houses == m) & (ev.attrs == n)).sum()) for m, n in self.sizes}
        return {"eval_source": self._eval_source, "n_eval_available": len(ev), "n_train": len(tr),
                "train_sha": _digest(tr), "eval_sha": _digest(ev), "sizes": sizes,
                "layout": {"max_houses": self.layout.max_houses, "max_attrs": self.layout.max_attrs,
                           "max_clues": self.layout.max_clues, "mdm_len": self.layout.mdm_len,
                           "arm_len": self.layout.arm_len, "vocab": self.layout.vocab_size},
                "mean_clues": round(float(ev.n_clues.mean()), 2),
                "solver_order_full": round(float(ev.has_order().mean()), 4),
                "augment": bool(self.SCALES[self.scale].get("augment")),
                "metric": "puzzle accuracy (the whole table equals the unique solution)"}

    def checks(self, n: int, seed: int) -> list[Check]:
        """Return one check: the value of one hidden cell of an otherwise filled train table."""
        rng = np.random.default_rng([seed, 5151])
        zs = self.train_set.subset(rng.integers(0, len(self.train_set), size=n))
        x, cells = self.layout.mdm_tokens(zs)
        pick = np.array([rng.choice(np.flatnonzero(c)) for c in cells])
        prompts = x.copy()
        prompts[np.arange(n), pick] = MASK
        return [Check("cell_given_rest_acc", prompts, x, prompts == MASK)]


def _digest(zs: ZebraSet) -> str:
    h = hashlib.sha256(zs.clues.astype(np.int8).tobytes())
    h.update(zs.solution.astype(np.int8).tobytes())
    return h.hexdigest()[:12]
