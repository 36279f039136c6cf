"""The benchmark scripts run (their figures are printed, never asserted): the CPU-side pieces of the GPU
check, and the comparison with LLaDA's reference loop at tiny sizes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def test_gpu_check_cpu_side_pieces_print_their_tables():
    r = _run("benchmarks/gpu_check.py", "--device", "cpu", "--quick", "--data-dir", str(SHARED))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "## 1. Training step" in r.stdout and "## 2. Sudoku decode" in r.stdout
    assert r.stdout.count("| cpu fp32 | 8 | 100.0 | 100.0 |") == 1       # CPU against itself: identical
    assert "skipped: needs CUDA" in r.stdout


def test_decode_vs_reference_prints_one_row_per_setting():
    r = _run("benchmarks/decode_vs_reference.py", "--vocabs", "64", "--batches", "1,2", "--temperatures", "0,1",
             "--repeats", "1", "--gen-length", "8", "--block-length", "4")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [line for line in r.stdout.splitlines() if line.startswith("| 64 |")]
    assert len(rows) == 4 and all(line.count("x (") == 2 for line in rows)


def test_fast_text_mode_prints_speed_and_agreement(tmp_path):
    import pytest
    if not (SHARED / "math").exists():
        pytest.skip("needs ../shared/data/math")
    from harness.training.text_mdm import build
    model = build(tmp_path / "m", preset="0.2M", seq_len=256, vocab_size=600, iters=5, batch_size=4,
                  code_bytes=100_000, progress=False, data_dir=str(SHARED))
    r = _run("benchmarks/fast_text_mode.py", "--model", str(model), "--n", "2", "--gen-length", "8",
             "--block-length", "4", "--repeats", "1", "--taus", "0.9,0.5", "--data-dir", str(SHARED))
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [line for line in r.stdout.splitlines() if line.startswith("| exact") or line.startswith("| prefix")]
    assert len(rows) == 6 and rows[0].split("|")[4].strip() == "1.00x"
    assert all(line.count("%") == 3 for line in rows)
    bad = _run("benchmarks/fast_text_mode.py", "--model", str(model), "--gen-length", "10", "--block-length", "4")
    assert bad.returncode == 2 and "multiple of --block-length" in bad.stderr


def test_run_all_parts_times_each_lane_and_part_from_the_lane_logs(tmp_path):
    """Steps last until the next step line; a lane ends at its 'lane NAME done' line (its own log's, else the
    --main output's); consecutive steps of one task and kind form one part; clock times crossing midnight."""
    import json
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "run_all-sudoku.log").write_text(
        "[23:50:00] run --scale small --task sudoku --sampler vanilla,margin\n"
        "train mdm:  10%|#         | 150/1500\r[result] sudoku ...\n"
        "[00:20:00] run --scale small --task sudoku --sampler margin --gumbel 0\n"
        "[00:30:00] figure pi_order\n"
        "[00:45:30] lane sudoku done\n")
    (logs / "run_all-rest.log").write_text(
        "[23:50:00] run --task zebra --variant 3-rel+4 --gumbel 0 --n 200 --sampler dus\n"
        "[23:51:00] run --task zebra --variant 3-rel+4 --gumbel 0 --n 200 --sampler eb --sampler-arg gamma=1\n"
        "[23:53:00] run --task sudoku --variant 9x9+8 --sampler top_prob,margin --gumbel 0.1 --n 200\n"
        "[23:55:00] run --task sudoku --variant 9x9+8 --sampler vanilla --steps 5\n")
    main = tmp_path / "run_all.out"
    main.write_text("[23:50:00] two lanes\n[00:05:00] lane rest done\n")
    out = tmp_path / "parts.json"
    r = _run("benchmarks/run_all_parts.py", str(logs), "--main", str(main), "--json", str(out), "--steps")
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads(out.read_text())
    got = [(p["lane"], p["part"], p["minutes"]) for p in s["parts"]]
    assert got == [("rest", "zebra rule sweep", 3.0), ("rest", "sudoku noise sweep", 2.0),
                   ("rest", "sudoku steps sweep", 10.0), ("sudoku", "sudoku paper decoding", 30.0),
                   ("sudoku", "sudoku un-noised", 10.0), ("sudoku", "figure pi_order", 15.5)]
    assert s["lanes"] == {"rest": 15.0, "sudoku": 55.5} and s["wall_minutes"] == 55.5
    assert "wall, first step to last lane end: 55.5 min" in r.stdout
    empty = tmp_path / "none"
    empty.mkdir()
    bad = _run("benchmarks/run_all_parts.py", str(empty))
    assert bad.returncode == 2 and "no run_all-<lane>.log" in bad.stderr
