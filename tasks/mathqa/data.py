"""The MATH test set (Hendrycks et al. 2021, 5000 problems) and MATH-500 (prm800k's 500-problem held-out split).

Files, provenance and checksums are those of the shared data README (``shared/data/README.md``, "math/"):
``math/test.jsonl.gz`` (the full MATH test set in the release's sorted path order) and
``math/math500.jsonl.gz`` (byte-identical, once decompressed, to prm800k's ``math_splits/test.jsonl``).
Each file's sha256 is checked before it is read. Records are normalised to ``problem, solution, answer, level
(int 1-5, None if unknown), type, subject, unique_id``: MATH-500 has no ``type`` and the test file carries both,
so ``type`` and ``subject`` hold the same original subject string ("Counting & Probability"). ``answer`` is the
file's reference answer; where a record has none it is the content of the solution's last ``\\boxed{}``
(:func:`tasks.mathqa.answer.extract_boxed`), the rule the README shows reproduces prm800k's answers 500/500.
Answers are whitespace-stripped: in the test file 9 answers keep spaces from inside their box
(``\boxed{ \frac{1}{8}}`` gives " \frac{1}{8}"); MATH-500's never do.

The paper (PAPER.md §3.6) does not say whether "Math" is MATH or GSM8K, nor which subset; Table 4's 28-34%
matches LLaDA's MATH scores, so both the full test set and MATH-500 are offered.
"""
from __future__ import annotations

import re

from tasks.datafiles import read_jsonl_gz, verified_path
from tasks.mathqa.answer import extract_boxed

SUBDIR = "math"
# split -> (file name, sha256 of the file as stored, record count)
FILES = {
    "test": ("test.jsonl.gz", "4512d9f3b90c64b2832577429e74d15945462658eec25744980f8fa15d556a89", 5000),
    "math500": ("math500.jsonl.gz", "8925526a0ba4ba6a857c625d3f22d987d80dde1bb1f6a75b0767855a8b457d15", 500),
}
SOURCES = {
    "test": "github.com/hendrycks/math (MATH release, test/<subject>/<n>.json)",
    "math500": "github.com/openai/prm800k prm800k/math_splits/test.jsonl",
}


def _level(v) -> int | None:
    if isinstance(v, int):
        return v
    m = re.search(r"\d+", str(v or ""))
    return int(m.group()) if m else None


def _normalise(r: dict) -> dict:
    subject = r.get("subject") or r.get("type")
    answer = r.get("answer")
    if answer is None:
        answer = extract_boxed(r.get("solution", ""))
    if isinstance(answer, str):
        answer = answer.strip()  # 9 test answers keep the box's inner spaces, e.g. "\\boxed{ \\frac{1}{8}}"
    return {
        "problem": r.get("problem", r.get("question")),
        "solution": r.get("solution"),
        "answer": answer,
        "level": _level(r.get("level")),
        "type": r.get("type") or subject,
        "subject": subject,
        "unique_id": r.get("unique_id"),
    }


def load_math(split: str = "test", data_dir=None) -> list[dict]:
    """Return the records of ``split`` ("test": 5000, "math500": 500) as dicts with problem, solution, answer,
    level, type, subject, unique_id, in file order."""
    if split not in FILES:
        raise ValueError(f"unknown MATH split {split!r}; expected one of {sorted(FILES)}")
    name, sha, _ = FILES[split]
    path = verified_path(data_dir, name, SUBDIR, sha, f"MATH {split}", SOURCES[split])
    st = path.stat()
    return [_normalise(r) for r in read_jsonl_gz(str(path), st.st_mtime_ns, st.st_size)]
