"""The pi-ordered likelihood of a masked diffusion model (paper Eq. 3, App. C.2.2).

For a sequence x of length L and an order pi (a permutation of the positions), the MDM defines

    log p_pi(x) = sum_{i=0}^{L-1} log p_theta( x[pi(i)] | x with positions pi(i), ..., pi(L-1) masked )

that is: reveal the positions one at a time in the order pi(0), pi(1), ..., each predicted from every
position revealed before it. pi = identity is left-to-right decoding (what an ARM learns); a uniformly random
pi is one of the L! orders the MDM's training objective averages over. The paper's inline table in Figure 2
scores a 170M MDM this way for pi = identity, "closer" and uniform (3.171 / 3.212 / 3.245 nats per token).

The computation is exact: L forwards per sequence, one per step, batched across sequences and steps. Only
the target position's logits are used at each step. The mask token is never a value (its logit is dropped
before the softmax, as MDM training never targets it); ``allowed`` restricts the values further.
"""
from __future__ import annotations

from typing import Callable

import torch

LogitsFn = Callable[[torch.Tensor], torch.Tensor]


def inverse_permutation(perms: torch.Tensor) -> torch.Tensor:
    """Return rank [B, L] with rank[b, perms[b, i]] = i (the step at which each position is revealed)."""
    rank = torch.empty_like(perms)
    steps = torch.arange(perms.shape[-1], device=perms.device).expand_as(perms)
    rank.scatter_(-1, perms, steps)
    return rank


def check_permutations(perms: torch.Tensor, length: int) -> None:
    """Raise a one-line ValueError unless every row of ``perms`` is a permutation of 0..length-1."""
    if perms.dim() != 2 or perms.shape[-1] != length:
        raise ValueError(f"orders must have shape [B, {length}], got {tuple(perms.shape)}")
    ok = torch.equal(perms.sort(-1).values, torch.arange(length, device=perms.device).expand_as(perms))
    if not ok:
        raise ValueError("every order must be a permutation of the positions 0..L-1")


def step_inputs(x: torch.Tensor, rank: torch.Tensor, rows_b: torch.Tensor, rows_i: torch.Tensor,
                mask_id: int) -> torch.Tensor:
    """Return the model inputs [R, L] of steps ``rows_i`` of sequences ``rows_b``: positions revealed at step
    >= i are masked (so the target pi(i) is masked and everything revealed before it is visible)."""
    hide = rank[rows_b] >= rows_i.unsqueeze(-1)
    return torch.where(hide, torch.full_like(x[rows_b], mask_id), x[rows_b])


@torch.no_grad()
def pi_ordered_logprobs(model: LogitsFn, x: torch.Tensor, perms: torch.Tensor, mask_id: int,
                        allowed: torch.Tensor | None = None, max_elements: int = 1 << 25,
                        progress: Callable[[int], None] | None = None) -> torch.Tensor:
    """Return float64 [B, L]: entry [b, i] = log p(x[b, pi_b(i)] | x[b] with pi_b(i..L-1) masked).

    ``model(ids [R, L])`` returns logits [R, L, V] (or an object with ``.logits``). ``perms`` [B, L] holds one
    order per sequence. The row sum is log p_pi(x). Forwards are batched over (sequence, step) pairs so that
    a chunk's logits hold at most ``max_elements`` numbers; ``progress(n)`` is called with the rows done."""
    B, L = x.shape
    perms = perms.to(x.device)
    check_permutations(perms, L)
    if bool((x == mask_id).any()):
        raise ValueError("the sequences to score contain the mask token; pass clean text")
    rank = inverse_permutation(perms)
    rows_b = torch.arange(B, device=x.device).repeat_interleave(L)
    rows_i = torch.arange(L, device=x.device).repeat(B)
    out = torch.empty(B * L, dtype=torch.float64, device=x.device)
    vocab = None
    chunk = None
    start = 0
    while start < B * L:
        if chunk is None:  # learn V from a first forward of one row, then size the chunks
            chunk = 1
        rb, ri = rows_b[start:start + chunk], rows_i[start:start + chunk]
        logits = model(step_inputs(x, rank, rb, ri, mask_id))
        logits = logits.logits if hasattr(logits, "logits") else logits
        target = perms[rb, ri]
        rows = torch.arange(len(rb), device=x.device)
        step_logits = logits[rows, target].double()  # [R, V]
        if vocab is None:
            vocab = step_logits.shape[-1]
            ok = torch.ones(vocab, dtype=torch.bool, device=x.device)
            if 0 <= mask_id < vocab:
                ok[mask_id] = False
            if allowed is not None:
                ok &= allowed.to(x.device)
        step_logits = step_logits.masked_fill(~ok, float("-inf"))
        lp = torch.log_softmax(step_logits, -1)
        out[start:start + len(rb)] = lp[rows, x[rb, target]]
        start += len(rb)
        if progress is not None:
            progress(len(rb))
        chunk = max(1, max_elements // (L * vocab))
    return out.view(B, L)


def step_profile(logprobs: torch.Tensor, buckets: int) -> list[float]:
    """Return the mean negative log-probability per step bucket (steps cut into ``buckets`` equal groups,
    first revealed first) of one sequence's [L] step log-probs: how hard the early and late steps are."""
    L = logprobs.shape[-1]
    edges = torch.linspace(0, L, buckets + 1).round().long().tolist()
    return [float(-logprobs[a:b].mean()) if b > a else float("nan") for a, b in zip(edges[:-1], edges[1:])]
