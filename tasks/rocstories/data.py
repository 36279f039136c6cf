"""ROCStories infilling: the Story Cloze Test (Spring 2016 validation set) used as DiffuLLaMA uses it.

File, provenance and checksum: the shared data README (``shared/data/README.md``, "rocstories/"):
``rocstories/cloze_test_val__spring2016.csv.gz``, the original 1871-row CSV (header, CRLF line ends) that
DiffuLLaMA ships at ``LLaMA-Factory/evaluation/cloze_test_val__spring2016.csv``. Its sha256 is checked.

The paper (PAPER.md §3.6) states only that ROCStories is an infilling task decoded non-autoregressively with
the output length fixed to the masked span; it gives neither the split nor the metric. We follow DiffuLLaMA
(Gong et al. 2024, which the paper cites for infilling), ``eval_infilling`` in its ``eval-diffullama.py``:

* Stories: the CSV rows in file order; the story is sentences 1-4 plus the *right* ending
  (``RandomFifthSentenceQuiz1`` when ``AnswerRightEnding`` is 1, else ``Quiz2``); the first **1000** stories.
* Split (:func:`infill_example`): prefix = s1 + " " + s2, middle = s3 (the span to infill, masked with its
  ground-truth token length), suffix = s4 + " " + s5.
* Metric (:func:`rouge_scores`): DiffuLLaMA calls ``evaluate.load("rouge").compute(predictions, references)``
  with the defaults of HF ``evaluate``'s ``rouge`` metric (``metrics/rouge/rouge.py``): Google's
  ``rouge-score`` ``RougeScorer`` with **use_stemmer=False** and its default tokenizer (lower-case, runs of
  ``[a-z0-9]``), F-measure, aggregated by ``BootstrapAggregator`` whose "mid" it reports. It then reports
  ROUGE-1, ROUGE-2, ROUGE-L x100 and their mean ("rougeAvg"). We match the scorer settings exactly and
  aggregate by the plain mean of per-example F-measures: the bootstrap "mid" is the median of 1000
  resampled means, a noisy, unseeded estimate of that same mean. ``use_stemmer=True`` (the setting of
  Google's own ``rouge`` CLI examples and of many summarisation papers) is available as an option.
"""
from __future__ import annotations

import csv
import gzip
import io
from functools import lru_cache
from pathlib import Path

from tasks.datafiles import verified_path

SUBDIR = "rocstories"
FILE = "cloze_test_val__spring2016.csv.gz"
SHA256 = "4667e5a40c57ca0505cad8cc4670ec1ecac7f8f25fb71f07b2a3b7ab182b6afb"
N_ROWS = 1871
SOURCE = "github.com/HKUNLP/DiffuLLaMA LLaMA-Factory/evaluation/cloze_test_val__spring2016.csv"
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


@lru_cache(maxsize=2)
def _read_rows(path: str, mtime_ns: int, size: int) -> tuple[dict, ...]:
    with gzip.open(path, "rb") as f:
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        return tuple(csv.DictReader(text))


def load_stories(data_dir=None, n: int | None = 1000) -> list[dict]:
    """Return the first ``n`` stories (all 1871 when ``n`` is None) as dicts with story_id, s1..s5 (s5 the right
    ending), sentences [s1..s5], wrong_ending and right_ending (1 or 2, the CSV's AnswerRightEnding)."""
    path: Path = verified_path(data_dir, FILE, SUBDIR, SHA256, "ROCStories cloze val", SOURCE)
    st = path.stat()
    rows = _read_rows(str(path), st.st_mtime_ns, st.st_size)
    if n is not None and not 0 <= n <= len(rows):
        raise ValueError(f"n={n} stories requested; the file has {len(rows)}")
    out = []
    for r in rows[:n]:
        right = int(r["AnswerRightEnding"])
        if right not in (1, 2):
            raise ValueError(f"story {r['InputStoryid']}: AnswerRightEnding {right!r} is not 1 or 2")
        s = [r[f"InputSentence{i}"] for i in range(1, 5)]
        s.append(r[f"RandomFifthSentenceQuiz{right}"])
        out.append({"story_id": r["InputStoryid"], **{f"s{i + 1}": x for i, x in enumerate(s)}, "sentences": s,
                    "wrong_ending": r[f"RandomFifthSentenceQuiz{3 - right}"], "right_ending": right})
    return out


def infill_example(story: dict) -> dict:
    """Return dict(prefix=s1 + " " + s2, middle=s3, suffix=s4 + " " + s5): DiffuLLaMA's middle-sentence infill."""
    return {"prefix": story["s1"] + " " + story["s2"], "middle": story["s3"], "suffix": story["s4"] + " " + story["s5"]}


def rouge_scores(predictions: list[str], references: list[str], use_stemmer: bool = False) -> dict:
    """Return {"rouge1", "rouge2", "rougeL", "rougeAvg"}: mean per-example ROUGE F-measures x100 and their mean
    (HF ``evaluate`` rouge defaults; see the module docstring)."""
    from rouge_score import rouge_scorer
    predictions, references = list(predictions), list(references)
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not predictions:
        raise ValueError("no predictions to score")
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=use_stemmer)
    sums = dict.fromkeys(ROUGE_TYPES, 0.0)
    for pred, ref in zip(predictions, references):
        s = scorer.score(ref, pred)  # rouge-score's order is (target, prediction)
        for k in ROUGE_TYPES:
            sums[k] += s[k].fmeasure
    out = {k: 100.0 * v / len(predictions) for k, v in sums.items()}
    out["rougeAvg"] = sum(out[k] for k in ROUGE_TYPES) / len(ROUGE_TYPES)
    return out
