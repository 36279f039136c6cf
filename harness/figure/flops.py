"""Compute accounting of the IsoFLOP sweep (PAPER.md 2, Figure 2 left; App. C.1).

The convention is Kaplan et al.'s / Chinchilla's (Hoffmann et al. 2022), which the paper's IsoFLOP analysis
and SMDM's ``pretrain/train_mdm.py`` use: training costs ``C = 6 * N * D`` FLOPs for ``N`` non-embedding
parameters and ``D`` training tokens (2 N per token forward, 4 N backward). Attention-score FLOPs
(``~ 12 * n_layer * L * d`` per token) and the embedding / output-head matmuls are ignored, as there.
So for a budget ``C`` a model of ``N`` parameters trains on ``C / (6 N)`` tokens.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

from harness.models.transformer import ModelConfig


def non_embedding_params(cfg: ModelConfig) -> int:
    """Return the non-embedding parameter count of a :class:`~harness.models.transformer.Transformer` with
    this config: per block 4 d^2 (q, k, v, out) + 3 d d_ff (SwiGLU) + 2 d (norm gains), plus the final norm.
    The token embedding, the learned position (and factor) embeddings and the output head are excluded,
    as in ``Transformer.num_params(non_embedding=True)``."""
    d = cfg.d_model
    return cfg.n_layer * (4 * d * d + 3 * d * cfg.d_ff + 2 * d) + d


def training_flops(n_params: int, tokens: int) -> float:
    """Return the training compute 6 * N * tokens (FLOPs) of ``tokens`` training tokens at ``N`` parameters."""
    return 6.0 * float(n_params) * float(tokens)


@dataclass(frozen=True)
class PlannedRun:
    """One training run of an IsoFLOP sweep: a model size trained for one compute budget."""

    budget: float         # the nominal compute budget C (FLOPs)
    size: str             # model size name
    n_params: int         # non-embedding parameters N
    iters: int            # optimiser steps: round(C / (6 N tokens_per_iter))
    tokens: int           # training tokens actually seen: iters * tokens_per_iter
    flops: float          # actual compute: 6 N tokens (differs from C by the rounding of iters)

    def to_dict(self) -> dict:
        """Return the run as a plain dict."""
        return asdict(self)


def isoflop_plan(budgets, sizes: Mapping[str, int], tokens_per_iter: int, min_iters: int = 1,
                 max_tokens_per_param: float | None = None) -> tuple[list[PlannedRun], list[dict]]:
    """Return (runs, skipped) of an IsoFLOP sweep.

    For every budget C (ascending) and size (name -> non-embedding N), the run trains for
    ``iters = round(C / (6 N tokens_per_iter))`` steps of ``tokens_per_iter`` tokens, i.e. about C / (6N)
    tokens; its actual compute is ``6 N iters tokens_per_iter``. Pairs whose ``iters`` fall below
    ``min_iters`` (a model too large for the budget to train meaningfully), or that would see more than
    ``max_tokens_per_param`` tokens per parameter (a model far too small for the budget, whose loss cannot be
    the minimum over sizes; None: no limit), are left out and listed in ``skipped`` as
    ``{"budget", "size", "n_params", "iters", "reason"}``."""
    if tokens_per_iter < 1:
        raise ValueError(f"tokens_per_iter must be >= 1, got {tokens_per_iter}")
    if not sizes:
        raise ValueError("an IsoFLOP plan needs at least one model size")
    runs, skipped = [], []
    for budget in sorted(float(b) for b in budgets):
        if budget <= 0:
            raise ValueError(f"compute budgets must be positive, got {budget:g}")
        for size, n in sizes.items():
            if n < 1:
                raise ValueError(f"size {size!r} has {n} non-embedding parameters; need >= 1")
            iters = int(round(budget / (6.0 * n * tokens_per_iter)))
            tokens = iters * tokens_per_iter
            reason = ("min_iters" if iters < min_iters else "max_tokens_per_param"
                      if max_tokens_per_param is not None and tokens > max_tokens_per_param * n else None)
            if reason:
                skipped.append({"budget": budget, "size": size, "n_params": int(n), "iters": iters, "reason": reason})
                continue
            runs.append(PlannedRun(budget=budget, size=size, n_params=int(n), iters=iters, tokens=tokens,
                                   flops=training_flops(n, tokens)))
    return runs, skipped
