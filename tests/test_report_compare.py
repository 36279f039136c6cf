"""The report's comparison of a run of your own with the committed results (harness.report.compare)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from harness.report import build as report
from harness.report.compare import compare_configs
from harness.report.records import load_results

from test_report import cells, header, write_run

BASE = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
OURS = [1.0, 1.0, 1.0, 0.0, 0.0, 1.0]


def _hdr(sampler, fingerprint, device="cpu A"):
    h = header(25, 275, sampler, n_planned=len(BASE))
    h["model_identity"] = {"preset": "0.8M", "fingerprint": fingerprint}
    h["env"]["device_name"] = device
    return h


@pytest.fixture
def dirs(tmp_path):
    base, ours = tmp_path / "committed", tmp_path / "mine"
    write_run(base, _hdr("vanilla", "aaaa"), BASE)
    write_run(ours, _hdr("vanilla", "aaaa", "cpu B"), BASE)          # reproduced exactly
    write_run(base, _hdr("margin", "aaaa"), BASE)
    write_run(ours, _hdr("margin", "bbbb", "cpu B"), OURS)           # other weights, other records
    write_run(base, _hdr("top_prob", "aaaa"), BASE)                 # not rerun
    return base, ours


def test_paired_differences_identical_records_and_fingerprints(dirs):
    base, ours = dirs
    t = compare_configs(load_results(ours), load_results(base)).set_index("sampler")
    v, m, tp = t.loc["vanilla"], t.loc["margin"], t.loc["top_prob"]
    assert v["diff"] == 0 and v["identical"] == v["paired"] == len(BASE) and v["fingerprints"] == "match"
    d = 100 * (np.array(OURS) - np.array(BASE))
    assert m["diff"] == pytest.approx(d.mean()) and m["diff_se"] == pytest.approx(d.std(ddof=1) / math.sqrt(len(d)))
    assert m["identical"] == 4 and m["fingerprints"] == "differ"
    assert tp["n_ours"] == 0 and tp["paired"] == 0 and math.isnan(tp["diff"]) and tp["fingerprints"] == "—"


def test_report_renders_the_comparison_first_and_standalone(dirs, tmp_path):
    base, ours = dirs
    out = tmp_path / "reports"
    assert report.main(["--results", str(ours), "--out", str(out), "--compare", str(base)]) == 0
    md = (out / "compare.md").read_text()
    index = (out / "index.md").read_text()
    assert index.index("Your run beside the committed results") < index.index("| Report |")
    assert "Table 1 - L&O-NAE-SAT" in md and "cpu B" in md and "cpu A" in md
    rows = {cells(line)[2]: cells(line) for line in md.splitlines() if line.startswith("| small")}
    assert rows["vanilla"][7] == "+0.000 ± 0.000" and rows["vanilla"][8] == "6 (6)" and rows["vanilla"][9] == "match"
    assert rows["margin"][9] == "differ" and rows["top_prob"][6] == "—"
    with pytest.raises(SystemExit):
        report.main(["--results", str(ours), "--out", str(out), "--compare", str(tmp_path / "missing")])
