"""The ``zebra`` task adapter (paper Table 3): fill the solution table of an Einstein puzzle from its clues.

Data: Shah et al.'s pickles from ``--data-dir`` when present, else generated puzzles (:mod:`tasks.zebra.data`).
Two token layouts, chosen per variant, are shared by the MDM and the ARM baselines:

* ``table`` (:mod:`tasks.zebra.layout`): the clues as a list (Shah et al.'s form), then the table, one token
  per cell. The paper-scale variant ``3-6`` uses it.
* ``relations`` (:mod:`tasks.zebra.relations`): the clues as a constraint graph at fixed positions (allowed
  houses per item, allowed house differences per pair of items) and the house of each item as the answer.
  Our small MDMs never learned to read the clue list on a CPU (loss flat at the permutation-only level for
  3000 iterations); with this layout the same model reads the clues within a few hundred iterations. The
  small variants use it; the information is the same (tested: the layout's constraints have exactly the
  puzzle's unique solution).

The MDM masks and decodes only the puzzle's answer positions and may write only answer values. The score
is whole-table correctness against the unique solution; the clues are checked independently and a
disagreement is recorded (:mod:`tasks.zebra.check`).

**Difficulty levels.** Variant ``<base>+K`` is the same test puzzles with K cells stated as extra
``found-at`` clues (:func:`tasks.zebra.arrays.reveal`, fixed per-puzzle seed): Zebra's "more givens", an
easier level of the same puzzles. Every level of a base is evaluated with one model (``model_key``); the
preset's ``train_reveal`` (lo, hi) reveals a uniform random number of cells in each training puzzle.

Training batches draw puzzles from the train split and, when the preset says ``augment``, apply a fresh
random symmetry to each (value relabelling, attribute permutation, mirror, clue sides and clue order;
:func:`tasks.zebra.arrays.random_symmetries`), which keeps the unique solution and the solver order.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np

from tasks import streams as S
from tasks.base import Check, Example, Score
from tasks.puzzle_task import PuzzleTask
from tasks.puzzle_presets import (PAPER_DECODE, SMOKE_ARM, SMOKE_MDM, gpu_plan, gpu_recipe, planned, shah_arm,
                                  ye_mdm)
from tasks.zebra.arrays import ZebraSet, random_symmetries, reveal
from tasks.zebra.check import check_tables
from tasks.zebra.data import drop_overlap, load_split
from tasks.zebra.layout import MASK, Layout
from tasks.zebra.puzzle import SIZES
from tasks.zebra.relations import RelationsLayout

VARIANTS: dict[str, dict[str, Any]] = {
    "3": {"sizes": [(3, 3)], "layout": {"max_houses": 3, "max_attrs": 3, "max_clues": 9}},
    "3-4": {"sizes": [(m, n) for m in (3, 4) for n in (3, 4)],
            "layout": {"max_houses": 4, "max_attrs": 4, "max_clues": 18}},
    "3-6": {"sizes": list(SIZES), "layout": {"max_houses": 6, "max_attrs": 6, "max_clues": 60}},
    "3-rel": {"sizes": [(3, 3)], "kind": "relations", "layout": {"max_houses": 3, "max_attrs": 3, "max_clues": 24}},
    "3-4-rel": {"sizes": [(m, n) for m in (3, 4) for n in (3, 4)], "kind": "relations",
                "layout": {"max_houses": 4, "max_attrs": 4, "max_clues": 40}},
}
"""Variant -> the puzzle sizes (houses, attributes) it draws, its layout kind (``table`` unless stated) and the
layout's sizes. ``3-6`` is Shah et al.'s range; 60 clue slots hold every generated 6x6 puzzle (40 clues at most
in 1500) and Shah's 600-token sequences (at most 49 ten-token clues). ``3`` is Shah's smallest size. The
``-rel`` variants use the relations layout (``max_clues`` there only bounds the arrays: clues take no
positions). Any variant may carry a ``+K`` level suffix (K extra ``found-at`` clues)."""
SCALES: dict[str, dict[str, Any]] = {
    "smoke": {
        "variants": ["3-4-rel+2", "3-4-rel"], "data": {"train": 64, "test": 6}, "augment": True,
        "train_reveal": (0, 2), "mdm": SMOKE_MDM, "arm": SMOKE_ARM,
    },
    "small": {
        # Chosen by measured learning curves on a 2-core CPU (README "Choosing the small presets"). In the table
        # layout a 0.8M MDM never read the clues (loss flat at 0.60, the permutation-only level, for 3000
        # iterations, also with the whole table masked in half of each batch). In the relations layout the same
        # model leaves that plateau and, after 3000 iterations at lr 2e-3 (lr 3e-3 never left it), predicts
        # 70% of the cells from the clues alone in one forward at level +4 (51% at +0; chance 33%). 3 x 3
        # puzzles (54 tokens), 0.2M ARMs instead of 42M, a 4000-puzzle train pool stretched by symmetries and
        # shown with 0-4 cells stated as extra found-at clues.
        "variants": ["3-rel+4", "3-rel+2", "3-rel"], "data": {"train": 4000, "test": 500}, "augment": True,
        "train_reveal": (0, 4),
        "mdm": {"model": "0.8M", "model_kwargs": {"pos": "learned"},
                "train": {"iters": 3000, "batch_size": 128, "lr": 2e-3, "min_lr": 2e-4, "warmup": 50,
                          "ckpt_every": 500, "log_every": 50},
                "n_eval": 500, "eval_batch_size": 500, "decode": dict(PAPER_DECODE)},
        "arm": {"model": "0.2M", "model_kwargs": {"pos": "learned"},
                "train": {"iters": 400, "batch_size": 64, "lr": 3e-3, "min_lr": 3e-4, "warmup": 30,
                          "ckpt_every": 100, "log_every": 50},
                "n_eval": 500, "eval_batch_size": 250, "decode": {"temperature": 0.0}},
    },
    "gpu": {
        # The paper's regime (3-6 houses x 3-6 attributes, the table layout: 337 MDM tokens, 410 ARM tokens) in
        # about one H100-hour (plan below, in FLOPs at tasks.puzzle_presets.GPU_FLOPS_PER_S). The paper's 19M MDM
        # at Ye et al.'s 300 epochs is 1.7e19 FLOPs (48 H100-hours at that rate), so: a 6M MDM, batch 512,
        # 45k iterations (23M puzzles seen, 15 epochs of the paper's 1.5M) from a 500k pool stretched by
        # symmetries; two 6M ARMs for 30k iterations at batch 128. 10,000 test puzzles (the per-cell verdicts
        # are paired, so a 3-point difference is many standard errors).
        "variants": ["3-6"], "data": {"train": 500_000, "test": 10_000}, "augment": True,
        "mdm": gpu_recipe("6M", 45_000, 512, lr=1e-3, dropout=0.1, n_eval=10_000, eval_batch_size=1024,
                          decode=PAPER_DECODE),
        "arm": gpu_recipe("6M", 30_000, 128, lr=3e-4, dropout=0.1, n_eval=10_000, eval_batch_size=512,
                          decode={"temperature": 0.0}),
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


_LEVEL = re.compile(r"^(?P<base>[0-9a-z-]+?)(?:\+(?P<k>\d+))?$")


def parse_variant(variant: str) -> tuple[str, int]:
    """Return (base variant, K) of ``<base>`` or ``<base>+K``; ValueError for an unknown base or K < 1."""
    m = _LEVEL.match(variant)
    if not m or m.group("base") not in VARIANTS or (m.group("k") is not None and int(m.group("k")) < 1):
        raise ValueError(f"Zebra variant must be one of {', '.join(VARIANTS)}, optionally +K with K >= 1 "
                         f"(got '{variant}')")
    return m.group("base"), int(m.group("k") or 0)


def make_layout(base: str) -> Layout | RelationsLayout:
    """Return the token layout of a base variant."""
    spec = VARIANTS[base]
    return (RelationsLayout if spec.get("kind") == "relations" else Layout)(**spec["layout"])


# The gpu preset's plan, from its recipes and the paper's at the paper's layout (two ARMs: solver and fixed order).
_PAPER_LAYOUT = make_layout("3-6")
SCALES["gpu"]["plan"] = gpu_plan(
    paper_flops=planned(SCALES["paper"]["mdm"], _PAPER_LAYOUT.mdm_len)["flops"]
    + planned(SCALES["paper"]["arm"], _PAPER_LAYOUT.arm_len, runs=2)["flops"],
    mdm=planned(SCALES["gpu"]["mdm"], _PAPER_LAYOUT.mdm_len),
    arms=planned(SCALES["gpu"]["arm"], _PAPER_LAYOUT.arm_len, runs=2))

class Zebra(PuzzleTask):
    """Zebra puzzles: fill the solution table from the clues (paper Table 3)."""

    name = "zebra"
    SCALES = SCALES
    parse_variant = staticmethod(parse_variant)
    arm_orders = ("solver", "fixed")
    reveal_seed, mdm_stream, arm_stream = S.ZEBRA_REVEAL_SEED, S.ZEBRA_MDM_TRAIN, S.ZEBRA_ARM_TRAIN

    def __init__(self, variant: str, scale: str, data_dir: str | None = None):
        super().__init__(variant, scale, data_dir)
        self.base, self.extra_clues = parse_variant(variant)
        self.extra_givens = self.extra_clues
        self.layout = make_layout(self.base)
        self.sizes = [tuple(s) for s in VARIANTS[self.base]["sizes"]]
        self.vocab_size, self.mask_id, self.seq_len = self.layout.vocab_size, MASK, self.layout.mdm_len

    @classmethod
    def all_variants(cls) -> list[str]:
        """Return every base variant (any of them runs at any scale, with any +K level)."""
        return list(VARIANTS)


    def model_key(self) -> str:
        """Return the key of this base variant's model (every +K level shares it)."""
        return f"{self.name}/{self.base}"

    def _split(self, split: str) -> tuple[ZebraSet, str]:
        zs, source = load_split(split, self.SCALES[self.scale]["data"][split], self.sizes, self.data_dir)
        return zs.padded(self.layout.shape), source

    @staticmethod
    def _drop_overlap(test: ZebraSet, train: ZebraSet) -> ZebraSet:
        return drop_overlap(test, train)

    def _cells(self, zs: ZebraSet) -> int:
        _, A, H = zs.shape
        return A * H

    def _reveal(self, zs: ZebraSet, counts, keys: np.ndarray) -> ZebraSet:
        return reveal(zs, counts, keys).padded(self.layout.shape)

    def _augment(self, zs: ZebraSet, rng: np.random.Generator) -> ZebraSet:
        return random_symmetries(zs, rng)

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (solved sequences [B, L], maskable = the puzzles' table cells) for MDM step ``step``."""
        return self.layout.mdm_tokens(self._train_puzzles(step, batch_size, seed, self.mdm_stream))

    def examples(self, n: int) -> list[Example]:
        """Return the first ``n`` test puzzles: clues given, the table's cells masked."""
        self._check_n(n, "test puzzles")
        zs = self.eval_set
        tokens, cells = self.layout.mdm_tokens(zs.subset(slice(0, n)))
        ranks = self.layout.answer_rank(zs.subset(slice(0, n)))
        out = []
        for i in range(n):
            rank = ranks[i]
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
        """Return the clues (or constraints) and the answer rows ('_' outside the puzzle, '?' masked)."""
        return self.layout.render(np.asarray(tokens))

    # --- autoregressive baselines ---
    def arm_layout(self) -> tuple[int, int]:
        """Return (vocab, length) of the ARM sequences."""
        return self.layout.vocab_size, self.layout.arm_len

    def arm_train_batch(self, step: int, batch_size: int, seed: int, order: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (ARM sequences [B, L], loss mask on the triples and END) in training ``order``."""
        tokens, loss, _ = self.layout.arm_tokens(self._train_puzzles(step, batch_size, seed, self.arm_stream), order)
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
        start = int(self.layout.arm_tokens(zs, "fixed")[2][0])
        table = np.full((self.layout.max_attrs, self.layout.max_houses), -1, dtype=np.int64)
        step = np.where(example.prompt == MASK, -2, -1).astype(np.int64)
        illegal = 0
        for j, mv in enumerate(self.layout.moves_from_arm(tokens, start, m, n)):
            if mv is None or table[mv[0], mv[1]] >= 0:
                illegal += 1
                continue
            a, h, v = mv
            table[a, h] = v
            step[self.layout.answer_position(a, h, v)] = j
        s = self._grade(zs, table, {"illegal_moves": illegal})
        s.order = step.tolist()
        return s

    def arm_sequences(self, order: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (ARM sequences of the first ``n`` evaluation puzzles in ``order``, loss on the moves)."""
        tokens, loss, _ = self.layout.arm_tokens(self.eval_set.subset(slice(0, min(n, len(self.eval_set)))), order)
        return tokens, loss

    def arm_render(self, tokens: np.ndarray) -> str:
        """Return an ARM sequence as readable clues or constraints, '|' for SEP and the moves."""
        return self.layout.render_arm(np.asarray(tokens))

    # --- facts and checks ---
    def info(self) -> dict:
        """Return the data's sources, sizes and layout (recorded in every results header)."""
        ev, tr = self.eval_set, self.train_set
        sizes = {f"{m}x{n}": int(((ev.houses == m) & (ev.attrs == n)).sum()) for m, n in self.sizes}
        return {"eval_source": self._eval_source, "n_eval_available": len(ev), "n_train": len(tr),
                "train_sha": _digest(tr), "eval_sha": _digest(ev), "sizes": sizes, "level": self.variant,
                "extra_clues": self.extra_clues, "extra_givens": self.extra_clues,
                "train_reveal": list(self.SCALES[self.scale].get("train_reveal", (0, 0))),
                "layout": {"kind": getattr(self.layout, "kind", "table"), "max_houses": self.layout.max_houses,
                           "max_attrs": self.layout.max_attrs, "max_clues": self.layout.max_clues,
                           "mdm_len": self.layout.mdm_len, "arm_len": self.layout.arm_len,
                           "vocab": self.layout.vocab_size},
                "mean_clues": round(float(ev.n_clues.mean()), 2),
                "solver_order_full": round(float(ev.has_order().mean()), 4),
                "augment": bool(self.SCALES[self.scale].get("augment")),
                "metric": "puzzle accuracy (the whole table equals the unique solution)"}

    def checks(self, n: int, seed: int) -> list[Check]:
        """Return two one-forward checks: one hidden cell of an otherwise filled train table (the permutation
        rule alone), and every cell of the evaluation puzzles at this level from the clues alone (reading the
        clues). The model has learned the task when the second is well above chance: at least halfway from
        1/houses to 1."""
        rng = np.random.default_rng([seed, S.ZEBRA_CHECKS])
        zs = self.train_set.subset(rng.integers(0, len(self.train_set), size=n))
        x, cells = self.layout.mdm_tokens(zs)
        pick = np.array([rng.choice(np.flatnonzero(c)) for c in cells])
        prompts = x.copy()
        prompts[np.arange(n), pick] = MASK
        ev = self.eval_set.subset(slice(0, min(n, len(self.eval_set))))
        ex, ecells = self.layout.mdm_tokens(ev)
        chance = float(np.mean(1.0 / ev.houses))
        return [Check("cell_given_rest_acc", prompts, x, prompts == MASK,
                      about="one hidden cell of a filled train table (the permutation rule)"),
                Check("cells_from_clues_acc", np.where(ecells, MASK, ex), ex, ecells,
                      learned_at=round(0.5 * (1 + chance), 4),
                      about=f"every cell of the evaluation puzzles from the clues alone (chance {chance:.2f})")]


def _digest(zs: ZebraSet) -> str:
    h = hashlib.sha256(zs.clues.astype(np.int8).tobytes())
    h.update(zs.solution.astype(np.int8).tobytes())
    return h.hexdigest()[:12]
