"""Preset pieces the puzzle tasks (Sudoku, Zebra) share, so the protocol is stated once."""
from __future__ import annotations

PAPER_DECODE = {"steps": 50, "temperature": 0.0, "gumbel": 0.5, "gumbel_schedule": "linear", "gumbel_space": "log"}
"""The paper's puzzle decoding: 50 steps, Gumbel 0.5 annealed linearly and added to log scores (Ye et al.'s
``stochastic0.5-linear``)."""

SMOKE_MDM = {"model": "0.2M", "model_kwargs": {"pos": "learned"},
             "train": {"iters": 30, "batch_size": 16, "lr": 3e-3, "warmup": 5, "ckpt_every": 0, "log_every": 10},
             "n_eval": 6, "eval_batch_size": 8, "decode": dict(PAPER_DECODE, steps=8)}
"""The smoke preset's MDM: seconds of training, enough to exercise the plumbing."""

SMOKE_ARM = {"model": "0.2M", "model_kwargs": {"pos": "learned"},
             "train": {"iters": 20, "batch_size": 8, "lr": 3e-3, "warmup": 5, "ckpt_every": 0, "log_every": 10},
             "n_eval": 4, "eval_batch_size": 8, "decode": {"temperature": 0.0}}
"""The smoke preset's ARM baselines."""


def ye_mdm(model: str, iters: int, eval_batch_size: int) -> dict:
    """Return the paper-scale MDM preset with Ye et al.'s recipe as the paper states it (lr 1e-3, batch 1024,
    dropout 0.1, learned positions; ``iters`` = 300 epochs of the task's train set), decoded the paper's way."""
    return {"model": model, "model_kwargs": {"pos": "learned", "dropout": 0.1},
            "train": {"iters": iters, "batch_size": 1024, "lr": 1e-3, "min_lr": 1e-4, "warmup": 2000,
                      "weight_decay": 0.0, "amp": "auto", "ckpt_every": 5000, "log_every": 500},
            "n_eval": 100_000, "eval_batch_size": eval_batch_size, "decode": dict(PAPER_DECODE)}


def shah_arm(iters: int) -> dict:
    """Return the paper-scale ARM preset with Shah et al.'s recipe: 42M, lr 2e-4 decaying to 0.2x, weight decay
    0.005, batch 64, dropout 0.2, ``iters`` steps (2^22 Sudoku, 2^21 Zebra), greedy decoding."""
    return {"model": "42M", "model_kwargs": {"pos": "learned", "dropout": 0.2},
            "train": {"iters": iters, "batch_size": 64, "lr": 2e-4, "min_lr": 4e-5, "warmup": 2000,
                      "weight_decay": 0.005, "amp": "auto", "ckpt_every": 20000, "log_every": 1000},
            "n_eval": 100_000, "eval_batch_size": 512, "decode": {"temperature": 0.0}}
