"""Text decoding on top of the one decoding loop: MDM-native infilling, semi-autoregressive generation, and
the Monte-Carlo log-likelihood LLaDA reports.

Both decoding modes build token rows with the mask id where text is missing and hand them to
:func:`harness.decoding.decoder.decode`; only the initial mask and the block schedule differ:

* **infill**: prefix + n masks + suffix, all decoded at once (one block), n = the reference length;
* **generate**: prompt + ``gen_length`` masks, decoded in blocks of ``block_length`` from the left
  (LLaDA's ``generate()``).

Rows are decoded in buckets of equal length and equal block count (and, under the prefix cache, equal start
of the masked span), never padded: padding changes a row's
logits for models that number positions from 0 or add a bias for masked keys (LLaDA), and even for ours it
changes the rounding of attention, which can flip a sampled token. With per-example noise
(``noise="example"``) every row's tokens are then exactly what it decodes alone, whatever its batch.
:func:`pack` (left padding with an attention mask) remains for callers that want LLaDA's padded batches.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.decoding import rng
from harness.decoding.decoder import DecodeConfig, blocks_needed, decode


@dataclass
class TextOut:
    """One decoded row: the ids written at the masked positions, their reveal steps, forward passes."""

    ids: list[int]
    order: list[int]
    nfe: int
    masks_left: int


def pack(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (ids [B, Lmax] left-padded with ``pad_id``, attention mask [B, Lmax] with 0 on padding)."""
    width = max(len(r) for r in rows)
    x = torch.full((len(rows), width), pad_id, dtype=torch.long)
    am = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            x[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
            am[i, width - len(r):] = 1
    return x, am


def decode_rows(tm, rows: list[list[int]], sampler: str, cfg: DecodeConfig, seeds: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> list[TextOut]:
    """Return one :class:`TextOut` per row: every ``tm.mask_id`` in the row decoded with ``sampler``."""
    if seeds is None:
        seeds = rng.example_seeds(0, range(len(rows)))
    groups: dict[tuple[int, int, int], list[int]] = {}
    for i, r in enumerate(rows):   # equal length and block count: no padding, so no row sees its neighbours
        masked = torch.tensor([[t == tm.mask_id for t in r]], dtype=torch.bool)
        # the prefix cache is one per batch: rows also share where their masked span starts
        first = next((k for k, t in enumerate(r) if t == tm.mask_id), len(r)) if cfg.cache != "none" else 0
        groups.setdefault((len(r), int(blocks_needed(masked, cfg.block_length)[0]), first), []).append(i)
    out: list[TextOut | None] = [None] * len(rows)
    for idx in groups.values():
        x = torch.tensor([rows[i] for i in idx], dtype=torch.long, device=tm.device)
        res = decode(tm.model, x, tm.mask_id, sampler, cfg, seeds=seeds[idx].to(tm.device), generator=generator,
                     eos_ids=tm.eos_ids, eot_ids=tm.eot_ids)
        masked = (x == tm.mask_id).cpu()
        tokens, order = res.tokens.cpu(), res.order.cpu()
        for row, i in enumerate(idx):
            where = masked[row]
            ids = tokens[row][where].tolist()
            out[i] = TextOut(ids=ids, order=order[row][where].tolist(), nfe=int(res.nfe_row[row]),
                             masks_left=sum(t == tm.mask_id for t in ids))
    return out  # type: ignore[return-value]


def infill_rows(tm, prefixes: list[list[int]], suffixes: list[list[int]], lengths: list[int]) -> list[list[int]]:
    """Return the rows prefix + ``n`` mask ids + suffix for each example."""
    if any(n < 1 for n in lengths):
        raise ValueError("every infill span needs at least one masked token")
    return [p + [tm.mask_id] * n + s for p, s, n in zip(prefixes, suffixes, lengths)]


def generation_rows(tm, prompts: list[list[int]], gen_length: int) -> list[list[int]]:
    """Return the rows prompt + ``gen_length`` mask ids."""
    if gen_length < 1:
        raise ValueError(f"gen_length must be >= 1 (got {gen_length})")
    return [p + [tm.mask_id] * gen_length for p in prompts]


def cut_at_stop(ids: list[int], stop_ids) -> list[int]:
    """Return ``ids`` up to (not including) the first stop id."""
    stop = set(stop_ids)
    for k, t in enumerate(ids):
        if t in stop:
            return ids[:k]
    return ids


def content_tokens(ids: list[int], tm) -> int:
    """Return how many of ``ids`` are content: not EOS/EOT, padding or a leftover mask."""
    skip = set(tm.stop_ids()) | {tm.pad_id, tm.mask_id}
    return sum(1 for t in ids if t not in skip)


@torch.no_grad()
def masked_logprobs(tm, context: list[int], cfg_scale: float = 0.0) -> torch.Tensor:
    """Return log p(x | context) [V] at one masked position after ``context``: one forward (two with CFG).

    This is the exact likelihood of any one-token continuation (the ELBO of one masked token has no
    randomness), so every candidate token is scored by the same forward."""
    x = torch.tensor([list(context) + [tm.mask_id]], dtype=torch.long, device=tm.device)
    logits = tm(x)[0, -1]
    if cfg_scale > 0:
        un = torch.full_like(x, tm.mask_id)
        uncond = tm(un)[0, -1]
        logits = uncond + (cfg_scale + 1) * (logits - uncond)
    return torch.log_softmax(logits.float(), -1).cpu()


@torch.no_grad()
def mc_loglikelihood(tm, context: list[int], continuation: list[int], mc_num: int = 128, batch_size: int = 32,
                     cfg_scale: float = 0.0, seed: int = 0) -> float:
    """Return the Monte-Carlo ELBO estimate of log p(continuation | context) (LLaDA's estimator).

    Each sample masks k of the n continuation tokens, k stratified over the batch as in LLaDA's
    ``get_log_likelihood``, and scores (n / k) · Σ log p(x_i | masked sequence) over the masked tokens; the
    estimate is the mean over ``mc_num`` samples. ``cfg_scale`` > 0 applies LLaDA's classifier-free
    guidance (context masked for the unconditional pass)."""
    n = len(continuation)
    if n == 0:
        return 0.0
    if n == 1:  # every sample masks the one token: the estimate is exact, one forward gives it
        return float(masked_logprobs(tm, context, cfg_scale)[continuation[0]])
    if mc_num % batch_size:
        raise ValueError(f"mc_num ({mc_num}) must be a multiple of batch_size ({batch_size})")
    g = torch.Generator().manual_seed(int(seed) & 0x7FFFFFFFFFFFFFFF)
    seq = torch.tensor(context + continuation, dtype=torch.long)
    target = seq[len(context):]
    total = 0.0
    for _ in range(mc_num // batch_size):
        k0 = int(torch.randint(1, n + 1, (), generator=g))
        ks = torch.round(torch.linspace(float(k0), k0 + (batch_size - 1) * (n / batch_size), batch_size)).long()
        ks = ((ks - 1) % n) + 1
        ranks = torch.stack([torch.randperm(n, generator=g) for _ in range(batch_size)])
        is_mask = ranks < ks.unsqueeze(1)
        x = seq.repeat(batch_size, 1)
        x[:, len(context):] = torch.where(is_mask, torch.full_like(is_mask, tm.mask_id, dtype=torch.long),
                                          target.expand(batch_size, n))
        x = x.to(tm.device)
        logits = tm(x)
        if cfg_scale > 0:
            un = x.clone()
            un[:, :len(context)] = tm.mask_id
            uncond = tm(un)
            logits = uncond + (cfg_scale + 1) * (logits - uncond)
        logp = torch.log_softmax(logits[:, len(context):].float(), dim=-1).cpu()
        tok = logp.gather(-1, target.expand(batch_size, n).unsqueeze(-1)).squeeze(-1)
        per_sample = (tok * is_mask).sum(-1) * (n / ks.double())
        total += float(per_sample.sum())
    return total / mc_num


@torch.no_grad()
def greedy_matches(tm, context: list[int], continuation: list[int]) -> bool:
    """Return whether one forward with the continuation fully masked predicts every continuation token."""
    x = torch.tensor([context + [tm.mask_id] * len(continuation)], dtype=torch.long, device=tm.device)
    pred = tm(x)[0, len(context):].argmax(-1).cpu().tolist()
    return pred == list(continuation)
