"""Left-to-right decoding for the autoregressive (ARM) baselines of the puzzle tables.

An ARM baseline is named ``arm_<order>`` in a sampler list (``arm_solver``, ``arm_fixed``): the order is
the sequence order the model was *trained* in, offered by the task (``Task.arm_orders``); decoding itself
is the same for every order. The loop knows nothing of tasks: it gets token ids whose first
``n_prompt[b]`` positions are given and writes every later position, one per forward pass, greedily at
temperature 0 (Shah et al.'s evaluation) or by Gumbel-max sampling from the same counter-based noise as
:mod:`harness.decoding.decoder` (batch-invariant). Rows with longer prompts keep their given tokens while shorter
rows are already generating, so a batch needs no padding.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.decoding import rng

ARM_PREFIX = "arm_"


def is_arm(name: str) -> bool:
    """Return whether a sampler-list entry names an ARM baseline (``arm_<order>``)."""
    return name.startswith(ARM_PREFIX)


def arm_order(name: str) -> str:
    """Return the training order named by an ARM baseline entry (``arm_solver`` -> ``solver``)."""
    return name[len(ARM_PREFIX):]


@dataclass
class CausalDecodeOutput:
    """Decoded tokens [B, L] and the number of forward passes."""

    tokens: torch.Tensor
    nfe: int


@torch.no_grad()
def decode_causal(model, x: torch.Tensor, n_prompt: torch.Tensor, temperature: float = 0.0,
                  seeds: torch.Tensor | None = None, allowed: torch.Tensor | None = None) -> CausalDecodeOutput:
    """Return ``x`` [B, L] with every position at or after ``n_prompt[b]`` generated left to right.

    ``model(x[:, :t])`` must return logits [B, t, V] of a causal model; position t is predicted from the
    logits at t - 1. A model with ``new_kv_cache()`` (ours) is run incrementally with a key/value cache,
    one token per forward pass; any other model recomputes the prefix each step. ``allowed`` [L, V] (or [V]) bool restricts the values of each position (None: any).
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (got {temperature})")
    x = x.clone()
    B, L = x.shape
    n_prompt = n_prompt.to(x.device)
    start = int(n_prompt.min().item())
    if start < 1:
        raise ValueError("causal decoding needs at least one given token per row (n_prompt >= 1)")
    if seeds is None:
        seeds = rng.example_seeds(0, range(B))
    seeds = seeds.to(x.device)
    nfe = 0
    cache = model.new_kv_cache() if hasattr(model, "new_kv_cache") else None
    for t in range(start, L):
        if cache is None:
            out = model(x[:, :t])                                   # recompute the whole prefix
        elif t == start:
            out = model(x[:, :t], kv_cache=cache)                   # prefill the cache with the prompt
        else:
            out = model(x[:, t - 1:t], kv_cache=cache, start=t - 1)  # one new token per step
        logits = (out.logits if hasattr(out, "logits") else out)[:, -1].float()
        nfe += 1
        if allowed is not None:
            ok = allowed[t] if allowed.dim() == 2 else allowed
            logits = logits.masked_fill(~ok.to(x.device), float("-inf"))
        if temperature == 0:
            nxt = logits.argmax(-1)
        else:
            g = rng.gumbel(seeds, rng.STREAM_TOKEN, t, (logits.shape[-1],))
            nxt = (logits.double() / temperature + g).argmax(-1)
        x[:, t] = torch.where(t >= n_prompt, nxt, x[:, t])
    return CausalDecodeOutput(tokens=x, nfe=nfe)
