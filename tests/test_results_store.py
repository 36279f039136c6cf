"""Tests of the JSONL results store: only a torn last line is ever cut; any other damage stops the run with
one line naming the file and line, leaves the file byte for byte as it was, and can be moved aside."""
import json

import pytest

from harness.results import DamagedResults, ResultsFile, main, quarantine, read_records

HEADER = {"type": "header", "task": "t", "seed": 0, "decode": {"steps": 5}}


def written(tmp_path, n=4):
    """Return the path of a results file with a header and ``n`` example records."""
    path = tmp_path / "r.jsonl"
    ResultsFile(path, dict(HEADER)).open().append([{"id": str(i), "score": 1.0} for i in range(n)])
    return path


def line(rec) -> bytes:
    return json.dumps(rec).encode() + b"\n"


DAMAGE = {
    "truncated JSON": b'{"type":"example","id":"x","sc\n',
    "plain text": b"hello there\n",
    "not UTF-8": b'{"type":"example","id":"\xff\xfe"}\n',
    "JSON array": b"[1, 2, 3]\n",
    "no id": line({"type": "example", "score": 1.0}),
    "numeric id": line({"type": "example", "id": 7, "score": 1.0}),
    "unknown type": line({"type": "exampel", "id": "9"}),
    "second header": line(HEADER),
    "duplicate id": line({"type": "example", "id": "1", "score": 0.0}),
}


@pytest.mark.parametrize("what", sorted(DAMAGE))
def test_damage_in_the_middle_stops_the_resume_and_leaves_the_file_as_it_was(tmp_path, what):
    path = written(tmp_path, 2)
    with open(path, "ab") as f:
        f.write(DAMAGE[what])
        f.write(line({"type": "example", "id": "late", "score": 1.0}))   # a valid record after the damage
    before = path.read_bytes()
    with pytest.raises(DamagedResults, match=r"r\.jsonl:4: ") as e:
        ResultsFile(path, dict(HEADER)).open()
    assert "\n" not in str(e.value) and "quarantine" in str(e.value)
    assert path.read_bytes() == before                                # nothing cut, nothing appended


def test_only_a_torn_last_line_is_cut(tmp_path):
    path = written(tmp_path, 3)
    before = path.read_bytes()
    with open(path, "ab") as f:
        f.write(b'{"type":"example","id":"3","torn_ma')
    rf = ResultsFile(path, dict(HEADER)).open()
    assert rf.done == {"0", "1", "2"}
    assert path.read_bytes().startswith(before) and b"torn_ma" not in path.read_bytes()


def test_a_file_with_only_a_torn_header_starts_afresh(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"type":"header","ta')
    ResultsFile(path, dict(HEADER)).open().append([{"id": "0"}])
    header, recs, _ = read_records(path)
    assert header["task"] == "t" and [r["id"] for r in recs] == ["0"]


def test_quarantine_moves_bad_lines_aside_and_keeps_every_good_one(tmp_path):
    path = written(tmp_path, 2)
    with open(path, "ab") as f:
        f.write(DAMAGE["plain text"] + DAMAGE["duplicate id"] + line({"type": "example", "id": "late"}))
        f.write(b'{"torn')
    moved, side = quarantine(path)
    assert moved == 3 and side.name == "r.jsonl.damaged"
    assert side.read_bytes() == DAMAGE["plain text"] + DAMAGE["duplicate id"] + b'{"torn\n'
    header, recs, _ = read_records(path)
    assert [r["id"] for r in recs] == ["0", "1", "late"]
    assert quarantine(path) == (0, None)                             # a clean file is left alone
    rf = ResultsFile(path, dict(HEADER)).open()                       # and resumes
    assert rf.done == {"0", "1", "late"}


def test_cli_check_and_quarantine(tmp_path, capsys):
    path = written(tmp_path, 1)
    assert main(["check", str(path)]) == 0
    with open(path, "ab") as f:
        f.write(DAMAGE["JSON array"])
    assert main(["check", str(path)]) == 1
    assert "r.jsonl:3: a JSON list" in capsys.readouterr().err
    assert main(["quarantine", str(path)]) == 0
    assert main(["check", str(path)]) == 0
    assert main(["check", str(tmp_path / "missing.jsonl")]) == 2


def test_a_header_with_tuples_resumes_its_own_file(tmp_path):
    """Identity values that JSON stores as lists (a preset's ``train_reveal=(0, 12)``) must match on resume."""
    header = dict(HEADER, model_identity={"data": {"train_reveal": (0, 12)}})
    path = tmp_path / "r.jsonl"
    ResultsFile(path, header).open().append([{"id": "0", "score": 1.0}])
    again = ResultsFile(path, dict(header)).open()
    assert again.resumed and again.done == {"0"}


def test_a_resume_that_adds_nothing_leaves_the_file_byte_for_byte(tmp_path):
    path = written(tmp_path)
    before = path.read_bytes()
    rf = ResultsFile(path, dict(HEADER)).open()
    assert rf.resumed and rf.done == {"0", "1", "2", "3"} and path.read_bytes() == before
    rf.append([])
    assert path.read_bytes() == before
    rf.append([{"id": "4", "score": 0.0}])
    kinds = [json.loads(x)["type"] for x in path.read_text().splitlines()]
    assert kinds == ["header", "example", "example", "example", "example", "resume", "example"]


def _failing_fsync(monkeypatch):
    import errno
    import os as _os

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_os, "fsync", full)


def test_a_failed_append_is_undone_and_names_the_file(tmp_path, monkeypatch):
    """A full disk mid-write: the bytes that did land are cut off again, so the file is exactly as before."""
    path = written(tmp_path)
    before = path.read_bytes()
    rf = ResultsFile(path, dict(HEADER)).open()
    with monkeypatch.context() as m:
        _failing_fsync(m)
        with pytest.raises(OSError) as e:
            rf.append([{"id": "new", "score": 0.5}])
    assert e.value.filename == str(path) and "No space" in e.value.strerror
    assert path.read_bytes() == before
    rf.append([{"id": "new", "score": 0.5}])                  # space again: the same records go in once
    assert [r["id"] for r in read_records(path)[1]] == ["0", "1", "2", "3", "new"]


def test_a_failed_first_write_leaves_no_file(tmp_path, monkeypatch):
    path = tmp_path / "new.jsonl"
    with monkeypatch.context() as m:
        _failing_fsync(m)
        with pytest.raises(OSError):
            ResultsFile(path, dict(HEADER)).open()
    assert not path.exists()
