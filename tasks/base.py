"""What every task adapter provides: examples, model inputs, training data and a scorer.

A task knows its data and its scoring. It never learns which sampler, model or runner uses it: it hands
out token ids (numpy) and reads token ids back. Scale presets are plain data on the task class
(``SCALES``), chosen by name, so running at another scale is never a code change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

SCALE_NAMES = ("smoke", "small", "medium", "gpu", "paper")
"""Every scale name, smallest first; each task defines the ones it supports in its ``SCALES``."""


def in_scale_order(scales: dict) -> dict:
    """Return a task's ``SCALES`` with its presets in the order of :data:`SCALE_NAMES` (the order its error
    messages list them in); ValueError for a preset of a scale that is not one of them."""
    unknown = set(scales) - set(SCALE_NAMES)
    if unknown:
        raise ValueError(f"unknown scale(s) {sorted(unknown)}; the scales are {', '.join(SCALE_NAMES)}")
    return {name: scales[name] for name in SCALE_NAMES if name in scales}


@dataclass
class Example:
    """One evaluation item: ``prompt`` holds token ids with the task's mask id at the positions to fill."""

    id: str
    prompt: np.ndarray                 # [L] int64, mask id where the model must fill in
    target: np.ndarray | None = None   # [L] reference sequence when one exists
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Score:
    """A scored output: ``score`` is the table's metric in [0, 1]; ``correct`` is whole-example success.

    ``order`` optionally replaces the decoder's per-position reveal steps in the record (an ARM's output
    is a sequence of moves; its task maps them back onto the MDM layout so orders compare)."""

    score: float
    correct: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    order: list[int] | None = None


@dataclass
class Check:
    """A learning check: one forward pass on ``prompts``; argmax accuracy against ``targets`` where ``where``.

    ``learned_at`` is the accuracy at or above which the check says "this model has learned the task"; a
    model that fails any thresholded check has not, and its sampler comparison is labelled so in the
    reports. ``None``: reported for information only."""

    name: str
    prompts: np.ndarray   # [n, L]
    targets: np.ndarray   # [n, L]
    where: np.ndarray     # [n, L] bool: positions that count
    learned_at: float | None = None
    about: str = ""       # one line: what the check measures (recorded in the results header)


@dataclass
class Recipe:
    """How to train and evaluate one task variant at one scale (all plain values, recorded in results)."""

    model_preset: str
    objective: str            # "mdm" | "arm"
    train: dict[str, Any]     # TrainConfig fields
    n_eval: int
    eval_batch_size: int
    decode: dict[str, Any]    # DecodeConfig fields (MDM) or {"temperature": T} (ARM)
    model: dict[str, Any] = field(default_factory=dict)  # extra build_model kwargs (pos, dropout)
    data: dict[str, Any] = field(default_factory=dict)   # the task's training-data knobs (part of the model's identity)


class Task:
    """Base class of task adapters; subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]
    SCALES: ClassVar[dict[str, dict[str, Any]]]
    arm_orders: ClassVar[tuple[str, ...]] = ()
    """Training orders of the task's autoregressive baselines, run as samplers ``arm_<order>``."""
    eval_split: ClassVar[str] = "test"
    """The data split evaluated (caps ``n_eval`` when the preset's ``data`` sizes it)."""
    TRAIN_DATA_KEYS: ClassVar[tuple[str, ...]] = ("data", "augment", "train_reveal", "latents_shown")
    """Scale-preset keys that change what the model is trained on: recorded in ``Recipe.data``, so a change
    retrains instead of reusing a checkpoint."""

    vocab_size: int
    mask_id: int
    seq_len: int

    def __init__(self, variant: str, scale: str, data_dir: str | None = None):
        if scale not in self.SCALES:
            raise ValueError(f"unknown scale '{scale}' for task {self.name}; choose one of: {', '.join(self.SCALES)}")
        if not self.valid_variant(variant):
            raise ValueError(f"unknown variant '{variant}' for task {self.name}; "
                             f"choose one of: {', '.join(self.all_variants())}")
        self.variant = variant
        self.scale = scale
        self.data_dir = data_dir

    @classmethod
    def variants(cls, scale: str) -> list[str]:
        """Return the variants run by default at ``scale``."""
        return list(cls.SCALES[scale]["variants"])

    @classmethod
    def all_variants(cls) -> list[str]:
        """Return every variant the task knows."""
        return sorted({v for s in cls.SCALES.values() for v in s["variants"]})

    parse_variant = None
    """Optional ``staticmethod(parse)`` for tasks whose variants are a grammar (``9x9+K``, ``N<n>_P<p>``):
    ``parse(variant)`` raises ValueError for a name the task cannot build."""

    @classmethod
    def valid_variant(cls, variant: str) -> bool:
        """Return whether ``variant`` names a configuration this task can build (by ``parse_variant`` when the
        task has one, else by membership in :meth:`all_variants`)."""
        if cls.parse_variant is None:
            return variant in cls.all_variants()
        try:
            cls.parse_variant(variant)
        except ValueError:
            return False
        return True

    def recipe(self, objective: str = "mdm") -> Recipe:
        """Return the training and evaluation recipe of this variant at this scale ('mdm' or 'arm' model).

        The default reads ``SCALES[scale][objective]`` (keys model, train, n_eval, eval_batch_size, decode,
        optional model_kwargs), capping n_eval at the preset's ``data[eval_split]``."""
        preset = self.SCALES[self.scale]
        s = preset[objective]
        n_eval = min(s["n_eval"], preset.get("data", {}).get(self.eval_split, s["n_eval"]))
        return Recipe(model_preset=s["model"], objective=objective, train=dict(s["train"]), n_eval=n_eval,
                      eval_batch_size=s["eval_batch_size"], decode=dict(s["decode"]),
                      model=dict(s.get("model_kwargs", {})), data=self.train_data())

    def train_data(self) -> dict[str, Any]:
        """Return the scale preset's training-data knobs (see ``TRAIN_DATA_KEYS``)."""
        preset = self.SCALES[self.scale]
        return {k: preset[k] for k in self.TRAIN_DATA_KEYS if k in preset}

    def model_key(self) -> str:
        """Return the checkpoint key of the model this task evaluates (tasks sharing a model share a key)."""
        return f"{self.name}/{self.variant}"

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[np.ndarray, ...]:
        """Return (tokens [B,L] int64, maskable [B,L] bool) for training step ``step``, deterministic in its args;
        optionally a third array, a per-row masking-ratio floor [B] (see ``harness.training.trainer.mdm_loss``)."""
        raise NotImplementedError

    def examples(self, n: int) -> list[Example]:
        """Return the first ``n`` evaluation examples (the same list on every call)."""
        raise NotImplementedError

    def allowed(self) -> np.ndarray | None:
        """Return a bool mask [L,V] (or [V]) of token values each position may take, or None for any."""
        return None

    def score(self, example: Example, output: np.ndarray) -> Score:
        """Return the score of one decoded sequence ``output`` [L]."""
        raise NotImplementedError

    def render(self, tokens: np.ndarray) -> str:
        """Return a human-readable string of a token sequence (masks shown as '_')."""
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """Return facts about the data recorded in every results header (sizes, baselines)."""
        return {}

    # --- autoregressive baselines (only tasks with non-empty ``arm_orders``) ---
    def arm_layout(self) -> tuple[int, int]:
        """Return (vocab_size, seq_len) of the ARM sequences."""
        raise NotImplementedError(f"task {self.name} has no autoregressive baseline")

    def arm_train_batch(self, step: int, batch_size: int, seed: int, order: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (tokens [B,L] int64, loss_mask [B,L] bool) of ARM training step ``step`` in ``order``."""
        raise NotImplementedError(f"task {self.name} has no autoregressive baseline")

    def arm_prompt(self, example: Example) -> tuple[np.ndarray, int]:
        """Return (tokens [L] int64 whose first n are given, n) for ARM decoding of ``example``."""
        raise NotImplementedError(f"task {self.name} has no autoregressive baseline")

    def arm_score(self, example: Example, tokens: np.ndarray) -> Score:
        """Return the score of one ARM output sequence; illegal moves score as wrong, never raise."""
        raise NotImplementedError(f"task {self.name} has no autoregressive baseline")

    def arm_render(self, tokens: np.ndarray) -> str:
        """Return a human-readable string of an ARM token sequence."""
        return " ".join(str(int(t)) for t in tokens)

    def checks(self, n: int, seed: int) -> list[Check]:
        """Return learning checks run once per trained model and reported beside the tables."""
        return []

    def arm_checks(self, order: str, n: int) -> list[Check]:
        """Return the learning checks of the ARM trained in ``order``: one causal forward over evaluation
        sequences, where ``targets`` holds the token each position should predict next (``where``: the moves)."""
        return []

    def arm_sequences(self, order: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (ARM token sequences [n, L] of the first ``n`` evaluation examples in ``order``, loss mask)."""
        raise NotImplementedError(f"task {self.name} has no autoregressive baseline")

    def teacher_forced_check(self, order: str, n: int) -> Check:
        """Return the ARM check "next move token, teacher-forced": each move token of ``n`` evaluation
        sequences in ``order`` predicted from the true prefix (learned at 0.9)."""
        x, loss = self.arm_sequences(order, n)
        targets = np.zeros_like(x)
        targets[:, :-1] = x[:, 1:]
        where = np.zeros_like(loss)
        where[:, :-1] = loss[:, 1:]
        return Check("next_move_token_acc", x, targets, where, learned_at=0.9,
                     about=f"every move token of the evaluation puzzles in {order} order, from the true prefix")
