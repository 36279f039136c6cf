"""The pi-ordered likelihood (paper Eq. 3) on toy models with known answers, and the Figure 2 (top right) run."""
import math

import pytest
import torch

from harness.models import build_model
from harness.figure.pi_likelihood import inverse_permutation, pi_ordered_logprobs, step_profile

V, MASK = 6, 5  # values 0..4, mask 5


class CopyLeft(torch.nn.Module):
    """Predicts x[j-1] with probability P_COPY when the left neighbour is visible, else uniform over values."""

    P_COPY = 0.8

    def forward(self, x):
        R, L = x.shape
        uniform = torch.full((R, L, V), math.log(1.0 / (V - 1)))
        left = torch.cat([torch.full((R, 1), MASK), x[:, :-1]], dim=1)
        visible = left != MASK
        rest = (1 - self.P_COPY) / (V - 2)
        copy = torch.full((R, L, V), math.log(rest))
        copy.scatter_(-1, left.clamp_max(V - 2).unsqueeze(-1), math.log(self.P_COPY))
        out = torch.where(visible.unsqueeze(-1), copy, uniform)
        out[..., MASK] = 30.0  # a large mask logit: must be ignored
        return out


def test_known_answer_left_to_right_vs_right_to_left():
    L = 7
    x = torch.full((2, L), 3)
    perms = torch.stack([torch.arange(L), torch.arange(L).flip(0)])
    lp = pi_ordered_logprobs(CopyLeft(), x, perms, MASK)
    # identity: the first token is uniform, every later one sees its left neighbour
    assert lp[0].sum().item() == pytest.approx(math.log(1 / (V - 1)) + (L - 1) * math.log(CopyLeft.P_COPY))
    # reversed: the left neighbour is always still masked
    assert lp[1].sum().item() == pytest.approx(L * math.log(1 / (V - 1)))
    assert lp[0].sum() > lp[1].sum()


def test_product_model_is_order_free():
    torch.manual_seed(0)
    table = torch.randn(9, V)

    def product(x):  # ignores its input: p(x_j) = softmax(table[j]) over the values
        return table.expand(x.shape[0], -1, -1)

    x = torch.randint(0, V - 1, (3, 9))
    perms = torch.stack([torch.randperm(9) for _ in range(3)])
    lp = pi_ordered_logprobs(product, x, perms, MASK)
    logq = torch.log_softmax(table[:, : V - 1].double(), -1)
    assert torch.allclose(lp.sum(-1), logq[torch.arange(9), x].sum(-1))


def test_vectorised_equals_step_by_step_loop_on_a_transformer():
    torch.manual_seed(1)
    net = build_model("0.2M", vocab_size=V, seq_len=8).eval()
    x = torch.randint(0, V - 1, (3, 8))
    perms = torch.stack([torch.randperm(8) for _ in range(3)])
    fast = pi_ordered_logprobs(net, x, perms, MASK, max_elements=8 * V * 5)  # chunks of 5 rows
    for b in range(3):
        seq = x[b].clone()
        masked = torch.ones(8, dtype=torch.bool)
        for i in range(8):
            j = int(perms[b, i])
            inp = torch.where(masked, torch.full_like(seq, MASK), seq)
            logits = net(inp[None])[0, j].double()
            logits[MASK] = float("-inf")
            assert fast[b, i].item() == pytest.approx(torch.log_softmax(logits, -1)[seq[j]].item(), abs=1e-6)
            masked[j] = False


def test_inverse_and_bad_input():
    p = torch.tensor([[2, 0, 1]])
    assert inverse_permutation(p).tolist() == [[1, 2, 0]]
    with pytest.raises(ValueError, match="permutation"):
        pi_ordered_logprobs(CopyLeft(), torch.zeros(1, 3, dtype=torch.long), torch.tensor([[0, 0, 1]]), MASK)
    with pytest.raises(ValueError, match="mask token"):
        pi_ordered_logprobs(CopyLeft(), torch.full((1, 3), MASK), torch.tensor([[0, 1, 2]]), MASK)
    assert step_profile(torch.tensor([-1.0, -2.0, -3.0, -4.0]), 2) == [1.5, 3.5]


@pytest.fixture(scope="module")
def tiny_text_mdm(tmp_path_factory):
    """A tiny untrained text MDM with a BPE tokenizer, saved in transformers format."""
    from harness.models.hf import TokenorderForMaskedDiffusion
    from harness.training.text_mdm import train_tokenizer

    out = tmp_path_factory.mktemp("tiny_mdm")
    tok = train_tokenizer([TEXT] * 3, 300)
    torch.manual_seed(0)
    net = build_model("0.2M", vocab_size=len(tok), seq_len=32)
    model = TokenorderForMaskedDiffusion.from_transformer(net, mask_token_id=tok.mask_token_id,
                                                          eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


TEXT = ("First Citizen: Before we proceed any further, hear me speak. All: Speak, speak. First Citizen: You are "
        "all resolved rather to die than to famish? All: Resolved. resolved. ") * 4


def _no_model(*a, **k):
    raise AssertionError("a complete figure must not load a model")


def test_figure_run_writes_one_record_per_window_and_family_and_resumes(tiny_text_mdm, tmp_path, monkeypatch):
    from harness.figure import pi_order
    from harness.report.records import load_results
    from harness.report.pi_order import render_pi_order

    monkeypatch.setattr(pi_order, "validation_texts", lambda spec, data_dir, n_docs: [TEXT])
    kw = dict(results_dir=tmp_path / "res", ckpt_dir=tmp_path / "ck", data_dir=None, device="cpu", progress=False,
              model=tiny_text_mdm)
    paths = pi_order.run("smoke", **kw)
    assert [p.stem.split("__")[0] for p in paths] == pi_order.SCALES["smoke"]["families"]
    monkeypatch.setattr("harness.models.text.load_text_model", _no_model)
    again = pi_order.run("smoke", **kw)  # complete: nothing new, and no model loaded
    res = load_results(tmp_path / "res")
    ex = res.examples
    assert len(ex) == 3 * pi_order.SCALES["smoke"]["n"] and paths == again
    assert set(ex["family"]) == {"identity", "closer", "uniform"}
    ident = ex[ex["family"] == "identity"]
    assert (ident["distance.cayley"] == 0).all() and (ex["distance.cayley"] > 0).any()
    assert ex["loss"].between(0, 20).all() and (ex["tokens"] == 16).all()
    rendered = render_pi_order(res, tmp_path)
    assert "| pi = id | 3.171 |" in rendered.markdown and (tmp_path / "fig2_pi_order_smoke.png").exists()


def test_paper_scale_needs_a_model(tmp_path):
    from harness.figure import pi_order
    with pytest.raises(ValueError, match="--model"):
        pi_order.run("paper", results_dir=tmp_path, ckpt_dir=tmp_path, data_dir=None, device="cpu")


def test_model_dir_fingerprint_is_the_weights_config_and_tokenizer_not_the_training_log(tiny_text_mdm, tmp_path):
    import shutil

    from harness.figure.common import model_dir_fingerprint
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(tiny_text_mdm, a)
    shutil.copytree(tiny_text_mdm, b)
    (a / "training.json").write_text('{"summary": {"seconds": 1.0}}')
    (b / "training.json").write_text('{"summary": {"seconds": 2.0}}')
    assert model_dir_fingerprint(a) == model_dir_fingerprint(b) == model_dir_fingerprint(tiny_text_mdm)
    weights = next(b.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # one bit of one weight
    weights.write_bytes(bytes(data))
    assert model_dir_fingerprint(a) != model_dir_fingerprint(b)
    assert model_dir_fingerprint("org/some-hub-model") is None
