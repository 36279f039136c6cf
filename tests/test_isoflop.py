"""Figure 2 (left), the IsoFLOP sweep of pi-learners: permutation families and their distances, the FLOP
accounting, the validation losses against hand computations, a smoke sweep end to end with resume, and the
renderer on synthetic records."""
from __future__ import annotations

import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.training import permutations as P
from harness.figure import isoflop as I
from harness.figure.char_corpus import CharCorpus, find_text, load_char_corpus
from harness.figure.flops import isoflop_plan, non_embedding_params, training_flops
from harness.models.transformer import ModelConfig, Transformer
from harness.training.trainer import mdm_loss

from conftest import needs_shared


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one torch thread is fastest and avoids oversubscribing a shared machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# ------------------------------------------------------------------------------------------- permutations

def test_swap_counts_follow_the_paper():
    assert [P.n_swaps(f, 2048) for f in P.FAMILIES] == [0, 45, 205, None]
    assert P.n_swaps("much_closer", 64) == 8 and P.n_swaps("closer", 64) == 6
    with pytest.raises(ValueError, match="unknown permutation family"):
        P.n_swaps("random", 10)
    with pytest.raises(ValueError, match="L >= 2"):
        P.draw("uniform", 1, np.random.default_rng(0))


def test_swaps_bound_the_cayley_distance():
    L = 2048
    assert P.distances(P.permutation("identity", L, 0)) == {
        "displaced": 0, "cayley": 0, "kendall": 0, "displaced_frac": 0.0, "cayley_frac": 0.0, "kendall_frac": 0.0}
    for fam in ("much_closer", "closer"):
        k = P.n_swaps(fam, L)
        cay = [P.cayley(p) for p in P.family_permutations(fam, L, 20, seed=3)]
        disp = [P.displaced(p) for p in P.family_permutations(fam, L, 20, seed=3)]
        assert max(cay) <= k and max(disp) <= 2 * k
        assert np.mean(cay) >= 0.97 * k              # collisions that close a cycle are rare at this L
    # a swap undone, and two swaps sharing a position (a 3-cycle): Cayley distance below the swap count
    assert P.cayley(P.apply_swaps(10, [[2, 7], [7, 2]])) == 0
    p = P.apply_swaps(10, [[0, 1], [1, 2]])
    assert P.cayley(p) == 2 and P.n_cycles(p) == 8 and P.displaced(p) == 3


def test_uniform_is_far_and_families_are_ordered_by_distance():
    L = 2048
    d = {f: [P.distances(p) for p in P.family_permutations(f, L, 3, seed=0)] for f in P.FAMILIES}
    for u in d["uniform"]:
        assert u["displaced_frac"] > 0.99 and u["cayley_frac"] > 0.99 and 0.45 < u["kendall_frac"] < 0.55
    for key in ("displaced_frac", "cayley_frac", "kendall_frac"):
        means = [np.mean([x[key] for x in d[f]]) for f in P.FAMILIES]
        assert means == sorted(means) and len(set(means)) == 4, (key, means)


def test_distances_match_brute_force():
    rng = np.random.default_rng(0)
    for L in (2, 5, 9, 33):
        for _ in range(5):
            p = rng.permutation(L)
            inv = sum(p[i] > p[j] for i, j in itertools.combinations(range(L), 2))
            seen, cycles = set(), 0
            for s in range(L):
                if s not in seen:
                    cycles += 1
                    while s not in seen:
                        seen.add(s)
                        s = p[s]
            assert P.kendall_tau(p, chunk=4) == inv and P.n_cycles(p) == cycles and P.cayley(p) == L - cycles
    with pytest.raises(ValueError, match="not a permutation"):
        P.cayley([0, 0, 1])


def test_permutations_are_deterministic():
    a = P.family_permutations("closer", 300, 3, seed=5)
    b = P.family_permutations("closer", 300, 3, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert np.array_equal(P.permutation("uniform", 300, 2, seed=5), P.family_permutations("uniform", 300, 3, 5)[2])
    assert not np.array_equal(a[0], a[1])
    assert not np.array_equal(a[0], P.family_permutations("closer", 300, 1, seed=6)[0])
    assert all(p.dtype == np.int64 for p in a)


# --------------------------------------------------------------------------------------------------- flops

@pytest.mark.parametrize("shape", [
    dict(n_layer=1, n_head=2, d_model=16, d_ff=32, pos="learned"),
    dict(n_layer=3, n_head=4, d_model=64, d_ff=176, pos="learned", causal=True),
    dict(n_layer=2, n_head=4, d_model=48, d_ff=128, pos="rope"),
    dict(n_layer=2, n_head=2, d_model=32, d_ff=64, pos="learned", pos_factors=[[0, 1, 1, 0], [2, 2, 0, 1]]),
])
def test_non_embedding_params_match_the_model(shape):
    cfg = ModelConfig(vocab_size=37, seq_len=4, **shape)
    n = non_embedding_params(cfg)
    assert n == Transformer(cfg).num_params(non_embedding=True)
    assert n < Transformer(cfg).num_params()


def test_smdm_19m_and_flops():
    cfg = ModelConfig(vocab_size=32000, seq_len=2048, pos="learned", **I.SMDM_SHAPES["19M"])
    assert non_embedding_params(cfg) == 18_880_896  # SMDM's Diff_LLaMA_19M (also PRESETS["19M"])
    assert training_flops(1000, 2_000) == 6 * 1000 * 2000


def test_isoflop_plan_iterations_and_skips():
    runs, skipped = isoflop_plan([6e9, 6e8], {"a": 1000, "b": 10_000}, tokens_per_iter=100, min_iters=200)
    got = {(r.budget, r.size): r for r in runs}
    assert sorted(got) == [(6e8, "a"), (6e9, "a"), (6e9, "b")]     # budgets ascending
    assert got[(6e8, "a")].iters == 1000 and got[(6e9, "a")].iters == 10_000 and got[(6e9, "b")].iters == 1000
    assert skipped == [{"budget": 6e8, "size": "b", "n_params": 10_000, "iters": 100, "reason": "min_iters"}]
    r = got[(6e9, "b")]
    assert r.tokens == 1000 * 100 and r.flops == 6 * 10_000 * 1000 * 100 == training_flops(10_000, r.tokens)
    # rounding: iters = round(C / (6 N T)); the actual FLOPs follow the rounded count
    runs, _ = isoflop_plan([1e6], {"x": 7}, tokens_per_iter=3)
    assert runs[0].iters == round(1e6 / (6 * 7 * 3)) and runs[0].flops == 6 * 7 * 3 * runs[0].iters
    runs, skipped = isoflop_plan([6e9], {"a": 1000, "b": 10_000}, 100, max_tokens_per_param=500)
    assert [r.size for r in runs] == ["b"] and skipped[0]["reason"] == "max_tokens_per_param"
    with pytest.raises(ValueError):
        isoflop_plan([0.0], {"a": 1}, 10)


def test_isoflop_plan_skips_small_iteration_counts():
    runs, skipped = isoflop_plan([6e8], {"a": 1000, "b": 100_000}, tokens_per_iter=100, min_iters=50)
    assert [r.size for r in runs] == ["a"] and skipped == [
        {"budget": 6e8, "size": "b", "n_params": 100_000, "iters": 10, "reason": "min_iters"}]


# --------------------------------------------------------------------------------------------------- corpus

def _corpus(tmp_path: Path) -> CharCorpus:
    text = "".join(chr(97 + (i * 7 + i // 13) % 26) for i in range(5000)) + "é\n"
    path = tmp_path / "tiny.txt"
    path.write_text(text, encoding="utf-8")
    return load_char_corpus(path)


def test_char_corpus_split_windows_and_errors(tmp_path):
    c = _corpus(tmp_path)
    assert c.vocab_size == 28 and c.train.size == 4502 and c.val.size == 500
    assert c.decode(c.encode("abé")) == "abé"
    w = c.train_windows(3, 4, 16, seed=0)
    assert w.shape == (4, 16) and np.array_equal(w, c.train_windows(3, 4, 16, seed=0))
    assert not np.array_equal(w, c.train_windows(4, 4, 16, seed=0))
    v = c.val_windows(5, 16)
    assert np.array_equal(v[0], c.val[:16]) and np.array_equal(v[-1], c.val[-16:])
    assert 0 < c.unigram_xent() < math.log(28) + 0.5
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        find_text(tmp_path / "nowhere")


@needs_shared("text")
def test_tiny_shakespeare_is_found():
    c = load_char_corpus()
    assert c.name == "tinyshakespeare" and c.vocab_size == 65 and c.train.size + c.val.size == 1115394


# ----------------------------------------------------------------------------------------------- validation

def _tiny(causal: bool, L: int, vocab: int = 7) -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig(vocab_size=vocab, seq_len=L + 1 if causal else L, n_layer=1, n_head=2,
                                   d_model=16, d_ff=24, causal=causal, pos="learned")).eval()


def test_pi_learner_loss_equals_hand_computed_log_probs():
    L, V, bos = 6, 5, 5
    model = _tiny(True, L, vocab=V + 2)
    windows = np.random.default_rng(1).integers(0, V, size=(3, L))
    perm = np.array([3, 0, 5, 1, 4, 2])
    got = I.pi_val_nll(model, windows, perm, bos, batch_rows=2)
    want = []
    with torch.no_grad():
        for x in windows:
            y = x[perm]                                   # pi(x)
            nll = 0.0
            for j in range(L):                            # -log p(y_j | BOS, y_<j), one prefix at a time
                prefix = torch.tensor([[bos, *y[:j]]])
                nll -= torch.log_softmax(model(prefix)[0, -1].double(), -1)[y[j]].item()
            want.append(nll / L)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # the training batch is the same sequence: its next-token loss is the mean of these numbers
    x, m = I.make_batch_fn(_Fixed(windows), {"batch": 3, "seq_len": L, "seed": 0}, perm, bos)(0)
    from harness.training.trainer import arm_loss
    with torch.no_grad():
        assert arm_loss(model, x, m).item() == pytest.approx(float(np.mean(want)), rel=1e-5)


class _Fixed:
    """A corpus stub that always returns the same windows."""

    def __init__(self, w):
        self.w = w

    def train_windows(self, step, batch, seq_len, seed):
        return self.w


def _exact_elbo(model, x, mask_id):
    """Return (1/L) sum_k 1/C(L,k) sum_{|M|=k} (1/k) sum_{i in M} -log p(x_i | x_not M), by enumeration."""
    L = x.size
    total = 0.0
    with torch.no_grad():
        for k in range(1, L + 1):
            subsets = list(itertools.combinations(range(L), k))
            acc = 0.0
            for M in subsets:
                xt = torch.tensor(x).clone()
                xt[list(M)] = mask_id
                lp = torch.log_softmax(model(xt[None])[0].double(), -1)
                acc += -sum(lp[i, x[i]].item() for i in M) / k
            total += acc / len(subsets)
    return total / L


def test_mdm_elbo_estimator_matches_enumeration_and_training_loss():
    L, V = 5, 4
    mask_id = V
    model = _tiny(False, L, vocab=V + 1)
    x = np.array([0, 3, 1, 1, 2])
    exact = _exact_elbo(model, x, mask_id)
    k, masked = I.elbo_masks(1, L, 400, seed=0)
    assert np.array_equal(masked.sum(-1), k) and set(np.unique(k)) == set(range(1, L + 1))
    est, mc_se = I.mdm_val_elbo(model, x[None], mask_id, draws=400, seed=0, batch_rows=128)
    assert 0 < mc_se < 0.05 and abs(est[0] - exact) < 4 * mc_se
    # the training loss (continuous-time, 1/t weights) has the same expectation
    x0 = torch.tensor(x)[None].repeat(4000, 1)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        vals = torch.stack([mdm_loss(model, x0[i:i + 1], torch.ones(1, L, dtype=torch.bool), mask_id, generator=g,
                                     stratified=False, t_min=1e-4) for i in range(0, 2000)])
    mean, se = vals.mean().item(), vals.std().item() / math.sqrt(len(vals))
    assert abs(mean - exact) < 4 * se


# ----------------------------------------------------------------------------------------------- smoke sweep

def _lines(path: Path) -> list[dict]:
    return [json.loads(s) for s in path.read_text().splitlines()]


def test_smoke_sweep_writes_records_and_resumes(tmp_path):
    if find_text_or_none() is None:
        pytest.skip("no Tiny Shakespeare (shared data) for the smoke sweep")
    kw = dict(results_dir=tmp_path / "r", ckpt_dir=tmp_path / "c", data_dir=None, device="cpu", workers=1,
              progress=False)
    [path] = I.run("smoke", **kw)
    preset = I.SCALES["smoke"]
    runs, skipped = I.plan(preset)
    specs = I.learners(preset)
    recs = [r for r in _lines(path) if r.get("type") == "example"]
    header = _lines(path)[0]
    assert header["n_planned"] == len(specs) * len(runs) == len(recs) == 11 * len(runs)
    assert {r["id"] for r in recs} == {I.run_id(s["learner"], r.size, r.budget) for s in specs for r in runs}
    assert header["figure_info"]["skipped"] == skipped
    for r in recs:
        assert r["val_loss"] > 0 and r["flops"] == 6 * r["n_params"] * r["tokens"]
        assert (r["val_mc_se"] is None) == (r["learner"] != "mdm")
        if r["family"] == "identity":
            assert r["perm_distance"]["kendall"] == 0
    assert not any((tmp_path / "c").rglob("ckpt.pt"))  # checkpoints are dropped once recorded
    # resume: nothing new; after losing the last 3 records, exactly those are redone, identically
    I.run("smoke", **kw)
    assert len([r for r in _lines(path) if r.get("type") == "example"]) == len(recs)
    text = path.read_text().splitlines()
    path.write_text("\n".join(text[:-4]) + "\n")  # the resume line and the last 3 records
    I.run("smoke", **kw)
    again = [r for r in _lines(path) if r.get("type") == "example"]
    assert len(again) == len(recs) and len({r["id"] for r in again}) == len(recs)
    redone = {r["id"]: r for r in again[-3:]}
    for r in recs[-3:]:
        assert redone[r["id"]]["val_loss"] == r["val_loss"]


def find_text_or_none():
    try:
        return find_text(None)
    except FileNotFoundError:
        return None


def test_paper_preset_fails_clearly_without_datasets(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(ValueError, match="pip install datasets"):
        I.run("paper", results_dir=tmp_path, ckpt_dir=tmp_path, data_dir=None, device="cpu", workers=1,
              progress=False)
    with pytest.raises(ValueError, match="unknown scale"):
        I.run("huge", results_dir=tmp_path, ckpt_dir=tmp_path)


# --------------------------------------------------------------------------------------------------- report

def _synthetic(root: Path, mdm_offset: float) -> None:
    """Write a synthetic small-scale sweep: loss falls with budget, rises with distance from the identity."""
    header = {"type": "header", "schema": 1, "task": "isoflop", "variant": "toy", "scale": "small",
              "sampler": "sweep", "seed": 0, "decode": {}, "decode_tag": "default", "n_planned": 66,
              "model_identity": {"preset": {"lr": 0.003, "min_lr": 0.0003, "weight_decay": 0.1}}, "task_identity": {},
              "figure_info": {"corpus": "toy", "unigram_xent": 3.3, "seq_len": 64, "batch": 16},
              "env": {"commit": "abc1234", "dirty": False, "device": "cpu", "device_name": "test CPU"},
              "started": "2026-11-23T10:00:00+00:00"}
    fam_cost = {"identity": 0.0, "much_closer": 0.3, "closer": 0.2, "uniform": 0.8}
    swaps = {"identity": 0, "much_closer": 8, "closer": 6, "uniform": None}
    kendall = {"identity": 0.0, "much_closer": 0.2, "closer": 0.15, "uniform": 0.5}
    lines = [header]
    learners = [("arm", "identity", 0)] + [(f"{f}_{j}", f, j) for f in ("much_closer", "closer", "uniform")
                                           for j in range(3)] + [("mdm", "mdm", None)]
    for (learner, fam, j), (size, n), budget in itertools.product(
            learners, [("a", 1000), ("b", 3000)], [1e9, 1e10, 1e11]):
        cost = fam_cost["uniform"] + mdm_offset if fam == "mdm" else fam_cost[fam] + 0.01 * (j or 0)
        loss = 3.0 - 0.3 * math.log10(budget / 1e9) + cost + (0.05 if size == "b" and budget < 1e10 else 0)
        rec = {"type": "example", "id": f"{learner}|{size}|{budget:g}", "learner": learner, "family": fam,
               "perm_index": j, "objective": "mdm" if fam == "mdm" else "arm", "size": size, "n_params": n,
               "budget": budget, "flops": budget, "iters": int(budget / (6 * n * 1024)), "tokens": 1,
               "val_loss": loss, "val_se": 0.01, "val_mc_se": 0.004 if fam == "mdm" else None,
               "val_windows": 256, "eval_draws": 16 if fam == "mdm" else None,
               "n_swaps": None if fam == "mdm" else swaps[fam],
               "perm_distance": None if fam == "mdm" else {"kendall_frac": kendall[fam]}}
        lines.append(rec)
    path = root / "small" / "isoflop" / "toy" / "sweep__seed0.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")


@pytest.mark.parametrize("mdm_offset, phrase", [(0.0, "near the uniform pi-learners"),
                                                 (0.5, "worse than the uniform pi-learners")])
def test_renderer_draws_the_figure_and_the_verdict(tmp_path, mdm_offset, phrase):
    from harness.report.records import load_results
    from harness.report.isoflop import best_points, records, render_isoflop
    _synthetic(tmp_path / "res", mdm_offset)
    res = load_results(tmp_path / "res")
    out = tmp_path / "out"
    r = render_isoflop(res, out)
    assert r.title == "Figure 2 (left) - IsoFLOP curves of pi-learners"
    assert r.figures == ["fig2_isoflop_small.png"] and (out / "fig2_isoflop_small.png").stat().st_size > 10_000
    md = r.markdown
    assert "ARM is the best learner at 3/3 budgets" in md and "uniform family is the worst pi-learner family at 3/3" in md
    assert phrase in md and "abc1234" in md and "Caution" in md and "much closer' family is the farther" in md
    best = best_points(records(res.examples))
    assert len(best) == 11 * 3 and set(best.loc[best["budget"] == 1e9, "size"]) == {"a"}
    assert render_isoflop(load_results(tmp_path / "nothing"), out) is None
