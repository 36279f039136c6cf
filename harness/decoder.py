"""The one decoding loop: forward, score certainty, choose positions, write tokens, record the step.

Infilling, whole-sequence generation and semi-autoregressive blocks are this same loop with a different
initial mask and block layout. The loop knows nothing of tasks: it gets token ids with ``mask_id`` at the
positions to fill, an optional allowed-vocabulary mask, and a sampler name.

Step schedule (LLaDA ``generate.py``): the masked region is cut into blocks of ``block_length`` positions,
counted from each example's first masked position (one block when ``block_length`` is None); each block
gets ``steps // num_blocks`` steps, and a block with n masked positions reveals ``n // s`` of them per
step, the remainder one extra each in the first steps. ``vanilla_ancestral`` instead flips a coin per
masked position with probability 1/(steps left in the block), the paper's (α_s−α_t)/(1−α_t) for the
linear schedule; the last step of a block reveals whatever is left.

Token values: argmax at temperature 0, else Gumbel-max sampling in float64 (equivalent to sampling from
softmax(logits / T)). Certainty noise: ``gumbel`` × a Gumbel draw is added to each score, with the
coefficient constant or annealed linearly to zero over the steps (``gumbel_schedule="linear"``, as in
Ye et al.'s ``stochastic0.5-linear``). With ``gumbel_space="log"`` the noise is added to the log of a
probability-valued score (Ye et al. add it to the log-probability of the argmax); the ranking without
noise is unchanged. Entropy's score is already a log quantity and is left as it is.

``remask=True`` is Ye et al.'s / RDM-style decoding, NOT the paper's definition (PAPER.md §3.3): every
step re-predicts all positions of the current block that were masked at the start, keeps the top
cumulative-k by score and masks the rest again, so decoded tokens can change.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import torch

from harness import rng
from harness.samplers import Sampler, get_sampler, select_topk

LogitsHook = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


@dataclass
class DecodeConfig:
    """Knobs of the decoding loop; every field is recorded in the results header."""

    steps: int = 50
    temperature: float = 0.0
    gumbel: float = 0.0
    gumbel_schedule: str = "constant"  # "constant" | "linear"
    gumbel_space: str = "prob"  # "prob": noise added to the score | "log": to log(score) (Ye et al.)
    block_length: int | None = None
    remask: bool = False
    score_dtype: str = "float32"  # "float32" | "float64"
    noise: str = "example"  # "example": counter-based per-example draws (batch-invariant) | "torch"

    def validate(self) -> "DecodeConfig":
        """Return self after checking every knob; raises a one-line ValueError naming the bad one."""
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1 (got {self.steps})")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (got {self.temperature})")
        if self.gumbel < 0:
            raise ValueError(f"gumbel coefficient must be >= 0 (got {self.gumbel})")
        if self.gumbel_schedule not in ("constant", "linear"):
            raise ValueError(f"gumbel_schedule must be 'constant' or 'linear' (got {self.gumbel_schedule!r})")
        if self.gumbel_space not in ("prob", "log"):
            raise ValueError(f"gumbel_space must be 'prob' or 'log' (got {self.gumbel_space!r})")
        if self.block_length is not None and self.block_length < 1:
            raise ValueError(f"block_length must be >= 1 or None (got {self.block_length})")
        if self.score_dtype not in ("float32", "float64"):
            raise ValueError(f"score_dtype must be 'float32' or 'float64' (got {self.score_dtype!r})")
        if self.noise not in ("example", "torch"):
            raise ValueError(f"noise must be 'example' or 'torch' (got {self.noise!r})")
        return self

    def to_dict(self) -> dict:
        """Return the knobs as a plain dict."""
        return asdict(self)

    def tag(self) -> str:
        """Return a short file-name-safe tag of the knobs, e.g. ``s50-T0-g0.5lin``."""
        t = f"s{self.steps}-T{self.temperature:g}-g{self.gumbel:g}"
        if self.gumbel and self.gumbel_schedule == "linear":
            t += "lin"
        if self.gumbel and self.gumbel_space == "log":
            t += "log"
        if self.block_length:
            t += f"-b{self.block_length}"
        if self.remask:
            t += "-remask"
        if self.score_dtype != "float32":
            t += "-f64"
        if self.noise != "example":
            t += f"-{self.noise}"
        return t


@dataclass
class DecodeOutput:
    """Decoded tokens [B,L], the step each position was revealed at [B,L] (-1 = given), forward passes."""

    tokens: torch.Tensor
    order: torch.Tensor
    nfe: int
    steps: int


def step_counts(n_masked: torch.Tensor, steps: int) -> torch.Tensor:
    """Return [B, steps] tokens to reveal per step: n // steps each, the remainder one each first."""
    base = (n_masked // steps).unsqueeze(-1)
    rem = (n_masked % steps).unsqueeze(-1)
    j = torch.arange(steps, device=n_masked.device)
    return base + (j < rem).to(base.dtype)


def block_layout(masked: torch.Tensor, block_length: int | None) -> tuple[torch.Tensor, int]:
    """Return (block index per position [B,L], number of blocks); blocks start at each row's first mask."""
    B, L = masked.shape
    if block_length is None:
        return torch.zeros_like(masked, dtype=torch.long), 1
    pos = torch.arange(L, device=masked.device).expand(B, L)
    first = torch.where(masked, pos, torch.full_like(pos, L)).min(dim=-1, keepdim=True).values
    block = ((pos - first).clamp_min(0) // block_length)
    last = torch.where(masked, pos, torch.full_like(pos, -1)).max(dim=-1).values
    span = (last - first.squeeze(-1) + 1).clamp_min(0)
    num_blocks = max(1, int(((span + block_length - 1) // block_length).max().item()))
    return block, num_blocks


def value_mask(allowed: torch.Tensor | None, vocab: int, mask_id: int, device) -> torch.Tensor:
    """Return the bool mask of values a position may take: ``allowed`` (or all) minus the mask token."""
    ok = torch.ones(vocab, dtype=torch.bool, device=device)
    if 0 <= mask_id < vocab:
        ok[mask_id] = False
    return ok if allowed is None else allowed.to(device) & ok


def _logits(model, x: torch.Tensor, forward_kwargs: dict) -> torch.Tensor:
    out = model(x, **forward_kwargs)
    return out.logits if hasattr(out, "logits") else out


@torch.no_grad()
def decode(model, x: torch.Tensor, mask_id: int, sampler: str | Sampler, cfg: DecodeConfig,
           seeds: torch.Tensor | None = None, allowed: torch.Tensor | None = None,
           generator: torch.Generator | None = None, logits_hook: LogitsHook | None = None,
           forward_kwargs: dict | None = None) -> DecodeOutput:
    """Return the decoded batch: every ``mask_id`` position of ``x`` [B,L] filled, given tokens untouched.

    ``model(x)`` must return logits [B,L,V] (or an object with ``.logits``). ``seeds`` [B] are the
    per-example seeds of the counter-based noise (``cfg.noise == "example"``); ``generator`` feeds
    ``cfg.noise == "torch"``. ``allowed`` is a bool mask broadcastable to [B,L,V] of the token values a
    position may take. ``logits_hook(logits, x, step)`` may edit the float logits before scoring.
    """
    cfg.validate()
    smp = get_sampler(sampler) if isinstance(sampler, str) else sampler
    if cfg.remask and smp.select != "topk":
        raise ValueError(f"remask decoding needs a top-k sampler, not '{smp.name}'")
    forward_kwargs = forward_kwargs or {}
    x = x.clone()
    B, L = x.shape
    device = x.device
    dtype = torch.float64 if cfg.score_dtype == "float64" else torch.float32
    if seeds is None:
        seeds = rng.example_seeds(0, range(B))
    seeds = seeds.to(device)

    def uniform(stream: int, step: int, tail: tuple[int, ...]) -> torch.Tensor:
        if cfg.noise == "example":
            return rng.uniform(seeds, stream, step, tail)
        return torch.rand((B, *tail), generator=generator, dtype=torch.float64, device=device)

    masked0 = x == mask_id
    order = torch.where(masked0, torch.full_like(x, -2), torch.full_like(x, -1))
    block, num_blocks = block_layout(masked0, cfg.block_length)
    if cfg.steps % num_blocks:
        raise ValueError(f"steps ({cfg.steps}) must be a multiple of the number of blocks ({num_blocks}); "
                         f"change --steps or --block-length")
    spb = cfg.steps // num_blocks
    nfe = 0
    for b in range(num_blocks):
        in_block = masked0 & (block == b)
        counts = step_counts(in_block.sum(-1), spb)
        keep_counts = counts.cumsum(-1)
        for j in range(spb):
            step = b * spb + j
            eligible = in_block if cfg.remask else in_block & (x == mask_id)
            if not cfg.remask and not bool(eligible.any()):
                break
            logits = _logits(model, x, forward_kwargs).to(dtype)
            nfe += 1
            logits = logits.masked_fill(~value_mask(allowed, logits.shape[-1], mask_id, device), float("-inf"))
            if logits_hook is not None:
                logits = logits_hook(logits, x, step)
            if cfg.temperature == 0:
                chosen = logits.argmax(-1)
            else:
                g = -torch.log(-torch.log(uniform(rng.STREAM_TOKEN, step, tuple(logits.shape[1:]))))
                chosen = (logits.double() / cfg.temperature + g).argmax(-1)
            probs = torch.softmax(logits, dim=-1)
            order_u = uniform(rng.STREAM_ORDER, step, (L,)) if smp.random_order else probs.new_zeros(())
            if smp.select == "bernoulli":
                p_reveal = 1.0 / (spb - j)
                pick = eligible & (uniform(rng.STREAM_BERNOULLI, step, (L,)) < p_reveal)
            else:
                score = smp.certainty(probs, chosen, order_u).to(dtype)
                if cfg.gumbel > 0:
                    if cfg.gumbel_space == "log" and smp.score_is_prob:
                        score = score.clamp_min(torch.finfo(dtype).tiny).log()
                    coef = cfg.gumbel * ((cfg.steps - step) / cfg.steps if cfg.gumbel_schedule == "linear" else 1.0)
                    g = -torch.log(-torch.log(uniform(rng.STREAM_SCORE, step, (L,))))
                    score = score + (coef * g).to(dtype)
                k = keep_counts[:, j] if cfg.remask else counts[:, j]
                pick = select_topk(score, eligible, k)
            if cfg.remask:
                newly = pick & (x == mask_id)
                x = torch.where(in_block, torch.where(pick, chosen, torch.full_like(x, mask_id)), x)
                order = torch.where(newly, torch.full_like(order, step), order)
                order = torch.where(in_block & ~pick, torch.full_like(order, -2), order)
            else:
                x = torch.where(pick, chosen, x)
                order = torch.where(pick, torch.full_like(order, step), order)
    if bool((x == mask_id).any()):  # cannot happen: each block's last step reveals everything left
        raise RuntimeError("decoding ended with masked positions left; this is a bug in harness.decoder")
    return DecodeOutput(tokens=x, order=order, nfe=nfe, steps=cfg.steps)
