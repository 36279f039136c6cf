"""The approximate fast text mode: Fast-dLLM's prefix key/value cache (``DecodeConfig(cache="prefix")``).

What must hold: a cache built from the current tokens gives the exact logits; for a causal model the cache is
exact at every step (its prefix does not depend on later tokens), through our model and through a
``transformers`` Llama with its ``Cache`` object; a block whose every step rebuilds the cache decodes exactly
as without it; rows stay batch-invariant; every unsupported combination is a one-line error."""
from __future__ import annotations

import pytest
import torch

from harness.decoding.decoder import DecodeConfig, decode
from harness.decoding.prefix_cache import PrefixCachedForward, cache_argument
from harness.decoding.textgen import decode_rows, generation_rows, infill_rows
from harness.models.hf import TokenorderConfig, TokenorderForMaskedDiffusion

V, MASK, EOS = 40, 39, 1


def _model(causal: bool = False, seed: int = 0, scale: float = 10.0) -> TokenorderForMaskedDiffusion:
    torch.manual_seed(seed)
    cfg = TokenorderConfig(vocab_size=V, seq_len=96, n_layer=2, n_head=2, d_model=32, d_ff=64, causal=causal,
                           mask_token_id=MASK, eos_token_id=EOS, pad_token_id=EOS)
    m = TokenorderForMaskedDiffusion(cfg).eval()
    with torch.no_grad():   # larger weights than the 0.02 init: confident, varied predictions
        for p in m.parameters():
            if p.dim() == 2:
                p.mul_(scale)
    return m


@pytest.fixture(scope="module")
def model():
    return _model()


def _rows(n_rows=3, prompt=9, gen=24, seed=1):
    x = torch.randint(3, MASK, (n_rows, prompt + gen), generator=torch.Generator().manual_seed(seed))
    x[:, prompt:] = MASK
    return x


@torch.no_grad()
def test_fresh_cache_gives_the_exact_logits(model):
    x = _rows()
    full = model(x).logits
    f = PrefixCachedForward(model)
    assert torch.equal(f(x, 9, refresh=True), full)
    assert f.past[0][0].shape[-2] == 9                       # the cache holds the prefix only
    window = f(x, 9, refresh=False)                          # nothing changed since: the same numbers
    torch.testing.assert_close(window, full, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_bidirectional_cache_is_stale_after_a_reveal(model):
    """The approximation is real: once the block changes, the prefix's cached keys no longer match."""
    x = _rows()
    f = PrefixCachedForward(model)
    f(x, 9, refresh=True)
    x2 = x.clone()
    x2[:, 9:13] = 5
    cached, exact = f(x2, 9, refresh=False), model(x2).logits
    assert not torch.allclose(cached[:, 9:], exact[:, 9:], atol=1e-4)


@pytest.mark.parametrize("family", ["ours_causal", "hf_llama"])
@torch.no_grad()
def test_causal_models_cache_exactly_at_every_step(family):
    if family == "ours_causal":
        m = _model(causal=True)
    else:
        from transformers import LlamaConfig, LlamaForCausalLM
        torch.manual_seed(0)
        m = LlamaForCausalLM(LlamaConfig(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=64)).eval()
    x = _rows()
    f = PrefixCachedForward(m)
    f(x, 9, refresh=True)
    for step, pos in enumerate((11, 20, 9, 30)):             # the window changes step by step; the cache stays
        x = x.clone()
        x[:, pos] = 3 + step
        got, exact = f(x, 9, refresh=False), m(x).logits
        torch.testing.assert_close(got, exact, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sampler", ["margin", "top_prob", "vanilla"])
@pytest.mark.parametrize("block_length", [None, 8])
def test_a_step_per_block_decodes_exactly(model, sampler, block_length):
    """Every step that starts a block rebuilds the cache, so one step per block is the exact decode."""
    x = _rows()
    steps = 1 if block_length is None else 3
    cfg = DecodeConfig(steps=steps, block_length=block_length, temperature=0.7)
    exact = decode(model, x, MASK, sampler, cfg)
    fast = decode(model, x, MASK, sampler, DecodeConfig(**{**cfg.to_dict(), "cache": "prefix"}))
    assert torch.equal(exact.tokens, fast.tokens) and torch.equal(exact.order, fast.order)
    assert exact.nfe == fast.nfe


@pytest.mark.parametrize("sampler", ["margin", "threshold"])
def test_cached_decode_fills_every_mask_and_keeps_the_prompt(model, sampler):
    x = _rows()
    cfg = DecodeConfig(steps=24, block_length=8, cache="prefix").for_sampler(sampler)
    out = decode(model, x, MASK, sampler, cfg)
    assert not bool((out.tokens == MASK).any())
    assert torch.equal(out.tokens[:, :9], x[:, :9])
    assert bool((out.order[:, 9:] >= 0).all())


def test_cached_rows_are_batch_invariant(model):
    class TM:
        mask_id, pad_id, eos_ids, eot_ids, device, supports_padding = MASK, EOS, (EOS,), (), "cpu", True

    tm = TM()
    tm.model = model
    g = torch.Generator().manual_seed(5)
    prompts = [torch.randint(3, MASK, (n,), generator=g).tolist() for n in (3, 9, 5, 9, 7, 5)]
    rows = generation_rows(tm, prompts, 12) + infill_rows(tm, prompts[:3], prompts[2:5], [4, 7, 2])
    seeds = torch.arange(len(rows)) * 7919 + 11
    for sampler, cfg in (("margin", DecodeConfig(steps=6, block_length=4, temperature=0.8, cache="prefix")),
                         ("threshold", DecodeConfig(block_length=4, cache="prefix").for_sampler("threshold"))):
        together = decode_rows(tm, rows, sampler, cfg, seeds)
        for i, r in enumerate(rows):
            alone = decode_rows(tm, [r], sampler, cfg, seeds[i:i + 1])[0]
            assert alone.ids == together[i].ids and alone.order == together[i].order and alone.nfe == together[i].nfe


class _NoCache(torch.nn.Module):
    def forward(self, x):
        return torch.zeros(*x.shape, V)


class _RefusesCache(torch.nn.Module):
    """LLaDA's released model file: it takes the arguments and asserts that no cache is used."""

    def forward(self, x, past_key_values=None, use_cache=False):
        assert past_key_values is None and not use_cache, "The kvcache is not suppotred for MDM."
        return torch.zeros(*x.shape, V)


def test_unsupported_models_and_settings_are_one_line_errors(model):
    x = _rows()
    assert cache_argument(model) == "past_key_values" and cache_argument(_NoCache()) is None
    with pytest.raises(ValueError, match="needs a model whose forward takes past_key_values"):
        decode(_NoCache(), x, MASK, "margin", DecodeConfig(steps=24, cache="prefix"))
    with pytest.raises(ValueError, match="Fast-dLLM's model file"):
        decode(_RefusesCache(), x, MASK, "margin", DecodeConfig(steps=24, cache="prefix"))
    with pytest.raises(ValueError, match="cfg_scale"):
        DecodeConfig(cache="prefix", cfg_scale=1.0).validate()
    with pytest.raises(ValueError, match="cache must be"):
        DecodeConfig(cache="dual").validate()
    ragged = x.clone()
    ragged[0, 7:9] = MASK                                     # row 0's masked span starts earlier
    with pytest.raises(ValueError, match="different positions"):
        decode(model, ragged, MASK, "margin", DecodeConfig(steps=26, cache="prefix"))
    with pytest.raises(ValueError, match="unpadded"):
        decode(model, x, MASK, "margin", DecodeConfig(steps=24, cache="prefix"),
               forward_kwargs={"attention_mask": torch.ones_like(x)})


def test_the_mode_is_labelled_in_the_tag_and_off_by_default():
    assert DecodeConfig().cache == "none" and "cache" not in DecodeConfig().tag()
    assert DecodeConfig(cache="prefix").tag().endswith("-prefixcache")
