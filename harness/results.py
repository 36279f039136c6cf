"""The JSONL results store: one header line that stamps the run, then one line per example.

Appends are flushed and fsynced per batch, so a crash loses at most the batch in flight. Reopening a file
resumes it: the header must match the run's identity (task, variant, scale, sampler, seed, decode knobs,
model), finished ids are skipped, and a torn last line left by a crash is cut off (only those bytes; every
complete line stays as written). A header that does not match is an error and the file is left untouched.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

IDENTITY_KEYS = ("task", "variant", "scale", "sampler", "seed", "decode", "model_identity", "task_identity")


class ResultsMismatch(ValueError):
    """An existing results file was written by a run with other settings."""


def results_path(root: str | Path, scale: str, task: str, variant: str, sampler: str, tag: str, seed: int) -> Path:
    """Return the canonical path ``root/scale/task/variant/sampler__tag__seedS.jsonl``."""
    return Path(root) / scale / task / variant / f"{sampler}__{tag}__seed{seed}.jsonl"


def read_records(path: str | Path) -> tuple[dict | None, list[dict], int]:
    """Return (header, example records, byte length of the complete lines) of a results file."""
    header, records, good = None, [], 0
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        if end < 0:  # torn last line: no newline was written
            break
        line = data[pos:end]
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            break
        pos = good = end + 1
        if rec.get("type") == "header" and header is None:
            header = rec
        elif rec.get("type") == "example":
            records.append(rec)
    return header, records, good


class ResultsFile:
    """An append-only JSONL results file for one run; ``done`` holds the ids already recorded."""

    def __init__(self, path: str | Path, header: dict, defaults: dict[str, dict] | None = None):
        """``defaults`` gives, per dict-valued identity key, the value of a knob that older headers lack
        (a knob added later): an old file without it matches a run that uses that default."""
        self.path = Path(path)
        self.header = header
        self.defaults = defaults or {}
        self.done: set[str] = set()
        self.resumed = False

    def open(self) -> "ResultsFile":
        """Create the file with its header, or validate and resume an existing one; returns self."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size > 0:
            old, records, good = read_records(self.path)
            if old is None:
                raise ResultsMismatch(f"{self.path} has no valid header; move it away or pass another --results-dir")
            diff = [k for k in IDENTITY_KEYS if self._filled(k, old.get(k)) != self.header.get(k)]
            if diff:
                raise ResultsMismatch(f"{self.path} was written with other settings ({', '.join(diff)} differ); "
                                      f"delete it or pass another --results-dir")
            if good < self.path.stat().st_size:
                with open(self.path, "r+b") as f:
                    f.truncate(good)
            self.done = {r["id"] for r in records}
            self.resumed = True
            self._append([{"type": "resume", "env": self.header.get("env"), "started": self.header.get("started"),
                           "already_done": len(self.done)}])
        else:
            self._append([self.header])
        return self

    def _filled(self, key: str, old):
        """Return an old header's identity value with knobs it predates set to their defaults."""
        new, dflt = self.header.get(key), self.defaults.get(key)
        if not (isinstance(old, dict) and isinstance(new, dict) and dflt):
            return old
        return {**{k: v for k, v in dflt.items() if k in new and k not in old}, **old}

    def _append(self, rows: Iterable[dict]) -> None:
        text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def append(self, records: list[dict]) -> None:
        """Append example records (each with a unique ``id``) and mark them done."""
        for r in records:
            r.setdefault("type", "example")
        self._append(records)
        self.done.update(r["id"] for r in records)
