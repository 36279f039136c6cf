"""The JSONL results store: one header line that stamps the run, then one line per example.

Appends are flushed and fsynced per batch, so a crash loses at most the batch in flight. Reopening a file
resumes it: the header must match the run's identity (task, variant, scale, sampler, seed, decode knobs,
model), finished ids are skipped, and a torn last line left by a crash is cut off (only those bytes; every
complete line stays as written). Any other damage (a line that is not a record, a second record for one id)
and a header that does not match are errors, and the file is left untouched;
``python -m harness.results quarantine FILE`` moves bad lines aside to ``FILE.damaged``, never dropping them.
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


class DamagedResults(ValueError):
    """A results file holds damage other than a torn last line (a bad or duplicated line); it was not changed."""


RECORD_TYPES = ("header", "example", "resume")


def scan_lines(data: bytes) -> tuple[list[tuple[int, int, int, dict | None, str]], int]:
    """Return ([(line number, start byte, end byte, record or None, what is wrong or "")], byte length of
    the complete lines) for a results file's bytes. A last line without its newline (torn by a crash) is
    left out. A line is wrong when it is not UTF-8 JSON, not an object of a known ``type``, a header that
    is not the first line, an example without a string ``id``, or an example whose id came before."""
    lines, seen, pos, n = [], set(), 0, 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        if end < 0:
            break
        n += 1
        raw, problem, rec = data[pos:end], "", None
        try:
            rec = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            problem = "not UTF-8"
        except json.JSONDecodeError as e:
            problem = f"not JSON ({e.msg})"
        if not problem:
            kind = rec.get("type") if isinstance(rec, dict) else None
            if not isinstance(rec, dict):
                problem = f"a JSON {type(rec).__name__}, not a record"
            elif kind not in RECORD_TYPES:
                problem = f"unknown record type {kind!r}"
            elif (kind == "header") != (n == 1):
                problem = "a header after the first line" if kind == "header" else "the first line is not a header"
            elif kind == "example" and not (isinstance(rec.get("id"), str) and rec["id"]):
                problem = "an example without a string id"
            elif kind == "example" and rec["id"] in seen:
                problem = f"a second record for id {rec['id']!r}"
            elif kind == "example":
                seen.add(rec["id"])
        lines.append((n, pos, end + 1, None if problem else rec, problem))
        pos = end + 1
    return lines, pos


def read_records(path: str | Path) -> tuple[dict | None, list[dict], int]:
    """Return (header, example records, byte length of the complete lines) of a results file. Raises
    :class:`DamagedResults` naming the file and line when any complete line is bad (see :func:`scan_lines`);
    only a torn last line is ignored."""
    data = Path(path).read_bytes()
    lines, good = scan_lines(data)
    bad = [(n, why) for n, _, _, _, why in lines if why]
    if bad:
        n, why = bad[0]
        more = f" (and {len(bad) - 1} more bad line(s))" if len(bad) > 1 else ""
        raise DamagedResults(f"{path}:{n}: {why}{more}; the file was left as it is: fix that line, or move every "
                             f"bad line aside with `python -m harness.results quarantine {path}`")
    recs = [rec for _, _, _, rec, _ in lines]
    header = recs[0] if recs and recs[0].get("type") == "header" else None
    return header, [r for r in recs if r.get("type") == "example"], good


def quarantine(path: str | Path) -> tuple[int, Path | None]:
    """Move every bad complete line of a results file (and a torn last line) to ``<path>.damaged`` (appended,
    byte for byte) and rewrite the file with the good lines in order; returns (lines moved, the side file or
    None when nothing was wrong). The file is replaced atomically, so a crash leaves the old or the new one."""
    path = Path(path)
    data = path.read_bytes()
    lines, good = scan_lines(data)
    bad = [(a, b) for _, a, b, _, why in lines if why]
    torn = data[good:]
    if not bad and not torn:
        return 0, None
    side = path.with_name(path.name + ".damaged")
    with open(side, "ab") as f:
        f.write(b"".join(data[a:b] for a, b in bad) + (torn + b"\n" if torn else b""))
        f.flush()
        os.fsync(f.fileno())
    keep = b"".join(data[a:b] for _, a, b, _, why in lines if not why)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(keep)
    os.replace(tmp, path)
    return len(bad) + bool(torn), side


def filled(old, new, default: dict | None):
    """Return an old header's identity value ``old`` with the knobs it predates (present in ``new``, absent in
    ``old``) set to their ``default``: an old file matches a run that uses a later knob's default."""
    if not (isinstance(old, dict) and isinstance(new, dict) and default):
        return old
    return {**{k: v for k, v in default.items() if k in new and k not in old}, **old}


def readable_records(path: str | Path) -> tuple[dict, list[dict]] | None:
    """Return (header, example records) of a results file, or None when it is missing, unreadable, damaged or
    has no header (for completeness checks: the normal path then opens the file and reports what is wrong)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        header, records, _ = read_records(path)
    except (OSError, DamagedResults):
        return None
    return None if header is None else (header, records)


def complete_run(path: str | Path, identity: dict, ids: set[str], defaults: dict[str, dict] | None = None,
                 unchecked: tuple[str, ...] = ()) -> bool:
    """Return whether ``path`` already holds a record for every id in ``ids`` under a header whose identity
    equals ``identity`` (keys of :data:`IDENTITY_KEYS`; knobs an old header predates take ``defaults``; fields
    named in ``unchecked``, e.g. ``model_identity.fingerprint``, are not compared). A missing, damaged or
    different file is simply not complete: the normal path then reports it."""
    found = readable_records(path)
    if found is None or not ids <= {r["id"] for r in found[1]}:
        return False
    header = found[0]
    for key, want in json.loads(json.dumps(identity)).items():     # as a header stores it (tuples are lists)
        have = filled(header.get(key), want, (defaults or {}).get(key))
        drop = {u.split(".", 1)[1] for u in unchecked if u.startswith(key + ".")}
        if drop and isinstance(have, dict) and isinstance(want, dict):
            have = {k: v for k, v in have.items() if k not in drop}
            want = {k: v for k, v in want.items() if k not in drop}
        if have != want:
            return False
    return True


def undo_append(fd: int, path: Path, size: int, existed: bool) -> None:
    """Cut the open file ``fd`` back to ``size`` bytes (freeing what a failed write left), or remove ``path``
    when the failed write created it; best effort, so the caller's error is the one reported."""
    try:
        if existed:
            os.ftruncate(fd, size)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


class ResultsFile:
    """An append-only JSONL results file for one run; ``done`` holds the ids already recorded."""

    def __init__(self, path: str | Path, header: dict, defaults: dict[str, dict] | None = None):
        """``defaults`` gives, per dict-valued identity key, the value of a knob that older headers lack
        (a knob added later): an old file without it matches a run that uses that default."""
        self.path = Path(path)
        self.header = json.loads(json.dumps(header))  # as the file stores it (tuples are lists), so a resume compares like with like
        self.defaults = defaults or {}
        self.done: set[str] = set()
        self.resumed = False
        self._pending: list[dict] = []

    def open(self) -> "ResultsFile":
        """Create the file with its header, or validate and resume an existing one; returns self."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size > 0 and not scan_lines(self.path.read_bytes())[0]:
            with open(self.path, "r+b") as f:      # only a torn header: a crash before the first line was down
                f.truncate(0)
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
            # the resume marker is written with the first new record: a run that adds nothing leaves the file alone
            self._pending = [{"type": "resume", "env": self.header.get("env"), "started": self.header.get("started"),
                              "already_done": len(self.done)}]
        else:
            self._append([self.header])
        return self

    def _filled(self, key: str, old):
        """Return an old header's identity value with knobs it predates set to their defaults."""
        return filled(old, self.header.get(key), self.defaults.get(key))

    def _append(self, rows: Iterable[dict]) -> None:
        """Append ``rows`` as JSON lines, all or nothing: a write that fails (a full disk, a quota) is undone, the
        file cut back to its size before it (a file this write created is removed), and the OSError re-raised
        naming the file."""
        text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows).encode("utf-8")
        existed = self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                view = memoryview(text)
                while view:                     # unbuffered: a short write continues, a failing one raises
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            except OSError as e:
                undo_append(fd, self.path, size, existed)
                raise OSError(e.errno, e.strerror or str(e), str(self.path)) from e
        finally:
            os.close(fd)

    def append(self, records: list[dict]) -> None:
        """Append example records (each with a unique ``id``) and mark them done."""
        if not records:
            return
        for r in records:
            r.setdefault("type", "example")
        self._append([*self._pending, *records])
        self._pending = []
        self.done.update(r["id"] for r in records)


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.results check|quarantine FILE...``: report or move aside damaged lines; returns the
    exit status (0: every file clean or repaired, 1: damage found by ``check``, 2: a file could not be read)."""
    import argparse
    import sys
    ap = argparse.ArgumentParser(prog="python -m harness.results", description=main.__doc__)
    ap.add_argument("action", choices=["check", "quarantine"])
    ap.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args(argv)
    status = 0
    for f in args.files:
        try:
            if args.action == "check":
                read_records(f)
                print(f"{f}: ok")
            else:
                moved, side = quarantine(f)
                print(f"{f}: {moved} line(s) moved to {side}" if moved else f"{f}: nothing to move")
        except DamagedResults as e:
            print(f"error: {e}", file=sys.stderr)
            status = max(status, 1)
        except OSError as e:
            print(f"error: {f}: {e.strerror or e}", file=sys.stderr)
            status = 2
    return status


if __name__ == "__main__":
    raise SystemExit(main())
