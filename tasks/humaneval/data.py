"""The four HumanEval-Infilling benchmark files (Bavarian et al. 2022, ``openai/human-eval-infilling``).

Each subset is one gzipped JSON-lines file with the fields ``task_id``, ``entry_point``, ``prompt`` (the code
before the gap), ``suffix`` (the code after it), ``canonical_solution`` (the missing middle) and ``test``.
:func:`load_infilling` looks for the file in ``--data-dir`` (or its ``humaneval_infilling/`` subfolder), then in
``cache_dir()/humaneval_infilling/``, and otherwise downloads it from the raw-file URL at the pinned commit
below. Every file it reads is checked against the sha256 pinned here, whichever place it came from.

Naming note: the files are ``HumanEval-RandomSpanInfilling*.jsonl.gz``, although upstream's own
``read_problems`` at that commit refers to ``HumanEval-RandomSpan.jsonl.gz`` / ``HumanEval-RandomSpanLight.jsonl.gz``
(names that do not exist in its ``data/`` folder). The hashes are those of the files at the commit, as recorded
in the shared data README.
"""
from __future__ import annotations

import gzip
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from tasks.datafiles import cache_dir, find_file, sha256_file

SUBDIR = "humaneval_infilling"
REPO = "openai/human-eval-infilling"
COMMIT = "88062ff9859c875d04db115b698ed4b0f0395170"
BASE_URL = f"https://raw.githubusercontent.com/{REPO}/{COMMIT}/data/"

# subset -> file name in upstream data/; SHA256 and URLS below are keyed the same way
SUBSETS: dict[str, str] = {
    "single": "HumanEval-SingleLineInfilling.jsonl.gz",
    "multi": "HumanEval-MultiLineInfilling.jsonl.gz",
    "random_span": "HumanEval-RandomSpanInfilling.jsonl.gz",
    "random_span_light": "HumanEval-RandomSpanInfillingLight.jsonl.gz",
}
SHA256: dict[str, str] = {
    "single": "1277073e7ddce163ef68598c2bca777f688a53df99422f097e37362090f88e1f",
    "multi": "2f341612eee1d35da1357a4f365e0c0b3ba6e2b62eb491e88aaefa4855af0349",
    "random_span": "b4f330d8a8ff97bf85d9def497dffcae4d741e506449386a877236e422e33e8d",
    "random_span_light": "1432250ecac0cb56e6f97f8faf0970419ef892a98fda7e1f5aa4c4b87209b760",
}
URLS: dict[str, str] = {name: BASE_URL + fname for name, fname in SUBSETS.items()}
RECORD_COUNTS: dict[str, int] = {"single": 1033, "multi": 5815, "random_span": 1640, "random_span_light": 164}
FIELDS = ("task_id", "entry_point", "prompt", "suffix", "canonical_solution", "test")
DOWNLOAD_TIMEOUT_S = 60.0


def _check_subset(subset: str) -> None:
    if subset not in SUBSETS:
        raise ValueError(f"unknown HumanEval-Infilling subset '{subset}'; choose one of: {', '.join(SUBSETS)}")


def verify(path: Path, subset: str) -> None:
    """Return None if ``path`` has the pinned sha256 of ``subset``; raise a one-line ValueError otherwise."""
    expected, actual = SHA256[subset], sha256_file(path)
    if actual != expected:
        raise ValueError(f"{path}: sha256 {actual} does not match the expected {expected} for subset '{subset}'; "
                         f"delete the file and let it download again from {URLS[subset]}, or put the "
                         f"original file in --data-dir")


def cached_path(subset: str) -> Path:
    """Return where the cache keeps ``subset``'s file (it may not exist yet)."""
    _check_subset(subset)
    return cache_dir() / SUBDIR / SUBSETS[subset]


def fetch(subset: str) -> Path:
    """Download ``subset``'s file into the cache (temp file, sha256 check, atomic rename); return its path."""
    _check_subset(subset)
    dest, url = cached_path(subset), URLS[subset]
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.tmp{os.getpid()}")
    try:
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp, open(tmp, "wb") as out:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    out.write(block)
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", None) or e
            raise FileNotFoundError(
                f"HumanEval-Infilling '{subset}' is not on disk and the download from {url} failed ({reason}); "
                f"download it by hand and pass --data-dir DIR (DIR or DIR/{SUBDIR}/ holding {SUBSETS[subset]})"
            ) from None
        verify(tmp, subset)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def locate(subset: str, data_dir: str | None = None, download_missing: bool = True) -> Path:
    """Return the path of ``subset``'s file: ``data_dir``, then the cache, then a fresh download."""
    _check_subset(subset)
    name = SUBSETS[subset]
    path = find_file(data_dir, name, SUBDIR)
    if path is not None:
        return path
    cached = cached_path(subset)
    if cached.is_file():
        return cached
    if download_missing:
        return fetch(subset)
    where = f"{data_dir} (or {data_dir}/{SUBDIR}/)" if data_dir else "no --data-dir given"
    raise FileNotFoundError(f"HumanEval-Infilling file {name} not found ({where}; cache {cached.parent}) and "
                            f"downloading is off; pass --data-dir DIR holding it, or fetch {URLS[subset]}")


def read_jsonl_gz(path: Path) -> list[dict]:
    """Return the JSON objects of a gzipped JSON-lines file, in file order (blank lines skipped)."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_infilling(subset: str, data_dir: str | None = None, download: bool = True) -> list[dict]:
    """Return the records of ``subset`` in file order: the file's fields plus ``subset``, sha256-checked.

    ``subset`` is one of :data:`SUBSETS` (``single``, ``multi``, ``random_span``, ``random_span_light``).
    """
    path = locate(subset, data_dir, download)
    verify(path, subset)
    records = read_jsonl_gz(path)
    for r in records:
        missing = [k for k in FIELDS if k not in r]
        if missing:
            raise ValueError(f"{path}: record {r.get('task_id', '?')} lacks the field(s) {', '.join(missing)}")
        r["subset"] = subset
    return records
