"""Text decoding: token-for-token parity with LLaDA's reference generate(), batch invariance with padding,
CFG, EOS options, loading through transformers, and the Monte-Carlo likelihood."""
from __future__ import annotations

import math

import pytest
import torch

from harness.decoding.decoder import DecodeConfig, decode
from harness.models.hf import TokenorderConfig, TokenorderForMaskedDiffusion
from harness.models.text import load_text_model, resolve_mask_id
from harness.decoding.textgen import decode_rows, generation_rows, infill_rows, mc_loglikelihood
from tests.llada_reference import llada_generate

V, MASK, EOS, EOT = 40, 39, 1, 2


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    cfg = TokenorderConfig(vocab_size=V, seq_len=96, n_layer=2, n_head=2, d_model=32, d_ff=64,
                           mask_token_id=MASK, eos_token_id=EOS, pad_token_id=EOS)
    m = TokenorderForMaskedDiffusion(cfg).eval()
    with torch.no_grad():  # larger weights than the 0.02 init: varied, confident predictions per position
        for p in m.parameters():
            if p.dim() == 2:
                p.mul_(10)
    return m


def ours(model, prompt, gen_length, steps, block_length, sampler, legacy=False, attention_mask=None, **knobs):
    x = torch.cat([prompt, torch.full((prompt.shape[0], gen_length), MASK)], 1)
    kw = {}
    if attention_mask is not None:
        kw["attention_mask"] = torch.cat([attention_mask, torch.ones(prompt.shape[0], gen_length, dtype=torch.long)], 1)
    cfg = DecodeConfig(steps=steps, block_length=block_length, mask_logit="keep",
                       noise="torch-legacy" if legacy else "torch",
                       score_dtype="float64" if legacy else "model", **knobs)
    return decode(model, x, MASK, sampler, cfg, forward_kwargs=kw, eos_ids=(EOS,), eot_ids=(EOT,)).tokens


CASES = [  # (gen_length, steps, block_length, temperature, cfg_scale)
    (16, 16, 16, 0.0, 0.0), (16, 8, 4, 0.0, 0.0), (24, 12, 8, 0.0, 0.0), (16, 16, 8, 0.7, 0.0),
    (16, 8, 16, 1.0, 0.0), (12, 12, 4, 0.0, 1.5), (12, 6, 6, 0.5, 0.5),
]


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("gen_length,steps,block_length,temperature,cfg_scale", CASES)
@pytest.mark.parametrize("ours_sampler,theirs", [("confidence", "low_confidence"), ("vanilla", "random")])
def test_tokens_equal_llada_reference(model, legacy, gen_length, steps, block_length, temperature, cfg_scale,
                                      ours_sampler, theirs):
    prompt = torch.randint(3, MASK, (3, 7), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(123)
    ref = llada_generate(model, prompt, steps=steps, gen_length=gen_length, block_length=block_length,
                         temperature=temperature, cfg_scale=cfg_scale, remasking=theirs, mask_id=MASK, legacy=legacy)
    torch.manual_seed(123)
    got = ours(model, prompt, gen_length, steps, block_length, ours_sampler, legacy=legacy,
               temperature=temperature, cfg_scale=cfg_scale)
    assert torch.equal(got, ref)


@pytest.mark.parametrize("gen_length,steps,block_length", [(16, 16, 16), (16, 8, 4)])
def test_top_prob_is_low_confidence_at_temperature_zero(model, gen_length, steps, block_length):
    prompt = torch.randint(3, MASK, (2, 5), generator=torch.Generator().manual_seed(2))
    ref = llada_generate(model, prompt, steps=steps, gen_length=gen_length, block_length=block_length, mask_id=MASK)
    assert torch.equal(ours(model, prompt, gen_length, steps, block_length, "top_prob"), ref)


@pytest.mark.parametrize("flags", [dict(logits_eos_inf=True), dict(confidence_eos_eot_inf=True)])
def test_eos_options_equal_llada_at_temperature_zero(model, flags):
    prompt = torch.randint(3, MASK, (2, 6), generator=torch.Generator().manual_seed(3))
    saved = model.net.head.weight.detach().clone()
    with torch.no_grad():  # EOS/EOT copy the rows of the two most frequent predictions: they win there
        pred = model(torch.cat([prompt, torch.full((2, 16), MASK)], 1)).logits[:, 6:].argmax(-1).flatten()
        common = torch.bincount(pred, minlength=V).argsort(descending=True)[:2].tolist()
        model.net.head.weight[EOS] = saved[common[0]]
        model.net.head.weight[EOT] = saved[common[1]]
    try:
        plain = llada_generate(model, prompt, steps=16, gen_length=16, block_length=8, mask_id=MASK)
        ref = llada_generate(model, prompt, steps=16, gen_length=16, block_length=8, mask_id=MASK,
                             eos_id=EOS, eot_id=EOT, **flags)
        got = ours(model, prompt, 16, 16, 8, "confidence", suppress_eos=flags.get("logits_eos_inf", False),
                   defer_eos=flags.get("confidence_eos_eot_inf", False))
    finally:
        with torch.no_grad():
            model.net.head.weight.copy_(saved)
    assert torch.equal(got, ref)
    assert not torch.equal(plain, ref)  # the option changed something in this setup
    if "logits_eos_inf" in flags:
        assert not bool((got[:, 6:] == EOS).any())


def test_left_padded_batch_equals_llada_with_attention_mask(model):
    g = torch.Generator().manual_seed(4)
    prompt = torch.randint(3, MASK, (3, 8), generator=g)
    am = torch.ones(3, 8, dtype=torch.long)
    am[0, :3] = 0
    am[2, :1] = 0
    prompt = torch.where(am.bool(), prompt, torch.full_like(prompt, EOS))
    ref = llada_generate(model, prompt, attention_mask=am, steps=8, gen_length=16, block_length=8, mask_id=MASK)
    assert torch.equal(ours(model, prompt, 16, 8, 8, "confidence", attention_mask=am), ref)


class _TM:
    """The slice of TextModel that decode_rows needs, around a bare model."""

    def __init__(self, model, padding=True):
        self.model, self.mask_id, self.pad_id = model, MASK, EOS
        self.eos_ids, self.eot_ids, self.device, self.supports_padding = (EOS,), (EOT,), "cpu", padding

    def __call__(self, x, **kw):
        return self.model(x, **kw).logits


class LladaStyle(torch.nn.Module):
    """A second model family for the invariance tests: a small random bidirectional transformer that numbers
    positions from 0 (absolute embeddings) and turns an attention mask into a -inf bias on masked keys, as
    LLaDA's model does. Left padding changes what it computes for a row."""

    def __init__(self, seed: int = 0, d: int = 32):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.tok = torch.nn.Parameter(torch.randn(V, d, generator=g))
        self.pos = torch.nn.Parameter(torch.randn(128, d, generator=g))
        self.qkv = torch.nn.Parameter(torch.randn(d, 3 * d, generator=g) / d ** 0.5)
        self.out = torch.nn.Parameter(torch.randn(d, V, generator=g) * 2)

    def forward(self, x, attention_mask=None):
        h = self.tok[x] + self.pos[: x.shape[1]]
        q, k, v = (h @ self.qkv).chunk(3, -1)
        att = q @ k.transpose(1, 2) / q.shape[-1] ** 0.5
        if attention_mask is not None:
            att = att.masked_fill(attention_mask[:, None, :] == 0, float("-inf"))
        return (h + torch.softmax(att, -1) @ v) @ self.out


def _invariance_rows(tm):
    g = torch.Generator().manual_seed(5)
    prompts = [torch.randint(3, MASK, (n,), generator=g).tolist() for n in (3, 9, 5, 12, 7, 5)]
    return prompts, generation_rows(tm, prompts, 12) + infill_rows(tm, prompts[:3], prompts[2:5], [4, 7, 2])


@pytest.mark.parametrize("sampler", ["top_prob", "margin", "vanilla", "entropy"])
@pytest.mark.parametrize("family", ["ours", "llada_style"])
def test_batched_text_decoding_is_batch_invariant(model, sampler, family):
    tm = _TM(model if family == "ours" else LladaStyle())
    prompts, rows = _invariance_rows(tm)
    for cfg in (DecodeConfig(steps=0, block_length=4), DecodeConfig(steps=0), DecodeConfig(steps=6, temperature=0.8),
                DecodeConfig(steps=12, block_length=4, temperature=1.0, gumbel=0.5)):
        seeds = torch.arange(len(rows)) * 7919 + 11
        together = decode_rows(tm, rows, sampler, cfg, seeds)
        for i, r in enumerate(rows):
            alone = decode_rows(tm, [r], sampler, cfg, seeds[i:i + 1])[0]
            assert alone.ids == together[i].ids and alone.order == together[i].order, (i, cfg)
            assert alone.nfe == together[i].nfe


def test_left_padding_would_change_a_positions_from_zero_model():
    # why rows are bucketed, never padded: for this family a padded row is a different input
    from harness.decoding.textgen import pack
    m = LladaStyle()
    rows = [[5, 6, 7, MASK, MASK], [5, 6, 7, 8, 9, 10, MASK, MASK]]
    x, am = pack(rows, EOS)
    padded = m(x, attention_mask=am)[0, -5:]
    alone = m(torch.tensor([rows[0]]))[0]
    assert not torch.allclose(padded, alone, atol=1e-3)


def test_rows_needing_different_block_counts_are_refused_by_decode_and_bucketed_by_decode_rows(model):
    x = torch.tensor([[5, MASK, MASK, MASK, MASK, MASK], [5, 6, 7, 8, MASK, MASK]])
    with pytest.raises(ValueError, match="numbers of blocks"):
        decode(model, x, MASK, "margin", DecodeConfig(steps=6, block_length=2))
    tm = _TM(model)
    cfg = DecodeConfig(steps=6, block_length=2)
    together = decode_rows(tm, x.tolist(), "margin", cfg, torch.tensor([3, 4]))
    alone = [decode_rows(tm, [r], "margin", cfg, torch.tensor([s]))[0] for r, s in zip(x.tolist(), (3, 4))]
    assert [o.ids for o in together] == [o.ids for o in alone]
    assert [o.order for o in together] == [o.order for o in alone]
    # the short row is one block with all 6 steps (one token at steps 0 and 1), not 2 steps per block as the
    # 3-block row beside it would impose; the long row gets 2 steps per block
    assert sorted(together[1].order) == [0, 1] and sorted(together[0].order) == [0, 1, 2, 3, 4]


def test_one_token_per_step_reveals_one_position_per_forward(model):
    tm = _TM(model)
    outs = decode_rows(tm, infill_rows(tm, [[5, 6, 7]], [[8, 9]], [6]), "margin", DecodeConfig(steps=0))
    assert sorted(outs[0].order) == list(range(6)) and outs[0].nfe == 6


def test_mc_loglikelihood_is_exact_for_one_token_and_deterministic(model):
    tm = _TM(model)
    ctx, cont = [5, 6, 7, 8], [9]
    x = torch.tensor([ctx + [MASK]])
    exact = float(torch.log_softmax(model(x).logits[0, -1].detach().float(), -1)[9])
    assert math.isclose(mc_loglikelihood(tm, ctx, cont, mc_num=8, batch_size=4), exact, rel_tol=1e-5)
    a = mc_loglikelihood(tm, ctx, [9, 10, 11], mc_num=16, batch_size=8, seed=3)
    b = mc_loglikelihood(tm, ctx, [9, 10, 11], mc_num=16, batch_size=8, seed=3)
    assert a == b and a < 0


def test_saved_model_loads_through_auto_classes(tmp_path, model):
    from transformers import PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {f"t{i}": i for i in range(V) if i not in (EOS, EOT, MASK)}
    vocab.update({"<|endoftext|>": EOS, "<|eot_id|>": EOT, "<|mdm_mask|>": MASK})
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    model.save_pretrained(tmp_path)
    fast.save_pretrained(tmp_path)
    tm = load_text_model(str(tmp_path))
    assert (tm.mask_id, tm.eos_ids, tm.eot_ids, tm.pad_id) == (MASK, (EOS,), (EOT,), EOS)
    x = torch.randint(3, MASK, (2, 9))
    assert torch.equal(tm(x), model(x).logits)
    assert tm.supports_padding


def test_mask_id_comes_from_config_tokenizer_or_a_clear_error():
    class C:
        mask_token_id = None

    class T:
        mask_token_id = None

        def get_vocab(self):
            return {"a": 0}

    with pytest.raises(ValueError, match="--mask-id"):
        resolve_mask_id(C(), T())
    assert resolve_mask_id(C(), T(), override=7) == 7
    T.get_vocab = lambda self: {"<|mdm_mask|>": 126336}
    assert resolve_mask_id(C(), T()) == 126336


def test_missing_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_text_model(str(tmp_path))
