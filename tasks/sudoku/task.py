"""Sudoku task adapters: ``sudoku`` (easy test split, Table 2) and ``sudoku_hard`` (hard split, Table 5).

Layouts (the paper leaves the MDM layout open; PAPER.md §3.3):

* **MDM**: the 81 cells in row-major order, one token per cell: digit d is token d (1..9), the mask is
  token 10 (vocabulary 11; token 0 is unused). Givens are shown, empty cells are masked; training masks
  only empty cells (as in Ye et al., where the puzzle half is never masked) and decoding may write only
  digits. Positions are a learned embedding per cell, as in Ye et al.'s GPT-2 (``GRID_POS`` adds learned
  row, column and box embeddings as an option). One sequence is one puzzle, so
  no [SEP]/solution half is needed: the given cells of the solution are the puzzle.
* **ARM** (Shah et al.): 81 (row, col, value) triples, 243 tokens, rows/cols 0..8 and values 1..9 sharing
  the digit tokens 0..9 (vocabulary 11). The givens come first in row-major order, then the empty cells in
  the training order: ``solver`` (the strategy solver's fill order, "with ordering") or ``fixed``
  (row-major, "w/o ordering"). The loss covers the empty cells' triples. Decoding is greedy from the
  givens; a triple naming a cell outside the grid, a value outside 1..9 or a cell already filled is an
  illegal move: it is counted, skipped, and the puzzle scores as wrong.

Training batches draw puzzles from the train split and, when the preset says ``augment``, apply a fresh
random Sudoku symmetry to each (relabelling, band/stack and row/column permutations, transpose), which
keeps uniqueness and strategy-solvability; the solver order moves with its cells. Both tasks evaluate the
model trained on the easy train split (they share ``model_key``). The score is whole-puzzle accuracy from
the exact checker (:mod:`tasks.sudoku.check`); cell accuracy, unit errors and illegal moves are metrics.

**Difficulty levels.** Variant ``9x9`` is the split as it is (the paper's difficulty: near-minimal puzzles,
22-28 givens when generated). ``9x9+K`` is the same puzzles with K more of their empty cells given, drawn
from the solution by a fixed per-puzzle seed: an easier level of the same puzzles, which a small model on a
CPU can learn, so a table can show the effect where the model has learned the task and how it degrades
toward the paper's level. Every level is evaluated with the one model (``model_key`` ignores the level).
The preset's ``train_reveal`` (lo, hi) shows a uniform random number of extra empty cells in each training
puzzle (0 at paper scale: the paper's training distribution); it only moves weight toward lightly masked
states, which the MDM objective already covers.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from tasks import streams as S
from tasks.base import Check, Example, Score, in_scale_order
from tasks.puzzle_task import PuzzleTask
from tasks.puzzle_presets import (PAPER_DECODE, SMOKE_ARM, SMOKE_MDM, gpu_plan, gpu_recipe, planned, shah_arm,
                                  ye_mdm)
from tasks.sudoku.data import drop_overlap, load_split
from tasks.sudoku.puzzles import (BOX, COL, ROW, STRATEGY_NAMES, PuzzleSet, apply_symmetries, random_symmetries,
                                  reveal, singles)

MASK, VOCAB, CELLS = 10, 11, 81
ARM_LEN = 3 * CELLS
GRID_POS = {"pos": "learned", "pos_factors": [ROW.tolist(), COL.tolist(), BOX.tolist()]}
"""Optional MDM positions (``model_kwargs``): a learned embedding per cell plus learned row, column and box
embeddings. Not the default: in one 0.8M CPU run each, the plain layout dropped to loss 0.44 by iteration
650 while this one started faster but sat near 0.76 at iteration 1160."""

SCALES: dict[str, dict[str, Any]] = {
    "smoke": {
        "variants": ["9x9+8", "9x9"], "data": {"train": 48, "test": 6, "hard": 4}, "augment": True,
        "train_reveal": (0, 12),
        "mdm": SMOKE_MDM, "arm": SMOKE_ARM,
    },
    "small": {
        # Chosen by measured learning curves on a 2-core CPU (README "Choosing the small presets"): a 0.8M MDM
        # (the paper's is 6M) with learned per-cell positions, 1500 iterations at batch 128 (one thread, about
        # 18 minutes), a 3000-puzzle train pool stretched by random symmetries and shown with 0-12 extra givens.
        # At 800 iterations no level was solved (<= 3.5%); at 1500 the 9x9+8 level is (adaptive ~92%, vanilla
        # 0%). The paper's level (9x9) is kept as a column to show how the effect degrades toward it.
        "variants": ["9x9+8", "9x9+4", "9x9"], "data": {"train": 3000, "test": 500, "hard": 500},
        "augment": True, "train_reveal": (0, 12),
        "mdm": {"model": "0.8M", "model_kwargs": {"pos": "learned"},
                "train": {"iters": 1500, "batch_size": 128, "lr": 2e-3, "min_lr": 2e-4, "warmup": 50,
                          "ckpt_every": 250, "log_every": 50},
                "n_eval": 500, "eval_batch_size": 250, "decode": dict(PAPER_DECODE)},
        "arm": {"model": "0.2M", "model_kwargs": {"pos": "learned"},
                "train": {"iters": 350, "batch_size": 64, "lr": 3e-3, "min_lr": 3e-4, "warmup": 30,
                          "ckpt_every": 100, "log_every": 50},
                "n_eval": 500, "eval_batch_size": 250, "decode": {"temperature": 0.0}},
    },
    "gpu": {
        # The paper's regime in about one H100-hour (plan below, in FLOPs at tasks.puzzle_presets.GPU_FLOPS_PER_S):
        # the paper's 6M MDM and difficulty (9x9, beside 9x9+4 to meet the small scale), batch 1024 as Ye et al.,
        # 100k iterations = 102M puzzles seen (Ye et al.: 300 epochs of 1.8M = 540M) from a 1M-puzzle pool
        # stretched by random symmetries (about 11 minutes to generate on 16 cores at the measured 97 puzzles/s
        # per core); two 6M ARMs (Shah et al.'s are 42M for 2^22 steps: 12x the MDM's compute each) for 20k
        # iterations at batch 256. 10,000 test and hard puzzles: a 10-point difference is > 30 standard errors.
        "variants": ["9x9", "9x9+4"], "data": {"train": 1_000_000, "test": 10_000, "hard": 10_000},
        "augment": True,
        "mdm": gpu_recipe("6M", 100_000, 1024, lr=1e-3, dropout=0.1, n_eval=10_000, eval_batch_size=2048,
                          decode=PAPER_DECODE),
        "arm": gpu_recipe("6M", 20_000, 256, lr=3e-4, dropout=0.1, n_eval=10_000, eval_batch_size=1024,
                          decode={"temperature": 0.0}),
    },
    "paper": {
        # Shah et al.'s volumes: 1.8M train / 0.1M test; the hard split is a 100k subset of the ~1M.
        "variants": ["9x9"], "data": {"train": 1_800_000, "test": 100_000, "hard": 100_000}, "augment": False,
        # Ye et al.'s 6M GPT-2 recipe as the paper states it: lr 1e-3, 300 epochs, batch 1024 (128 per
        # device x 8 in Ye's script; PAPER.md §3.3), dropout 0.1: 300 * 1.8M / 1024 = 527,344 iterations.
        "mdm": ye_mdm("6M", 527_344, eval_batch_size=2048),
        # Shah et al.'s 42M ARM: lr 2e-4 decaying to 0.2x, wd 0.005, batch 64, dropout 0.2, 2^22 steps.
        "arm": shah_arm(2**22),
    },
}

# The medium preset (README "The medium scale"): the small tables' puzzles and levels, the same 0.8M MDM
# trained twice as long (at 1500 iterations its loss was still falling and the 9x9 level was far from learned:
# 18% solved), and 0.8M ARMs that learn something (0.2M ARMs stay near chance). Measured here (one thread;
# learning curves in reports/table2.md): the MDM solves 41% of the 9x9 level un-noised (51 minutes of
# training); after 1200 iterations (26-36 minutes each) the fixed-order ARM predicts 83% of the move tokens
# teacher-forced (49% of the digits), the solver-order ARM 27% (21%), still rising: neither solves a puzzle,
# the solver's choice of cell is what takes long to learn.
_SMALL = SCALES["small"]
SCALES["medium"] = {
    **{key: _SMALL[key] for key in ("variants", "data", "augment", "train_reveal")},
    "mdm": {**_SMALL["mdm"], "train": {**_SMALL["mdm"]["train"], "iters": 3000}},
    "arm": {**_SMALL["arm"], "model": "0.8M",
            "train": {**_SMALL["arm"]["train"], "iters": 1200, "lr": 2e-3, "min_lr": 2e-4, "warmup": 50,
                      "ckpt_every": 200}},
}
SCALES = in_scale_order(SCALES)

# The gpu preset's plan, from its recipes and the paper's (two ARMs: solver order and fixed order).
SCALES["gpu"]["plan"] = gpu_plan(
    paper_flops=planned(SCALES["paper"]["mdm"], CELLS)["flops"] + planned(SCALES["paper"]["arm"], ARM_LEN, 2)["flops"],
    mdm=planned(SCALES["gpu"]["mdm"], CELLS), arms=planned(SCALES["gpu"]["arm"], ARM_LEN, runs=2))


_LEVEL = re.compile(r"^9x9(?:\+(\d+))?$")


def parse_level(variant: str) -> int:
    """Return K of a ``9x9+K`` variant (0 for ``9x9``); ValueError for anything else."""
    m = _LEVEL.match(variant)
    if not m or (m.group(1) is not None and not 0 < int(m.group(1)) <= 60):
        raise ValueError(f"Sudoku variant must be 9x9 or 9x9+K with 0 < K <= 60 (got '{variant}')")
    return int(m.group(1) or 0)


class Sudoku(PuzzleTask):
    """9x9 Sudoku: fill the empty cells; evaluated on the easy test split (paper Table 2)."""

    name = "sudoku"
    eval_split = "test"
    SCALES = SCALES
    parse_variant = staticmethod(parse_level)
    arm_orders = ("solver", "fixed")
    vocab_size, mask_id, seq_len = VOCAB, MASK, CELLS
    reveal_seed, mdm_stream, arm_stream = S.SUDOKU_REVEAL_SEED, S.SUDOKU_MDM_TRAIN, S.SUDOKU_ARM_TRAIN

    def __init__(self, variant: str, scale: str, data_dir: str | None = None):
        super().__init__(variant, scale, data_dir)
        self.extra_givens = parse_level(variant)


    @classmethod
    def all_variants(cls) -> list[str]:
        """Return the levels named in the presets (any ``9x9+K`` is also accepted)."""
        return sorted({v for s in cls.SCALES.values() for v in s["variants"]}, key=parse_level)

    def model_key(self) -> str:
        """Return the key of the model trained on the easy train split (shared by both Sudoku tasks and by
        every difficulty level)."""
        return "sudoku/9x9"

    def _split(self, split: str) -> tuple[PuzzleSet, str]:
        return load_split(split, self.SCALES[self.scale]["data"][split], self.data_dir)

    @staticmethod
    def _drop_overlap(test: PuzzleSet, train: PuzzleSet) -> PuzzleSet:
        return drop_overlap(test, train)

    def _cells(self, ps: PuzzleSet) -> int:
        return CELLS

    def _reveal(self, ps: PuzzleSet, counts, keys: np.ndarray) -> PuzzleSet:
        return reveal(ps, counts, keys)

    def _augment(self, ps: PuzzleSet, rng: np.random.Generator) -> PuzzleSet:
        return apply_symmetries(ps, *random_symmetries(rng, len(ps)))

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (solutions [B,81], maskable = empty cells) for MDM training step ``step``."""
        ps = self._train_puzzles(step, batch_size, seed, self.mdm_stream)
        return ps.solutions.astype(np.int64), ps.givens == 0

    def examples(self, n: int) -> list[Example]:
        """Return the first ``n`` puzzles of the evaluation split (givens shown, empty cells masked)."""
        self._check_n(n, "evaluation puzzles")
        ps = self.eval_set
        out = []
        for i in range(n):
            g = ps.givens[i].astype(np.int64)
            rank = np.full(CELLS, -1, dtype=np.int64)
            filled = ps.order[i][ps.order[i] >= 0]
            rank[filled] = np.arange(len(filled))
            out.append(Example(id=ps.source[i], prompt=np.where(g == 0, MASK, g), target=ps.solutions[i].astype(np.int64),
                               meta={"givens": g, "record": {"strategy": ps.strategy[i].tolist(),
                                                             "solver_rank": rank.tolist()}}))
        return out

    def allowed(self) -> np.ndarray:
        """Return the [V] mask of digit tokens 1..9."""
        a = np.zeros(VOCAB, dtype=bool)
        a[1:10] = True
        return a

    def score(self, example: Example, output: np.ndarray) -> Score:
        """Return puzzle correctness (exact checker) with cell accuracy on the empty cells as a metric."""
        return self._grade(example, np.asarray(output).reshape(CELLS), {})

    def _grade(self, example: Example, grid: np.ndarray, extra: dict) -> Score:
        from tasks.sudoku.check import check_grids
        g = example.meta["givens"]
        grid = np.where((grid >= 1) & (grid <= 9), grid, 0)
        r = check_grids(g[None], grid[None], example.target[None])
        ok = bool(r["correct"][0]) and not extra.get("illegal_moves")
        metrics = {"cell_acc": float(r["cell_acc"][0]), "valid": bool(r["valid"][0]),
                   "keeps_givens": bool(r["keeps_givens"][0]), "unit_errors": int(r["errors"][0]), **extra}
        return Score(float(ok), ok, metrics)

    def render(self, tokens: np.ndarray) -> str:
        """Return the 81 cells as digits ('_' for a mask)."""
        return "".join("_" if t == MASK else (str(int(t)) if 1 <= t <= 9 else "?") for t in np.asarray(tokens))

    # --- autoregressive baselines ---
    def arm_layout(self) -> tuple[int, int]:
        """Return (vocab 11, 243 tokens) of the (row, col, value) triple layout."""
        return VOCAB, ARM_LEN

    @staticmethod
    def _triples(ps: PuzzleSet, order: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (tokens [N,243], loss_mask [N,243]): givens row-major, then empty cells in ``order``."""
        n = len(ps)
        empty = ps.givens == 0
        key = np.where(empty, 1000 + np.arange(CELLS), np.arange(CELLS))
        if order == "solver":
            if not ps.has_order().all():
                raise ValueError("ARM 'solver' order needs puzzles with a full solver order; label them first")
            rank = np.zeros((n, CELLS + 1), dtype=np.int64)  # column 81 absorbs the -1 padding of order
            k = np.arange(CELLS)[None].repeat(n, 0)
            np.put_along_axis(rank, np.where(ps.order >= 0, ps.order, CELLS).astype(np.int64), k, axis=1)
            key = np.where(empty, 1000 + rank[:, :CELLS], key)
        elif order != "fixed":
            raise ValueError(f"unknown ARM order '{order}'; choose solver or fixed")
        cells = np.argsort(key, axis=1, kind="stable")
        vals = np.take_along_axis(ps.solutions.astype(np.int64), cells, 1)
        tokens = np.stack([ROW[cells], COL[cells], vals], axis=2).reshape(n, ARM_LEN)
        n_given = (~empty).sum(1)
        loss = np.arange(ARM_LEN)[None] >= 3 * n_given[:, None]
        return tokens.astype(np.int64), loss

    def arm_train_batch(self, step: int, batch_size: int, seed: int, order: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (triple tokens [B,243], loss on the empty cells' triples) in training ``order``."""
        return self._triples(self._train_puzzles(step, batch_size, seed, self.arm_stream), order)

    def arm_prompt(self, example: Example) -> tuple[np.ndarray, int]:
        """Return (tokens [243] with the givens' triples first, 3 x number of givens)."""
        g = example.meta["givens"]
        cells = np.flatnonzero(g)
        tokens = np.zeros(ARM_LEN, dtype=np.int64)
        tokens[: 3 * len(cells)] = np.stack([ROW[cells], COL[cells], g[cells]], 1).reshape(-1)
        return tokens, 3 * len(cells)

    def arm_score(self, example: Example, tokens: np.ndarray) -> Score:
        """Return the score of a generated move list; illegal moves are counted and make the puzzle wrong."""
        g = example.meta["givens"]
        grid = g.copy()
        step = np.where(g > 0, -1, -2)
        k = int((g > 0).sum())
        illegal = 0
        moves = np.asarray(tokens)[3 * k:].reshape(-1, 3)
        for j, (r, c, v) in enumerate(moves):
            if not (0 <= r <= 8 and 0 <= c <= 8 and 1 <= v <= 9) or grid[9 * r + c]:
                illegal += 1
                continue
            grid[9 * r + c] = v
            step[9 * r + c] = j
        s = self._grade(example, grid, {"illegal_moves": illegal})
        s.order = step.tolist()
        return s

    def arm_sequences(self, order: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (triple sequences of the first ``n`` evaluation puzzles that the strategy solver finishes, in
        ``order``, loss on the moves)."""
        ev = self.eval_set.subset(self.eval_set.has_order())
        return self._triples(ev.subset(slice(0, min(n, len(ev)))), order)

    def arm_render(self, tokens: np.ndarray) -> str:
        """Return the triples as 'rcv' groups separated by spaces."""
        t = np.asarray(tokens)
        return " ".join("".join(str(int(x)) for x in t[i:i + 3]) for i in range(0, len(t) - len(t) % 3, 3))

    def arm_checks(self, order: str, n: int) -> list[Check]:
        """Return the ARM's teacher-forced next-move check (learned at 0.9) and, beside it, the accuracy on the
        value tokens alone (each move's digit given its row and column: the Sudoku rule, apart from choosing
        the cell; no threshold)."""
        checks = super().arm_checks(order, n)
        if checks:
            move = checks[0]
            value = (np.arange(move.where.shape[1]) % 3 == 1)[None]     # position 3k+1 predicts token 3k+2
            checks.append(Check("next_value_acc", move.prompts, move.targets, move.where & value,
                                about=f"the digit of every move in {order} order, its cell given, from the true prefix"))
        return checks

    # --- facts and checks ---
    def info(self) -> dict:
        """Return the data's sources, sizes and difficulty profile (recorded in every results header)."""
        ev, tr = self.eval_set, self.train_set
        used = {STRATEGY_NAMES[s]: round(float((ev.strategy == s).any(1).mean()), 4) for s in range(2, 9)}
        return {"split": self.eval_split, "level": self.variant, "extra_givens": self.extra_givens,
                "train_reveal": list(self.SCALES[self.scale].get("train_reveal", (0, 0))),
                "eval_source": self._eval_source, "n_eval_available": len(ev),
                "n_train": len(tr), "train_sha": _digest(tr), "eval_sha": _digest(ev),
                "mean_givens": round(float((ev.givens > 0).sum(1).mean()), 2),
                "solver_solved_frac": round(float(ev.has_order().mean()), 4), "strategy_use": used,
                "augment": bool(self.SCALES[self.scale].get("augment")),
                "metric": "puzzle accuracy (every row, column and box a permutation of 1-9, givens kept)"}

    def checks(self, n: int, seed: int) -> list[Check]:
        """Return three one-forward checks: one hidden cell of an otherwise solved train puzzle (the Sudoku rule
        itself); every naked single of the evaluation puzzles at this level, from the puzzle as given (the
        rule applied to a real puzzle); every hidden single (a strategy: reported, no threshold). The model has
        learned the task when the first two are near perfect (0.99, 0.95)."""
        rng = np.random.default_rng([seed, S.SUDOKU_CHECKS])
        ps = self.train_set.subset(rng.integers(0, len(self.train_set), size=n))
        x = ps.solutions.astype(np.int64)
        empty = ps.givens == 0
        pick = np.array([rng.choice(np.flatnonzero(e)) for e in empty])
        prompts = x.copy()
        prompts[np.arange(n), pick] = MASK
        ev = self.eval_set.subset(slice(0, n))
        g = ev.givens.astype(np.int64)
        puzzle, sol = np.where(g == 0, MASK, g), ev.solutions.astype(np.int64)
        return [Check("cell_given_rest_acc", prompts, x, prompts == MASK, learned_at=0.99,
                      about="one hidden cell of a solved train grid, the other 80 shown"),
                Check("naked_singles_acc", puzzle, sol, singles(g, "naked") > 0, learned_at=0.95,
                      about="cells of the evaluation puzzles whose peers leave one digit, from the puzzle as given"),
                Check("hidden_singles_acc", puzzle, sol, singles(g, "hidden") > 0,
                      about="cells that are the only place for a digit in a unit (and not naked singles)")]


class SudokuHard(Sudoku):
    """Hard 9x9 Sudoku (the strategy solver gets stuck), evaluated with the easy-trained model (Table 5)."""

    name = "sudoku_hard"
    eval_split = "hard"

    def arm_checks(self, order: str, n: int) -> list[Check]:
        """Return the ARM's teacher-forced next-move check on the *easy* test split at this level: the model
        is the one Table 2 trained, and the hard split has no solver order to force."""
        return Sudoku(self.variant, self.scale, self.data_dir).arm_checks(order, n)


def _digest(ps: PuzzleSet) -> str:
    import hashlib
    return hashlib.sha256(ps.givens.tobytes()).hexdigest()[:12]
