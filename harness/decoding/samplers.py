"""The samplers: rules for *which* masked positions to reveal next (PAPER.md §3.1), and how many.

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

Rules published after the paper live in :mod:`harness.decoding.rules` (one function and one ``register``
line each), registered when the ``harness.decoding`` package is imported; ``python -m harness.run --help``
lists every name.

Selection. ``topk`` takes, per example, the k eligible positions with the highest score (k from the step
schedule in :mod:`harness.decoding.decoder`); ties go to the lower position index. ``bernoulli`` flips a coin
per position. ``adaptive`` rules decide how many positions to reveal at each step (``choose`` returns the
mask); the loop then runs with ``steps=0`` (as many steps as needed) and, where a rule picks nothing in a row
that still has masks, reveals that row's highest-scoring position, so every step makes progress.
``remasking`` rules (P2, ReMDM; not the paper's definition, in which a revealed token stays) run the step
schedule and may also mask again positions earlier steps revealed: ``choose`` returns (reveal, remask);
a block's last step reveals everything left and masks nothing, so decoding always ends.

Contract. A certainty function takes a :class:`StepView` and returns scores [B,L] (float, higher first);
``choose`` takes the view with ``score`` filled in and returns a bool mask [B,L] (adaptive rules) or the pair
(reveal, remask) of bool masks (remasking rules). Neither
may modify the view's tensors. ``knobs`` are the rule's named settings with their paper defaults
(``DecodeConfig.sampler_args`` overrides them; the results header records the values used). Scores are
computed in float32 at least.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass(frozen=True)
class StepView:
    """What a sampler sees at one step of one batch (every tensor on the decode device).

    ``probs`` [B,L,V] the model's distribution at every position; ``chosen`` [B,L] the value each position
    would take; ``order_u`` [B,L] uniforms of the order stream (random-order rules; else a 0-d zero);
    ``eligible`` [B,L] the positions this step may reveal; ``position`` [B,L] each position's offset from the
    row's first masked position (the start of generation; negative before it); ``block_size`` [B,1] the
    semi-autoregressive block length, or each row's masked span when there are no blocks (so
    ``position % block_size`` is the offset inside a position's block); ``step`` the loop's step index; ``knobs`` the
    rule's settings; ``state`` a dict that lives for one decode call (rules that compare steps keep their
    history there); ``token_prior`` [V] token frequencies of the task's training data, or None; ``score``
    [B,L] the certainty after noise (filled in for ``choose`` only). For remasking rules only: ``tokens``
    [B,L] the sequence as it stands, ``decoded`` [B,L] the positions earlier steps of this block revealed
    (the ones a rule may mask again), ``keep`` [B] how
    many of the block's positions the schedule has revealed after this step, ``block_step`` / ``block_steps``
    this step's index in its block and the block's step count (the linear schedule's α_t = j/S, α_s =
    (j+1)/S), and ``coins`` [B,L] uniforms of the stream ``vanilla_ancestral`` flips its coins from."""

    probs: torch.Tensor
    chosen: torch.Tensor
    order_u: torch.Tensor
    eligible: torch.Tensor
    position: torch.Tensor
    block_size: torch.Tensor
    step: int
    knobs: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)
    token_prior: torch.Tensor | None = None
    score: torch.Tensor | None = None
    tokens: torch.Tensor | None = None
    decoded: torch.Tensor | None = None
    keep: torch.Tensor | None = None
    block_step: int = 0
    block_steps: int = 0
    coins: torch.Tensor | None = None


CertaintyFn = Callable[[StepView], torch.Tensor]
ChooseFn = Callable[[StepView], torch.Tensor]


@dataclass(frozen=True)
class Sampler:
    """A registered decoding-order rule: ``select`` is one of :data:`SELECTIONS`; ``certainty`` scores positions;
    ``choose`` (adaptive and remasking rules) picks them; ``knobs`` are its settings with defaults."""

    name: str
    select: str
    certainty: CertaintyFn | None
    summary: str
    in_paper: bool
    random_order: bool = False  # True when the score is pure noise (needs the order noise stream)
    score_is_prob: bool = True  # the score lies in [0, 1] (its log is taken for gumbel_space="log")
    choose: ChooseFn | None = None
    knobs: dict = field(default_factory=dict)
    source: str = ""  # where the rule is published (arXiv id), "" for the paper's own
    uses_prior: bool = False  # the rule reads StepView.token_prior (the runner then supplies one)

    def resolve_knobs(self, given: dict | None) -> dict:
        """Return this rule's knob values: its defaults overridden by ``given``; a knob it does not have
        raises a one-line ValueError naming the knob."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.knobs))
        if unknown:
            have = ", ".join(self.knobs) or "none"
            raise ValueError(f"sampler '{self.name}' has no knob {', '.join(map(repr, unknown))} (its knobs: {have})")
        return {k: type(v)(given.get(k, v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else
                given.get(k, v) for k, v in self.knobs.items()}


SAMPLERS: dict[str, Sampler] = {}
SELECTIONS = ("topk", "bernoulli", "adaptive", "remasking")


def register(name: str, select: str = "topk", summary: str = "", in_paper: bool = True,
             random_order: bool = False, score_is_prob: bool = True, choose: ChooseFn | None = None,
             knobs: dict | None = None, source: str = "", uses_prior: bool = False):
    """Return a decorator that registers a certainty function as sampler ``name`` (a name taken twice, an
    unknown selection, or ``choose`` given to a rule that is not adaptive or remasking (or missing from one
    that is) raise ValueError)."""
    if name in SAMPLERS:
        raise ValueError(f"sampler '{name}' is already registered")
    if select not in SELECTIONS:
        raise ValueError(f"select must be one of {', '.join(SELECTIONS)} (got {select!r})")
    if (select in ("adaptive", "remasking")) != (choose is not None):
        raise ValueError(f"sampler '{name}': adaptive and remasking rules need choose=..., and only they have it")

    def wrap(fn: CertaintyFn | None):
        SAMPLERS[name] = Sampler(name, select, fn, summary, in_paper, random_order, score_is_prob, choose,
                                 dict(knobs or {}), source, uses_prior)
        return fn
    return wrap


def get_sampler(name: str) -> Sampler:
    """Return the sampler registered as ``name``; unknown names raise a one-line ValueError."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler '{name}'; choose one of: {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def sampler_names() -> list[str]:
    """Return every registered sampler's name (the paper's first, then the later rules)."""
    return list(SAMPLERS)


@register("vanilla", summary="random order, k per step (LLaDA 'random')", random_order=True)
def random_scores(v: StepView) -> torch.Tensor:
    """Return the order stream's uniforms [B,L]: a random order."""
    return v.order_u


register("vanilla_ancestral", select="bernoulli",
         summary="random order, each masked position revealed w.p. 1/(steps left) (paper §2)")(None)


@register("top_prob", summary="highest max-probability first (paper 'Top probability')")
def top_prob(v: StepView) -> torch.Tensor:
    return v.probs.max(dim=-1).values


@register("margin", summary="largest top-1 minus top-2 probability first (paper 'Top probability margin')")
def margin(v: StepView) -> torch.Tensor:
    top2 = v.probs.topk(2, dim=-1).values
    return top2[..., 0] - top2[..., 1]


@register("entropy", in_paper=False, summary="lowest entropy first", score_is_prob=False)
def neg_entropy(v: StepView) -> torch.Tensor:
    return -entropy(v.probs)


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Return the entropy in nats of each distribution along the last axis (0 log 0 = 0)."""
    return -torch.where(probs > 0, probs * probs.clamp_min(1e-45).log(), torch.zeros_like(probs)).sum(-1)


@register("confidence", in_paper=False, summary="probability of the written token first (LLaDA 'low_confidence')")
def chosen_prob(v: StepView) -> torch.Tensor:
    """Return p(x̂_i) [B,L]: the probability of the value each position would take."""
    return v.probs.gather(-1, v.chosen.unsqueeze(-1)).squeeze(-1)


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
