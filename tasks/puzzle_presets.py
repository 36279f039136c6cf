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
