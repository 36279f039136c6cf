"""Figure 3 pieces: GenPPL against a judge with a known distribution (BOS and window conventions), unigram
entropy, the causal-LM face of our transformer, ARM training in text_mdm.build, the figure end to end at
smoke scale with resume, and the renderer on synthetic records."""
from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from harness.figure.genppl_score import gen_ppl, judge_nll, score_windows, unigram_entropies, unigram_entropy
from harness.models.hf import TokenorderConfig, TokenorderForCausalLM, TokenorderForMaskedDiffusion
from harness.models.transformer import ModelConfig, Transformer


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# ------------------------------------------------------------------------------ a judge we can compute by hand

class CharTokenizer:
    """Characters 'a'..'e' -> ids 0..4; BOS = 5 (or none)."""

    def __init__(self, bos: bool = True):
        self.bos_token_id = 5 if bos else None
        self.pad_token_id, self.eos_token_id = 6, 6

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(c) - ord("a") for c in text]}


class BigramJudge(torch.nn.Module):
    """Next-token distribution T[previous token]: a fixed, known conditional distribution."""

    def __init__(self, table: torch.Tensor, context: int = 64):
        super().__init__()
        self.table = torch.nn.Parameter(table, requires_grad=False)
        self.config = SimpleNamespace(max_position_embeddings=context)

    def forward(self, input_ids, attention_mask=None):
        return SimpleNamespace(logits=self.table.log()[input_ids])


def _table(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(7, 7, generator=g, dtype=torch.float64) + 0.05
    return t / t.sum(-1, keepdim=True)


TEXTS = ["abcab", "eeeee", "a", "dcbadcbaeeab", ""]


def _by_hand(table: torch.Tensor, text: str, bos: bool) -> tuple[float, int]:
    ids = [ord(c) - ord("a") for c in text]
    seq = ([5] if bos else []) + ids
    nll = -sum(math.log(table[a, b]) for a, b in zip(seq[:-1], seq[1:]))
    return nll, max(0, len(seq) - 1)


@pytest.mark.parametrize("bos", [True, False])
@pytest.mark.parametrize("max_len", [64, 4, 2])
def test_genppl_equals_the_known_distribution_by_hand(bos, max_len):
    table = _table()
    judge = BigramJudge(table.float(), context=max_len)
    nll, cnt = judge_nll(judge, CharTokenizer(bos), TEXTS, batch_size=2)
    hand = [_by_hand(table, t, bos) for t in TEXTS]
    assert cnt.tolist() == [c for _, c in hand]  # every token once with BOS; the first one is context without
    np.testing.assert_allclose(nll, [h for h, _ in hand], rtol=1e-5, atol=1e-6)
    total_nll, total = sum(h for h, _ in hand), sum(c for _, c in hand)
    assert gen_ppl(nll, cnt) == pytest.approx(math.exp(total_nll / total), rel=1e-5)


def test_a_context_free_judge_gives_exp_of_minus_mean_log_q():
    q = torch.tensor([0.5, 0.25, 0.125, 0.0625, 0.0625, 1e-9, 1e-9], dtype=torch.float64)
    judge = BigramJudge((q / q.sum()).expand(7, 7).clone().float())
    text = "aabacde"
    nll, cnt = judge_nll(judge, CharTokenizer(True), [text])
    logq = [math.log(q[ord(c) - 97] / q.sum()) for c in text]
    assert cnt.tolist() == [7]
    assert gen_ppl(nll, cnt) == pytest.approx(math.exp(-sum(logq) / len(logq)), rel=1e-5)


def test_windows_score_every_token_once_with_context():
    for n in range(0, 40):
        for max_len in (2, 3, 8, 16):
            for bos in (True, False):
                w = score_windows(n, max_len, bos)
                scored = [p for s, e, f in w for p in range(f, e)]
                assert scored == list(range(1, n + int(bos)))
                assert all(e - s <= max_len and s < f for s, e, f in w)


def test_gen_ppl_pools_tokens_and_nan_when_empty():
    assert gen_ppl([2.0, 6.0], [1, 3]) == pytest.approx(math.exp(2.0))
    assert math.isnan(gen_ppl([0.0], [0]))


# ---------------------------------------------------------------------------------------- unigram entropy

def test_unigram_entropy_known_values():
    assert unigram_entropy([7] * 10) == 0.0
    for k in (2, 5, 16):
        assert unigram_entropy(list(range(k)) * 3) == pytest.approx(math.log(k))
    assert unigram_entropy([0, 0, 0, 1]) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    rows = torch.tensor([[3, 3, 3, 3], [0, 1, 2, 3], [9, 9, 1, 1]])
    np.testing.assert_allclose(unigram_entropies(rows).numpy(), [0.0, math.log(4), math.log(2)], atol=1e-12)
    with pytest.raises(ValueError):
        unigram_entropies(torch.tensor([[-1, 2]]))


# ------------------------------------------------------------------------------------- causal-LM face

def _tiny(causal: bool) -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig(vocab_size=40, seq_len=16, n_layer=1, n_head=2, d_model=16, d_ff=32,
                                   causal=causal))


def test_causal_lm_round_trip_through_auto_model_for_causal_lm(tmp_path):
    from transformers import AutoModelForCausalLM

    from harness.training.trainer import arm_loss
    net = _tiny(causal=True)
    model = TokenorderForCausalLM.from_transformer(net, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert isinstance(loaded, TokenorderForCausalLM) and loaded.config.causal
    x = torch.randint(0, 40, (3, 12))
    with torch.no_grad():
        out = loaded(x, labels=x)
        assert torch.allclose(out.logits, net(x), atol=1e-6)
        assert out.loss.item() == pytest.approx(arm_loss(net, x, torch.ones_like(x, dtype=torch.bool)).item(),
                                                rel=1e-5)


def test_a_bidirectional_mdm_does_not_load_as_a_causal_lm(tmp_path):
    from transformers import AutoModelForCausalLM
    TokenorderForMaskedDiffusion.from_transformer(_tiny(causal=False), mask_token_id=3).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="AutoModel"):
        AutoModelForCausalLM.from_pretrained(tmp_path)
    with pytest.raises(ValueError):
        TokenorderForCausalLM(TokenorderConfig(causal=False))


# ----------------------------------------------------------------------------- text models on a tiny corpus

@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A data directory whose text/tinyshakespeare.txt.gz is a small synthetic play (fast to train on)."""
    rng = np.random.default_rng([0, 1])
    words = "the king lord good my thou art love sweet night come what shall not with you".split()
    speeches = []
    for i in range(260):
        line = " ".join(rng.choice(words, size=int(rng.integers(4, 14))))
        speeches.append(f"{['KING', 'QUEEN', 'FOOL'][i % 3]}:\n{line.capitalize()}.")
    root = tmp_path_factory.mktemp("data")
    (root / "text").mkdir()
    with gzip.open(root / "text" / "tinyshakespeare.txt.gz", "wt", encoding="utf-8") as f:
        f.write("\n\n".join(speeches) + "\n")
    return root


def test_heldout_text_is_the_tail_after_the_training_cut(data_dir):
    from harness.figure.text_models import PROSE_FRAC, heldout_text
    from harness.training.text_mdm import corpus_texts, shakespeare_text
    text = shakespeare_text(str(data_dir))
    train = corpus_texts(0, str(data_dir), "prose", PROSE_FRAC)[0]
    held = heldout_text(str(data_dir))
    assert train + "\n\n" + held == text
    assert 0.08 < len(held) / len(text) < 0.11 and not held.startswith("\n")


def test_build_trains_an_arm_judge_that_shares_the_tokenizer(tmp_path, data_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.training.text_mdm import build
    common = dict(preset="0.2M", vocab_size=300, iters=3, batch_size=2, data_dir=str(data_dir), progress=False,
                  corpus="prose", prose_frac=0.9, tokenizer_dir=tmp_path / "tok")
    judge_dir = build(tmp_path / "judge", seq_len=32, objective="arm", **common)
    mdm_dir = build(tmp_path / "mdm", seq_len=16, **common)
    judge = AutoModelForCausalLM.from_pretrained(judge_dir)
    assert isinstance(judge, TokenorderForCausalLM) and judge.config.causal
    assert not TokenorderConfig.from_pretrained(mdm_dir).causal
    assert (judge_dir / "tokenizer.json").read_text() == (mdm_dir / "tokenizer.json").read_text()
    info = json.loads((judge_dir / "training.json").read_text())
    assert info["train"]["objective"] == "arm" and info["corpus"]["corpus"] == "prose"
    assert info["corpus"]["prose_split"]["frac"] == 0.9 and math.isfinite(info["summary"]["heldout_loss"])
    tok = AutoTokenizer.from_pretrained(judge_dir)
    nll, cnt = judge_nll(judge, tok, ["KING:\nThe king my lord."], max_len=32)
    assert cnt[0] == len(tok("KING:\nThe king my lord.", add_special_tokens=False)["input_ids"]) and nll[0] > 0


def test_build_rejects_bad_objective_and_corpus(tmp_path, data_dir):
    from harness.training.text_mdm import build
    with pytest.raises(ValueError, match="objective"):
        build(tmp_path / "a", objective="gpt", data_dir=str(data_dir))
    with pytest.raises(ValueError, match="corpus"):
        build(tmp_path / "b", corpus="poetry", data_dir=str(data_dir))


# ------------------------------------------------------------------------------------ the figure, end to end

def _examples(path: Path) -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r.get("type") == "example"]


def test_smoke_figure_end_to_end_with_resume(tmp_path, data_dir):
    from harness.figure import genppl as fig
    kw = dict(results_dir=tmp_path / "res", ckpt_dir=tmp_path / "ckpt", data_dir=str(data_dir), device="cpu",
              workers=1, progress=False)
    paths = fig.run("smoke", **kw)
    p = fig.SCALES["smoke"]
    assert len(paths) == 1 + len(p["sigmas"]) + 1
    for path in paths[:-1]:
        recs = _examples(path)
        assert sorted(r["id"] for r in recs) == sorted(f"s{s}-{i}" for s in p["steps"] for i in range(p["n"]))
        assert all(r["judge_tokens"] > 0 and r["nll"] > 0 and 0 < r["entropy"] <= math.log(p["gen_len"]) + 1e-9
                   for r in recs)
        assert all(r["nfe"] == r["steps"] for r in recs)
    assert len(_examples(paths[-1])) == p["n"]
    assert all("text" not in r for r in _examples(paths[-1]))  # held-out data is never copied into results
    # cut the last two records of one file: a rerun redoes exactly those, identically, and nothing else
    victim = paths[1]
    lines = victim.read_text().splitlines(keepends=True)
    removed = [json.loads(x) for x in lines[-2:]]
    victim.write_text("".join(lines[:-2]))
    before = {q: len(_examples(q)) for q in paths}
    fig.run("smoke", **kw)
    after = {q: _examples(q) for q in paths}
    for q in paths:
        ids = [r["id"] for r in after[q]]
        assert len(ids) == len(set(ids)) == before[q] + (2 if q == victim else 0)
    redone = {r["id"]: r for r in after[victim]}
    for r in removed:
        assert redone[r["id"]]["text"] == r["text"] and redone[r["id"]]["nll"] == pytest.approx(r["nll"], rel=1e-5)
    # complete: a rerun without the models neither trains nor loads one, and says so
    import shutil
    shutil.rmtree(tmp_path / "ckpt")
    assert fig.run("smoke", **kw) == paths and not (tmp_path / "ckpt").exists()
    # a planned record missing: the models are needed (trained again, same path) and the file is finished
    lines = victim.read_text().splitlines(keepends=True)
    victim.write_text("".join(lines[:-1]))
    fig.run("smoke", **kw)
    assert (tmp_path / "ckpt").exists() and len(_examples(victim)) == before[victim] + 2


def test_complete_check_compares_the_protocol_not_only_the_count(tmp_path, data_dir, capsys):
    from harness.figure import genppl as fig
    kw = dict(results_dir=tmp_path / "res", ckpt_dir=tmp_path / "ckpt", data_dir=str(data_dir), device="cpu",
              workers=1, progress=False)
    fig.run("smoke", **kw)
    capsys.readouterr()
    fig.run("smoke", **kw)
    out = capsys.readouterr().out
    assert out.count("[complete] genppl") == 1 + len(fig.SCALES["smoke"]["sigmas"]) + 1
    path = tmp_path / "res/smoke/genppl/samples/vanilla__seed0.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    head = json.loads(lines[0])
    head["model_identity"]["gen_len"] += 1
    path.write_text(json.dumps(head) + "\n" + "".join(lines[1:]))
    with pytest.raises(ValueError, match="differ"):  # not complete under this protocol: resuming it is refused
        fig.run("smoke", **kw)


def test_paper_scale_needs_model_and_judge_paths(tmp_path):
    from harness.figure import genppl as fig
    from harness.figure.text_models import figure_text_models
    with pytest.raises(ValueError, match="--model"):
        fig.run("paper", results_dir=tmp_path, ckpt_dir=tmp_path, device="cpu")
    with pytest.raises(ValueError, match="--judge"):
        figure_text_models("paper", tmp_path, None)
    with pytest.raises(FileNotFoundError, match="config.json"):
        fig.load_judge(str(tmp_path), "cpu")


# --------------------------------------------------------------------------------------------- renderer

def _write_run(root: Path, name: str, variant: str, sampler: str, sigma: float, recs: list[dict]) -> None:
    path = root / "small" / "genppl" / variant / f"{name}__seed0.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"type": "header", "task": "genppl", "variant": variant, "scale": "small", "sampler": name, "seed": 0,
              "decode_tag": "default", "n_planned": len(recs), "started": "2026-01-01T00:00:00",
              "env": {"commit": "abc1234", "dirty": False, "device": "cpu", "device_name": "test"},
              "figure_info": {"sampler": sampler, "sigma": sigma, "gen_len": 16,
                              "mdm": {"path": "/m", "params": 800000, "iters": 10},
                              "judge": {"path": "/j", "params": 3000000, "iters": 10}}}
    path.write_text("\n".join(json.dumps(r) for r in [header] + [{"type": "example", **r} for r in recs]) + "\n")


def _recs(steps: list[int], nll_tok: float, entropy: float, n: int = 20, jitter: float = 0.2) -> list[dict]:
    rng = np.random.default_rng([len(steps), int(nll_tok * 100)])
    return [{"id": f"s{s}-{i}", "steps": s, "nll": float((nll_tok + jitter * rng.standard_normal()) * 16),
             "judge_tokens": 16, "entropy": float(entropy + 0.01 * rng.standard_normal()), "nfe": s, "seconds": 0.1}
            for s in steps for i in range(n)]


def test_renderer_on_synthetic_records(tmp_path):
    from harness.report.records import load_results
    from harness.report.genppl import render_genppl
    root, steps = tmp_path / "res", [4, 16]
    _write_run(root, "vanilla", "samples", "vanilla", 0.0, _recs(steps, 5.0, 2.6))
    _write_run(root, "margin-sigma0.1", "samples", "margin", 0.1, _recs(steps, 4.0, 2.6))  # lower, same entropy
    _write_run(root, "margin-sigma0", "samples", "margin", 0.0, _recs(steps, 2.0, 1.0))  # lower, collapsed
    _write_run(root, "heldout", "data", "data", 0.0,
               [{"id": f"w{i}", "nll": 3.5 * 16, "judge_tokens": 16, "entropy": 2.7} for i in range(10)])
    res = load_results(root)
    out = tmp_path / "rep"
    out.mkdir()
    r = render_genppl(res, out)
    assert r.title == "Figure 3 - generative perplexity" and r.figures == ["fig3_genppl_small.png"]
    assert (out / "fig3_genppl_small.png").stat().st_size > 10_000
    md = r.markdown
    ex = res.examples[(res.examples["sampler"] == "vanilla") & (res.examples["steps"] == 4)]
    expected = math.exp(ex["nll"].sum() / ex["judge_tokens"].sum())
    assert f"| vanilla | — | 4 | {expected:.1f} ±" in md
    assert f"| held-out text | — | — | {math.exp(3.5):.1f}" in md
    assert "holds at this scale for margin + N(0, 0.1²)" in md
    assert "**entropy collapses**" in md and "no numbers" in md
    assert render_genppl(load_results(tmp_path / "empty"), out) is None
