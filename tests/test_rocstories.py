"""ROCStories infilling: the Story Cloze CSV loader, DiffuLLaMA's prefix/middle/suffix split, ROUGE fixtures."""
import importlib.util

import pytest

from tasks.rocstories.data import infill_example, load_stories, rouge_scores
from conftest import SHARED, needs_shared

needs_data = needs_shared("rocstories")
needs_rouge = pytest.mark.skipif(importlib.util.find_spec("rouge_score") is None,
                                 reason="rouge-score is not installed (pip install rouge-score)")


@needs_data
def test_counts_and_first_thousand():
    every = load_stories(SHARED, n=None)
    first = load_stories(SHARED)
    assert len(every) == 1871 and len({s["story_id"] for s in every}) == 1871
    assert len(first) == 1000 and [s["story_id"] for s in first] == [s["story_id"] for s in every[:1000]]
    assert sum(s["right_ending"] == 1 for s in every) == 962
    assert first[-1]["story_id"] == "94476c62-357f-4e71-9e16-8df92ae71d4e"
    with pytest.raises(ValueError):
        load_stories(SHARED, n=1872)


@needs_data
def test_known_stories_and_their_split():
    stories = load_stories(SHARED, n=3)
    rick = stories[0]  # AnswerRightEnding = 1: the fifth sentence is RandomFifthSentenceQuiz1
    assert rick["story_id"] == "138d5bfb-05cc-41e3-bf2c-fa85ebad14e2"
    assert rick["s5"] == "He is happy now." and rick["wrong_ending"] == "He joined a gang."
    assert infill_example(rick) == {
        "prefix": "Rick grew up in a troubled household. He never found good support in family, and turned to gangs.",
        "middle": "It wasn't long before Rick got shot in a robbery.",
        "suffix": "The incident caused him to turn a new leaf. He is happy now.",
    }
    sarah = stories[2]  # AnswerRightEnding = 2: the fifth sentence is RandomFifthSentenceQuiz2
    assert sarah["right_ending"] == 2
    assert sarah["s5"] == "Sarah decided that she preferred her home over Europe."
    assert sarah["wrong_ending"] == "Sarah then decided to move to Europe."
    assert infill_example(sarah)["middle"] == "She landed in Spain and traveled east across the continent."
    assert sarah["sentences"] == [sarah[f"s{i}"] for i in range(1, 6)]


def test_tampered_or_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        load_stories(tmp_path)
    (tmp_path / "rocstories").mkdir()
    (tmp_path / "rocstories" / "cloze_test_val__spring2016.csv.gz").write_bytes(b"x")
    with pytest.raises(ValueError, match="sha256"):
        load_stories(tmp_path)


@needs_rouge
def test_rouge_identical_and_disjoint():
    same = rouge_scores(["The cat sat on the mat."], ["The cat sat on the mat."])
    assert same == pytest.approx({"rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0, "rougeAvg": 100.0})
    none = rouge_scores(["alpha beta gamma"], ["delta epsilon zeta"])
    assert none == pytest.approx({"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0, "rougeAvg": 0.0})
    # rouge-score's tokenizer lower-cases and drops punctuation
    assert rouge_scores(["THE CAT!"], ["the cat"])["rouge1"] == pytest.approx(100.0)


@needs_rouge
def test_rouge_partial_overlap_by_hand():
    # reference  "the cat sat on the mat" -> the, cat, sat, on, the, mat   (6 tokens)
    # prediction "the cat lay on a rug"   -> the, cat, lay, on, a, rug     (6 tokens)
    # ROUGE-1: clipped unigram matches the(min(2,1)=1) + cat + on = 3; P = R = 3/6, F = 0.5 -> 50
    # ROUGE-2: bigrams ref {the cat, cat sat, sat on, on the, the mat}, pred {the cat, cat lay, lay on, on a, a rug};
    #          1 match ("the cat"); P = R = 1/5, F = 0.2 -> 20
    # ROUGE-L: LCS "the cat on" = 3; P = R = 3/6 -> 50.  Mean (50 + 20 + 50) / 3 = 40
    s = rouge_scores(["the cat lay on a rug"], ["the cat sat on the mat"])
    assert s == pytest.approx({"rouge1": 50.0, "rouge2": 20.0, "rougeL": 50.0, "rougeAvg": 40.0})
    # asymmetric lengths: pred "the cat" (2) vs ref "the cat sat" (3): P = 1, R = 2/3, F = 2PR/(P+R) = 0.8 -> 80
    assert rouge_scores(["the cat"], ["the cat sat"])["rouge1"] == pytest.approx(80.0)


@needs_rouge
def test_rouge_averages_over_examples_and_stemming_is_off_by_default():
    s = rouge_scores(["a b c", "x y"], ["a b c", "p q"])
    assert s["rouge1"] == pytest.approx(50.0) and s["rougeAvg"] == pytest.approx(50.0)
    # HF evaluate's rouge default is use_stemmer=False, which DiffuLLaMA used
    assert rouge_scores(["cats running"], ["cat runs"])["rouge1"] == pytest.approx(0.0)
    assert rouge_scores(["cats running"], ["cat runs"], use_stemmer=True)["rouge1"] == pytest.approx(100.0)
    with pytest.raises(ValueError):
        rouge_scores(["a"], ["a", "b"])
    with pytest.raises(ValueError):
        rouge_scores([], [])
