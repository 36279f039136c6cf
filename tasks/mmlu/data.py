"""MMLU (Hendrycks et al. 2021): test (14042) and dev (285, five per subject) questions of all 57 subjects.

Files, provenance and checksums are those of the shared data README (``shared/data/README.md``, "mmlu/"):
``mmlu/test.jsonl.gz`` and ``mmlu/dev.jsonl.gz``, one ``{"subject", "question", "choices": [A, B, C, D],
"answer": "A".."D"}`` object per line, subjects alphabetical and rows in the release's file order. The sha256
of each file is checked before it is read; records come back with ``answer`` as an index 0-3.

Prompt layout: the one of the reference implementation, ``evaluate.py`` in github.com/hendrycks/test
(``format_example`` / ``gen_prompt``): the header "The following are multiple choice questions (with answers)
about <subject with spaces>.\\n\\n", then each dev example as "question\\nA. ..\\nB. ..\\nC. ..\\nD. ..\\nAnswer: X"
followed by a blank line, the first ``k`` dev rows of the subject in file order, then the test question ending
in "Answer:". ``few_shot_prompt(...) + format_question(record)`` is that prompt byte for byte.

The paper (PAPER.md §3.6) does not say how MMLU was scored; its 33-36% is far below LLaDA's likelihood-based
5-shot 65.9, so it was most likely scored by *generation* under some prompt. :func:`extract_letter` reads
the letter from a generation; its rule is in its docstring. The number of shots is also unstated (5 is
Hendrycks' default and the default here).
"""
from __future__ import annotations

import re
from pathlib import Path

from tasks.datafiles import read_jsonl_gz, verified_path

SUBDIR = "mmlu"
FILES = {
    "test": ("test.jsonl.gz", "9844957c2cd85c3fc6ca0aaa54e6a483971200241fab32c87eb5c15c21cacebb", 14042),
    "dev": ("dev.jsonl.gz", "8cf9818783d124fc9df9578767cf19393ba6f20d3ba1ae5bc81ed32be03cc0c7", 285),
}
SOURCE = "github.com/hendrycks/test (data.tar from people.eecs.berkeley.edu/~hendrycks/data.tar)"
LETTERS = "ABCD"
SUBJECTS = (
    "abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge", "college_biology",
    "college_chemistry", "college_computer_science", "college_mathematics", "college_medicine", "college_physics",
    "computer_security", "conceptual_physics", "econometrics", "electrical_engineering", "elementary_mathematics",
    "formal_logic", "global_facts", "high_school_biology", "high_school_chemistry", "high_school_computer_science",
    "high_school_european_history", "high_school_geography", "high_school_government_and_politics",
    "high_school_macroeconomics", "high_school_mathematics", "high_school_microeconomics", "high_school_physics",
    "high_school_psychology", "high_school_statistics", "high_school_us_history", "high_school_world_history",
    "human_aging", "human_sexuality", "international_law", "jurisprudence", "logical_fallacies", "machine_learning",
    "management", "marketing", "medical_genetics", "miscellaneous", "moral_disputes", "moral_scenarios", "nutrition",
    "philosophy", "prehistory", "professional_accounting", "professional_law", "professional_medicine",
    "professional_psychology", "public_relations", "security_studies", "sociology", "us_foreign_policy", "virology",
    "world_religions",
)


def load_mmlu(split: str = "test", data_dir=None, subjects=None) -> list[dict]:
    """Return MMLU records of ``split`` ("test" or "dev") as dicts with question, choices (4 strings), answer
    (index 0-3) and subject, in file order, restricted to ``subjects`` when given."""
    if split not in FILES:
        raise ValueError(f"unknown MMLU split {split!r}; expected one of {sorted(FILES)}")
    if isinstance(subjects, str):
        subjects = [subjects]
    wanted = None if subjects is None else set(subjects)
    if wanted is not None and (unknown := wanted - set(SUBJECTS)):
        raise ValueError(f"unknown MMLU subjects {sorted(unknown)}; see tasks.mmlu.data.SUBJECTS")
    name, sha, _ = FILES[split]
    path: Path = verified_path(data_dir, name, SUBDIR, sha, f"MMLU {split}", SOURCE)
    st = path.stat()
    out = []
    for r in read_jsonl_gz(str(path), st.st_mtime_ns, st.st_size):
        if wanted is not None and r["subject"] not in wanted:
            continue
        out.append({"question": r["question"], "choices": list(r["choices"]),
                    "answer": LETTERS.index(r["answer"]), "subject": r["subject"]})
    return out


def format_subject(subject: str) -> str:
    """Return the subject name as it reads in the prompt header ("high_school_physics" -> "high school physics")."""
    return subject.replace("_", " ")


def format_question(record: dict, with_answer: bool = False) -> str:
    """Return "question\\nA. ..\\nB. ..\\nC. ..\\nD. ..\\nAnswer:" (plus " X" with the gold letter when ``with_answer``)."""
    lines = [record["question"]] + [f"{LETTERS[j]}. {c}" for j, c in enumerate(record["choices"])]
    text = "\n".join(lines) + "\nAnswer:"
    return text + f" {LETTERS[record['answer']]}" if with_answer else text


def few_shot_prompt(subject: str, dev_records: list[dict], k: int = 5) -> str:
    """Return the header plus the first ``k`` dev examples of ``subject`` with answers, each followed by a blank
    line; append :func:`format_question` of the test record to get the full prompt."""
    shots = [r for r in dev_records if r["subject"] == subject][:k]
    if len(shots) < k:
        raise ValueError(f"{subject}: {len(shots)} dev examples available, {k} requested")
    head = f"The following are multiple choice questions (with answers) about {format_subject(subject)}.\n\n"
    return head + "".join(format_question(r, with_answer=True) + "\n\n" for r in shots)


_LEAD_IN = re.compile(
    r"(?:the\s+(?:correct\s+|best\s+|right\s+|final\s+)?answer\s*(?:is|:)|answer\s*(?:is|:))\s*:?\s*"
    r"(?:option\s+|choice\s+)?[(\[]?([A-Da-d])(?![A-Za-z0-9'’])",
    re.IGNORECASE)
_CANDIDATE = re.compile(r"(?<![A-Za-z0-9'’\\])[(\[]?([A-Da-d])(?![A-Za-z0-9'’])")


def extract_letter(generation: str | None) -> str | None:
    """Return the answer letter "A".."D" a generation gives, or None.

    Rule: markdown emphasis (``*``, ``_``, backticks) and ``\\boxed{}``/``\\textbf{}``/``\\text{}`` wrappers are
    removed. Then (1) the letter right after the first "The answer is" / "Answer:" lead-in (optionally
    "option"/"choice", "(" or "["), in either case; else (2) the first standalone letter A-D, where
    standalone means no letter, digit or apostrophe on either side: an upper-case B, C, D counts; an
    upper-case "A" counts unless a lower-case word follows it (the article, "A cat ..."); a lower-case a-d
    counts only with a closing ".", ")", "]" or ":" right after it ("b.", "(c)").
    """
    if not generation:
        return None
    text = re.sub(r"\\(?:boxed|textbf|text|mathrm)\{([^{}]*)\}", r"\1", generation)
    text = re.sub(r"[*_`]", "", text)
    m = _LEAD_IN.search(text)
    if m:
        return m.group(1).upper()
    for m in _CANDIDATE.finditer(text):
        letter, after = m.group(1), text[m.end():]
        if letter in "BCD":
            return letter
        if letter == "A":
            if not re.match(r"\s+[a-z]", after):
                return "A"
        elif re.match(r"[.)\]:]", after):
            return letter.upper()
    return None
