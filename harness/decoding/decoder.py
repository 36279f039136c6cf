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
noise is unchanged. Entropy's score is already a log quantity and is left as it is. ``gaussian`` = σ adds
N(0, σ²) noise to the score at every step (the paper's "margin + Gaussian noise" for unconditional text,
App. D.1.2, which restores sample diversity; σ is not given in the paper).

Text models (LLaDA and the like) add four knobs, all off by default. ``cfg_scale`` is LLaDA's unsupervised
classifier-free guidance: a second forward with every given token masked, logits = u + (s+1)(c − u).
``mask_logit="keep"`` lets the mask token compete as a value, as LLaDA's ``generate()`` does (a position
that draws it stays masked and is decoded again later; masks may then remain at the end). ``suppress_eos``
is LLaDA's ``logits_eos_inf`` (EOS can never be written); ``defer_eos`` is its ``confidence_eos_eot_inf``
(EOS/EOT are dropped from the certainty softmax, so a position whose chosen token is EOS/EOT gets
certainty 0 and is revealed last). ``steps=0`` means one token per step: each block gets as many steps
as its largest masked count, each row revealing one position per step until it is done.

Randomness: ``noise="example"`` (default) hashes every draw from the example's seed (batch-invariant).
``noise="torch"`` draws from torch's generator in exactly the order, shape and dtype of LLaDA's reference
``generate()`` (token noise [B,L,V] float64 when T > 0, then order noise [B,L] float32 for ``vanilla``),
never skipping a step, so with ``mask_logit="keep"`` and ``score_dtype="model"`` the tokens equal LLaDA's
for the same ``torch.manual_seed``; ``noise="torch-legacy"`` matches the pre-batching ``generate()``
(token noise drawn at every step, even at T = 0; use with ``score_dtype="float64"``). Token sampling
at T > 0 is Gumbel-max in float64: ``argmax(l/T + g)`` under ``example``, LLaDA's algebraically equal
``argmax(exp(l) / (−log u)^T)`` under the torch modes.

``remask=True`` is Ye et al.'s / RDM-style decoding, NOT the paper's definition (PAPER.md §3.3): every
step re-predicts all positions of the current block that were masked at the start, keeps the top
cumulative-k by score and masks the rest again, so decoded tokens can change.

``cache="prefix"`` (off by default) is Fast-dLLM's prefix key/value cache, an APPROXIMATION: a block's later
steps run only the positions from the block's start, attending to keys of the prefix computed at the block's
first step (:mod:`harness.decoding.prefix_cache`). Rows of a batch must start their masked span together.

Rules that decide how many positions to reveal (``adaptive``: Fast-dLLM's threshold, EB-sampler, KLASS, DUS)
run with ``steps=0`` and reveal what their ``choose`` picks, at least each row's most certain position, until
the block is done; the steps they ran are the record's ``steps``. ``remasking`` rules (P2, ReMDM) run the step
schedule, reveal what they pick and mask decoded positions of the block again; the block's last step reveals
everything left. See :mod:`harness.decoding.samplers` for the contract and :mod:`harness.decoding.rules`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import torch

from harness.decoding import rng
from harness.decoding.prefix_cache import PrefixCachedForward
from harness.decoding.samplers import Sampler, StepView, get_sampler, select_topk

LogitsHook = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


@dataclass
class DecodeConfig:
    """Knobs of the decoding loop; every field is recorded in the results header."""

    steps: int = 50  # 0 = one token per step (each block gets as many steps as its largest masked count)
    temperature: float = 0.0
    gumbel: float = 0.0
    gumbel_schedule: str = "constant"  # "constant" | "linear"
    gumbel_space: str = "prob"  # "prob": noise added to the score | "log": to log(score) (Ye et al.)
    gaussian: float = 0.0  # sigma of N(0, sigma^2) noise added to the score (paper App. D.1.2, Figure 3)
    block_length: int | None = None
    remask: bool = False
    score_dtype: str = "float32"  # "float32" | "float64" | "model" (the logits' own dtype, as LLaDA)
    noise: str = "example"  # "example": per-example counter-based draws (batch-invariant) | "torch" | "torch-legacy"
    cfg_scale: float = 0.0  # LLaDA's unsupervised classifier-free guidance (0 = off)
    mask_logit: str = "exclude"  # "exclude": the mask token is never a value | "keep": as LLaDA's generate()
    suppress_eos: bool = False  # LLaDA logits_eos_inf: EOS logits set to -inf before choosing
    defer_eos: bool = False  # LLaDA confidence_eos_eot_inf: EOS/EOT dropped from the certainty softmax
    sampler_args: dict = field(default_factory=dict)  # the rule's knobs (e.g. {"tau": 0.9}); see for_sampler
    cache: str = "none"  # "prefix": Fast-dLLM's prefix key/value cache, APPROXIMATE (harness.decoding.prefix_cache)

    def validate(self) -> "DecodeConfig":
        """Return self after checking every knob; raises a one-line ValueError naming the bad one."""
        if self.steps < 0:
            raise ValueError(f"steps must be >= 1, or 0 for one token per step (got {self.steps})")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (got {self.temperature})")
        if self.gumbel < 0:
            raise ValueError(f"gumbel coefficient must be >= 0 (got {self.gumbel})")
        if self.gaussian < 0:
            raise ValueError(f"gaussian noise scale must be >= 0 (got {self.gaussian})")
        if self.gumbel_schedule not in ("constant", "linear"):
            raise ValueError(f"gumbel_schedule must be 'constant' or 'linear' (got {self.gumbel_schedule!r})")
        if self.gumbel_space not in ("prob", "log"):
            raise ValueError(f"gumbel_space must be 'prob' or 'log' (got {self.gumbel_space!r})")
        if self.block_length is not None and self.block_length < 1:
            raise ValueError(f"block_length must be >= 1 or None (got {self.block_length})")
        if self.score_dtype not in ("float32", "float64", "model"):
            raise ValueError(f"score_dtype must be 'float32', 'float64' or 'model' (got {self.score_dtype!r})")
        if self.noise not in ("example", "torch", "torch-legacy"):
            raise ValueError(f"noise must be 'example', 'torch' or 'torch-legacy' (got {self.noise!r})")
        if self.cfg_scale < 0:
            raise ValueError(f"cfg_scale must be >= 0 (got {self.cfg_scale})")
        if self.mask_logit not in ("exclude", "keep"):
            raise ValueError(f"mask_logit must be 'exclude' or 'keep' (got {self.mask_logit!r})")
        if self.cache not in ("none", "prefix"):
            raise ValueError(f"cache must be 'none' or 'prefix' (got {self.cache!r})")
        if self.cache == "prefix" and self.cfg_scale > 0:
            raise ValueError("cache='prefix' cannot be combined with cfg_scale > 0 (the guided pass has no cache)")
        if self.remask and (self.mask_logit == "keep" or self.steps == 0):
            raise ValueError("remask decoding needs mask_logit='exclude' and steps >= 1")
        if not isinstance(self.sampler_args, dict) or not all(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
                for k, v in self.sampler_args.items()):
            raise ValueError(f"sampler_args must map knob names to numbers (got {self.sampler_args!r})")
        return self

    def for_sampler(self, sampler: str | Sampler) -> "DecodeConfig":
        """Return the knobs one sampler runs with: ``sampler_args`` narrowed to that rule's knobs and filled
        with its defaults (a knob no rule of the sweep has is the caller's error), and ``steps=0`` for an
        adaptive rule, which decides itself how many positions each step reveals."""
        smp = get_sampler(sampler) if isinstance(sampler, str) else sampler
        mine = {k: v for k, v in self.sampler_args.items() if k in smp.knobs}
        steps = 0 if smp.select == "adaptive" else self.steps
        return replace(self, sampler_args=smp.resolve_knobs(mine), steps=steps).validate()

    def to_dict(self) -> dict:
        """Return the knobs as a plain dict."""
        return asdict(self)

    def tag(self) -> str:
        """Return a short file-name-safe tag of the knobs, e.g. ``s50-T0-g0.5lin``."""
        t = f"s{self.steps or 'N'}-T{self.temperature:g}-g{self.gumbel:g}"
        if self.gumbel and self.gumbel_schedule == "linear":
            t += "lin"
        if self.gumbel and self.gumbel_space == "log":
            t += "log"
        if self.gaussian:
            t += f"-n{self.gaussian:g}"
        if self.block_length:
            t += f"-b{self.block_length}"
        if self.remask:
            t += "-remask"
        if self.score_dtype != "float32":
            t += "-f64" if self.score_dtype == "float64" else "-fmodel"
        if self.noise != "example":
            t += f"-{self.noise}"
        if self.cfg_scale:
            t += f"-cfg{self.cfg_scale:g}"
        if self.mask_logit != "exclude":
            t += "-keepmask"
        if self.suppress_eos:
            t += "-noeos"
        if self.defer_eos:
            t += "-defereos"
        for k, v in self.sampler_args.items():
            t += f"-{k}{v:g}"
        if self.cache != "none":
            t += f"-{self.cache}cache"
        return t


@dataclass
class DecodeOutput:
    """Decoded tokens [B,L], the step each position was revealed at [B,L] (-1 = given, -2 = still masked),
    forward passes of the batch, steps run, and per row the forward passes it needed [B]."""

    tokens: torch.Tensor
    order: torch.Tensor
    nfe: int
    steps: int
    nfe_row: torch.Tensor | None = None


def step_counts(n_masked: torch.Tensor, steps: int) -> torch.Tensor:
    """Return [B, steps] tokens to reveal per step: n // steps each, the remainder one each first."""
    base = (n_masked // steps).unsqueeze(-1)
    rem = (n_masked % steps).unsqueeze(-1)
    j = torch.arange(steps, device=n_masked.device)
    return base + (j < rem).to(base.dtype)


def masked_span(masked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (positions [B,L], each row's first masked position [B,1] (L when none), its last [B,1] (-1 when
    none)): the one place the masked span of a row is computed."""
    B, L = masked.shape
    pos = torch.arange(L, device=masked.device).expand(B, L)
    first = torch.where(masked, pos, torch.full_like(pos, L)).min(dim=-1, keepdim=True).values
    last = torch.where(masked, pos, torch.full_like(pos, -1)).max(dim=-1, keepdim=True).values
    return pos, first, last


def block_layout(masked: torch.Tensor, block_length: int | None) -> tuple[torch.Tensor, int]:
    """Return (block index per position [B,L], number of blocks); blocks start at each row's first mask.

    Every row of a batch must need the same number of blocks (steps are shared out per block): rows that do
    not raise ValueError, so a row's schedule never depends on its neighbours (bucket rows by their block
    count first, as :func:`harness.decoding.textgen.decode_rows` does)."""
    if block_length is None:
        return torch.zeros_like(masked, dtype=torch.long), 1
    pos, first, _ = masked_span(masked)
    block = ((pos - first).clamp_min(0) // block_length)
    per_row = blocks_needed(masked, block_length)
    has_masks = masked.any(-1)
    counts = per_row[has_masks]
    if counts.numel() and bool((counts != counts[0]).any()):
        raise ValueError(f"rows of one batch need different numbers of blocks ({sorted(set(counts.tolist()))}) "
                         f"at block_length {block_length}; decode them in separate batches")
    return block, max(1, int(counts.max().item()) if counts.numel() else 1)


def blocks_needed(masked: torch.Tensor, block_length: int | None) -> torch.Tensor:
    """Return [B] the number of blocks each row's masked span needs (1 when ``block_length`` is None)."""
    if block_length is None:
        return torch.ones(masked.shape[0], dtype=torch.long, device=masked.device)
    _, first, last = masked_span(masked)
    span = (last - first + 1).clamp_min(0).squeeze(-1)
    return ((span + block_length - 1) // block_length).clamp_min(1)


def value_mask(allowed: torch.Tensor | None, vocab: int, mask_id: int, device, exclude_mask: bool = True,
               banned: tuple[int, ...] = ()) -> torch.Tensor:
    """Return the bool mask of values a position may take: ``allowed`` (or all) minus the mask token
    (unless ``exclude_mask`` is False) minus ``banned`` ids."""
    ok = torch.ones(vocab, dtype=torch.bool, device=device)
    if exclude_mask and 0 <= mask_id < vocab:
        ok[mask_id] = False
    for i in banned:
        if 0 <= i < vocab:
            ok[i] = False
    return ok if allowed is None else allowed.to(device) & ok


def _logits(model, x: torch.Tensor, forward_kwargs: dict) -> torch.Tensor:
    out = model(x, **forward_kwargs)
    return out.logits if hasattr(out, "logits") else out


def guided_logits(model, x: torch.Tensor, given: torch.Tensor, mask_id: int, scale: float,
                  forward_kwargs: dict) -> torch.Tensor:
    """Return LLaDA's classifier-free-guided logits: u + (scale+1)(c − u), u from ``x`` with ``given`` masked."""
    if scale <= 0:
        return _logits(model, x, forward_kwargs)
    un_x = torch.where(given, torch.full_like(x, mask_id), x)
    kw = {k: torch.cat([v, v]) if torch.is_tensor(v) and v.shape[:1] == x.shape[:1] else v
          for k, v in forward_kwargs.items()}
    cond, uncond = _logits(model, torch.cat([x, un_x]), kw).chunk(2)
    return uncond + (scale + 1) * (cond - uncond)


class RandomDraws:
    """Every random number of one :func:`decode` call. ``noise="example"``: counter-based draws hashed from
    each row's seed and the draw's coordinates (:mod:`harness.decoding.rng`, batch-invariant); the torch
    modes: torch's generator, in the order and dtype LLaDA's ``generate()`` consumes it."""

    def __init__(self, cfg: DecodeConfig, batch: int, device, seeds: torch.Tensor | None,
                 generator: torch.Generator | None, offsets: torch.Tensor | None):
        self.torch_mode = cfg.noise != "example"
        self.batch, self.device, self.generator, self.offsets = batch, device, generator, offsets
        self.seeds = (seeds if seeds is not None else rng.example_seeds(0, range(batch))).to(device)

    def uniform(self, stream: int, step: int, tail: tuple[int, ...], dtype=torch.float64) -> torch.Tensor:
        """Return uniforms in (0, 1) of shape (B, *tail) for one purpose (``stream``) at one step."""
        if not self.torch_mode:
            return rng.uniform(self.seeds, stream, step, tail, self.offsets)
        return torch.rand((self.batch, *tail), generator=self.generator, dtype=dtype, device=self.device)

    def gumbel(self, stream: int, step: int, tail: tuple[int, ...]) -> torch.Tensor:
        """Return standard Gumbel noise of shape (B, *tail) (float64)."""
        return rng.gumbel_of(self.uniform(stream, step, tail))

    def gumbel_at(self, stream: int, step: int, rows: torch.Tensor, cols: torch.Tensor, size: int) -> torch.Tensor:
        """Return Gumbel noise [n, size] at positions (rows, cols) only: the values :meth:`gumbel` gives there
        (counter-based mode only)."""
        pos = cols if self.offsets is None else cols - self.offsets.to(cols.device)[rows]
        return rng.gumbel_of(rng.uniform_at(self.seeds[rows], stream, step, pos, size))


# ------------------------------------------------------------------------------------------------------
# One step of the loop, in the order of PAPER.md 3.1: values, certainty, noise, selection, write.
# ------------------------------------------------------------------------------------------------------

def step_logits(model, x: torch.Tensor, given: torch.Tensor, mask_id: int, cfg: DecodeConfig,
                forward_kwargs: dict) -> torch.Tensor:
    """Return one forward's logits [B,L,V] in the score dtype (float32 unless ``score_dtype`` says otherwise),
    classifier-free guided when ``cfg_scale`` > 0."""
    return in_score_dtype(guided_logits(model, x, given, mask_id, cfg.cfg_scale, forward_kwargs), cfg)


def in_score_dtype(raw: torch.Tensor, cfg: DecodeConfig) -> torch.Tensor:
    """Return the logits in the dtype certainty is scored in (``cfg.score_dtype``)."""
    if cfg.score_dtype == "model":
        return raw
    return raw.to(torch.float64 if cfg.score_dtype == "float64" else torch.float32)


def choose_values(logits: torch.Tensor, cfg: DecodeConfig, draws: RandomDraws, step: int,
                  eligible: torch.Tensor) -> torch.Tensor:
    """Return the value each position would take [B,L]: argmax at temperature 0, else a sample from
    softmax(logits / T) by Gumbel-max in float64, drawn only at the ``eligible`` positions (the only ones a
    step can write; elsewhere the argmax stands in). The per-example draws are the same values a full
    [B,L,V] draw would give, so this is exact, at a fraction of the cost. The torch modes use LLaDA's
    algebraically equal formula ``argmax(exp(l) / (-log u)^T)`` and its full draw, for token-exact parity."""
    if draws.torch_mode:
        if cfg.temperature > 0 or cfg.noise == "torch-legacy":
            u = draws.uniform(rng.STREAM_TOKEN, step, tuple(logits.shape[1:]))
            return (logits.double().exp() / (-torch.log(u)) ** cfg.temperature).argmax(-1)
        return logits.argmax(-1)
    chosen = logits.argmax(-1)
    if cfg.temperature == 0:
        return chosen
    rows, cols = eligible.nonzero(as_tuple=True)
    if rows.numel():
        chosen[rows, cols] = gumbel_argmax_at(logits, rows, cols, draws, step, cfg.temperature)
    return chosen


def gumbel_argmax_at(logits: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, draws: "RandomDraws", step: int,
                     temperature: float, chunk_elems: int = 1 << 18) -> torch.Tensor:
    """Return argmax(l / T + g) [n] at the positions (rows, cols), with the per-example Gumbel draws g, computed a
    few positions at a time (about ``chunk_elems`` values): the counter-based hash makes some thirty passes over
    its draws, so keeping each chunk in cache instead of hashing [n, V] at once is several times faster at large
    vocabularies and batches. The values are the same as one draw over all positions."""
    V = logits.shape[-1]
    per = max(1, chunk_elems // V)
    out = torch.empty(rows.numel(), dtype=torch.long, device=logits.device)
    for i in range(0, rows.numel(), per):
        r, c = rows[i:i + per], cols[i:i + per]
        g = draws.gumbel_at(rng.STREAM_TOKEN, step, r, c, V)
        out[i:i + per] = (logits[r, c].double() / temperature + g).argmax(-1)
    return out


def certainty(smp: Sampler, view: StepView, deferred: torch.Tensor | None) -> torch.Tensor:
    """Return the sampler's certainty score per position [B,L] (higher = revealed earlier). With
    ``deferred`` ids (LLaDA's ``confidence_eos_eot_inf``) a position whose value is one of them scores lowest."""
    score = smp.certainty(view).to(view.probs.dtype)
    if deferred is not None and not smp.random_order:
        low = 0.0 if smp.score_is_prob else torch.finfo(score.dtype).min
        score = score.masked_fill(torch.isin(view.chosen, deferred), low)
    return score


def choose_adaptive(smp: Sampler, view: StepView) -> torch.Tensor:
    """Return the positions an adaptive rule reveals [B,L]: its own choice among the eligible ones, plus each
    row's highest-scoring eligible position where the rule chose none (every step makes progress)."""
    pick = smp.choose(view).to(torch.bool) & view.eligible
    need = view.eligible.any(-1) & ~pick.any(-1)
    return pick | select_topk(view.score, view.eligible, need.long())


def choose_remasking(smp: Sampler, view: StepView, last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (positions to reveal, decoded positions to mask again) [B,L] of a remasking rule; a block's
    ``last`` step reveals every eligible position and masks nothing, so decoding ends with no mask left."""
    if last:
        return view.eligible, torch.zeros_like(view.eligible)
    reveal, again = smp.choose(view)
    reveal = reveal.to(torch.bool) & view.eligible
    return reveal, again.to(torch.bool) & view.decoded & ~reveal


def relative_positions(masked: torch.Tensor, block_length: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (offset of each position from its row's first masked position [B,L] (negative before it), block
    size per row [B,1]: ``block_length``, or the row's masked span when there are no blocks)."""
    pos, first, last = masked_span(masked)
    L = masked.shape[1]
    size = (torch.full_like(first, block_length) if block_length is not None
            else (last - first + 1).clamp_min(1))
    return pos - first.clamp_max(L - 1), size


def add_noise(score: torch.Tensor, smp: Sampler, cfg: DecodeConfig, draws: RandomDraws, step: int,
              left: torch.Tensor | None = None, n_total: torch.Tensor | None = None) -> torch.Tensor:
    """Return the score with the configured certainty noise added: ``gumbel`` x Gumbel (constant, or annealed
    linearly to 0; on the score or, with ``gumbel_space="log"``, on its log) and ``gaussian`` x N(0, 1).
    The linear schedule at one token per step (``steps=0``) anneals by each row's own fraction of masked
    positions left: ``left`` [B] of ``n_total`` [B]."""
    B, L = score.shape
    if cfg.gumbel > 0:
        if cfg.gumbel_space == "log" and smp.score_is_prob:
            score = score.clamp_min(torch.finfo(score.dtype).tiny).log()
        if cfg.gumbel_schedule != "linear":
            coef = torch.full((B, 1), cfg.gumbel, dtype=torch.float64, device=score.device)
        elif cfg.steps:
            coef = torch.full((B, 1), cfg.gumbel * (cfg.steps - step) / cfg.steps, dtype=torch.float64,
                              device=score.device)
        else:
            coef = (cfg.gumbel * left / n_total.clamp_min(1)).unsqueeze(-1)
        score = score + (coef * draws.gumbel(rng.STREAM_SCORE, step, (L,))).to(score.dtype)
    if cfg.gaussian > 0:  # F = score + eps, eps ~ N(0, sigma^2), constant over steps
        eps = torch.special.ndtri(draws.uniform(rng.STREAM_GAUSSIAN, step, (L,)))
        score = score + (cfg.gaussian * eps).to(score.dtype)
    return score


def reveal_by_coin(eligible: torch.Tensor, steps_left: torch.Tensor, draws: RandomDraws, step: int) -> torch.Tensor:
    """Return the positions ancestral vanilla decoding reveals [B,L]: each eligible one with probability
    1 / (steps left in its block), all of them at a block's last step."""
    p_reveal = (1.0 / steps_left.double()).unsqueeze(-1)
    pick = eligible & (draws.uniform(rng.STREAM_BERNOULLI, step, (eligible.shape[-1],)) < p_reveal)
    return pick | (eligible & (steps_left == 1).unsqueeze(-1))


def write_revealed(x: torch.Tensor, order: torch.Tensor, pick: torch.Tensor, chosen: torch.Tensor, step: int,
                   mask_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (tokens, order) with the picked positions written and stamped with ``step`` (a position that
    drew the mask token itself, possible under ``mask_logit="keep"``, stays masked and unstamped)."""
    x = torch.where(pick, chosen, x)
    return x, torch.where(pick & (chosen != mask_id), torch.full_like(order, step), order)


def write_remasked(x: torch.Tensor, order: torch.Tensor, pick: torch.Tensor, chosen: torch.Tensor, step: int,
                   mask_id: int, in_block: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (tokens, order) under ``remask`` (not the paper's): the block's picked positions take their new
    values, every other position of the block is masked again (its order stamp cleared)."""
    newly = pick & (x == mask_id)
    x = torch.where(in_block, torch.where(pick, chosen, torch.full_like(x, mask_id)), x)
    order = torch.where(newly, torch.full_like(order, step), order)
    return x, torch.where(in_block & ~pick, torch.full_like(order, -2), order)


def cached_span_start(masked: torch.Tensor, forward_kwargs: dict) -> int:
    """Return the batch's first masked position under ``cache="prefix"``; rows starting their masked span at
    different positions, or padded rows, raise a one-line ValueError (the cached prefix is one per batch)."""
    if forward_kwargs:
        raise ValueError(f"cache='prefix' takes unpadded rows with no extra forward arguments "
                         f"(got {', '.join(sorted(forward_kwargs))})")
    _, first, _ = masked_span(masked)
    starts = first[masked.any(-1)].flatten().unique()
    if starts.numel() > 1:
        raise ValueError(f"cache='prefix': rows of one batch start their masked span at different positions "
                         f"({starts.tolist()[:5]}); decode them in separate batches (textgen.decode_rows does)")
    return int(starts[0]) if starts.numel() else masked.shape[1]


def _check_knobs(cfg: DecodeConfig, smp: Sampler, eos_ids: tuple[int, ...], eot_ids: tuple[int, ...]) -> dict:
    """Return the rule's knob values; raise a one-line ValueError for knob combinations the loop cannot honour."""
    cfg.validate()
    if cfg.remask and smp.select != "topk":
        raise ValueError(f"remask decoding needs a top-k sampler, not '{smp.name}'")
    knobs = smp.resolve_knobs(cfg.sampler_args)
    if smp.select == "remasking" and (not cfg.steps or cfg.remask):
        raise ValueError(f"sampler '{smp.name}' masks decoded tokens again on the step schedule: it needs steps >= 1 "
                         f"and remask=False")
    if smp.select == "adaptive" and cfg.steps:
        raise ValueError(f"sampler '{smp.name}' decides how many positions each step reveals: decode it with "
                         f"steps=0 (DecodeConfig.for_sampler does), not steps={cfg.steps}")
    if cfg.suppress_eos and not eos_ids:
        raise ValueError("suppress_eos needs the model's EOS id(s); the model wrapper passes eos_ids")
    if cfg.defer_eos and not (eos_ids or eot_ids):
        raise ValueError("defer_eos needs the model's EOS/EOT id(s); the model wrapper passes eos_ids/eot_ids")
    return knobs


@torch.no_grad()
def decode(model, x: torch.Tensor, mask_id: int, sampler: str | Sampler, cfg: DecodeConfig,
           seeds: torch.Tensor | None = None, allowed: torch.Tensor | None = None,
           generator: torch.Generator | None = None, logits_hook: LogitsHook | None = None,
           forward_kwargs: dict | None = None, eos_ids: tuple[int, ...] = (),
           eot_ids: tuple[int, ...] = (), offsets: torch.Tensor | None = None,
           token_prior: torch.Tensor | None = None) -> DecodeOutput:
    """Return the decoded batch: every ``mask_id`` position of ``x`` [B,L] filled, given tokens untouched.

    ``model(x)`` must return logits [B,L,V] (or an object with ``.logits``), a fresh tensor per call: the loop
    writes -inf into the columns of excluded ids in place (the mask id, banned ids). ``seeds`` [B] are the
    per-example seeds of the counter-based noise (``cfg.noise == "example"``); ``generator`` feeds
    ``cfg.noise == "torch"``. ``allowed`` is a bool mask broadcastable to [B,L,V] of the token values a
    position may take. ``logits_hook(logits, x, step)`` may edit the float logits before scoring.
    ``eos_ids`` / ``eot_ids`` are the model's end-of-text ids, used by ``suppress_eos`` / ``defer_eos``.
    ``forward_kwargs`` (e.g. an ``attention_mask``) are passed to every forward. ``offsets`` [B] (each row's
    left padding) shifts the position coordinate of the per-example noise, so a padded row draws what it
    draws alone. ``token_prior`` [V] (token frequencies of the task's training data) is handed to rules that
    calibrate against it (``pc``).
    """
    smp = get_sampler(sampler) if isinstance(sampler, str) else sampler
    knobs, state = _check_knobs(cfg, smp, eos_ids, eot_ids), {}
    forward_kwargs = forward_kwargs or {}
    x = x.clone()
    B, L = x.shape
    draws = RandomDraws(cfg, B, x.device, seeds, generator, offsets)
    masked0 = x == mask_id
    order = torch.where(masked0, torch.full_like(x, -2), torch.full_like(x, -1))
    nfe_row = torch.zeros(B, dtype=torch.long, device=x.device)
    block, num_blocks = block_layout(masked0, cfg.block_length)
    position, block_size = relative_positions(masked0, cfg.block_length)
    cached = None
    if cfg.cache == "prefix":
        cached, first = PrefixCachedForward(model), cached_span_start(masked0, forward_kwargs)
    if token_prior is not None:
        token_prior = token_prior.to(x.device, torch.float64)
    if cfg.steps and cfg.steps % num_blocks:
        raise ValueError(f"steps ({cfg.steps}) must be a multiple of the number of blocks ({num_blocks}); "
                         f"change --steps or --block-length")
    deferred = (torch.tensor(sorted(set(eos_ids) | set(eot_ids)), dtype=torch.long, device=x.device)
                if cfg.defer_eos else None)
    ok_values = excluded = None
    n_total = masked0.sum(-1)
    annealed_per_row = cfg.gumbel > 0 and cfg.gumbel_schedule == "linear" and not cfg.steps
    nfe = base = 0
    for b in range(num_blocks):
        in_block = masked0 & (block == b)
        n_block = in_block.sum(-1)
        spb = cfg.steps // num_blocks if cfg.steps else max(1, int(n_block.max().item()))
        counts = step_counts(n_block, spb)
        keep_counts = counts.cumsum(-1)                                               # remask keeps these
        ran = spb
        for j in range(spb):
            step = base + j
            # a position of an earlier block that drew the mask token (mask_logit="keep") competes again
            eligible = in_block if cfg.remask else masked0 & (block <= b) & (x == mask_id)
            if ((not draws.torch_mode or smp.select == "adaptive") and not cfg.remask and smp.select != "remasking"
                    and not bool(eligible.any())):
                ran = j
                break
            if cached is None:
                logits = step_logits(model, x, ~masked0, mask_id, cfg, forward_kwargs)
            else:   # the block's first step runs everything; later steps the block onwards, on the cached prefix
                start = min(L, first + b * (cfg.block_length or 0))
                logits = in_score_dtype(cached(x, start, refresh=j == 0 or start >= L), cfg)
            nfe += 1
            nfe_row += (eligible.any(-1) if smp.select != "remasking" else in_block.any(-1)).long()
            if ok_values is None:
                ok_values = value_mask(allowed, logits.shape[-1], mask_id, x.device,
                                       exclude_mask=cfg.mask_logit == "exclude",
                                       banned=tuple(eos_ids) if cfg.suppress_eos else ())
                # without an allowed-vocabulary mask only a few ids are excluded: fill those columns in place
                excluded = (~ok_values).nonzero().flatten() if allowed is None else None
            if excluded is None:
                logits = logits.masked_fill(~ok_values, float("-inf"))
            elif excluded.numel():   # in place on a model's fresh output; a view (e.g. expanded) is copied first
                logits = (logits if logits.is_contiguous() else logits.contiguous()).index_fill_(-1, excluded,
                                                                                               float("-inf"))
            if logits_hook is not None:
                logits = logits_hook(logits, x, step)
            chosen = choose_values(logits, cfg, draws, step, eligible)               # what to write
            if deferred is not None:
                logits = logits.index_fill(-1, deferred, float("-inf"))
            probs = torch.softmax(logits, dim=-1)
            order_u = (draws.uniform(rng.STREAM_ORDER, step, (L,), torch.float32 if draws.torch_mode
                                     else torch.float64) if smp.random_order else probs.new_zeros(()))
            again = None                                                              # remasking rules only
            if smp.select == "bernoulli":                                             # where: coin flips
                steps_left = torch.full_like(n_block, spb - j) if cfg.steps else (n_block - j).clamp_min(1)
                pick = reveal_by_coin(eligible, steps_left, draws, step)
            else:                                                                     # where: most certain
                view = StepView(probs, chosen, order_u, eligible, position, block_size, step, knobs, state,
                                token_prior)
                score = certainty(smp, view, deferred)
                left = (masked0 & (x == mask_id)).sum(-1).double() if annealed_per_row else None
                score = add_noise(score, smp, cfg, draws, step, left, n_total)
                if smp.select == "adaptive":                                          # how many: the rule's
                    pick = choose_adaptive(smp, replace(view, score=score))
                elif smp.select == "remasking":                                       # and which to take back
                    decoded = in_block & (x != mask_id)
                    pick, again = choose_remasking(smp, replace(
                        view, score=score, tokens=x, decoded=decoded, keep=keep_counts[:, j],
                        block_step=j, block_steps=spb,
                        coins=draws.uniform(rng.STREAM_BERNOULLI, step, (L,))), last=j == spb - 1)
                else:
                    pick = select_topk(score, eligible, keep_counts[:, j] if cfg.remask else counts[:, j])
            if cfg.remask:
                x, order = write_remasked(x, order, pick, chosen, step, mask_id, in_block)
            else:
                x, order = write_revealed(x, order, pick, chosen, step, mask_id)
                if again is not None:
                    x = torch.where(again, torch.full_like(x, mask_id), x)
                    order = torch.where(again, torch.full_like(order, -2), order)
        base += ran if smp.select == "adaptive" else spb  # an adaptive rule's steps are the ones it ran
    if cfg.mask_logit == "exclude" and bool((x == mask_id).any()):
        # cannot happen: each block's last step reveals everything left
        raise RuntimeError("decoding ended with masked positions left; this is a bug in harness.decoding.decoder")
    return DecodeOutput(tokens=x, order=order, nfe=nfe, steps=base, nfe_row=nfe_row)
