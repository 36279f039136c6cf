"""One small transformer for both masked diffusion models (bidirectional) and autoregressive models (causal).

LLaMA-style and deliberately plain, in the spirit of nanoGPT's ``model.py``:

    token embedding (+ learned absolute position embedding when ``pos="learned"``; + one learned embedding
    per entry of ``pos_factors``, e.g. the row, column and box of a grid cell; ``pos="none"`` keeps only
    the factors, so positions are known only through their structure)
    n_layer x [ x + Attention(RMSNorm(x)) ; x + SwiGLU(RMSNorm(x)) ]   (RoPE on q, k when ``pos="rope"``)
    final RMSNorm -> untied linear head -> logits for every position

No biases anywhere. Attention is ``F.scaled_dot_product_attention`` with ``is_causal=cfg.causal``, so the
same code is an MDM denoiser (``causal=False``) or a next-token ARM (``causal=True``). The model knows
nothing about masking: the mask token is just one more vocabulary entry chosen by the task.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ModelConfig:
    """Shape of a :class:`Transformer`."""

    vocab_size: int
    seq_len: int            # max sequence length
    n_layer: int
    n_head: int
    d_model: int
    d_ff: int               # SwiGLU hidden size
    causal: bool = False    # False = bidirectional MDM, True = ARM
    pos: str = "rope"       # "rope" | "learned" (absolute embeddings added at the input) | "none" (pos_factors only)
    dropout: float = 0.0
    rope_base: float = 10000.0
    pos_factors: list[list[int]] | None = None  # extra learned embeddings: factor f maps position -> index

    def __post_init__(self):
        if self.pos not in ("rope", "learned", "none"):
            raise ValueError(f"pos must be 'rope', 'learned' or 'none', got {self.pos!r}")
        if self.pos == "none" and not self.pos_factors and not self.causal:
            raise ValueError("pos='none' needs pos_factors: a bidirectional model without positions cannot tell "
                             "positions apart")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")
        for f in self.pos_factors or []:
            if len(f) != self.seq_len or min(f) < 0:
                raise ValueError(f"each pos_factors entry needs seq_len={self.seq_len} non-negative indices")
        if self.pos == "rope" and (self.d_model // self.n_head) % 2:
            raise ValueError(f"RoPE needs an even head size, got {self.d_model // self.n_head}")

    def to_dict(self) -> dict:
        """Return the config as a plain dict (JSON- and checkpoint-friendly)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """Return the config stored in ``d``; unknown keys raise ValueError, missing optional keys get defaults."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown ModelConfig keys: {sorted(unknown)}")
        return cls(**d)


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned gain, computed in float32."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.float()).to(x.dtype)


def rope_tables(seq_len: int, head_dim: int, base: float, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (cos, sin), each [seq_len, head_dim] float32, for rotate-half RoPE."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim))
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32, device=device), inv_freq)  # [L, head_dim/2]
    angles = torch.cat([angles, angles], dim=-1)                                 # [L, head_dim]
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Return x [B, H, L, D] rotated by the position tables cos, sin [L, D] (math in float32)."""
    xf = x.float()
    x1, x2 = xf.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)
    return (xf * cos + rotated * sin).to(x.dtype)


class Attention(nn.Module):
    """Multi-head self-attention; causal or bidirectional per the config."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.causal = cfg.causal
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)  # residual projection
        self.proj.is_residual_proj = True
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x, rope=None, kv: dict | None = None, key_mask: torch.Tensor | None = None,
                cache: dict | None = None):
        """``kv``: the incremental cache of a causal model (extended in place). ``cache``: a read-only cache,
        ``cache["past"]`` = (keys, values) of the positions before ``x`` (attended to first); the keys/values
        of every position are left in ``cache["present"]``."""
        B, L, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=-1)
        q, k, v = (t.view(B, L, self.n_head, D // self.n_head).transpose(1, 2) for t in (q, k, v))  # [B,H,L,hd]
        if rope is not None:
            cos, sin = rope
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        mask, causal = None, self.causal
        if kv is not None:  # incremental causal decoding: attend to the cached keys too
            if "k" in kv:
                k, v = torch.cat([kv["k"], k], dim=2), torch.cat([kv["v"], v], dim=2)
            kv["k"], kv["v"] = k, v
        if cache is not None:  # a prefix cache: the cached positions' keys/values come first, left unchanged
            if "past" in cache:
                k, v = torch.cat([cache["past"][0], k], dim=2), torch.cat([cache["past"][1], v], dim=2)
            cache["present"] = (k, v)
        past = k.shape[2] - L
        if past and causal:  # queries are the last L positions: each sees every cached key and the ones before it
            causal = False
            mask = torch.arange(k.shape[2], device=x.device)[None] <= past + torch.arange(L, device=x.device)[:, None]
        if key_mask is not None:  # [B, L] True = a real token; padding keys are never attended to
            pad = key_mask[:, None, None, :]
            if causal:
                pad = pad & torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
                causal = False
            mask = pad if mask is None else mask & pad
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, dropout_p=self.dropout if self.training else 0.0
        )
        y = y.transpose(1, 2).reshape(B, L, D)
        return self.resid_drop(self.proj(y))


class SwiGLU(nn.Module):
    """Gated MLP: down(silu(gate(x)) * up(x))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.up = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.down = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)  # residual projection
        self.down.is_residual_proj = True
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.drop(self.down(F.silu(self.gate(x)) * self.up(x)))


class Block(nn.Module):
    """Pre-norm transformer block: attention then MLP, each with a residual connection."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm1 = RMSNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.norm2 = RMSNorm(cfg.d_model)
        self.mlp = SwiGLU(cfg)

    def forward(self, x, rope=None, kv: dict | None = None, key_mask: torch.Tensor | None = None,
                cache: dict | None = None):
        x = x + self.attn(self.norm1(x), rope, kv, key_mask, cache)
        x = x + self.mlp(self.norm2(x))
        return x


class Transformer(nn.Module):
    """Token sequence [B, L] -> logits [B, L, vocab_size] at every position."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.seq_len, cfg.d_model) if cfg.pos == "learned" else None
        # Factored positions (e.g. the row, column and box of a grid cell): one table per factor, summed.
        factors = cfg.pos_factors or []
        self.factor_emb = nn.ModuleList([nn.Embedding(max(f) + 1, cfg.d_model) for f in factors])
        if factors:
            self.register_buffer("factor_idx", torch.tensor(factors, dtype=torch.long), persistent=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.norm = RMSNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.pos == "rope":
            # Not persistent: derived from the config, so checkpoints stay small and device moves work.
            self.register_buffer("rope_cos", torch.empty(0), persistent=False)
            self.register_buffer("rope_sin", torch.empty(0), persistent=False)
            self.reset_rope()
        self.apply(self._init_weights)

    def reset_rope(self) -> None:
        """(Re)compute the RoPE tables from the config (needed after loading on the meta device)."""
        if self.cfg.pos == "rope":
            device = self.tok_emb.weight.device
            if device.type == "meta":  # being built for loading: the loader calls reset_rope afterwards
                return
            cos, sin = rope_tables(self.cfg.seq_len, self.cfg.d_model // self.cfg.n_head, self.cfg.rope_base,
                                   device=device)
            self.rope_cos, self.rope_sin = cos, sin

    def _init_weights(self, module):
        # nanoGPT init: N(0, 0.02) everywhere, residual projections scaled by 1/sqrt(2 * n_layer).
        if isinstance(module, nn.Linear):
            std = 0.02
            if getattr(module, "is_residual_proj", False):
                std /= math.sqrt(2 * self.cfg.n_layer)
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def new_kv_cache(self) -> list[dict]:
        """Return an empty key/value cache for incremental decoding of a causal model."""
        if not self.cfg.causal:
            raise ValueError("a key/value cache only makes sense for a causal model")
        return [{} for _ in self.blocks]

    def forward_cached(self, idx: torch.Tensor, past: list[tuple[torch.Tensor, torch.Tensor]] | None = None
                       ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Return (logits [B, L, V] of ``idx`` at the positions after the cached ones, per layer the keys and
        values [B, H, P + L, head] of every position so far): the prefix cache of semi-autoregressive decoding
        (Fast-dLLM). ``past`` (from an earlier call, cut to its first P positions) is read, never changed; a
        bidirectional model then attends to keys computed when the prefix last ran, which is the approximation."""
        if past is not None and len(past) != len(self.blocks):
            raise ValueError(f"past holds {len(past)} layers, the model has {len(self.blocks)}")
        start = 0 if not past else int(past[0][0].shape[2])
        caches = [{"past": p} for p in past] if past else [{} for _ in self.blocks]
        logits = self.forward(idx, start=start, layer_caches=caches)
        return logits, [c["present"] for c in caches]

    def forward(self, idx: torch.Tensor, kv_cache: list[dict] | None = None, start: int = 0,
                attention_mask: torch.Tensor | None = None, layer_caches: list[dict] | None = None) -> torch.Tensor:
        """Return logits [B, L, vocab_size] for token ids idx [B, L] at positions start..start+L-1.

        With ``kv_cache`` (from :meth:`new_kv_cache`) the keys and values of earlier calls are reused and
        extended, so a causal model decodes one new token per call at the cost of that token alone.
        ``attention_mask`` [B, L] (1 = token, 0 = padding) hides padding keys and numbers each row's
        positions from its first real token, so a left-padded row computes what it computes alone.
        ``layer_caches`` (one dict per layer) is the prefix cache of :meth:`forward_cached`."""
        B, L = idx.shape
        end = start + L
        if end > self.cfg.seq_len:
            raise ValueError(f"sequence length {end} exceeds the model's seq_len {self.cfg.seq_len}")
        key_mask = None
        positions = torch.arange(start, end, device=idx.device)
        if attention_mask is not None:
            if kv_cache is not None or layer_caches is not None or self.factor_emb:
                raise ValueError("attention_mask works with plain full-sequence forwards only")
            key_mask = attention_mask.to(torch.bool)
            positions = (key_mask.long().cumsum(-1) - 1).clamp_min(0)  # [B, L]
        x = self.tok_emb(idx)
        rope = None
        if self.pos_emb is not None:
            x = x + self.pos_emb(positions)
        elif self.cfg.pos == "rope":
            rope = (self.rope_cos[positions], self.rope_sin[positions])
            if key_mask is not None:  # per-row tables [B, 1, L, D] broadcast over heads
                rope = (rope[0].unsqueeze(1), rope[1].unsqueeze(1))
        for f, emb in enumerate(self.factor_emb):
            x = x + emb(self.factor_idx[f, start:end])
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, rope, None if kv_cache is None else kv_cache[i], key_mask,
                      None if layer_caches is None else layer_caches[i])
        return self.logits(x)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Return the logits of hidden states ``h``. Under autocast the final norm and head run in float32, so
        bf16 autocast never rounds the logits that certainty scores (and their ties) are computed from."""
        if not torch.is_autocast_enabled(h.device.type):
            return self.head(self.norm(h))
        with torch.autocast(device_type=h.device.type, enabled=False):
            return F.linear(self.norm(h.float()), self.head.weight.float())

    def num_params(self, non_embedding: bool = False) -> int:
        """Return the parameter count; non_embedding excludes token/position embeddings and the output head."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.tok_emb.weight.numel() + self.head.weight.numel()
            if self.pos_emb is not None:
                n -= self.pos_emb.weight.numel()
            n -= sum(e.weight.numel() for e in self.factor_emb)
        return n


# name -> shape. Measured non-embedding parameter counts (blocks + norms; they do not depend on vocab,
# seq_len, causal or pos):
#   "0.2M":    205,120      "0.8M":    853,120      "3M":   2,877,888
#   "6M":    5,311,104      "19M":  18,880,896      "42M":  42,477,120
PRESETS: dict[str, dict] = {
    # small CPU presets
    "0.2M": dict(n_layer=2, n_head=4, d_model=64, d_ff=448),
    "0.8M": dict(n_layer=4, n_head=4, d_model=128, d_ff=384),
    "3M": dict(n_layer=6, n_head=4, d_model=192, d_ff=576),
    # paper-sized presets
    "6M": dict(n_layer=3, n_head=6, d_model=384, d_ff=1024),    # Ye et al.'s 3-layer 384-d GPT-2 (Sudoku)
    "19M": dict(n_layer=8, n_head=6, d_model=384, d_ff=1536),   # SMDM Diff_LLaMA_19M
    "42M": dict(n_layer=8, n_head=8, d_model=576, d_ff=2304),   # Shah et al.'s 8x576 ARM (GELU MLP 6x576)
}


def new_model(cfg: ModelConfig, seed: int | None = None) -> Transformer:
    """Return a freshly initialised :class:`Transformer` of shape ``cfg``.

    With ``seed`` the initial weights are a pure function of (cfg, seed) and the caller's global RNG is left
    as it was; without it they come from the global RNG (whatever state it is in)."""
    if seed is None:
        return Transformer(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return Transformer(cfg)


def build_model(preset: str, vocab_size: int, seq_len: int, causal: bool = False, pos: str = "rope",
                dropout: float = 0.0, pos_factors: list[list[int]] | None = None,
                seed: int | None = None) -> Transformer:
    """Return a freshly initialised :class:`Transformer` of the named preset (seeded: see :func:`new_model`)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown model preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    cfg = ModelConfig(vocab_size=vocab_size, seq_len=seq_len, causal=causal, pos=pos, dropout=dropout,
                      pos_factors=pos_factors, **PRESETS[preset])
    return new_model(cfg, seed)
