"""HumanEval-Infilling: the loader (hashes, lookup order, download, errors) and scoring in the sandbox.

Data-dependent tests read the shared benchmark files ($TOKENORDER_SHARED_DATA, else ../shared/data beside the
project) and are skipped when those are absent. Nothing here touches the network: downloads are served by a
patched ``urlopen``.
"""
from __future__ import annotations

import gzip
import io
import json
import math
import re
import urllib.error
from pathlib import Path

import pytest

from tasks.sandbox.host import Limits
from tasks.humaneval import data as hd
from tasks.humaneval.data import RECORD_COUNTS, SHA256, SUBSETS, URLS, load_infilling
from tasks.humaneval.execute import build_program, pass_at_k, score_completions

import conftest
from conftest import SHARED

needs_shared = conftest.needs_shared(hd.SUBDIR)

FIRST_TASK_ID = {
    "single": "SingleLineInfilling/HumanEval/0/L0",
    "multi": "MultiLineInfilling/HumanEval/0/L0_L0",
    "random_span": "RandomSpanInfilling/HumanEval/0/1",
    "random_span_light": "RandomSpanInfillingLight/HumanEval/0/1",
}
SAMPLE = 20

# A toy problem (no data needed) in the benchmark's format: the gap is the body of f.
TOY = {"task_id": "toy/0", "entry_point": "f", "prompt": "def f(x):\n", "suffix": "    return y\n",
       "canonical_solution": "    y = x + 1\n", "test": "def check(candidate):\n    assert candidate(1) == 2\n"}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Every test gets an empty cache directory, so no test sees (or writes) the user's cache."""
    monkeypatch.setenv("TOKENORDER_CACHE", str(tmp_path / "cache"))


def _load(subset: str) -> list[dict]:
    return load_infilling(subset, str(SHARED), download=False)


def _sample(records: list[dict]) -> list[dict]:
    """Every (len // 20)-th record from the first: 20 records spread over the file."""
    return records[:: len(records) // SAMPLE][:SAMPLE]


def _fake_gz(path: Path) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(json.dumps(TOY) + "\n")


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# ------------------------------------------------------------------------------------------------ loader
@needs_shared
@pytest.mark.parametrize("subset", list(SUBSETS))
def test_record_counts_and_first_task(subset):
    records = _load(subset)
    assert len(records) == RECORD_COUNTS[subset]
    assert records[0]["task_id"] == FIRST_TASK_ID[subset]
    assert len({r["task_id"] for r in records}) == len(records)
    assert set(records[0]) == set(hd.FIELDS) | {"subset"}
    assert all(r["subset"] == subset for r in records)


@needs_shared
def test_data_dir_may_be_the_subfolder_itself():
    direct = load_infilling("random_span_light", str(SHARED / hd.SUBDIR), download=False)
    assert [r["task_id"] for r in direct] == [r["task_id"] for r in _load("random_span_light")]


def test_tables_are_consistent():
    assert set(SUBSETS) == set(SHA256) == set(URLS) == set(RECORD_COUNTS)
    for subset, name in SUBSETS.items():
        assert re.fullmatch(r"[0-9a-f]{64}", SHA256[subset])
        assert URLS[subset] == ("https://raw.githubusercontent.com/openai/human-eval-infilling/"
                                f"88062ff9859c875d04db115b698ed4b0f0395170/data/{name}")


@needs_shared
def test_shared_files_have_the_pinned_hashes():
    for subset, name in SUBSETS.items():
        assert hd.sha256_file(SHARED / hd.SUBDIR / name) == SHA256[subset]


def test_tampered_copy_is_rejected(tmp_path):
    path = tmp_path / SUBSETS["single"]
    _fake_gz(path)
    with pytest.raises(ValueError) as e:
        load_infilling("single", str(tmp_path), download=False)
    msg = _one_line(e)
    assert str(path) in msg and SHA256["single"] in msg and hd.sha256_file(path) in msg
    assert "delete the file" in msg


@needs_shared
def test_tampered_real_copy_in_subfolder_is_rejected(tmp_path):
    sub = tmp_path / hd.SUBDIR
    sub.mkdir()
    raw = bytearray((SHARED / hd.SUBDIR / SUBSETS["random_span_light"]).read_bytes())
    raw[len(raw) // 2] ^= 1
    (sub / SUBSETS["random_span_light"]).write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="does not match the expected"):
        load_infilling("random_span_light", str(tmp_path), download=False)


def test_tampered_cache_copy_is_rejected():
    cached = hd.cached_path("multi")
    cached.parent.mkdir(parents=True)
    _fake_gz(cached)
    with pytest.raises(ValueError, match=re.escape(str(cached))):
        load_infilling("multi", None, download=False)


def test_unknown_subset():
    with pytest.raises(ValueError) as e:
        load_infilling("randomspan", None, download=False)
    msg = _one_line(e)
    assert "'randomspan'" in msg and "single, multi, random_span, random_span_light" in msg


def test_missing_file_without_download(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_infilling("single", str(tmp_path), download=False)
    msg = _one_line(e)
    assert "--data-dir" in msg and URLS["single"] in msg


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_no_network_error_names_data_dir_and_url(monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(hd.urllib.request, "urlopen", offline)
    with pytest.raises(FileNotFoundError) as e:
        load_infilling("single")
    msg = _one_line(e)
    assert "--data-dir" in msg and URLS["single"] in msg and "name resolution" in msg
    assert not hd.cached_path("single").parent.exists() or not any(hd.cached_path("single").parent.iterdir())


def test_download_with_wrong_bytes_leaves_nothing(monkeypatch):
    monkeypatch.setattr(hd.urllib.request, "urlopen", lambda url, timeout=None: _Response(b"not the file"))
    with pytest.raises(ValueError, match="does not match the expected"):
        load_infilling("random_span")
    assert list(hd.cached_path("random_span").parent.iterdir()) == []


@needs_shared
def test_download_verifies_and_caches(monkeypatch):
    served = []
    blob = (SHARED / hd.SUBDIR / SUBSETS["random_span_light"]).read_bytes()

    def serve(url, timeout=None):
        served.append(url)
        return _Response(blob)

    monkeypatch.setattr(hd.urllib.request, "urlopen", serve)
    records = load_infilling("random_span_light")
    assert served == [URLS["random_span_light"]] and len(records) == 164
    assert [p.name for p in hd.cached_path("random_span_light").parent.iterdir()] == [SUBSETS["random_span_light"]]
    assert load_infilling("random_span_light", download=False)[0]["task_id"] == FIRST_TASK_ID["random_span_light"]
    assert len(served) == 1  # the second load read the cache


@needs_shared
def test_data_dir_wins_over_cache(tmp_path):
    cached = hd.cached_path("random_span_light")
    cached.parent.mkdir(parents=True)
    _fake_gz(cached)  # a bad cache copy is never read when --data-dir has the file
    assert len(_load("random_span_light")) == 164


# --------------------------------------------------------------------------------------------- execution
def test_build_program_matches_upstream():
    assert build_program(TOY, "    y = x + 1\n") == (
        "def f(x):\n    y = x + 1\n    return y\n\ndef check(candidate):\n    assert candidate(1) == 2\n\n"
        "check(f)\n")


def test_toy_outcomes():
    completions = [
        "    y = x + 1\n",                                  # right
        "    y = x\n",                                      # wrong answer
        "    y = (\n",                                      # syntax error
        "    import sys; sys.exit(0)\n",                     # leaves early with status 0: upstream says failed
        "    __import__('os')._exit(0)\n",                  # the same, without cleanup
        "    import io, sys; sys.stderr = io.StringIO(); y = x + 1\n",  # hides sys.stderr, still right
        "    print('x' * 100000); y = x + 1\n",             # lots of output, still right
    ]
    res = score_completions([TOY] * len(completions), completions)
    assert [r["status"] for r in res] == ["passed", "failed", "failed", "failed", "failed", "passed", "passed"]
    assert [r["passed"] for r in res] == [True, False, False, False, False, True, True]
    assert "AssertionError" in res[1]["stderr_tail"] and "SyntaxError" in res[2]["stderr_tail"]
    assert res[0]["stderr_tail"] == ""
    assert all(r["task_id"] == "toy/0" and r["seconds"] > 0 for r in res)


FORGERIES = {
    # read the whole program from disk and replay every line that writes to fd 2 or 1, then leave with 0
    "replay program.py": "    import os, re\n    src = open('program.py').read()\n"
                         "    [os.write(2, m.encode()) for m in re.findall(r'[\\w-]{20,}', src)]\n"
                         "    os._exit(0)\n",
    # scan the code constants of every frame's code object for anything token-shaped
    "code constants": "    import os, sys\n    f = sys._getframe(0)\n"
                      "    while f is not None:\n"
                      "        for c in f.f_code.co_consts:\n"
                      "            if isinstance(c, (str, bytes)): os.write(2, c if isinstance(c, bytes) else c.encode())\n"
                      "        f = f.f_back\n"
                      "    os._exit(0)\n",
    # exec the program's last lines (where a sentinel used to be), then leave with 0
    "exec last lines": "    import os\n    lines = open('program.py').read().splitlines()\n"
                       "    for line in lines[-3:]:\n"
                       "        try: exec(line)\n"
                       "        except BaseException: pass\n"
                       "    os._exit(0)\n",
    # write '0' to every control file the runner might read, then fail
    "control files": "    import os\n    for d in ('..', '.'):\n"
                     "        for n in os.listdir(d):\n"
                     "            p = os.path.join(d, n)\n"
                     "            if os.path.isfile(p) and n != 'program.py':\n"
                     "                try: os.write(os.open(p, os.O_WRONLY | os.O_TRUNC), b'0')\n"
                     "                except OSError: pass\n"
                     "    raise SystemExit(3)\n",
    # write to every inherited file descriptor, then leave with 0
    "every fd": "    import os\n    for fd in range(3, 64):\n"
                "        try: os.write(fd, b'completed 0123456789abcdef0123456789abcdef\\n')\n"
                "        except OSError: pass\n"
                "    os._exit(0)\n",
}


@pytest.mark.parametrize("how", sorted(FORGERIES))
@pytest.mark.parametrize("guard", [True, False])
def test_a_completion_cannot_fake_a_pass(how, guard):
    limits = Limits(guard=guard)
    [r] = score_completions([TOY], [FORGERIES[how]], limits=limits)
    assert r["passed"] is False and r["status"] != "passed", r


def test_a_right_program_that_prints_a_lot_to_stderr_passes():
    [r] = score_completions([TOY], ["    import sys; sys.stderr.write('e' * 60000); y = x + 1\n"])
    assert r["passed"] is True


def test_infinite_loop_times_out():
    res = score_completions([TOY], ["    while True:\n        pass\n"], limits=Limits(timeout_s=2.0, cpu_s=2))
    assert res[0]["status"] == "timeout" and res[0]["passed"] is False


def test_completion_count_must_match():
    with pytest.raises(ValueError, match="one completion per record"):
        score_completions([TOY, TOY], ["    y = x + 1\n"])


def _replace_first_line_with_pass(solution: str) -> str:
    lines = solution.splitlines(keepends=True)
    i = next(i for i, line in enumerate(lines) if line.strip())
    lines[i] = re.match(r"[ \t]*", lines[i]).group() + "pass\n"
    return "".join(lines)


# Records of the fixed sample where a "wrong" completion still passes, with the reason (observed, exact).
EMPTY_STILL_PASSES = {
    # the canonical middle is whitespace only ("\n" and ""), so the empty completion is the right answer
    "random_span": {"RandomSpanInfilling/HumanEval/41/1", "RandomSpanInfilling/HumanEval/90/3"},
}
PASS_STILL_PASSES = {
    # `break` -> `pass` in check_dict_case: the loop's later iterations leave the answer unchanged
    "single": {"SingleLineInfilling/HumanEval/95/L20"},
}


@needs_shared
@pytest.mark.parametrize("subset", list(SUBSETS))
def test_canonical_pass_and_wrong_fail_on_sample(subset):
    recs = _sample(_load(subset))
    assert len(recs) == SAMPLE
    recs_all, comps, kinds = [], [], []
    for kind, make in [("canonical", lambda r: r["canonical_solution"]), ("empty", lambda r: ""),
                       ("pass", lambda r: _replace_first_line_with_pass(r["canonical_solution"]))]:
        if kind == "pass" and subset not in ("single", "multi"):
            continue  # random spans cut lines in the middle: "replace a line" is not defined there
        recs_all += recs
        comps += [make(r) for r in recs]
        kinds += [kind] * len(recs)
    res = score_completions(recs_all, comps, workers=2)
    by_kind = {k: [r for r, kk in zip(res, kinds) if kk == k] for k in set(kinds)}

    bad = [(r["task_id"], r["status"], r["stderr_tail"][-300:]) for r in by_kind["canonical"] if not r["passed"]]
    assert bad == []
    assert {r["task_id"] for r in by_kind["empty"] if r["passed"]} == EMPTY_STILL_PASSES.get(subset, set())
    assert all(r["status"] in ("passed", "failed") for r in res)  # nothing here times out or errors
    if "pass" in by_kind:
        assert {r["task_id"] for r in by_kind["pass"] if r["passed"]} == PASS_STILL_PASSES.get(subset, set())


# ---------------------------------------------------------------------------------------------- pass@k
def test_pass_at_k_known_values():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 0, 1) == 0.0 and pass_at_k(10, 0, 10) == 0.0
    assert pass_at_k(10, 1, 10) == 1.0 and pass_at_k(10, 10, 10) == 1.0
    assert pass_at_k(5, 5, 1) == 1.0
    assert pass_at_k(10, 3, 2) == pytest.approx(1 - 21 / 45)        # 1 - C(7,2)/C(10,2)
    assert pass_at_k(10, 3, 8) == 1.0                               # n - c < k
    assert pass_at_k(200, 17, 100) == pytest.approx(1 - math.comb(183, 100) / math.comb(200, 100))
    assert 0.0 < pass_at_k(100000, 1, 1) == pytest.approx(1e-5)


@pytest.mark.parametrize("n,c,k", [(10, 11, 1), (10, -1, 1), (10, 3, 0), (10, 3, 11)])
def test_pass_at_k_rejects_bad_arguments(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)
