"""Tests of harness.models: shapes, attention direction, parameter counts, position options."""
import pytest
import torch

from harness.models import ModelConfig, build_model


def tiny(causal=False, pos="rope", dropout=0.0):
    torch.manual_seed(0)
    return build_model("0.2M", vocab_size=7, seq_len=12, causal=causal, pos=pos, dropout=dropout).eval()


def test_forward_shape_and_shorter_sequences():
    model = tiny()
    x = torch.randint(0, 7, (3, 12))
    assert model(x).shape == (3, 12, 7)
    assert model(x[:, :5]).shape == (3, 5, 7)
    with pytest.raises(ValueError):
        model(torch.zeros(1, 13, dtype=torch.long))


@pytest.mark.parametrize("pos", ["rope", "learned"])
def test_causal_model_ignores_the_future(pos):
    model = tiny(causal=True, pos=pos)
    x = torch.randint(0, 7, (2, 12))
    y = x.clone()
    y[:, 6:] = (y[:, 6:] + 1) % 7
    with torch.no_grad():
        a, b = model(x), model(y)
    assert torch.allclose(a[:, :6], b[:, :6], atol=1e-6)
    assert not torch.allclose(a[:, 6:], b[:, 6:], atol=1e-4)


@pytest.mark.parametrize("pos", ["rope", "learned"])
def test_bidirectional_model_sees_the_future(pos):
    model = tiny(causal=False, pos=pos)
    x = torch.randint(0, 7, (2, 12))
    y = x.clone()
    y[:, 6:] = (y[:, 6:] + 1) % 7
    with torch.no_grad():
        a, b = model(x), model(y)
    assert not torch.allclose(a[:, :6], b[:, :6], atol=1e-4)


def test_position_information_is_used():
    # The same token everywhere must still give position-dependent outputs (RoPE acts through attention
    # between distinct tokens only, so use two token values).
    for pos in ("rope", "learned"):
        model = tiny(pos=pos)
        x = torch.tensor([[1, 2] + [1] * 10])
        with torch.no_grad():
            out = model(x)
        assert not torch.allclose(out[0, 3], out[0, 9], atol=1e-5), pos


def test_learned_pos_embedding_params_and_state_dict():
    rope, learned = tiny(pos="rope"), tiny(pos="learned")
    assert learned.pos_emb is not None and rope.pos_emb is None
    assert learned.num_params() - rope.num_params() == 12 * 64
    assert learned.num_params(non_embedding=True) == rope.num_params(non_embedding=True)
    assert not any("rope" in k for k in rope.state_dict())  # RoPE tables are derived, not stored


@pytest.mark.parametrize("name,target", [("6M", 6e6), ("19M", 19e6), ("42M", 42e6)])
def test_big_preset_param_counts(name, target):
    model = build_model(name, vocab_size=12, seq_len=256)
    n = model.num_params(non_embedding=True)
    assert abs(n - target) / target < 0.15, (name, n)


@pytest.mark.parametrize("name,target", [("0.2M", 0.2e6), ("0.8M", 0.8e6), ("3M", 3e6)])
def test_small_preset_param_counts(name, target):
    n = build_model(name, vocab_size=12, seq_len=64).num_params(non_embedding=True)
    assert abs(n - target) / target < 0.15, (name, n)


def test_no_biases_and_untied_head():
    model = tiny()
    assert all(m.bias is None for m in model.modules() if isinstance(m, torch.nn.Linear))
    assert model.head.weight.data_ptr() != model.tok_emb.weight.data_ptr()


def test_unknown_preset_message():
    with pytest.raises(ValueError, match="unknown model preset 'nope'; choose one of: .*0.8M"):
        build_model("nope", 5, 5)


def test_config_round_trip_and_validation():
    cfg = ModelConfig(vocab_size=5, seq_len=8, n_layer=1, n_head=2, d_model=16, d_ff=32, pos="learned")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        ModelConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    with pytest.raises(ValueError):
        ModelConfig(vocab_size=5, seq_len=8, n_layer=1, n_head=3, d_model=16, d_ff=32)
    with pytest.raises(ValueError):
        ModelConfig(vocab_size=5, seq_len=8, n_layer=1, n_head=2, d_model=16, d_ff=32, pos="alibi")


def test_bf16_autocast_forward_on_cpu():
    model = tiny()
    x = torch.randint(0, 7, (2, 12))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    ref = model(x)
    assert out.shape == ref.shape
    assert (out.float() - ref).abs().max() < 0.1


def test_dropout_only_in_training_mode():
    model = tiny(dropout=0.5)
    x = torch.randint(0, 7, (2, 12))
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        model.train()
        assert not torch.equal(model(x), model(x))


def test_factored_positions_add_per_factor_embeddings():
    """pos_factors adds one learned table per factor (e.g. row/col/box); non-embedding count is unchanged."""
    from harness.models import build_model
    rows = [i // 3 for i in range(9)]
    cols = [i % 3 for i in range(9)]
    plain = build_model("0.2M", 11, 9, pos="learned")
    fact = build_model("0.2M", 11, 9, pos="learned", pos_factors=[rows, cols])
    assert fact.num_params(non_embedding=True) == plain.num_params(non_embedding=True)
    assert fact.num_params() == plain.num_params() + 2 * 3 * fact.cfg.d_model
    x = torch.randint(0, 11, (2, 9))
    before = fact(x)
    with torch.no_grad():
        fact.factor_emb[0].weight[1] += 1.0  # row 1 = positions 3..5 only
    diff = (fact(x) - before).abs().sum(-1)[0]
    assert (diff[3:6] > 0).all()
    with pytest.raises(ValueError):
        build_model("0.2M", 11, 9, pos_factors=[[0, 1]])


def test_bf16_autocast_never_rounds_the_logits_certainty_is_computed_from():
    """Under autocast the final norm and head run in float32: the certainty ranking has about as few ties as
    in float32, not the many that bf16-rounded logits give (small vocabularies, confident predictions)."""
    from harness.decoding.samplers import StepView, margin
    m = build_model("0.2M", 11, 81, seed=0).eval()
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 2:
                p.mul_(10)
    x = torch.randint(0, 11, (64, 81), generator=torch.Generator().manual_seed(0))

    def ties(logits):
        p = torch.softmax(logits.float()[..., 1:10], -1)
        B, L = p.shape[:2]
        view = StepView(p, p.argmax(-1), p.new_zeros(()), torch.ones(B, L, dtype=torch.bool),
                        torch.arange(L).expand(B, L), torch.full((B, 1), L), 0)
        s = margin(view).flatten()
        return 1 - s.unique().numel() / s.numel()

    with torch.no_grad():
        f32 = m(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            auto = m(x)
    assert auto.dtype == torch.float32 and not torch.equal(auto, auto.bfloat16().float())
    assert ties(f32.bfloat16()) > 5 * max(ties(f32), 1 / f32[..., 0].numel())    # what bf16 logits would do
    assert ties(auto) < ties(f32.bfloat16()) / 3
