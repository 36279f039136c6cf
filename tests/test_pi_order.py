"""The pi-ordered likelihood (paper Eq. 3) on toy models with known answers, and the Figure 2 (top right) run."""
import math

import pytest
import torch

from harness.models import build_model
from harness.pi_likelihood import inverse_permutation, pi_ordered_logprobs, step_profile

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
