"""Scoring of generated text: generative perplexity under an autoregressive judge, and unigram entropy.

Pure scoring, no figure logic (Figure 3 lives in :mod:`harness.figure.genppl`).

**Which tokens the judge scores** (:func:`judge_nll`). Each text is re-tokenised with the judge's own
tokenizer without special tokens, giving ids ``y_1..y_n``. When the tokenizer has a BOS token (Llama,
ours) the judge reads ``BOS y_1 .. y_n`` and every ``y_i`` is scored, the first one as ``-log q(y_1 | BOS)``:
n scored tokens, BOS itself never. A tokenizer without BOS (GPT-2 style with no ``bos_token``) cannot
predict ``y_1`` from nothing, so ``y_1`` is context only and ``y_2..y_n`` are scored (n - 1 tokens). A
sequence longer than the judge's context ``max_len`` is scored in sliding windows of ``max_len`` tokens
advancing by ``max_len // 2``: every token is scored exactly once, by the first window that has it past
its overlap, with at least ``max_len // 2`` tokens of left context except in the first window (later
windows do not start with BOS: they are continuations, as in the usual strided perplexity).

**GenPPL** (:func:`gen_ppl`) = exp(total NLL / total scored tokens) over all samples: the perplexity of
the samples as one corpus, each token weighing the same (what MDLM / SEDD-style evaluations report via a
token-accumulating perplexity metric). The mean over samples of exp(per-sample mean NLL) is the other
common choice; by Jensen it is never smaller, and one degenerate sample can dominate it, so we use the
pooled one and keep the per-sample sums in the records for anyone who wants the other.

**Unigram entropy** (:func:`unigram_entropy`) of one sample = -sum_i p_i log p_i (nats), p_i = the
frequency of token i among the sample's L tokens (the paper's formula, App. D.1.2, with the minus sign
it drops). It is computed on the token ids of the generating model, not the judge's.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from harness.models.text import context_length


def unigram_entropies(ids: torch.Tensor) -> torch.Tensor:
    """Return the unigram entropy (nats) of every row of ``ids`` [B, L] as a float64 tensor [B]."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    if ids.dim() != 2 or ids.shape[1] == 0:
        raise ValueError(f"expected token ids of shape [batch, length>0], got {tuple(ids.shape)}")
    if int(ids.min()) < 0:
        raise ValueError("token ids must be non-negative")
    B, L = ids.shape
    counts = torch.zeros(B, int(ids.max()) + 1, dtype=torch.float64, device=ids.device)
    counts.scatter_add_(1, ids, torch.ones(B, L, dtype=torch.float64, device=ids.device))
    p = counts / L
    return -(p * torch.where(p > 0, p.log(), torch.zeros_like(p))).sum(-1)


def unigram_entropy(ids: Sequence[int] | torch.Tensor) -> float:
    """Return the unigram entropy (nats) of one sample's token ids: -sum_i p_i log p_i, p_i = count_i / L."""
    row = torch.as_tensor(ids, dtype=torch.long).reshape(1, -1)
    return float(unigram_entropies(row)[0])


def score_windows(n_ids: int, max_len: int, has_bos: bool) -> list[tuple[int, int, int]]:
    """Return the windows that score one sequence: (start, end, first scored position) over the judge input
    ``[BOS] + ids`` (positions 0..n_ids with BOS, 0..n_ids-1 without); positions [first, end) are scored."""
    if max_len < 2:
        raise ValueError(f"the judge's context must be at least 2 tokens (got {max_len})")
    total = n_ids + int(has_bos)
    if total <= 1:
        return []
    stride = max_len // 2
    windows, end, scored_to = [], min(total, max_len), 1
    while True:
        start = max(0, end - max_len)
        windows.append((start, end, scored_to))
        if end >= total:
            return windows
        scored_to, end = end, min(total, end + stride)


@torch.no_grad()
def judge_nll(judge_model, judge_tokenizer, texts: Sequence[str], batch_size: int = 8,
              max_len: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (NLL sum in nats per text, scored token count per text), both arrays of len(texts).

    ``judge_model(input_ids, attention_mask=...)`` must return next-token logits (``.logits`` or a tensor);
    see the module docstring for exactly which tokens are scored. Windows of all texts are batched
    together (right-padded, padding never scored); log-softmax is taken in float32."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 (got {batch_size})")
    max_len = int(max_len or context_length(judge_model, default=4096))
    bos = getattr(judge_tokenizer, "bos_token_id", None)
    pad = next((v for v in (getattr(judge_tokenizer, "pad_token_id", None),
                            getattr(judge_tokenizer, "eos_token_id", None)) if v is not None), 0)
    device = next(judge_model.parameters()).device
    # every window: (text index, token ids, number of leading context-only tokens)
    work: list[tuple[int, list[int], int]] = []
    for t, text in enumerate(texts):
        ids = list(judge_tokenizer(text, add_special_tokens=False)["input_ids"])
        seq = ([bos] if bos is not None else []) + ids
        for start, end, first in score_windows(len(ids), max_len, bos is not None):
            work.append((t, seq[start:end], first - start))
    nll = np.zeros(len(texts), dtype=np.float64)
    count = np.zeros(len(texts), dtype=np.int64)
    work.sort(key=lambda w: -len(w[1]))  # similar lengths together: less padding
    for i in range(0, len(work), batch_size):
        chunk = work[i:i + batch_size]
        width = len(chunk[0][1])
        x = torch.full((len(chunk), width), pad, dtype=torch.long)
        am = torch.zeros((len(chunk), width), dtype=torch.long)
        scored = torch.zeros((len(chunk), width), dtype=torch.bool)
        for r, (_, seq, skip) in enumerate(chunk):
            x[r, :len(seq)] = torch.tensor(seq, dtype=torch.long)
            am[r, :len(seq)] = 1
            scored[r, max(1, skip):len(seq)] = True
        out = judge_model(x.to(device), attention_mask=am.to(device))
        logits = (out.logits if hasattr(out, "logits") else out)[:, :-1].float()
        logp = torch.log_softmax(logits, dim=-1).gather(-1, x[:, 1:].to(device).unsqueeze(-1)).squeeze(-1)
        per_row = -(logp.double() * scored[:, 1:].to(device)).sum(-1).cpu().numpy()
        n_row = scored[:, 1:].sum(-1).numpy()
        for r, (t, _, _) in enumerate(chunk):
            nll[t] += per_row[r]
            count[t] += int(n_row[r])
    return nll, count


def gen_ppl(nll_sums: Sequence[float], counts: Sequence[int]) -> float:
    """Return the generative perplexity exp(sum of NLL / sum of scored tokens) (NaN when nothing was scored)."""
    total = float(np.sum(np.asarray(counts, dtype=np.float64)))
    if total <= 0:
        return math.nan
    return math.exp(float(np.sum(np.asarray(nll_sums, dtype=np.float64))) / total)
