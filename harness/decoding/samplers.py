"""The samplers: rules for *which* masked positions to reveal next (PAPER.md §3.1).

A sampler sees a batch of probabilities and never learns which task or model produced them. Each one is a
certainty score per position plus a selection rule, registered by name so a sweep is a list of strings:

=====================  =========  ==========================================================================
name                   selection  certainty of position i (higher = revealed earlier)
=====================  =========  ==========================================================================
``vanilla``            top-k      a uniform random number: random order, k positions per step (LLaDA ``random``)
``vanilla_ancestral``  Bernoulli  none: each masked position is revealed with probability (α_s−α_t)/(1−α_t),
                                  which is 1/(steps left) under the linear schedule (paper §2, Dream ``origin``)
``top_prob``           top-k      max_j p(x_i = j)                       (paper "Top probability", Zheng et al.)
``margin``             top-k      p(x_i = j1) − p(x_i = j2), top-2 values  (paper "Top probability margin")
``entropy``            top-k      −H(p(x_i)) = Σ_j p_j log p_j           (lowest entropy first)
``confidence``         top-k      p(x_i = the token actually written)      (LLaDA ``low_confidence``; equals
                                                                          ``top_prob`` at temperature 0)
=====================  =========  ==========================================================================

Top-k selection takes, per example, the k eligible positions with the highest score (k from the step
schedule in :mod:`harness.decoding.decoder`); ties go to the lower position index. Scores are float32 or float64,
whatever the probabilities are; the decoder computes them in float32 at least.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

# certainty(probs [B,L,V], chosen [B,L], order_uniform [B,L]) -> scores [B,L]
CertaintyFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Sampler:
    """A registered decoding-order rule: ``select`` is "topk" or "bernoulli"; ``certainty`` scores positions."""

    name: str
    select: str
    certainty: CertaintyFn | None
    summary: str
    in_paper: bool
    random_order: bool = False  # True when the score is pure noise (needs the order noise stream)
    score_is_prob: bool = True  # the score lies in [0, 1] (its log is taken for gumbel_space="log")


SAMPLERS: dict[str, Sampler] = {}


def register(name: str, select: str = "topk", summary: str = "", in_paper: bool = True,
             random_order: bool = False, score_is_prob: bool = True):
    """Return a decorator that registers a certainty function as sampler ``name``."""
    def wrap(fn: CertaintyFn | None):
        SAMPLERS[name] = Sampler(name, select, fn, summary, in_paper, random_order, score_is_prob)
        return fn
    return wrap


def get_sampler(name: str) -> Sampler:
    """Return the sampler registered as ``name``; unknown names raise a one-line ValueError."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler '{name}'; choose one of: {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


@register("vanilla", summary="random order, k per step (LLaDA 'random')", random_order=True)
def _random_scores(probs: torch.Tensor, chosen: torch.Tensor, order_u: torch.Tensor) -> torch.Tensor:
    return order_u


register("vanilla_ancestral", select="bernoulli",
         summary="random order, each masked position revealed w.p. 1/(steps left) (paper §2)")(None)


@register("top_prob", summary="highest max-probability first (paper 'Top probability')")
def top_prob(probs: torch.Tensor, chosen: torch.Tensor, order_u: torch.Tensor) -> torch.Tensor:
    return probs.max(dim=-1).values


@register("margin", summary="largest top-1 minus top-2 probability first (paper 'Top probability margin')")
def margin(probs: torch.Tensor, chosen: torch.Tensor, order_u: torch.Tensor) -> torch.Tensor:
    top2 = probs.topk(2, dim=-1).values
    return top2[..., 0] - top2[..., 1]


@register("entropy", in_paper=False, summary="lowest entropy first", score_is_prob=False)
def neg_entropy(probs: torch.Tensor, chosen: torch.Tensor, order_u: torch.Tensor) -> torch.Tensor:
    return torch.where(probs > 0, probs * probs.clamp_min(1e-45).log(), torch.zeros_like(probs)).sum(-1)


@register("confidence", in_paper=False, summary="probability of the written token first (LLaDA 'low_confidence')")
def chosen_prob(probs: torch.Tensor, chosen: torch.Tensor, order_u: torch.Tensor) -> torch.Tensor:
    return probs.gather(-1, chosen.unsqueeze(-1)).squeeze(-1)


def select_topk(scores: torch.Tensor, eligible: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Return a bool mask [B,L] of exactly min(k[b], eligible in row b) eligible positions per row: those with
    the highest score.

    Ineligible positions are never chosen, and an eligible position scoring -inf still ranks above every
    ineligible one; ties go to the lower index (stable sorts), so the choice is deterministic. A NaN score
    at an eligible position raises ValueError (it has no rank: NaN logits from the model, usually).
    """
    if bool(torch.isnan(scores).logical_and(eligible).any()):
        raise ValueError("select_topk: NaN certainty score at an eligible position (the model returned NaN "
                         "logits?); no position can be ranked")
    s = scores.masked_fill(~eligible, float("-inf"))
    order = torch.sort(s, dim=-1, descending=True, stable=True).indices            # by score, ties by index
    first = torch.sort(eligible.gather(-1, order).to(torch.int8), dim=-1, descending=True, stable=True).indices
    order = order.gather(-1, first)                                                  # eligible ones first
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(s.shape[-1], device=s.device).expand_as(order))
    return (rank < k.unsqueeze(-1)) & eligible
