"""MMLU data layer: loader counts and subjects, Hendrycks prompt layout, answer-letter extraction, checksums."""
from collections import Counter

import pytest

from tasks.mmlu.data import SUBJECTS, extract_letter, few_shot_prompt, format_question, load_mmlu
from conftest import SHARED, needs_shared

needs_data = needs_shared("mmlu")

REC = {"question": "What is 2 + 2?", "choices": ["3", "4", "5", "22"], "answer": 1, "subject": "elementary_mathematics"}


def test_format_question_layout():
    assert format_question(REC) == "What is 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 22\nAnswer:"
    assert format_question(REC, with_answer=True).endswith("\nD. 22\nAnswer: B")


def test_few_shot_prompt_is_hendrycks_layout():
    dev = [dict(REC, question=f"q{i}", answer=i % 4) for i in range(6)] + [dict(REC, subject="anatomy")]
    p = few_shot_prompt("elementary_mathematics", dev, k=2)
    assert p == ("The following are multiple choice questions (with answers) about elementary mathematics.\n\n"
                 "q0\nA. 3\nB. 4\nC. 5\nD. 22\nAnswer: A\n\n"
                 "q1\nA. 3\nB. 4\nC. 5\nD. 22\nAnswer: B\n\n")
    assert few_shot_prompt("anatomy", dev, k=0).endswith("about anatomy.\n\n")
    with pytest.raises(ValueError):
        few_shot_prompt("anatomy", dev, k=5)


@pytest.mark.parametrize("gen,letter", [
    ("B", "B"),
    (" C", "C"),
    ("**B**", "B"),
    ("B)", "B"),
    ("b.", "B"),
    ("(d)", "D"),
    ("Answer: C", "C"),
    ("answer: b", "B"),
    ("The answer is (A).", "A"),
    ("The correct answer is **D**: 22", "D"),
    ("I think it is C because 2+2=4", "C"),
    ("A. Paris", "A"),
    ("A", "A"),
    (r"\boxed{B}", "B"),
    ("Let me think. The answer is b", "B"),
    ("After reading A and B, the answer is D.", "D"),  # an explicit lead-in wins over earlier letters
    ("A cat sat on the mat.", None),                  # the article is not an answer
    ("a dog", None),
    ("Dogs and cats", None),
    ("None of these", None),
    ("", None),
    (None, None),
])
def test_extract_letter(gen, letter):
    assert extract_letter(gen) == letter


def test_subject_list():
    assert len(SUBJECTS) == 57 == len(set(SUBJECTS)) and list(SUBJECTS) == sorted(SUBJECTS)


@needs_data
def test_loader_counts_subjects_and_a_known_record():
    test, dev = load_mmlu("test", SHARED), load_mmlu("dev", SHARED)
    assert len(test) == 14042 and len(dev) == 285
    assert {r["subject"] for r in test} == set(SUBJECTS) == {r["subject"] for r in dev}
    assert all(len(r["choices"]) == 4 and r["answer"] in (0, 1, 2, 3) for r in test + dev)
    assert all(sum(r["subject"] == s for r in dev) == 5 for s in SUBJECTS)
    counts = Counter(r["subject"] for r in test)
    assert counts["abstract_algebra"] == 100 and counts["professional_law"] == 1534
    assert counts["high_school_psychology"] == 545 and counts["moral_scenarios"] == 895
    assert [sum(r["answer"] == i for r in test) for i in range(4)] == [3222, 3462, 3582, 3776]
    first = test[0]
    assert first["subject"] == "abstract_algebra" and first["choices"] == ["0", "4", "2", "6"] and first["answer"] == 1
    assert first["question"].startswith("Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18))")
    sub = load_mmlu("test", SHARED, subjects=["anatomy", "virology"])
    assert {r["subject"] for r in sub} == {"anatomy", "virology"} and len(sub) == counts["anatomy"] + counts["virology"]
    prompt = few_shot_prompt("abstract_algebra", dev) + format_question(first)
    assert prompt.count("\nAnswer:") == 6 and prompt.endswith("D. 6\nAnswer:")


def test_bad_arguments_and_files(tmp_path):
    with pytest.raises(ValueError, match="unknown MMLU split"):
        load_mmlu("val", tmp_path)
    with pytest.raises(ValueError, match="unknown MMLU subjects"):
        load_mmlu("test", tmp_path, subjects=["astrology"])
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        load_mmlu("dev", tmp_path)
    (tmp_path / "mmlu").mkdir()
    (tmp_path / "mmlu" / "dev.jsonl.gz").write_bytes(b"tampered")
    with pytest.raises(ValueError, match="sha256"):
        load_mmlu("dev", tmp_path)
