"""The runner end to end at smoke scale: records, resume, and one-line errors that leave results intact."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.results import ResultsFile, ResultsMismatch, read_records
from harness.run.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    args = ["--task", "lo_nae_sat", "--scale", "smoke", "--sampler", "vanilla,margin", "--n", "6",
            "--results-dir", str(root / "results"), "--ckpt-dir", str(root / "ckpt"), "--no-progress", "--threads", "2"]
    assert main(args) == 0
    return root, args


def result_file(root, sampler):
    (path,) = (root / "results" / "smoke" / "lo_nae_sat" / "N8_P40").glob(f"{sampler}__*.jsonl")
    return path


def test_records_have_the_promised_fields(smoke_run):
    root, _ = smoke_run
    header, records, _ = read_records(result_file(root, "margin"))
    assert header["task"] == "lo_nae_sat" and header["sampler"] == "margin" and header["scale"] == "smoke"
    for key in ("commit", "torch", "device"):
        assert key in header["env"]
    assert header["decode"]["steps"] == 8 and header["model"]["params"] > 0
    assert "obs_given_latents_acc" in header["task_info"]["learning_check"]
    assert [r["id"] for r in records] == [str(i) for i in range(6)]
    for r in records:
        assert {"id", "input", "output", "correct", "score", "order", "steps", "nfe", "seconds"} <= set(r)
        assert len(r["order"]) == 48 and min(r["order"]) >= 0 and 0 <= r["score"] <= 1


def test_resume_after_crash_loses_and_duplicates_nothing(smoke_run):
    root, args = smoke_run
    path = result_file(root, "vanilla")
    before = path.read_bytes()
    _, records, _ = read_records(path)
    # simulate a crash in the middle of writing a record
    with open(path, "ab") as f:
        f.write(b'{"type":"example","id":"6","inp')
    n_args = list(args)
    n_args[n_args.index("--n") + 1] = "10"
    assert main(n_args) == 0
    header, after, _ = read_records(path)
    ids = [r["id"] for r in after]
    assert ids == [str(i) for i in range(10)]                       # nothing lost, nothing duplicated
    assert path.read_bytes().startswith(before)                     # what was written stays as written
    assert after[:6] == records
    # the checkpoint was reused, not retrained: same weights fingerprint
    assert header["model"]["fingerprint"] == read_records(result_file(root, "margin"))[0]["model"]["fingerprint"]
    # running again adds nothing
    assert main(n_args) == 0
    assert len(read_records(path)[1]) == 10


def test_header_mismatch_is_refused_and_file_untouched(tmp_path):
    path = tmp_path / "r.jsonl"
    rf = ResultsFile(path, {"type": "header", "task": "t", "seed": 0, "decode": {"steps": 5}}).open()
    rf.append([{"id": "a", "score": 1.0}])
    before = path.read_bytes()
    with pytest.raises(ResultsMismatch, match="decode differ"):
        ResultsFile(path, {"type": "header", "task": "t", "seed": 0, "decode": {"steps": 6}}).open()
    assert path.read_bytes() == before


def cli(*args):
    return subprocess.run([sys.executable, "-m", "harness.run", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args,needle", [
    (["--task", "nope"], "unknown task 'nope'"),
    (["--task", "lo_nae_sat", "--sampler", "bogus"], "unknown sampler 'bogus'"),
    (["--task", "lo_nae_sat", "--scale", "huge"], "unknown scale 'huge'"),
    (["--task", "lo_nae_sat", "--variant", "N2_P3"], "unknown variant 'N2_P3'"),
    (["--task", "lo_nae_sat", "--steps", "-1"], "--steps: -1 is not a positive integer"),
    (["--task", "sudoku", "--scale", "smoke", "--n", "30"], "asked for 30"),   # before any training or write
    (["--task", "lo_nae_sat", "--batch-size", "-1"], "--batch-size: -1 is not a positive integer"),
    (["--task", "lo_nae_sat", "--batch-size", "x"], "--batch-size: 'x' is not an integer"),
    (["--task", "lo_nae_sat", "--sampler", ","], "names nothing"),
    (["--task", "lo_nae_sat", "--data-dir", "/nonexistent/dir"], "/nonexistent/dir is not a directory"),
    (["--task", "lo_nae_sat", "--gumbel", "nan"], "nan is not a finite number"),
    (["--task", "lo_nae_sat", "--gumbel", "-0.5"], "negative"),
    (["--task", "lo_nae_sat", "--seed", "-1"], "--seed"),
    (["--task", "lo_nae_sat", "--device", "tpu"], "'tpu' is not a device"),
    (["--task", "lo_nae_sat", "--threads", "-1"], "--threads"),
    (["--task", "lo_nae_sat", "--n", "0"], "--n"),
    (["--task", "lo_nae_sat", "--temperature", "inf"], "inf is not a finite number"),
    (["--task", "lo_nae_sat", "--variant", ","], "names nothing"),
    (["--task", "lo_nae_sat", "--mask-id", "-3"], "--mask-id"),
])
def test_cli_errors_are_one_line_and_exit_nonzero(tmp_path, args, needle):
    r = cli(*args, "--results-dir", str(tmp_path / "res"), "--ckpt-dir", str(tmp_path / "ck"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and lines[0].startswith("error:")
    assert not (tmp_path / "res").exists() and not (tmp_path / "ck").exists()


@pytest.mark.parametrize("task,name,content,needle", [
    ("sudoku", "sudoku-test-data.npy", b"", "not a plain numeric .npy array"),          # an empty file
    ("sudoku", "sudoku-test-data.npy", b"PK\x03\x04garbage", "not a plain numeric .npy array"),
    ("zebra", "zebra-test-data.pkl", b"this is not a pickle", "not a readable Zebra pickle"),
])
def test_a_bad_data_file_is_one_line_before_any_training(tmp_path, task, name, content, needle):
    data = tmp_path / "data"
    data.mkdir()
    (data / name).write_bytes(content)
    r = cli("--task", task, "--scale", "smoke", "--data-dir", str(data), "--results-dir", str(tmp_path / "res"),
            "--ckpt-dir", str(tmp_path / "ck"), "--no-progress")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and needle in lines[-1] and name in lines[-1], r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "res").exists() and not (tmp_path / "ck").exists()     # nothing trained or written


@pytest.mark.parametrize("which", ["--results-dir", "--ckpt-dir"])
def test_an_output_directory_that_is_a_file_is_one_line(tmp_path, which):
    f = tmp_path / "afile"
    f.write_text("keep me")
    r = cli("--task", "lo_nae_sat", "--scale", "smoke", which, str(f / "sub"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "is a file" in r.stderr
    assert f.read_text() == "keep me"


def test_unreadable_checkpoint_is_a_clear_error_and_results_untouched(smoke_run, tmp_path):
    root, args = smoke_run
    ckpt = next((root / "ckpt").rglob("ckpt.pt"))
    saved = ckpt.read_bytes()
    results_before = {p: p.read_bytes() for p in (root / "results").rglob("*.jsonl")}
    try:
        ckpt.write_bytes(b"this is not a checkpoint")
        r = cli(*args, "--n", "40")          # more examples than recorded: the model is needed
        assert r.returncode == 2
        line = r.stderr.strip().splitlines()[-1]
        assert line.startswith("error:") and "ckpt" in line
        assert {p: p.read_bytes() for p in (root / "results").rglob("*.jsonl")} == results_before
    finally:
        ckpt.write_bytes(saved)


def test_header_is_valid_json_lines(smoke_run):
    root, _ = smoke_run
    for line in result_file(root, "margin").read_text().splitlines():
        json.loads(line)


def test_header_records_the_whole_run_configuration(smoke_run):
    root, _ = smoke_run
    run = json.loads(result_file(root, "margin").read_text().splitlines()[0])["run"]
    assert run["task"] == "lo_nae_sat" and run["samplers"] == ["vanilla", "margin"] and run["n"] == 6
    assert run["scale"] == "smoke" and run["decode"] == {} and run["threads"] == 2 and run["progress"] is False


def test_run_config_refuses_bad_values_by_name():
    from harness.run.config import RunConfig
    with pytest.raises(ValueError, match="unknown knob"):
        RunConfig(task="sudoku", decode={"stepz": 3})
    with pytest.raises(ValueError, match="--n"):
        RunConfig(task="sudoku", n=0)


def test_header_missing_a_newer_knob_matches_its_default(tmp_path):
    """A results file written before a decode knob existed resumes when the run uses that knob's default."""
    from harness.results import ResultsFile, ResultsMismatch
    path = tmp_path / "r.jsonl"
    old = {"type": "header", "task": "t", "decode": {"steps": 5}}
    ResultsFile(path, old).open().append([{"id": "a"}])
    new = {"type": "header", "task": "t", "decode": {"steps": 5, "gumbel_space": "prob"}}
    rf = ResultsFile(path, new, defaults={"decode": {"gumbel_space": "prob"}}).open()
    assert rf.done == {"a"}
    other = {"type": "header", "task": "t", "decode": {"steps": 5, "gumbel_space": "log"}}
    with pytest.raises(ResultsMismatch):
        ResultsFile(path, other, defaults={"decode": {"gumbel_space": "prob"}}).open()


TIMING = {"seconds", "batch_seconds", "peak_mem_mb"}
HEADER_VOLATILE = {"started", "env"}


def _comparable(path):
    header, records, _ = read_records(path)
    header = {k: v for k, v in header.items() if k not in HEADER_VOLATILE}
    header["model"] = {k: v for k, v in header["model"].items() if k not in ("checkpoint", "train_seconds")}
    header["run"] = {k: v for k, v in header["run"].items() if k not in ("results_dir", "ckpt_dir")}  # places
    return header, [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def test_same_preset_and_seed_give_the_same_weights_and_records(tmp_path):
    """Seed before you build: two fresh processes (different global RNG histories) train identical weights
    and write identical JSONL, timing fields aside."""
    outs = []
    for k in range(2):
        root = tmp_path / f"run{k}"
        r = cli("--task", "lo_nae_sat", "--scale", "smoke", "--sampler", "vanilla,margin", "--n", "6",
                "--results-dir", str(root / "results"), "--ckpt-dir", str(root / "ckpt"), "--no-progress",
                "--threads", "1")
        assert r.returncode == 0, r.stderr
        outs.append({p.relative_to(root): _comparable(p) for p in (root / "results").rglob("*.jsonl")})
    assert outs[0].keys() == outs[1].keys() and len(outs[0]) == 2
    for key in outs[0]:
        assert outs[0][key] == outs[1][key]
    fps = {h["model"]["fingerprint"] for out in outs for h, _ in out.values()}
    assert len(fps) == 1


def test_model_init_is_a_function_of_the_seed_alone():
    from harness.models import build_model
    torch = pytest.importorskip("torch")
    torch.manual_seed(123)
    a = build_model("0.2M", 6, 16, seed=7)
    state = torch.get_rng_state()
    torch.rand(100)
    b = build_model("0.2M", 6, 16, seed=7)
    c = build_model("0.2M", 6, 16, seed=8)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.tok_emb.weight, c.tok_emb.weight)
    torch.set_rng_state(state)
    build_model("0.2M", 6, 16, seed=7)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is untouched


def test_protocol_variants_share_one_model(tmp_path):
    root = tmp_path
    args = ["--task", "lo_nae_sat", "--scale", "smoke", "--variant", "N8_P40,N8_P40_g1", "--sampler", "margin",
            "--n", "4", "--results-dir", str(root / "res"), "--ckpt-dir", str(root / "ck"), "--no-progress",
            "--threads", "1"]
    assert main(args) == 0
    assert len(list((root / "ck").rglob("ckpt.pt"))) == 1
    heads = {p.parent.name: read_records(p)[0] for p in (root / "res").rglob("*.jsonl")}
    assert set(heads) == {"N8_P40", "N8_P40_g1"}
    assert heads["N8_P40"]["model"]["fingerprint"] == heads["N8_P40_g1"]["model"]["fingerprint"]
    assert heads["N8_P40_g1"]["task_info"]["protocol"] == "first 1 latents given"
    info = heads["N8_P40"]["task_info"]
    assert info["learning_check_learned_at"] == {"obs_given_latents_acc": 0.95}
    assert info["learned"] == (info["learning_check"]["obs_given_latents_acc"] >= 0.95)
    _, recs, _ = read_records(next((root / "res").rglob("N8_P40_g1/*.jsonl")))
    assert all(r["order"][0] == -1 for r in recs)        # the given latent is never decoded


def test_a_complete_results_directory_needs_no_model(smoke_run, tmp_path, capsys):
    """Every record present under the same identity: the runner says so and neither trains nor loads a
    model (a fresh checkpoint directory stays absent), and the files are left byte for byte as they were."""
    root, args = smoke_run
    files = sorted((root / "results").rglob("*.jsonl"))
    before = {p: p.read_bytes() for p in files}
    fresh_ckpt = tmp_path / "no-ckpt"
    argv = [a if a != str(root / "ckpt") else str(fresh_ckpt) for a in args]
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("[complete]") == 2 and "no model needed" in out
    assert not fresh_ckpt.exists()
    assert {p: p.read_bytes() for p in files} == before


def test_an_incomplete_or_different_results_file_still_needs_the_model(smoke_run, tmp_path):
    from harness.run.common import already_done
    from harness.run.config import RunConfig
    from harness.run.puzzles import complete_without_model, decode_config
    from tasks import get_task_class
    root, _ = smoke_run
    task = get_task_class("lo_nae_sat")("N8_P40", "smoke")
    dcfg = decode_config(task.recipe("mdm").decode, {})
    cfg = RunConfig(task="lo_nae_sat", scale="smoke", n=6, results_dir=str(root / "results"))
    assert complete_without_model(task, cfg, ["vanilla", "margin"], dcfg) is not None
    assert complete_without_model(task, RunConfig(task="lo_nae_sat", scale="smoke", n=40,
                                                  results_dir=str(root / "results")), ["margin"], dcfg) is None
    other = decode_config(task.recipe("mdm").decode, {"steps": 3})
    assert complete_without_model(task, cfg, ["margin"], other) is None      # another file: not there
    ident = {"preset": "6M", "objective": "mdm", "train": {}}                  # another model recipe
    assert already_done(task, [("margin", dcfg.tag(), dcfg.to_dict())], ident, cfg, 6) is None


def test_progress_on_a_pipe_is_plain_lines(tmp_path):
    """stderr is a pipe here: the bars come out as separate lines (no carriage returns), with their figures."""
    r = cli("--task", "lo_nae_sat", "--scale", "smoke", "--sampler", "margin", "--n", "4",
            "--results-dir", str(tmp_path / "r"), "--ckpt-dir", str(tmp_path / "c"), "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr
    bars = [line for line in r.stderr.splitlines() if "train mdm" in line or "lo_nae_sat/N8_P40 margin" in line]
    assert bars and any("100%" in line for line in bars) and all(len(line) < 400 for line in bars)


def test_carriage_returns_become_single_lines():
    import io
    from harness.progress_output import CarriageReturnsToLines
    buf = io.StringIO()
    out = CarriageReturnsToLines(buf)
    out.write("\rbar  10%")
    out.write("\rbar  50%")
    out.write("\rbar 100%\n")
    out.write("done\n")
    assert buf.getvalue() == "bar  10%\nbar  50%\nbar 100%\ndone\n" and not out.isatty()
