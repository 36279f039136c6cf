"""The rules published after the paper (harness.decoding.rules), each against its definition on hand-built
probabilities, and the adaptive-selection contract of the loop."""
from __future__ import annotations

import math

import pytest
import torch

from harness.decoding.decoder import DecodeConfig, decode
from harness.decoding.rules import dilation_levels, pc_score
from harness.decoding.samplers import SAMPLERS, StepView, get_sampler, register

MASK = 4  # four values + the mask id


def probs_model(rows, calls=None):
    """A model returning log(rows) (fixed per-position probabilities over 4 values) at every call."""
    p = torch.tensor(rows, dtype=torch.float64)
    logits = torch.cat([p.clamp_min(1e-30).log(), torch.full((len(rows), 1), -1e9, dtype=torch.float64)], -1)

    def model(x):
        if calls is not None:
            calls.append(x.clone())
        return logits.to(torch.float32).expand(x.shape[0], -1, -1).clone()
    return model


def peaked(c):
    """A distribution over 4 values whose top probability is c (the rest shared equally)."""
    return [c] + [(1 - c) / 3] * 3


def run(sampler, rows, **knobs):
    x = torch.full((1, len(rows)), MASK)
    cfg = DecodeConfig(steps=50, sampler_args=knobs).for_sampler(sampler)
    return decode(probs_model(rows), x, MASK, sampler, cfg)


def test_threshold_reveals_every_confident_position_at_once_and_at_least_one():
    out = run("threshold", [peaked(0.95), peaked(0.91), peaked(0.5), peaked(0.9), peaked(0.3)])
    assert out.order[0].tolist() == [0, 0, 1, 0, 2]  # >= 0.9 together; then one per step, most confident first
    assert out.nfe == 3 and int(out.nfe_row[0]) == 3
    lax = run("threshold", [peaked(0.95), peaked(0.91), peaked(0.5), peaked(0.9), peaked(0.3)], tau=0.4)
    assert lax.order[0].tolist() == [0, 0, 0, 0, 1] and lax.nfe == 2


def _entropy(p):
    return -sum(q * math.log(q) for q in p if q > 0)


def test_eb_keeps_the_longest_low_entropy_prefix_within_gamma():
    rows = [peaked(0.97), peaked(0.6), peaked(0.99), peaked(0.8)]
    h = sorted(_entropy(r) for r in rows)            # positions by entropy: 2, 0, 3, 1
    gamma = h[0] + h[1] + 1e-9                        # sum of the first k-1 entropies <= gamma  ->  k = 3
    out = run("eb", rows, gamma=gamma)
    assert out.order[0].tolist() == [0, 1, 0, 0]
    tiny = run("eb", rows, gamma=0.0)                # nothing beyond the first: one per step, lowest entropy first
    assert tiny.order[0].tolist() == [1, 3, 0, 2]


def test_klass_waits_for_history_steps_of_stability_then_reveals_the_confident_together():
    rows = [peaked(0.95)] * 5 + [peaked(0.5)] * 2
    out = run("klass", rows)                          # history 2: nothing is stable before the third step
    assert out.order[0].tolist() == [0, 1, 2, 2, 2, 3, 4]
    assert out.nfe == 5


def test_klass_never_reveals_a_position_whose_distribution_keeps_moving():
    def model_for(moving):
        calls = []

        def model(x):
            calls.append(1)
            c = peaked(0.93)
            rows = [peaked(0.95), peaked(0.95), list(reversed(c)) if moving and len(calls) % 2 else c, c]
            p = torch.tensor(rows, dtype=torch.float64)
            return torch.cat([p.log(), torch.full((4, 1), -1e9, dtype=torch.float64)], -1).float()[None]
        return model
    x = torch.full((1, 4), MASK)
    still = decode(model_for(False), x, MASK, "klass", DecodeConfig().for_sampler("klass"))
    moving = decode(model_for(True), x, MASK, "klass", DecodeConfig().for_sampler("klass"))
    assert still.order[0].tolist() == [0, 1, 2, 2]   # two fallback steps, then both stable confident ones
    assert moving.order[0].tolist() == [0, 1, 3, 2]  # confident but never stable: only the fallback reveals it


def test_pc_score_is_position_decayed_calibrated_confidence():
    p = torch.tensor([[peaked(0.9), peaked(0.6), peaked(0.99)]], dtype=torch.float64)
    prior = torch.tensor([0.5, 0.2, 0.2, 0.1], dtype=torch.float64)
    chosen = p.argmax(-1)
    v = StepView(p, chosen, p.new_zeros(()), torch.ones(1, 3, dtype=torch.bool), torch.tensor([[0, 1, 2]]),
                 torch.tensor([[3]]), 0, knobs={"lam": 0.25, "alpha": 10.0}, token_prior=prior)
    want = [math.exp(-0.25 * i) * min(-c * math.log(0.5), 10.0) for i, c in enumerate([0.9, 0.6, 0.99])]
    assert torch.allclose(pc_score(v)[0], torch.tensor(want, dtype=torch.float64))
    clipped = pc_score(StepView(p, chosen, p.new_zeros(()), v.eligible, v.position, v.block_size, 0,
                                knobs={"lam": 0.0, "alpha": 0.5}, token_prior=prior))
    assert torch.allclose(clipped[0], torch.tensor([0.5, -0.6 * math.log(0.5), 0.5], dtype=torch.float64))
    uniform = pc_score(StepView(p, chosen, p.new_zeros(()), v.eligible, v.position, v.block_size, 0,
                                knobs={"lam": 0.0, "alpha": 10.0}))  # no prior: 1/V for every token
    assert torch.allclose(uniform[0], p.max(-1).values[0] * math.log(4))


def test_pc_decodes_with_its_step_schedule_and_a_prior():
    rows = [peaked(0.9), peaked(0.6), peaked(0.99), peaked(0.7)]
    x = torch.full((1, 4), MASK)
    out = decode(probs_model(rows), x, MASK, "pc", DecodeConfig(steps=4, sampler_args={"lam": 0.0}),
                 token_prior=torch.tensor([0.4, 0.3, 0.2, 0.1]))
    assert out.order[0].tolist() == [1, 3, 0, 2] and out.nfe == 4


@pytest.mark.parametrize("size,levels", [
    (8, [[0, 4], [2, 6], [1, 3, 5, 7]]),
    (16, [[0, 8], [4, 12], [2, 6, 10, 14], [1, 3, 5, 7, 9, 11, 13, 15]]),
    (24, [[0, 12], [6, 18], [3, 9, 15, 21], [1, 2, 4, 5, 7, 8, 10, 11, 13, 14, 16, 17, 19, 20, 22, 23]]),
    (12, [[0, 6], [3, 9], [1, 2, 4, 5, 7, 8, 10, 11]]),
    (5, [[0, 1, 2, 3, 4]]),          # {0,2,4} then {1,3}: the smaller last level is merged
])
def test_dus_levels_match_the_released_schedule(size, levels):
    lv = dilation_levels(torch.arange(size)[None], torch.tensor([[size]]))[0]
    assert [torch.nonzero(lv == j).flatten().tolist() for j in range(int(lv.max()) + 1)] == levels


def test_dus_decodes_log2_block_steps_per_block_and_skips_given_levels():
    rows = [peaked(0.5)] * 16
    x = torch.full((1, 16), MASK)
    out = decode(probs_model(rows), x, MASK, "dus", DecodeConfig(steps=0, block_length=8))
    assert out.nfe == 6                                          # 3 per block of 8, blocks one after the other
    assert out.order[0, :8].tolist() == [0, 2, 1, 2, 0, 2, 1, 2] and out.order[0, 8:].min() == 3
    x[0, 4] = 1                                                  # offset 0 is the first mask, so {0,4} -> {0}
    x[0, 0] = 2
    x[0, 1] = MASK
    given = decode(probs_model(rows), x, MASK, "dus", DecodeConfig(steps=0, block_length=8))
    assert given.order[0, 0] == -1 and given.order[0, 4] == -1


def test_p2_keeps_the_most_likely_and_masks_unlikely_decoded_tokens_again():
    rows = [peaked(0.9), peaked(0.5), peaked(0.8), peaked(0.6)]
    x = torch.full((1, 4), MASK)
    equal = decode(probs_model(rows), x, MASK, "p2", DecodeConfig(steps=4))        # eta 1: nothing is taken back
    assert equal.order[0].tolist() == [0, 3, 1, 2]
    harsh = decode(probs_model(rows), x, MASK, "p2", DecodeConfig(steps=4, sampler_args={"eta": 10.0}))
    # step 1: decoded 0 scores 10·log .9 < log .8, log .6 -> masked again, 2 and 3 kept; step 2: 10·log .6 is
    # the lowest -> 3 masked again, 0 and 1 revealed; the last step reveals 3 and masks nothing
    assert harsh.order[0].tolist() == [2, 2, 1, 3] and not bool((harsh.tokens == MASK).any())
    assert harsh.nfe == 4


def _varied_model(V=5):
    def model(x):
        g = torch.Generator().manual_seed(int(x.sum()))
        logits = torch.randn(x.shape[0], x.shape[1], V + 1, generator=g)
        logits[..., V] = -1e9
        return logits
    return model


def test_remdm_at_eta_zero_is_ancestral_vanilla_coin_for_coin():
    x = torch.full((3, 10), 5)
    x[0, :3] = 1
    x[2, 4:] = 2
    for T in (0.0, 1.0):
        a = decode(_varied_model(), x, 5, "remdm", DecodeConfig(steps=5, temperature=T, sampler_args={"eta": 0.0}),
                   seeds=torch.arange(3))
        b = decode(_varied_model(), x, 5, "vanilla_ancestral", DecodeConfig(steps=5, temperature=T),
                   seeds=torch.arange(3))
        assert torch.equal(a.tokens, b.tokens) and torch.equal(a.order, b.order)


def test_remdm_at_full_eta_masks_every_earlier_token_again():
    x = torch.full((2, 12), 5)
    out = decode(_varied_model(), x, 5, "remdm", DecodeConfig(steps=3, sampler_args={"eta": 1.0}),
                 seeds=torch.arange(2))
    # step 1 of 3: sigma = min(1, (1 - a_s) / a_t) = min(1, (1/3) / (1/3)) = 1, so whatever step 0 revealed is
    # masked again: every token was last revealed at step 1 or 2
    assert set(out.order.flatten().tolist()) == {1, 2} and not bool((out.tokens == 5).any())
    plain = decode(_varied_model(), x, 5, "remdm", DecodeConfig(steps=3, sampler_args={"eta": 0.0}),
                   seeds=torch.arange(2))
    assert 0 in set(plain.order.flatten().tolist())


def test_remdm_rescale_scales_the_largest_remasking_probability():
    """rescale: sigma = eta * min(1, (1 - a_s) / a_t). eta = 0 is ancestral vanilla; eta = 1 at step 1 of 3 is
    sigma = 1 (every token of step 0 masked again), exactly as cap at eta = 1."""
    x = torch.full((3, 10), 5)
    x[0, :3] = 1
    for T in (0.0, 1.0):
        a = decode(_varied_model(), x, 5, "remdm_rescale",
                   DecodeConfig(steps=5, temperature=T, sampler_args={"eta": 0.0}), seeds=torch.arange(3))
        b = decode(_varied_model(), x, 5, "vanilla_ancestral", DecodeConfig(steps=5, temperature=T),
                   seeds=torch.arange(3))
        assert torch.equal(a.tokens, b.tokens) and torch.equal(a.order, b.order)
    y = torch.full((2, 12), 5)
    for steps, eta in ((3, 1.0),):
        cfg = DecodeConfig(steps=steps, sampler_args={"eta": eta})
        r = decode(_varied_model(), y, 5, "remdm_rescale", cfg, seeds=torch.arange(2))
        c = decode(_varied_model(), y, 5, "remdm", cfg, seeds=torch.arange(2))
        assert torch.equal(r.tokens, c.tokens) and torch.equal(r.order, c.order)
    # where sigma_max < 1 the two differ: step 4 of 6 has sigma_max = (1/6) / (4/6) = 0.25; rescale eta 0.5 gives
    # 0.125, cap eta 0.5 gives 0.25
    v = type("V", (), {})()
    v.block_step, v.block_steps, v.knobs = 4, 6, {"eta": 0.5}
    v.eligible = torch.zeros(1, 1000, dtype=torch.bool)
    v.decoded = torch.ones(1, 1000, dtype=torch.bool)
    v.coins = (torch.arange(1000).double() + 0.5).view(1, -1) / 1000
    from harness.decoding.rules import _remdm_cap, _remdm_rescale
    assert int(_remdm_rescale(v)[1].sum()) == 125 and int(_remdm_cap(v)[1].sum()) == 250


def test_knobs_defaults_tags_and_errors():
    cfg = DecodeConfig(steps=20, sampler_args={"tau": 0.7, "gamma": 0.5})
    th = cfg.for_sampler("threshold")
    assert th.steps == 0 and th.sampler_args == {"tau": 0.7} and th.tag().endswith("-tau0.7")
    assert cfg.for_sampler("klass").sampler_args == {"tau": 0.7, "kappa": 0.01, "history": 2}
    assert cfg.for_sampler("margin").sampler_args == {} and cfg.for_sampler("margin").steps == 20
    assert cfg.for_sampler("margin").tag() == "s20-T0-g0"
    with pytest.raises(ValueError, match="has no knob 'gamma'"):
        decode(probs_model([peaked(0.9)]), torch.full((1, 1), MASK), MASK, "threshold",
               DecodeConfig(steps=0, sampler_args={"gamma": 1.0}))
    with pytest.raises(ValueError, match="steps=0"):
        decode(probs_model([peaked(0.9)]), torch.full((1, 1), MASK), MASK, "threshold", DecodeConfig(steps=5))
    with pytest.raises(ValueError, match="sampler_args"):
        DecodeConfig(sampler_args={"tau": "high"}).validate()
    with pytest.raises(ValueError, match="steps >= 1"):
        decode(probs_model([peaked(0.9)]), torch.full((1, 1), MASK), MASK, "p2", DecodeConfig(steps=0))
    for name in ("threshold", "eb", "klass", "pc", "dus", "p2", "remdm", "remdm_rescale"):
        smp = get_sampler(name)
        assert smp.source.startswith("arXiv") and not smp.in_paper and smp.summary


def test_a_new_rule_is_one_function_and_one_register_line():
    def rightmost_first(v):
        return v.position.double()
    try:
        register("test_rightmost", summary="test only", in_paper=False)(rightmost_first)
        out = decode(probs_model([peaked(0.5)] * 4), torch.full((1, 4), MASK), MASK, "test_rightmost",
                     DecodeConfig(steps=4))
        assert out.order[0].tolist() == [3, 2, 1, 0]
        with pytest.raises(ValueError, match="already registered"):
            register("test_rightmost")(rightmost_first)
    finally:
        SAMPLERS.pop("test_rightmost", None)


@pytest.mark.parametrize("name", ["threshold", "eb", "klass", "pc", "dus", "p2", "remdm", "remdm_rescale"])
def test_every_rule_fills_every_mask_in_a_batch_of_rows_that_differ(name):
    torch.manual_seed(0)
    V, L, B = 6, 12, 5
    W = torch.randn(V + 1, V + 1)

    def model(x):
        oh = torch.nn.functional.one_hot(x, V + 1).float()
        logits = oh @ W + oh.mean(1, keepdim=True) @ W * 2
        logits[..., V] = -1e9
        return logits
    x = torch.randint(0, V, (B, L))
    x[torch.rand(B, L) < 0.6] = V
    out = decode(model, x, V, name, DecodeConfig(steps=6).for_sampler(name), seeds=torch.arange(B))
    assert not bool((out.tokens == V).any()) and torch.equal(out.tokens[x != V], x[x != V])
    assert bool(((out.order >= 0) == (x == V)).all())
    # rows decode as they would alone (the rules are per row)
    for b in range(B):
        alone = decode(model, x[b:b + 1], V, name, DecodeConfig(steps=6).for_sampler(name), seeds=torch.arange(b, b + 1))
        assert torch.equal(alone.tokens[0], out.tokens[b]) and torch.equal(alone.order[0], out.order[b])


def test_puzzle_rows_needing_different_block_counts_are_decoded_in_buckets():
    from harness.run.puzzles import decode_in_buckets
    W = torch.randn(6, 6, generator=torch.Generator().manual_seed(0))

    def model(x):                                   # each row's logits depend on that row only
        oh = torch.nn.functional.one_hot(x, 6).float()
        logits = oh @ W + oh.mean(1, keepdim=True) @ W * 2
        logits[..., 5] = -1e9
        return logits
    x = torch.full((4, 12), 5)
    x[0, :7] = 1            # masks from 7: 5 cells, 2 blocks of 3
    x[1, 3] = 2             # masks from 0: 12 cells, 4 blocks
    x[2, :10] = 0           # 2 cells: 1 block
    cfg = DecodeConfig(steps=0, block_length=3).for_sampler("dus")
    seeds = torch.arange(4) * 3 + 1
    with pytest.raises(ValueError, match="different numbers of blocks"):
        decode(model, x, 5, "dus", cfg, seeds=seeds)
    rows = decode_in_buckets(model, x, 5, "dus", cfg, seeds, None, None)
    for b in range(4):
        alone = decode(model, x[b:b + 1], 5, "dus", cfg, seeds=seeds[b:b + 1])
        tokens, order, nfe, steps, nfe_row = rows[b]
        assert tokens.tolist() == alone.tokens[0].tolist() and order == alone.order[0].tolist()
        assert nfe_row == int(alone.nfe_row[0])
