"""What every task adapter provides: examples, model inputs, training data and a scorer.

A task knows its data and its scoring. It never learns which sampler, model or runner uses it: it hands
out token ids (numpy) and reads token ids back. Scale presets are plain data on the task class
(``SCALES``), chosen by name, so running at another scale is never a code change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


@dataclass
class Example:
    """One evaluation item: ``prompt`` holds token ids with the task's mask id at the positions to fill."""

    id: str
    prompt: np.ndarray                 # [L] int64, mask id where the model must fill in
    target: np.ndarray | None = None   # [L] reference sequence when one exists
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Score:
    """A scored output: ``score`` is the table's metric in [0, 1]; ``correct`` is whole-example success."""

    score: float
    correct: bool
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Check:
    """A learning check: one forward pass on ``prompts``; argmax accuracy against ``targets`` where ``where``."""

    name: str
    prompts: np.ndarray   # [n, L]
    targets: np.ndarray   # [n, L]
    where: np.ndarray     # [n, L] bool: positions that count


@dataclass
class Recipe:
    """How to train and evaluate one task variant at one scale (all plain values, recorded in results)."""

    model_preset: str
    objective: str            # "mdm" | "arm"
    train: dict[str, Any]     # TrainConfig fields
    n_eval: int
    eval_batch_size: int
    decode: dict[str, Any]    # DecodeConfig fields


class Task:
    """Base class of task adapters; subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]
    SCALES: ClassVar[dict[str, dict[str, Any]]]

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

    @classmethod
    def valid_variant(cls, variant: str) -> bool:
        """Return whether ``variant`` names a configuration this task can build."""
        return variant in cls.all_variants()

    def recipe(self) -> Recipe:
        """Return the training and evaluation recipe of this variant at this scale."""
        raise NotImplementedError

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (tokens [B,L] int64, maskable [B,L] bool) for training step ``step``, deterministic in its args."""
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

    def checks(self, n: int, seed: int) -> list[Check]:
        """Return learning checks run once per trained model and reported beside the tables."""
        return []
