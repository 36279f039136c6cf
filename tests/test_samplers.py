"""Selection rules of each sampler on hand-built probabilities, and the top-k selection primitive."""
import pytest
import torch

from harness.decoding.decoder import DecodeConfig, decode
from harness.decoding.samplers import SAMPLERS, StepView, get_sampler, margin, neg_entropy, select_topk, top_prob

# Three positions built so that each certainty rule prefers a different one:
#   A: max .62 (highest), margin .32, entropy .86
#   B: max .58, margin .44 (largest), entropy 1.14
#   C: max .60, margin .20, entropy .67 (lowest)
A = [0.62, 0.30, 0.08, 0.00]
B = [0.58, 0.14, 0.14, 0.14]
C = [0.60, 0.40, 0.00, 0.00]
UNIFORM = [0.25, 0.25, 0.25, 0.25]
# A fifth position, given (not masked), is more certain than all: it must never be chosen.
GIVEN = [1.0, 0.0, 0.0, 0.0]
MASK = 4  # vocabulary: 4 values + mask


def probs_model(rows):
    """A model whose logits are log of fixed per-position probabilities (plus a mask column)."""
    p = torch.tensor(rows, dtype=torch.float64)
    logits = torch.log(p.clamp_min(1e-30))
    logits = torch.cat([logits, torch.full((len(rows), 1), -1e9, dtype=torch.float64)], dim=-1)

    def model(x):
        return logits.to(torch.float32).expand(x.shape[0], -1, -1)
    return model


def first_pick(sampler, rows, given_pos=None):
    model = probs_model(rows)
    x = torch.full((1, len(rows)), MASK)
    if given_pos is not None:
        x[0, given_pos] = 0
    out = decode(model, x, MASK, sampler, DecodeConfig(steps=int((x == MASK).sum())))
    return int((out.order[0] == 0).nonzero()[0, 0])


def view(p: torch.Tensor) -> StepView:
    """Return a step view of probabilities [L,V] as one row, every position eligible."""
    p = p.unsqueeze(0)
    L = p.shape[1]
    return StepView(p, p.argmax(-1), p.new_zeros(()), torch.ones(1, L, dtype=torch.bool), torch.arange(L)[None],
                    torch.tensor([[L]]), 0)


def test_certainty_functions_match_definitions():
    p = torch.tensor([A, B, C])
    assert torch.allclose(top_prob(view(p))[0], torch.tensor([0.62, 0.58, 0.60]))
    assert torch.allclose(margin(view(p))[0], torch.tensor([0.32, 0.44, 0.20]))
    h = -(p.clamp_min(1e-12).log() * p).sum(-1)
    assert torch.allclose(neg_entropy(view(p))[0], -h, atol=1e-6)


@pytest.mark.parametrize("sampler,expected", [("top_prob", 0), ("margin", 1), ("entropy", 2), ("confidence", 0)])
def test_each_rule_reveals_its_most_certain_position_first(sampler, expected):
    rows = [A, B, C, UNIFORM, GIVEN]
    assert first_pick(sampler, rows, given_pos=4) == expected


@pytest.mark.parametrize("sampler", ["top_prob", "margin", "entropy"])
def test_least_certain_position_is_revealed_last(sampler):
    model = probs_model([A, B, C, UNIFORM])
    out = decode(model, torch.full((1, 4), MASK), MASK, sampler, DecodeConfig(steps=4))
    assert int(out.order[0, 3]) == 3


def test_select_topk_ties_and_eligibility():
    scores = torch.tensor([[1.0, 1.0, 1.0, 5.0], [0.0, 2.0, 2.0, 1.0]])
    eligible = torch.tensor([[True, True, True, False], [True, True, True, True]])
    pick = select_topk(scores, eligible, torch.tensor([2, 1]))
    assert pick.tolist() == [[True, True, False, False], [False, True, False, False]]
    # k larger than the eligible count selects exactly the eligible ones
    pick = select_topk(scores, eligible, torch.tensor([10, 10]))
    assert torch.equal(pick, eligible)


def test_registry_and_unknown_name():
    assert {"vanilla", "vanilla_ancestral", "top_prob", "margin", "entropy"} <= set(SAMPLERS)
    with pytest.raises(ValueError, match="unknown sampler 'nope'; choose one of"):
        get_sampler("nope")


def test_vanilla_order_is_random_not_certainty():
    rows = [A, B, C, UNIFORM] * 8
    model = probs_model(rows)
    x = torch.full((64, len(rows)), MASK)
    out = decode(model, x, MASK, "vanilla", DecodeConfig(steps=len(rows)))
    first = (out.order == 0).float().argmax(-1)
    # over 64 examples the first revealed position spreads over many positions, unlike a certainty rule
    assert len(set(first.tolist())) > 10


def test_select_topk_takes_exactly_k_even_when_eligible_scores_are_minus_inf():
    inf = float("inf")
    scores = torch.tensor([[5.0, -inf, -inf, 1.0, -inf], [-inf, -inf, -inf, -inf, -inf]])
    eligible = torch.tensor([[False, True, True, False, True], [True, True, False, True, True]])
    pick = select_topk(scores, eligible, torch.tensor([2, 3]))
    assert pick.sum(-1).tolist() == [2, 3] and not (pick & ~eligible).any()
    assert pick[0].tolist() == [False, True, True, False, False]      # ties at -inf: lower index first
    assert pick[1].tolist() == [True, True, False, True, False]
    many = select_topk(scores, eligible, torch.tensor([9, 9]))
    assert torch.equal(many, eligible)                                 # min(k, eligible)


def test_select_topk_refuses_nan_scores_at_eligible_positions():
    scores = torch.tensor([[0.1, float("nan"), 0.3]])
    with pytest.raises(ValueError, match="NaN"):
        select_topk(scores, torch.tensor([[True, True, False]]), torch.tensor([1]))
    # a NaN where nothing can be revealed does not matter
    pick = select_topk(scores, torch.tensor([[True, False, True]]), torch.tensor([1]))
    assert pick.tolist() == [[False, False, True]]


def test_select_topk_matches_a_plain_sort_when_scores_are_finite():
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        scores = torch.randint(0, 4, (3, 12), generator=g).float()          # many ties
        eligible = torch.rand(3, 12, generator=g) < 0.6
        k = torch.randint(0, 8, (3,), generator=g)
        pick = select_topk(scores, eligible, k)
        for b in range(3):
            idx = sorted(torch.nonzero(eligible[b]).flatten().tolist(), key=lambda i: (-scores[b, i].item(), i))
            assert set(torch.nonzero(pick[b]).flatten().tolist()) == set(idx[:int(k[b])])
