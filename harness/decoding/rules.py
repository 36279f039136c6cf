"""Unmasking rules published after the paper, on the same contract as the paper's three
(:mod:`harness.decoding.samplers`): a certainty function over a :class:`StepView`, plus, for rules that decide
how many positions a step reveals, a ``choose`` function. Each is one function (or two) and one ``register``
line; its knobs default to its paper's (or its released code's) values and are recorded in every results header.

=============  ==========  ============================================================================  ===========
name           selection   rule                                                                          source
=============  ==========  ============================================================================  ===========
``threshold``  adaptive    reveal every position whose confidence p(x̂_i) is >= ``tau`` (0.9)             Fast-dLLM
                                                                                                         2505.22618
``eb``         adaptive    lowest entropy first; reveal the longest prefix whose summed entropy minus     EB-sampler
                           its largest entropy is <= ``gamma`` nats (0.01)                               2505.24857
``klass``      adaptive    reveal positions with confidence > ``tau`` (0.9) whose last ``history`` (2)    KLASS
                           step-to-step KL(p_t || p_t-1) all lie below ``kappa`` (0.01)                  2511.05664
``pc``         top-k       exp(-``lam`` · i) · min(−p(x̂_i) · log f(x̂_i), ``alpha``): i the offset in the   PC-Sampler
                           block, f the task's token frequencies (``lam`` 0.25, ``alpha`` 10)            2508.13021
``dus``        adaptive    model-free dilated schedule: in a block of B positions, offsets 0 and B/2       DUS
                           first, then B/4 and 3B/4, ...; log2 B steps per block                         2506.19037
``p2``         remasking   rank every non-given position of the block, masked ones by log p(x̂), decoded   P2
                           ones by ``eta`` · log p(current token); keep the schedule's count unmasked      2502.03540
                           (revealing the masked ones among them), mask the other decoded ones again
``remdm``      remasking   ancestral coins with re-masking: a decoded token is masked again w.p. σ_t =    ReMDM
                           min(``eta``, (1−α_s)/α_t), a masked one revealed w.p. (α_s−(1−σ_t)α_t)/(1−α_t)  2503.00307
                           (linear α; "cap" schedule, η 0.008)
``remdm_       remasking   the same with the "rescale" schedule σ_t = ``eta`` · min(1, (1−α_s)/α_t)       ReMDM
rescale``                  (η 0.015, the released scripts' default)                                      2503.00307
=============  ==========  ============================================================================  ===========

Remasking rules (``p2``, ``remdm``) are NOT the paper's definition of decoding (a revealed token stays revealed
there, PAPER.md §3.3); they are here to be compared with it. ReMDM's "conf" and "loop" schedules are not built:
the sources readable here disagree on which probability conf weights by, and on how loop splits the steps.

Every adaptive rule reveals at least one position per step: the loop adds the row's most certain eligible
position where the rule picks none (:func:`harness.decoding.decoder.choose_adaptive`), as Fast-dLLM's top-1
and EB-sampler's clamp do (KLASS falls back to its step schedule's count: with one token per step, as its
released scripts run, that is the same one position). Where a paper left something open the choice is written
beside the rule. Thresholds and bounds (tau, gamma, kappa) are tested on the clean probabilities even at
temperature > 0 or with certainty noise configured (KLASS's and DUS's released code take them from
Gumbel-perturbed logits; we do not); noise changes only the order in which the loop ranks positions.
"""
from __future__ import annotations

import torch

from harness.decoding.samplers import (StepView, chosen_prob, entropy, neg_entropy, random_scores, register,
                                       select_topk)


# ------------------------------------------------------------------------------------------------ Fast-dLLM

def _above_threshold(v: StepView) -> torch.Tensor:
    """Positions whose clean confidence is >= tau (the released code drops a token only when conf < tau);
    certainty noise, where configured, orders the fallback only."""
    return v.eligible & (chosen_prob(v) >= v.knobs["tau"])


register("threshold", select="adaptive", choose=_above_threshold, knobs={"tau": 0.9}, in_paper=False,
         source="arXiv 2505.22618",
         summary="Fast-dLLM: reveal every position with confidence >= tau (at least one per step)")(chosen_prob)


# ------------------------------------------------------------------------------------------------ EB-sampler

def _entropy_bounded(v: StepView) -> torch.Tensor:
    """Sort eligible positions by score (lowest entropy first); keep the longest prefix whose entropies sum,
    less the prefix's largest entropy, to at most gamma nats (the sum minus the max never decreases along the
    prefix, so the kept set is a prefix). The ordering and the nats follow the two public re-implementations
    (PC-Sampler's and DUS's code agree); gamma 0.01 is PC-Sampler's setting for every task."""
    s = v.score.masked_fill(~v.eligible, float("-inf"))
    order = torch.sort(s, dim=-1, descending=True, stable=True).indices
    h = entropy(v.probs).gather(-1, order).masked_fill(~v.eligible.gather(-1, order), 0.0)
    bound = h.cumsum(-1) - h.cummax(-1).values
    keep_sorted = (bound <= v.knobs["gamma"]) & v.eligible.gather(-1, order)
    return torch.zeros_like(v.eligible).scatter(-1, order, keep_sorted)


register("eb", select="adaptive", choose=_entropy_bounded, knobs={"gamma": 0.01}, in_paper=False,
         source="arXiv 2505.24857", score_is_prob=False,
         summary="EB-sampler: lowest entropy first, while summed entropy minus the largest <= gamma")(neg_entropy)


# ------------------------------------------------------------------------------------------------ KLASS

def _kl_stable(v: StepView) -> torch.Tensor:
    """Reveal the confident and stable positions: conf > tau and each of the last ``history`` step-to-step
    KL(p_t || p_t-1) (full vocabulary, every position, every step) below kappa. The history starts at +inf,
    so no position is stable before it has been seen ``history`` times (the released code's zero-initialised
    p_prev has the same effect). It is not reset between blocks (nor is it in the released code)."""
    p = v.probs.double()
    hist_len = int(v.knobs["history"])
    prev = v.state.get("klass_prev")
    if prev is None:
        hist = torch.full((*p.shape[:-1], hist_len), float("inf"), dtype=torch.float64, device=p.device)
    else:
        kl = torch.where(p > 0, p * (p.clamp_min(1e-300).log() - prev.clamp_min(1e-300).log()), p.new_zeros(())).sum(-1)
        hist = torch.cat([v.state["klass_hist"][..., 1:], kl.unsqueeze(-1)], dim=-1)
    v.state["klass_prev"], v.state["klass_hist"] = p, hist
    stable = (hist < v.knobs["kappa"]).all(-1)
    return v.eligible & stable & (chosen_prob(v) > v.knobs["tau"])


register("klass", select="adaptive", choose=_kl_stable, knobs={"tau": 0.9, "kappa": 0.01, "history": 2},
         in_paper=False, source="arXiv 2511.05664",
         summary="KLASS: reveal confident (> tau) positions whose KL to the previous step stayed < kappa")(chosen_prob)


# ------------------------------------------------------------------------------------------------ PC-Sampler

def pc_score(v: StepView) -> torch.Tensor:
    """Return PC-Sampler's score exp(-lam·i) · min(−p(x̂)·log f(x̂), alpha) [B,L]: i the offset from the block's
    first position, f the token prior (the task's training-data frequencies; uniform 1/V when the decode call
    has none, which leaves position-weighted confidence). The released code's sign is used (its README's
    formula drops the minus); unseen tokens take the smallest frequency the prior holds."""
    conf = chosen_prob(v).double()
    V = v.probs.shape[-1]
    if v.token_prior is None:
        log_f = torch.full_like(conf, -float(torch.log(torch.tensor(float(V)))))
    else:
        prior = v.token_prior.double()
        floor = prior[prior > 0].min() if bool((prior > 0).any()) else torch.tensor(1.0 / V, dtype=torch.float64)
        log_f = prior.clamp_min(float(floor)).log()[v.chosen]
    calibrated = (-conf * log_f).clamp_max(v.knobs["alpha"])
    weight = torch.exp(-v.knobs["lam"] * (v.position.clamp_min(0) % v.block_size).double())
    return weight * calibrated


register("pc", knobs={"lam": 0.25, "alpha": 10.0}, in_paper=False, source="arXiv 2508.13021", score_is_prob=False,
         uses_prior=True,
         summary="PC-Sampler: position-decayed, frequency-calibrated confidence (k per step)")(pc_score)


# ------------------------------------------------------------------------------------------------ DUS

def _levels(offset: torch.Tensor, size: torch.Tensor, n_levels: int) -> torch.Tensor:
    level = torch.full_like(offset, n_levels)
    stride = size // 2
    for j in range(n_levels):                          # log2(block) strides, not a loop over tokens
        hit = (level == n_levels) & (offset % stride.clamp_min(1) == 0)
        level = torch.where(hit, torch.full_like(level, j), level)
        stride = stride // 2
    return level


def dilation_levels(offset: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Return each position's DUS level [B,L] from its ``offset`` in its block (>= 0) and the block ``size``
    [B,1]: the first of the strides size//2, size//4, ..., 1 that divides the offset. Levels are numbered in
    reveal order; when a full block's last level is smaller than the one before, it is merged into it (the
    released code's ``merge_last_level``). Blocks of 8: {0,4} {2,6} {1,3,5,7}."""
    size = size.clamp_min(1)
    n_levels = int(torch.ceil(torch.log2(size.max().double())).item()) + 1
    level = _levels(offset, size, n_levels)
    grid = torch.arange(int(size.max()), device=offset.device).expand(size.shape[0], -1)
    full = _levels(grid, size, n_levels).masked_fill(grid >= size, n_levels)
    counts = torch.stack([(full == j).sum(-1) for j in range(n_levels)], -1)     # [B, n_levels]
    used = (counts > 0).sum(-1, keepdim=True)                                     # levels 0..used-1 are used
    last, prev = used - 1, used - 2
    merge = (prev >= 0) & (counts.gather(-1, last) < counts.gather(-1, prev.clamp_min(0)))
    return torch.where(merge & (level == last), prev.expand_as(level), level)


def _dilated(v: StepView) -> torch.Tensor:
    """Reveal every eligible position of the lowest level still masked in its row (a level whose positions
    are all given is skipped, so a step is never spent on nothing)."""
    level = dilation_levels(v.position.clamp_min(0) % v.block_size, v.block_size)
    lv = level.masked_fill(~v.eligible, 1 << 30)
    return v.eligible & (level == lv.min(-1, keepdim=True).values)


def _dilation_priority(v: StepView) -> torch.Tensor:
    return -dilation_levels(v.position.clamp_min(0) % v.block_size, v.block_size).double()


register("dus", select="adaptive", choose=_dilated, in_paper=False, source="arXiv 2506.19037", score_is_prob=False,
         summary="DUS: model-free dilated schedule, log2(block) steps per block")(_dilation_priority)


# ------------------------------------------------------------------------------------------------ P2

def _p2_plan(v: StepView) -> tuple[torch.Tensor, torch.Tensor]:
    """P2 self-planning (the released ``p2_sampling``): one score for every non-given position of the block,
    log p(x̂) where masked and eta · log p(current token) where decoded; the ``keep`` highest stay or become
    unmasked, every other decoded position is masked again. The count kept is the loop's own cumulative
    schedule (P2's kappa(t) = t up to where the remainder of N / steps falls)."""
    logp = v.probs.double().clamp_min(1e-300).log()
    new = logp.gather(-1, v.chosen.unsqueeze(-1)).squeeze(-1)
    cur = logp.gather(-1, v.tokens.clamp(0, v.probs.shape[-1] - 1).unsqueeze(-1)).squeeze(-1)
    score = torch.where(v.decoded, v.knobs["eta"] * cur, new)
    kept = select_topk(score, v.eligible | v.decoded, v.keep)
    return kept & v.eligible, v.decoded & ~kept


register("p2", select="remasking", choose=_p2_plan, knobs={"eta": 1.0}, in_paper=False, source="arXiv 2502.03540",
         summary="P2 self-planner: keep the most likely tokens, mask the least likely decoded ones again")(chosen_prob)


# ------------------------------------------------------------------------------------------------ ReMDM

def _remdm_step(v: StepView, sigma_of) -> tuple[torch.Tensor, torch.Tensor]:
    """One ReMDM step on the linear α_t = j/S, α_s = (j+1)/S of the block's S steps, with σ_t =
    ``sigma_of(σ_max)`` (σ_max = (1 − α_s)/α_t, capped at 1): one coin per position decides (masked and decoded
    positions are disjoint), from the stream ``vanilla_ancestral`` uses, so σ = 0 is the paper's ancestral
    vanilla decoding coin for coin."""
    j, S = v.block_step, v.block_steps
    sigma = sigma_of(min(1.0, (S - j - 1) / j)) if j > 0 else 0.0
    p_reveal = min(1.0, max(0.0, ((j + 1) - (1.0 - sigma) * j) / (S - j)))  # (α_s − (1−σ)α_t) / (1 − α_t)
    return v.eligible & (v.coins < p_reveal), v.decoded & (v.coins < sigma)


def _remdm_cap(v: StepView) -> tuple[torch.Tensor, torch.Tensor]:
    """ReMDM's "cap" schedule: σ_t = min(eta, σ_max)."""
    return _remdm_step(v, lambda sigma_max: min(v.knobs["eta"], sigma_max))


def _remdm_rescale(v: StepView) -> tuple[torch.Tensor, torch.Tensor]:
    """ReMDM's "rescale" schedule: σ_t = eta · σ_max."""
    return _remdm_step(v, lambda sigma_max: v.knobs["eta"] * sigma_max)


register("remdm", select="remasking", choose=_remdm_cap, knobs={"eta": 0.008}, in_paper=False, random_order=True,
         source="arXiv 2503.00307",
         summary="ReMDM (cap): ancestral coins that also re-mask decoded tokens w.p. min(eta, (1-a_s)/a_t)")(
    random_scores)
register("remdm_rescale", select="remasking", choose=_remdm_rescale, knobs={"eta": 0.015}, in_paper=False,
         random_order=True, source="arXiv 2503.00307",
         summary="ReMDM (rescale): ancestral coins that also re-mask decoded tokens w.p. eta * (1-a_s)/a_t")(
    random_scores)
