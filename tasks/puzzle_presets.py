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


# ------------------------------------------------------------------------------------------------------
# The gpu scale: each puzzle table at (or near) the paper's regime in about one H100-hour, planned in FLOPs.
# ------------------------------------------------------------------------------------------------------
GPU_FLOPS_PER_S = 1.0e14
"""Sustained training throughput the ``gpu`` presets are planned with: about 10 % of an H100 SXM's dense bf16
peak (989 TFLOP/s), what models of 6-19M parameters on 81-410-token sequences can expect (thin matmuls, short
attention). Not measured: the GPU check (``benchmarks/gpu_check.sh``) times a training step of each preset;
divide a plan's FLOPs by its measured FLOP/s for the real hours."""

NON_EMBEDDING_PARAMS = {"0.2M": 205_120, "0.8M": 853_120, "3M": 2_877_888, "6M": 5_311_104, "19M": 18_880_896,
                        "42M": 42_477_120}
"""Non-embedding parameters N of the model presets (``harness.models.transformer.PRESETS``; a test keeps the
two equal), for the FLOPs convention C = 6 N D of ``harness.figure.flops``."""


def planned(preset: dict, seq_len: int, runs: int = 1) -> dict:
    """Return the planned training of a model preset (its ``model`` and ``train`` iters and batch size) at
    ``seq_len`` tokens per sequence, ``runs`` models of that recipe: its tokens and FLOPs 6 N tokens."""
    model, iters, batch_size = preset["model"], int(preset["train"]["iters"]), int(preset["train"]["batch_size"])
    tokens = iters * batch_size * int(seq_len) * int(runs)
    return {"model": model, "iters": iters, "batch_size": batch_size, "seq_len": int(seq_len),
            "runs": int(runs), "tokens": tokens, "flops": 6.0 * NON_EMBEDDING_PARAMS[model] * tokens}


def gpu_plan(paper_flops: float, **parts: dict) -> dict:
    """Return a gpu preset's plan: its trainings (from :func:`planned`), their FLOPs, the H100-hours at
    :data:`GPU_FLOPS_PER_S`, and the paper recipe's FLOPs and hours beside them."""
    flops = sum(p["flops"] for p in parts.values())
    return {"parts": parts, "flops": flops, "assumed_flops_per_s": GPU_FLOPS_PER_S,
            "h100_hours": round(flops / GPU_FLOPS_PER_S / 3600, 2), "paper_flops": paper_flops,
            "paper_h100_hours": round(paper_flops / GPU_FLOPS_PER_S / 3600, 1)}


def gpu_recipe(model: str, iters: int, batch_size: int, lr: float, dropout: float, n_eval: int,
               eval_batch_size: int, decode: dict) -> dict:
    """Return a gpu-scale model preset: learned positions, bf16 where it pays (``amp: auto``), cosine to lr/10
    after 1000 warm-up steps, checkpoints every 5000 iterations (resumable)."""
    return {"model": model, "model_kwargs": {"pos": "learned", "dropout": dropout},
            "train": {"iters": iters, "batch_size": batch_size, "lr": lr, "min_lr": lr / 10, "warmup": 1000,
                      "weight_decay": 0.0, "amp": "auto", "ckpt_every": 5000, "log_every": 500},
            "n_eval": n_eval, "eval_batch_size": eval_batch_size, "decode": dict(decode)}
