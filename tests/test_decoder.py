"""The decoding loop: schedules, given tokens, batch invariance, blocks, remasking, noise."""
import pytest
import torch

from harness.decoding import rng
from harness.decoding.decoder import DecodeConfig, block_layout, decode, step_counts
from harness.models import build_model

V, MASK, L = 6, 5, 24


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = build_model("0.2M", vocab_size=V, seq_len=L)
    return m.eval()


def prompts(n, seed=0, frac=0.6):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, MASK, (n, L), generator=g)
    hide = torch.rand(n, L, generator=g) < frac
    return torch.where(hide, torch.full_like(x, MASK), x)


def test_step_counts_sum_and_remainder_first():
    n = torch.tensor([0, 7, 50, 3])
    k = step_counts(n, 5)
    assert k.sum(-1).tolist() == [0, 7, 50, 3]
    assert k[1].tolist() == [2, 2, 1, 1, 1]
    assert k[3].tolist() == [1, 1, 1, 0, 0]
    assert (k.max(-1).values - k.min(-1).values <= 1).all()


@pytest.mark.parametrize("sampler", ["vanilla", "vanilla_ancestral", "top_prob", "margin", "entropy", "confidence"])
@pytest.mark.parametrize("steps", [1, 4, 7, 30])
def test_every_mask_revealed_given_untouched_schedule_followed(model, sampler, steps):
    x = prompts(8)
    out = decode(model, x, MASK, sampler, DecodeConfig(steps=steps, temperature=1.0))
    masked = x == MASK
    assert not (out.tokens == MASK).any()
    assert torch.equal(out.tokens[~masked], x[~masked])
    assert (out.order[~masked] == -1).all() and (out.order[masked] >= 0).all() and (out.order < steps).all()
    if sampler != "vanilla_ancestral":
        expected = step_counts(masked.sum(-1), steps)
        for s in range(steps):
            assert torch.equal((out.order == s).sum(-1), expected[:, s])


@pytest.mark.parametrize("sampler", ["vanilla", "top_prob", "margin", "entropy", "vanilla_ancestral"])
@pytest.mark.parametrize("temperature,gumbel", [(0.0, 0.0), (1.0, 0.5)])
def test_batch_invariance(model, sampler, temperature, gumbel):
    x = prompts(16, seed=3)
    seeds = rng.example_seeds(7, range(16))
    cfg = DecodeConfig(steps=8, temperature=temperature, gumbel=gumbel)
    full = decode(model, x, MASK, sampler, cfg, seeds=seeds)
    for i in (0, 5, 15):
        alone = decode(model, x[i:i + 1], MASK, sampler, cfg, seeds=seeds[i:i + 1])
        assert torch.equal(alone.tokens[0], full.tokens[i])
        assert torch.equal(alone.order[0], full.order[i])
    # a shuffled batch gives each example the same result
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(1))
    shuffled = decode(model, x[perm], MASK, sampler, cfg, seeds=seeds[perm])
    assert torch.equal(shuffled.tokens, full.tokens[perm])


def test_deterministic_for_a_seed_and_seed_matters(model):
    x = prompts(4)
    cfg = DecodeConfig(steps=6, temperature=1.0)
    a = decode(model, x, MASK, "vanilla", cfg, seeds=rng.example_seeds(1, range(4)))
    b = decode(model, x, MASK, "vanilla", cfg, seeds=rng.example_seeds(1, range(4)))
    c = decode(model, x, MASK, "vanilla", cfg, seeds=rng.example_seeds(2, range(4)))
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.order, b.order)
    assert not torch.equal(a.order, c.order)


def test_allowed_vocabulary_is_respected(model):
    x = prompts(8)
    allowed = torch.zeros(V, dtype=torch.bool)
    allowed[[1, 3]] = True
    out = decode(model, x, MASK, "margin", DecodeConfig(steps=5, temperature=1.0), allowed=allowed)
    filled = out.tokens[x == MASK]
    assert set(filled.unique().tolist()) <= {1, 3}


def test_semi_autoregressive_blocks_go_left_to_right(model):
    x = torch.randint(0, MASK, (3, L))
    x[:, 4:] = MASK  # prompt of 4, 20 to generate in blocks of 5
    out = decode(model, x, MASK, "top_prob", DecodeConfig(steps=8, block_length=5))
    block, nb = block_layout(x == MASK, 5)
    assert nb == 4
    for b in range(3):
        steps_of_block = [out.order[:, 4 + 5 * b: 9 + 5 * b] for b in range(4)]
        assert steps_of_block[b].max() < steps_of_block[b + 1].min()
    with pytest.raises(ValueError, match="multiple of the number of blocks"):
        decode(model, x, MASK, "top_prob", DecodeConfig(steps=7, block_length=5))


def test_remask_mode_fills_everything_and_keeps_givens(model):
    x = prompts(6)
    out = decode(model, x, MASK, "margin", DecodeConfig(steps=5, remask=True))
    masked = x == MASK
    assert not (out.tokens == MASK).any()
    assert torch.equal(out.tokens[~masked], x[~masked])
    assert (out.order[masked] >= 0).all()
    with pytest.raises(ValueError, match="remask"):
        decode(model, x, MASK, "vanilla_ancestral", DecodeConfig(steps=5, remask=True))


def test_large_gumbel_noise_randomises_the_order(model):
    x = torch.full((32, L), MASK)
    clean = decode(model, x, MASK, "top_prob", DecodeConfig(steps=L))
    noisy = decode(model, x, MASK, "top_prob", DecodeConfig(steps=L, gumbel=100.0))
    assert len(set(clean.order.argmin(-1).tolist())) <= 3  # certainty picks (nearly) the same first position
    assert len(set((noisy.order == 0).float().argmax(-1).tolist())) > 8


def test_gaussian_noise_is_standard_normal_scaled_and_batch_invariant(model):
    # A model that ignores its input: every position has the same margin, so the first pick is the argmax
    # of the noise draw itself, which must be sigma * N(0, 1) from the example's own stream.
    logits = torch.randn(1, 1, V).expand(1, L, V)
    x = torch.full((64, L), MASK)
    seeds = rng.example_seeds(3, range(64))
    out = decode(lambda t: logits.expand(t.shape[0], -1, -1), x, MASK, "margin",
                 DecodeConfig(steps=L, gaussian=0.5), seeds=seeds)
    eps = torch.special.ndtri(rng.uniform(seeds, rng.STREAM_GAUSSIAN, 0, (L,)))
    assert torch.equal((out.order == 0).float().argmax(-1), eps.argmax(-1))
    assert abs(eps.mean().item()) < 0.05 and abs(eps.std().item() - 1) < 0.05
    # the noise follows the example, not its place in the batch
    y = prompts(6, seed=4)
    cfg = DecodeConfig(steps=6, temperature=1.0, gaussian=0.3)
    whole = decode(model, y, MASK, "margin", cfg, seeds=rng.example_seeds(0, range(6)))
    part = decode(model, y[3:], MASK, "margin", cfg, seeds=rng.example_seeds(0, range(3, 6)))
    assert torch.equal(whole.tokens[3:], part.tokens) and torch.equal(whole.order[3:], part.order)
    assert DecodeConfig(gaussian=0.3).tag().endswith("-n0.3") and DecodeConfig().tag() == "s50-T0-g0"


def test_ancestral_reveal_rate_is_one_over_steps_left():
    # A model that ignores its input: reveal counts depend only on the coin flips.
    logits = torch.zeros(1, 200, V)
    x = torch.full((50, 200), MASK)
    out = decode(lambda t: logits.expand(t.shape[0], -1, -1), x, MASK, "vanilla_ancestral", DecodeConfig(steps=4))
    frac_first = (out.order == 0).float().mean().item()
    assert abs(frac_first - 0.25) < 0.02  # step 0 reveals each position w.p. 1/4


def test_bad_knobs_are_one_line_errors():
    for cfg, msg in [(DecodeConfig(steps=-1), "steps"), (DecodeConfig(temperature=-1), "temperature"),
                     (DecodeConfig(gumbel_schedule="cosine"), "gumbel_schedule"),
                     (DecodeConfig(gaussian=-1), "gaussian")]:
        with pytest.raises(ValueError, match=msg):
            cfg.validate()


def test_counter_rng_is_uniform_and_batch_free():
    s = rng.example_seeds(0, range(200))
    u = rng.uniform(s, rng.STREAM_TOKEN, 3, (50,))
    assert 0 < u.min() and u.max() < 1 and abs(u.mean().item() - 0.5) < 0.01
    assert torch.equal(rng.uniform(s[10:11], rng.STREAM_TOKEN, 3, (50,))[0], u[10])
    assert not torch.equal(rng.uniform(s, rng.STREAM_SCORE, 3, (50,)), u)


def test_chunked_token_draws_equal_one_draw_over_all_positions():
    """The token sampler hashes its Gumbel draws a few positions at a time; the result is the one-draw result."""
    from harness.decoding import rng as R
    from harness.decoding.decoder import RandomDraws, gumbel_argmax_at
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 7, 50, generator=g)
    rows, cols = torch.meshgrid(torch.arange(3), torch.arange(7), indexing="ij")
    rows, cols = rows.flatten(), cols.flatten()
    draws = RandomDraws(DecodeConfig(temperature=0.7), 3, "cpu", torch.tensor([5, 9, 11]), None, None)
    whole = (logits[rows, cols].double() / 0.7 + draws.gumbel_at(R.STREAM_TOKEN, 3, rows, cols, 50)).argmax(-1)
    for chunk in (1, 50, 120, 10_000):
        assert torch.equal(gumbel_argmax_at(logits, rows, cols, draws, 3, 0.7, chunk_elems=chunk), whole)
