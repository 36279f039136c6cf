"""The lm-eval model plugin ``tokenorder``: the stock ``lm_eval`` command on local tasks, the model's three
request types called directly, argument errors, the registry, and that nothing runs at start-up (CPU, offline, one tiny text MDM)."""
import glob
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")

from lm_eval.api.instance import Instance  # noqa: E402

from harness.decoding import textgen  # noqa: E402
from harness.integrations.lm_eval_model import TokenorderLM, chunk_windows  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["def foo(x):", "import os\nimport sys\n", "class A:\n    def __init__(self, value):\n        self."]
SMALL = dict(gen_length=16, steps=16, block_length=8, mc_num=8, mc_batch_size=4, device="cpu")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A 0.2M-parameter model gains nothing from threads, and a busy 2-core machine makes them spin."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from harness.training.text_mdm import build
    from tasks.datafiles import default_data_dir
    return str(build(tmp_path_factory.mktemp("mdm"), preset="0.2M", seq_len=128, vocab_size=1000, iters=20,
                     batch_size=8, code_bytes=300_000, progress=False, data_dir=default_data_dir()))


@pytest.fixture(scope="module")
def lm(model_dir):
    return TokenorderLM(pretrained=model_dir, batch_size=3, **SMALL)


def gen(context, **gen_kwargs):
    return Instance("generate_until", {}, (context, gen_kwargs), 0)


def ll(context, continuation):
    return Instance("loglikelihood", {}, (context, continuation), 0)


def test_generate_until_cuts_at_until(lm):
    sampled = {"temperature": 1.0, "do_sample": True}  # T > 0: the tiny model's greedy text is only newlines
    full = lm.generate_until([gen(p, **sampled) for p in PROMPTS], disable_tqdm=True)
    k, text = max(enumerate(full), key=lambda t: len(t[1]))
    assert len(text) >= 4, full
    stop = text[2:4]
    reqs = [gen(p, **sampled) for p in PROMPTS]
    reqs[k] = gen(PROMPTS[k], until=[stop], **sampled)
    cut = lm.generate_until(reqs, disable_tqdm=True)
    assert cut[k] == text.split(stop)[0] and stop not in cut[k]
    assert [c for i, c in enumerate(cut) if i != k] == [c for i, c in enumerate(full) if i != k]


def test_generate_until_honours_max_gen_toks(lm, monkeypatch):
    masks = []
    real = textgen.decode

    def spy(model, x, mask_id, *a, **kw):
        masks.extend((x == mask_id).sum(-1).tolist())   # rows of one call share a length: no padding
        return real(model, x, mask_id, *a, **kw)

    monkeypatch.setattr(textgen, "decode", spy)
    lm.generate_until([gen(p, max_gen_toks=5) for p in PROMPTS] + [gen(PROMPTS[0])], disable_tqdm=True)
    assert sorted(masks) == [5, 5, 5, 16]
    assert lm.decode_config(5).steps == 5 and lm.decode_config(16).steps == 16
    assert lm.decode_config(40).steps % 5 == 0  # 5 blocks of 8


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_generations_do_not_depend_on_batch_size(lm, model_dir, temperature):
    one = TokenorderLM(pretrained=model_dir, batch_size=1, **SMALL)
    reqs = [gen(p, temperature=temperature, until=["\n\n\n"]) for p in PROMPTS]
    assert lm.batch_size == 3 and one.batch_size == 1
    assert one.generate_until(reqs, disable_tqdm=True) == lm.generate_until(reqs, disable_tqdm=True)


def test_loglikelihood_finite_negative_and_deterministic(lm, model_dir):
    reqs = [ll("def foo(x):", " return x"), ll("import os\n", "import sys"), ll("", "hello world")]
    a = lm.loglikelihood(reqs, disable_tqdm=True)
    b = lm.loglikelihood(reqs, disable_tqdm=True)
    assert a == b
    for value, greedy in a:
        assert math.isfinite(value) and value < 0 and isinstance(greedy, bool)
    other = TokenorderLM(pretrained=model_dir, seed=1, **SMALL).loglikelihood(reqs[:1], disable_tqdm=True)
    assert other[0][0] != a[0][0]


def test_loglikelihood_rolling_chunks_long_text(lm):
    text = "import os\n" * 90  # well over the model's 128 positions
    assert len(lm.tok_encode(text)) > lm.max_length == 128
    (value,) = lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (text,), 0)], disable_tqdm=True)
    assert math.isfinite(value) and value < 0


def test_chunk_windows_cover_every_token_once():
    for n_ctx, n_total, m in [(1, 5, 128), (1, 300, 128), (200, 230, 128), (50, 400, 64), (0, 10, 4)]:
        wins = chunk_windows(n_ctx, n_total, m)
        assert [p for _, p0, p1 in wins for p in range(p0, p1)] == list(range(n_ctx, n_total))
        assert all(p1 - c0 <= m and c0 <= p0 for c0, p0, p1 in wins)
        assert all(p0 - c0 >= min(p0, m // 2) for c0, p0, p1 in wins)


def test_chat_template_support(lm):
    text = lm.apply_chat_template([{"role": "user", "content": "hi"}])
    assert "hi" in text and text.rstrip().endswith("<|end_header_id|>")
    assert lm.chat_template(True) == lm.tokenizer.chat_template
    assert "/" not in lm.tokenizer_name


@pytest.mark.parametrize("kwargs,needle", [
    ({"sampler": "nope"}, "unknown sampler 'nope'"),
    ({"colour": "red"}, "unknown tokenorder model arg(s) colour; accepted: pretrained"),
    ({"steps": 3}, "steps (3) must be a multiple of the number of blocks"),
    ({"suppress_eos": "maybe"}, "suppress_eos='maybe' is not a boolean"),
    ({"sampler": "margin", "tau": 0.8}, "sampler 'margin' has no knob tau"),
])
def test_bad_model_args_raise_one_line_errors(kwargs, needle):
    args = {"pretrained": "/nonexistent", "gen_length": 16, "block_length": 8, **kwargs}
    with pytest.raises(ValueError) as e:
        TokenorderLM(**args)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_create_from_arg_string_converts_types(model_dir):
    m = TokenorderLM.create_from_arg_string(f"pretrained={model_dir},sampler=top_prob,gen_length=8,steps=4,"
                                            f"temperature=0.5,suppress_eos=true,mc_num=4,mc_batch_size=2",
                                            {"batch_size": "auto:4", "device": "cpu"})
    cfg = m.decode_config(8)
    assert (m.sampler, m.gen_length, cfg.steps, cfg.temperature, cfg.suppress_eos) == ("top_prob", 8, 4, 0.5, True)
    assert m.batch_size >= 1 and m.max_length == 128


def test_a_later_rule_with_its_knob_generates_with_adaptive_steps(model_dir):
    m = TokenorderLM.create_from_arg_string(f"pretrained={model_dir},sampler=threshold,tau=0.5,gen_length=16,"
                                            f"block_length=8,mc_num=4,mc_batch_size=2", {"device": "cpu"})
    cfg = m.decode_config(16)
    assert cfg.steps == 0 and cfg.sampler_args == {"tau": 0.5}
    [out] = m.generate_until([gen("def foo(x):", max_gen_toks=16)])
    assert isinstance(out, str)


def test_the_fast_approximate_mode_is_a_model_arg(model_dir):
    m = TokenorderLM.create_from_arg_string(f"pretrained={model_dir},sampler=threshold,tau=0.5,gen_length=16,"
                                            f"block_length=8,cache=prefix,mc_num=4,mc_batch_size=2", {"device": "cpu"})
    assert m.decode_config(16).cache == "prefix"
    [out] = m.generate_until([gen("def foo(x):", max_gen_toks=16)])
    assert isinstance(out, str)
    with pytest.raises(ValueError, match="cache must be"):
        TokenorderLM.create_from_arg_string(f"pretrained={model_dir},cache=dual", {"device": "cpu"})


def _run(code, **kw):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, **kw)


def test_register_adds_tokenorder_and_keeps_lm_evals_own_models():
    r = _run("""
        import sys
        import harness.integrations.lm_eval_registry as r
        assert "lm_eval" not in sys.modules          # importing the module imports nothing of lm-eval
        assert r.register() is True
        import lm_eval.api.registry as reg
        print(reg.get_model("dummy").__name__)       # lm-eval's own models are still found
        print(reg.model_registry._objs["tokenorder"])
    """, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["DummyLM", "harness.integrations.lm_eval_model:TokenorderLM"]


def test_nothing_of_the_project_runs_at_interpreter_start_up(tmp_path):
    import site
    dirs = [*site.getsitepackages(), site.getusersitepackages()]
    hooks = [str(p) for d in dirs if Path(d).is_dir() for p in Path(d).glob("*.pth") if "tokenorder_lm_eval" in p.name]
    assert not hooks, f"a start-up hook is installed: {hooks}"
    # nor does the environment carry the project as an installed (editable) copy: no .pth names it or this
    # checkout (scripts/ensure_env.sh installs the dependencies only)
    ours = [str(p) for d in dirs if Path(d).is_dir() for p in Path(d).glob("*.pth")
            if "tokenorder" in p.name or any(w in p.read_text(errors="replace") for w in ("tokenorder", str(ROOT)))]
    assert not ours, f"the project is hooked into interpreter start-up: {ours}"
    r = _run("""
        import sys
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("harness", "tasks", "lm_eval")))
    """, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_lm_eval_cli_errors_are_one_line(tmp_path):
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("TOKENORDER_TRACEBACK", None)
    write_tasks(tmp_path)
    for args, needle in [(["--model", "tokenorder", "--model_args", f"pretrained={tmp_path / 'missing'}",
                           "--tasks", "no_such_task_xyz"], "no_such_task_xyz"),
                         (["--model", "tokenorder", "--model_args", f"pretrained={tmp_path / 'missing'}",
                           "--tasks", "tok_gen", "--include_path", str(tmp_path)], "missing")]:
        r = subprocess.run([sys.executable, "-m", "harness.integrations.lm_eval_cli", *args], capture_output=True, text=True,
                           env=env, cwd=tmp_path, timeout=300)
        last = r.stderr.strip().splitlines()[-1]
        assert r.returncode == 2 and last.startswith("error: lm-eval:") and needle in last, r.stderr[-3000:]
        assert "Traceback" not in r.stderr


TASKS = {
    "tok_gen": """
        output_type: generate_until
        doc_to_text: "Q: {{question}}\\nA:"
        doc_to_target: "{{answer}}"
        generation_kwargs:
          until: ["\\n"]
          max_gen_toks: 8
          do_sample: false
        metric_list:
          - metric: exact_match
            aggregation: mean
            higher_is_better: true
    """,
    "tok_mc": """
        output_type: multiple_choice
        doc_to_text: "{{question}}"
        doc_to_choice: choices
        doc_to_target: label
        metric_list:
          - metric: acc
            aggregation: mean
            higher_is_better: true
          - metric: acc_norm
            aggregation: mean
            higher_is_better: true
    """,
    "tok_ppl": """
        output_type: loglikelihood_rolling
        doc_to_text: ""
        doc_to_target: "{{question}}"
        metric_list:
          - metric: word_perplexity
          - metric: byte_perplexity
          - metric: bits_per_byte
    """,
}


def write_tasks(root: Path) -> None:
    rows = [{"question": f"def f{i}(x):\n    return x + {i}", "choices": [" x", " None", " 1"], "label": i % 3,
             "answer": str(i)} for i in range(4)]
    data = root / "docs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name, body in TASKS.items():
        head = f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\n"
        (root / f"{name}.yaml").write_text(head + textwrap.dedent(body))


def test_stock_lm_eval_command_runs_local_tasks(model_dir, tmp_path):
    tasks, out = tmp_path / "tasks", tmp_path / "out"
    tasks.mkdir()
    write_tasks(tasks)
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
           "HF_DATASETS_CACHE": str(tmp_path / "hf-datasets")}
    cmd = [sys.executable, "-m", "harness.integrations.lm_eval_cli"]   # lm-eval's own command line, tokenorder registered
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    args = ["--model", "tokenorder", "--model_args",
            f"pretrained={model_dir},sampler=margin,gen_length=16,steps=16,block_length=8,mc_num=8,mc_batch_size=4",
            "--tasks", ",".join(TASKS), "--include_path", str(tasks), "--output_path", str(out), "--limit", "3",
            "--device", "cpu"]
    r = subprocess.run(cmd + args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    (path,) = glob.glob(str(out / "**" / "results_*.json"), recursive=True)
    res = json.loads(Path(path).read_text())
    assert res["results"]["tok_gen"]["exact_match,none"] in (0.0, 1 / 3, 2 / 3, 1.0)
    assert 0 <= res["results"]["tok_mc"]["acc,none"] <= 1 and 0 <= res["results"]["tok_mc"]["acc_norm,none"] <= 1
    assert math.isfinite(res["results"]["tok_ppl"]["word_perplexity,none"])
    assert res["config"]["tokenorder"]["sampler"] == "margin"
