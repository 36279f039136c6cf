"""Left-to-right ARM decoding: prompts kept, rows of different prompt lengths, greedy = argmax, noise batch-invariant."""
import torch

from harness.decoding import rng
from harness.decoding.ar_decoder import arm_order, decode_causal, is_arm


class NextIsPlusOne(torch.nn.Module):
    """A causal 'model' whose logits at position t put all mass on (x[t] + 1) mod V."""

    def __init__(self, vocab: int = 7):
        super().__init__()
        self.vocab = vocab

    def forward(self, x):
        return torch.nn.functional.one_hot((x + 1) % self.vocab, self.vocab).float() * 10


def test_names():
    assert is_arm("arm_solver") and not is_arm("margin")
    assert arm_order("arm_fixed") == "fixed"


def test_greedy_continues_each_row_from_its_own_prompt():
    x = torch.tensor([[3, 0, 0, 0, 0, 0], [1, 5, 2, 0, 0, 0]])
    out = decode_causal(NextIsPlusOne(), x, torch.tensor([1, 3]))
    assert out.tokens.tolist() == [[3, 4, 5, 6, 0, 1], [1, 5, 2, 3, 4, 5]]
    assert out.nfe == 5  # one forward per position after the shortest prompt


def test_allowed_mask_is_respected():
    x = torch.tensor([[3, 0, 0]])
    allowed = torch.ones(7, dtype=torch.bool)
    allowed[4] = False
    out = decode_causal(NextIsPlusOne(), x, torch.tensor([1]), allowed=allowed)
    assert 4 not in out.tokens[0, 1:].tolist()


def test_sampling_is_batch_invariant():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(7, 7))  # position-wise random logits
    x = torch.randint(0, 7, (5, 9))
    seeds = rng.example_seeds(3, range(5))
    full = decode_causal(model, x, torch.full((5,), 2), temperature=1.0, seeds=seeds).tokens
    alone = decode_causal(model, x[3:4], torch.full((1,), 2), temperature=1.0, seeds=seeds[3:4]).tokens
    assert torch.equal(full[3:4], alone)


def test_kv_cache_gives_the_same_tokens_as_recomputing():
    """Incremental decoding with our model's key/value cache equals full-prefix recomputation."""
    from harness.models import build_model

    class NoCache(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x)

    for pos in ("learned", "rope"):
        torch.manual_seed(1)
        model = build_model("0.2M", 11, 24, causal=True, pos=pos).eval()
        x = torch.randint(0, 11, (4, 24))
        n_prompt = torch.tensor([5, 9, 6, 12])
        cached = decode_causal(model, x, n_prompt).tokens
        plain = decode_causal(NoCache(model), x, n_prompt).tokens
        assert torch.equal(cached, plain)
        with torch.no_grad():
            full = model(x)
            cache = model.new_kv_cache()
            parts = [model(x[:, :7], kv_cache=cache)] + [model(x[:, t:t + 1], kv_cache=cache, start=t)
                                                          for t in range(7, 24)]
        assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)
