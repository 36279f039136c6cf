"""The runner's text path: infill rows at the reference's token length, scoring through the adapters
(canonical HumanEval-Infilling solutions pass, wrong ones fail), resume, data-parallel shards, and errors."""
from __future__ import annotations


import pytest

from harness.run import cli as run
from harness.models.text import load_text_model
from harness.results import read_records
from harness.run.text import build_row
from tasks.text import TextExample
from tests.conftest import SHARED, needs_shared


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from harness.training.text_mdm import build
    from tasks.datafiles import default_data_dir
    out = tmp_path_factory.mktemp("textmdm")
    return str(build(out, preset="0.2M", seq_len=256, vocab_size=600, iters=10, batch_size=4, code_bytes=200_000,
                     progress=False, data_dir=default_data_dir()))


@pytest.fixture(scope="module")
def tm(tiny_model):
    return load_text_model(tiny_model)


def test_infill_row_masks_exactly_the_reference_length(tm):
    e = TextExample(id="a", mode="infill", prefix="def f(x):\n    ", suffix="\n\nprint(f(2))\n",
                    reference="return x * 2 + 1")
    row, info = build_row(tm, e, chat=False, gen_length=0, limit=256)
    n = len(tm.encode(e.reference))
    assert info["n_infill"] == n and row.count(tm.mask_id) == n
    start = row.index(tm.mask_id)
    assert row[:start] == tm.encode(e.prefix, specials=True) and row[start + n:] == tm.encode(e.suffix)


def test_rows_that_do_not_fit_are_cut_at_the_far_ends(tm):
    e = TextExample(id="b", mode="infill", prefix="a " * 300, suffix=" b" * 300, reference="hello world")
    row, info = build_row(tm, e, chat=False, gen_length=0, limit=64)
    assert len(row) == 64 and info["truncated"] and row.count(tm.mask_id) == info["n_infill"]
    g = TextExample(id="c", mode="generate", prompt="word " * 400)
    row, info = build_row(tm, g, chat=False, gen_length=16, limit=64)
    assert len(row) == 64 and row[-16:] == [tm.mask_id] * 16
    assert build_row(tm, g, chat=False, gen_length=64, limit=64)[0] is None


def test_chat_prompts_use_the_tokenizers_template(tm):
    g = TextExample(id="c", mode="generate", prompt="What is 2+2?")
    row, _ = build_row(tm, g, chat=True, gen_length=4, limit=256)
    assert tm.decode(row[:-4]).endswith("assistant\n\n") or "assistant" in tm.tokenizer.decode(row[:-4])


@needs_shared("humaneval_infilling")
@pytest.mark.parametrize("task", ["humaneval_single", "humaneval_multi", "humaneval_split"])
def test_canonical_solutions_pass_and_wrong_ones_fail(task):
    from tasks import get_task_class
    t = get_task_class(task)("infill", "small", str(SHARED))
    ex = t.examples(6)
    assert [s.correct for s in t.score_batch(ex, [e.reference for e in ex])] == [True] * 6
    assert not any(s.correct for s in t.score_batch(ex, ["    raise SystemExit(0)\n"] * 6))


@needs_shared("rocstories")
def test_rocstories_scores_the_reference_perfectly():
    from tasks import get_task_class
    t = get_task_class("rocstories")("infill", "small", str(SHARED))
    ex = t.examples(3)
    scores = t.score_batch(ex, [e.reference for e in ex])
    assert all(s.score == 1.0 and s.metrics["rouge2"] == 1.0 for s in scores)
    assert ex[0].prefix.endswith(" ") and ex[0].suffix.startswith(" ")


def _args(tmp_path, model, *extra):
    return ["--task", "rocstories", "--scale", "smoke", "--model", model, "--results-dir", str(tmp_path / "r"),
            "--ckpt-dir", str(tmp_path / "c"), "--data-dir", str(SHARED), "--no-progress", "--n", "4", *extra]


@needs_shared("rocstories")
def test_run_records_resume_and_shards(tmp_path, tiny_model, monkeypatch):
    assert run.main(_args(tmp_path, tiny_model, "--sampler", "margin,vanilla")) == 0
    files = sorted((tmp_path / "r" / "smoke" / "rocstories" / "infill").glob("*.jsonl"))
    assert len(files) == 2
    header, recs, _ = read_records(files[0])
    assert header["model"]["mask_id"] is not None and header["text"]["mode"] == "infill"
    for r in recs:
        assert r["n_masked"] == r["n_infill"] and r["nfe"] == r["n_infill"]  # one token per step
        assert set(r["metrics"]) >= {"rouge1", "rouge2", "rougeL"} and r["seconds"] > 0 and r["peak_mem_mb"] > 0
    # complete: nothing is decoded and the model is not even loaded; the files stay as they were
    before = [f.read_bytes() for f in files]
    import harness.run.text as text_runner

    def no_load(*a, **k):
        raise AssertionError("a complete run must not load the model")

    with monkeypatch.context() as m:
        m.setattr(text_runner, "load_text_model", no_load)
        assert run.main(_args(tmp_path, tiny_model, "--sampler", "margin")) == 0
    assert [f.read_bytes() for f in files] == before and len(read_records(files[0])[1]) == 4
    single = {r["id"]: r["output"] for r in read_records(files[0])[1]}
    # resume: a run that asks for more examples decodes only the missing ones
    assert run.main(_args(tmp_path, tiny_model, "--sampler", "margin", "--n", "5")) == 0
    assert len(read_records([f for f in files if "margin" in f.name][0])[1]) == 5
    # two ranks write disjoint shards whose union equals the single-process records
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        assert run.main(_args(tmp_path, tiny_model, "--sampler", "margin", "--results-dir", str(tmp_path / "s"))) == 0
    shards = sorted((tmp_path / "s" / "smoke" / "rocstories" / "infill").glob("*rank*of2.jsonl"))
    assert len(shards) == 2
    merged = {}
    for f in shards:
        h, rs, _ = read_records(f)
        assert h["world_size"] == 2
        merged.update({r["id"]: r["output"] for r in rs})
    assert merged == single


def test_text_task_errors_are_one_line(tmp_path, tiny_model, capsys):
    assert run.main(["--task", "rocstories", "--scale", "smoke", "--model", tiny_model, "--sampler", "nope",
                     "--results-dir", str(tmp_path)]) == 2
    assert "unknown sampler" in capsys.readouterr().err
    assert run.main(["--task", "rocstories", "--scale", "smoke", "--model", str(tmp_path / "missing"),
                     "--results-dir", str(tmp_path), "--data-dir", str(SHARED)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and len(err.strip().splitlines()) == 1
    assert run.main(["--task", "sudoku", "--model", tiny_model]) == 2
    assert "--model is for the text tasks" in capsys.readouterr().err
    assert not any(tmp_path.rglob("*.jsonl"))


@needs_shared("rocstories")
def test_fast_approximate_mode_is_recorded_and_kept_apart(tmp_path, tiny_model, capsys):
    """`--cache prefix` (with Fast-dLLM's threshold rule) writes its own file, labelled in the tag and header."""
    assert run.main(_args(tmp_path, tiny_model, "--sampler", "threshold", "--cache", "prefix",
                          "--block-length", "4")) == 0
    files = sorted((tmp_path / "r" / "smoke" / "rocstories" / "infill").glob("*.jsonl"))
    assert len(files) == 1 and "prefixcache" in files[0].name
    header, recs, _ = read_records(files[0])
    assert header["decode"]["cache"] == "prefix" and len(recs) == 4
    assert all(r["n_masked"] == r["n_infill"] for r in recs)
    assert run.main(["--task", "sudoku", "--scale", "smoke", "--cache", "prefix", "--results-dir",
                     str(tmp_path / "p")]) == 2
    assert "--cache is for the text tasks" in capsys.readouterr().err
    assert not (tmp_path / "p").exists() or not any((tmp_path / "p").rglob("*.jsonl"))
