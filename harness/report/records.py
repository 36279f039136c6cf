"""Reading results JSONL for the report: every ``*.jsonl`` under a directory into two pandas frames
(runs, examples). Lines are split and parsed by the results store's :func:`harness.results.scan_lines`
(one parser for the store and the report); the report skips what the store would refuse, with a warning."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from harness.results import scan_lines
from harness.report.common import CONFIG, HEADER_DEFAULTS, Results


class MalformedLineWarning(UserWarning):
    """A results line that could not be parsed (e.g. truncated by a run in progress) and was skipped."""



def read_run(path: Path) -> tuple[dict | None, list[dict]]:
    """Return (header, example records) of one JSONL file. Lines the results store would refuse (see
    :func:`harness.results.scan_lines`) and a torn last line are skipped with a warning; a file whose first
    line is not a header is skipped whole."""
    data = Path(path).read_bytes()
    lines, good = scan_lines(data)
    for n, _, _, _, why in lines:
        if why:
            warnings.warn(f"{path}:{n}: malformed line skipped ({why})", MalformedLineWarning)
    if good < len(data):
        warnings.warn(f"{path}:{len(lines) + 1}: malformed line skipped (torn: no newline)", MalformedLineWarning)
    recs = [rec for _, _, _, rec, _ in lines if rec is not None]
    if not lines or lines[0][3] is None or lines[0][3].get("type") != "header":
        warnings.warn(f"{path}: no header line, file skipped", MalformedLineWarning)
        return None, []
    return recs[0], [r for r in recs if r.get("type") == "example"]


def load_results(root: str | Path) -> Results:
    """Return every run and example found in ``*.jsonl`` files under root (empty frames if none)."""
    headers, records = [], []
    for path in sorted(Path(root).rglob("*.jsonl")):
        header, recs = read_run(path)
        if header is None:
            continue
        headers.append({**header, "file": str(path)})
        records.extend({**r, "file": str(path)} for r in recs)
    if not headers:
        return Results(pd.DataFrame(columns=["file", "n", *HEADER_DEFAULTS]), pd.DataFrame(columns=["file"]))
    runs = pd.json_normalize(headers, sep=".")
    for col, default in HEADER_DEFAULTS.items():
        runs[col] = runs[col].fillna(default) if col in runs else default
    examples = _examples_frame(records, runs)
    runs["n"] = runs["file"].map(examples.groupby("file").size()).fillna(0).astype(int)
    return Results(runs, examples)


def _examples_frame(records: list[dict], runs: pd.DataFrame) -> pd.DataFrame:
    """Return example records joined to their run's CONFIG and seed, duplicates (same id) dropped."""
    ex = pd.json_normalize(records, sep=".", max_level=1) if records else pd.DataFrame(columns=["file"])
    for col in ["id", "score", "correct", "nfe", "seconds", "steps", "order"]:
        if col not in ex:
            ex[col] = np.nan
    ex["score"] = pd.to_numeric(ex["score"], errors="coerce")
    ex["correct"] = ex["correct"].map({True: 1.0, False: 0.0}).astype(float)
    ex = ex.merge(runs[["file", *CONFIG, "seed"]], on="file", how="left")
    dup = ex.duplicated([*CONFIG, "seed", "id"])
    if dup.any():
        warnings.warn(f"{int(dup.sum())} duplicate example records (same config, seed and id) dropped",
                      MalformedLineWarning)
    return ex[~dup].reset_index(drop=True)
