"""The main job as a newcomer runs it: ``./run_all.sh --fresh NAME`` reproduces into runs/NAME/ and never
touches the committed results/ (smoke scale, about two minutes on two cores)."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.mark.slow
def test_fresh_run_goes_to_its_own_directory_and_reports_beside_the_committed(tmp_path):
    name = f"pytest-{uuid.uuid4().hex[:8]}"
    run_root = ROOT / "runs" / name
    before = _tree_hash(ROOT / "results")
    env = {**os.environ, "TQDM_DISABLE": "1"}
    try:
        r = subprocess.run(["./run_all.sh", "--fresh", name, "--scale", "smoke"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=1500)
        assert r.returncode == 0, r.stderr[-3000:]
        assert _tree_hash(ROOT / "results") == before          # the committed results are not touched
        assert f"fresh run into runs/{name}/" in r.stderr
        results = list((run_root / "results" / "smoke").rglob("*.jsonl"))
        assert {p.relative_to(run_root / "results" / "smoke").parts[0] for p in results} >= {
            "lo_nae_sat", "sudoku", "zebra", "sudoku_hard", "isoflop", "pi_order", "lo_imbalance", "genppl"}
        assert (run_root / "checkpoints" / "smoke").is_dir() and (run_root / "logs").is_dir()
        lane_logs = sorted((run_root / "logs").glob("run_all-*.log"))
        if lane_logs:   # two lanes (a CPU with 2+ cores): each lane log ends with the lane's end, which times it
            for p in lane_logs:
                assert f"] lane {p.stem[len('run_all-'):]} done" in p.read_text().splitlines()[-1]
            parts = subprocess.run([sys.executable, "benchmarks/run_all_parts.py", str(run_root / "logs")],
                                   cwd=ROOT, capture_output=True, text=True, timeout=120)
            assert parts.returncode == 0, parts.stderr[-2000:]
            assert "lane sudoku:" in parts.stdout and "lane rest:" in parts.stdout
        compare = (run_root / "reports" / "compare.md").read_text()
        assert compare.startswith("# Your run beside the committed results") and "## Table 2 - Sudoku" in compare
        index = (run_root / "reports" / "index.md").read_text()
        assert "Your run beside the committed results" in index
        bad = subprocess.run(["./run_all.sh", "--fresh", "../escape", "--scale", "smoke"], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
        assert bad.returncode == 2 and "plain name" in bad.stderr
    finally:
        shutil.rmtree(run_root, ignore_errors=True)
        if (ROOT / "runs").is_dir() and not any((ROOT / "runs").iterdir()):
            (ROOT / "runs").rmdir()
