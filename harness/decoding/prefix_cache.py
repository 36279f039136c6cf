"""Fast-dLLM's prefix key/value cache for semi-autoregressive decoding: APPROXIMATE, off by default.

With ``DecodeConfig(cache="prefix")`` each block's first step runs the whole sequence and keeps the keys and
values of the positions before the block; every later step of the block runs only the positions from the
block's start to the end (the block, the blocks after it and any suffix) against those cached keys. In a
bidirectional model the prefix's keys depend on the tokens after it, so while a block is decoded the cache
is stale: the logits differ from the exact decode's, and so can the tokens. The cache is rebuilt at every
block. Positions before the block keep the logits of the block's first step. Combined with a confidence
threshold (``sampler="threshold"``), this is Fast-dLLM's recipe (Wu et al. 2025, arXiv 2505.22618);
``benchmarks/fast_text_mode.py`` measures its speed-up and its agreement with the exact decode.

The model contract is LLaDA's (OLMo's) key/value cache, as Fast-dLLM uses it: ``forward(ids, use_cache=True)``
returns ``.logits`` and ``.past_key_values`` (per layer a (keys, values) pair with positions on dim -2, or a
``transformers`` ``Cache`` with ``crop``), and ``forward(ids_after, past_key_values=prefix, use_cache=True)``
takes the positions after the cached ones; ``transformers`` 5 models name the argument and the output field
``cache`` instead, which is taken the same way. Our models follow it; LLaDA's released ``modeling_llada.py``
refuses a cache (it asserts ``past_key_values is None``), so LLaDA needs Fast-dLLM's model file for this mode.
"""
from __future__ import annotations

import inspect

import torch


CACHE_ARGS = ("past_key_values", "cache")
"""Names a forward's key/value-cache argument (and output field) goes by: LLaDA's and ours, ``transformers`` 5's."""


def cache_argument(model) -> str | None:
    """Return the name of ``model.forward``'s key/value-cache argument when it also takes ``use_cache``, else None."""
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return None
    if "use_cache" not in params:
        return None
    return next((a for a in CACHE_ARGS if a in params), None)


def crop_past(past, length: int):
    """Return the cache of the first ``length`` positions: tuples cut on dim -2, a ``Cache`` cropped in place."""
    if hasattr(past, "crop"):
        extra = int(past.get_seq_length()) - length
        if extra > 0:
            past.crop(-extra)   # a negative count removes that many positions (transformers 4 and 5 alike)
        return past
    return tuple((k[..., :length, :], v[..., :length, :]) for k, v in past)


class PrefixCachedForward:
    """The forward of one :func:`harness.decoding.decoder.decode` call under ``cache="prefix"``: call it with the
    current tokens, the block's first position and whether the block just began; it returns logits [B, L, V]."""

    def __init__(self, model):
        self.arg = cache_argument(model)
        if self.arg is None:
            raise ValueError(f"cache='prefix' needs a model whose forward takes past_key_values (or cache) and "
                             f"use_cache (LLaDA's key/value cache contract); {type(model).__name__} does not")
        self.model = model
        self.past = None
        self.start = -1
        self.prefix_logits: torch.Tensor | None = None

    def _run(self, ids: torch.Tensor, past=None):
        try:
            out = self.model(ids, **{self.arg: past}, use_cache=True)
        except AssertionError as e:   # LLaDA's own model file: "The kvcache is not suppotred for MDM."
            raise ValueError(f"cache='prefix': the model refused a key/value cache ({e}); LLaDA's released "
                             f"modeling_llada.py has none, Fast-dLLM's model file does") from e
        if getattr(out, self.arg, None) is None or not hasattr(out, "logits"):
            raise ValueError(f"cache='prefix': the model returned no {self.arg} with use_cache=True")
        return out

    def __call__(self, x: torch.Tensor, start: int, refresh: bool) -> torch.Tensor:
        """Return logits [B, L, V] for ``x`` [B, L]: a full forward (cache rebuilt) when ``refresh`` or the block
        start moved, else a forward of ``x[:, start:]`` on the cached prefix, with the block's first-step
        logits standing in before ``start``."""
        if refresh or self.past is None or start != self.start:
            out = self._run(x)
            self.past, self.start = crop_past(getattr(out, self.arg), start), start
            self.prefix_logits = out.logits[:, :start].clone()
            return out.logits
        if hasattr(self.past, "crop"):   # a Cache object grows in place: cut it back to the prefix first
            crop_past(self.past, start)
        out = self._run(x[:, start:], self.past)
        return torch.cat([self.prefix_logits.to(out.logits.dtype), out.logits], dim=1)
