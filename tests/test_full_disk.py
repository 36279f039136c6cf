"""A full disk while results are written: one line naming the file, exit code 2, no record lost, torn or
duplicated, and the same command finishes the run once there is space again.

The disk is a real 64 KiB tmpfs in a private user + mount namespace (``unshare -rm``); machines that refuse
one skip the test (the store's own undo is also tested without it, in test_results_store.py)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
set -u
disk="$1"; ckpt="$2"; shift 2
mount -t tmpfs -o size=64k tokenorder-full "$disk" || exit 97
run() { "$@" --results-dir "$disk/r" --ckpt-dir "$ckpt" --task lo_nae_sat --scale smoke --no-progress --threads 1; }
dd if=/dev/zero of="$disk/fill" bs=1k count=40 2>/dev/null
run "$@" 2>"$disk/err1" >/dev/null; echo "first=$?"
cp "$disk/err1" "$ckpt/err1"
mkdir -p "$ckpt/after_full" && cp -r "$disk/r" "$ckpt/after_full/" 2>/dev/null
rm "$disk/fill"
run "$@" 2>/dev/null >/dev/null; echo "second=$?"
cp -r "$disk/r" "$ckpt/final"
"""


def _namespace_ok() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    return subprocess.run([unshare, "-rm", "true"], capture_output=True).returncode == 0


def _examples(path: Path) -> list[str]:
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"", f"{path} ends in a torn line"
    recs = [json.loads(line) for line in lines[:-1]]
    assert recs[0]["type"] == "header"
    return [r["id"] for r in recs if r.get("type") == "example"]


@pytest.mark.skipif(not _namespace_ok(), reason="this machine refuses a user + mount namespace (unshare -rm)")
def test_a_full_disk_stops_the_run_in_one_line_and_loses_nothing(tmp_path):
    disk, ckpt = tmp_path / "disk", tmp_path / "ckpt"
    disk.mkdir()
    ckpt.mkdir()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    r = subprocess.run(["unshare", "-rm", "sh", "-c", SCRIPT, "full-disk", str(disk), str(ckpt),
                        sys.executable, "-m", "harness.run"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    assert "first=2" in r.stdout and "second=0" in r.stdout, (r.stdout, r.stderr[-2000:])
    err = [line for line in (ckpt / "err1").read_text().splitlines() if not line.startswith(("[train]", "[result]"))]
    assert len(err) == 1 and err[0].startswith("error: ") and "No space left on device" in err[0], err
    assert ".jsonl" in err[0] and "run the same command again" in err[0] and "Traceback" not in err[0]
    kept = sorted((ckpt / "after_full").rglob("*.jsonl"))
    assert kept, "some results should have fit before the disk filled"
    for f in kept:                                 # what was written before the disk filled is whole
        ids = _examples(f)
        assert len(ids) == len(set(ids))
    final = sorted((ckpt / "final").rglob("*.jsonl"))
    assert len(final) == 3                         # vanilla, top_prob, margin
    for f in final:
        ids = _examples(f)
        assert len(ids) == len(set(ids)) == 16
    before = {f.name: _examples(f) for f in kept}
    for f in final:                                # the resumed files extend the kept ones, never rewrite them
        assert _examples(f)[:len(before.get(f.name, []))] == before.get(f.name, [])
