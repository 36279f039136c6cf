"""ROCStories middle-sentence infilling (Table 4, ROCStories), as DiffuLLaMA evaluates it.

Sentences 1-2 are the prefix, 4-5 the suffix; sentence 3 is masked at its true token length and decoded
all at once. Scored by ROUGE-1/2/L F-measure (the table's number is ROUGE-L, PAPER.md §3.6).
"""
from __future__ import annotations

from rouge_score import rouge_scorer

from tasks.base import Score
from tasks.rocstories.data import ROUGE_TYPES, infill_example, load_stories
from tasks.text import TextExample, TextTask
from tasks.text_presets import INFILL_DECODE, text_scales


class RocStories(TextTask):
    name = "rocstories"
    VARIANTS = {"infill": "infill"}
    SCALES = text_scales(variants={"smoke": ["infill"], "small": ["infill"], "paper": ["infill"]},
                         n_eval={"smoke": 4, "small": 100, "paper": 1000}, decode=INFILL_DECODE,
                         gen_length={}, block_length={}, batch_size={"smoke": 4, "small": 16, "paper": 16})

    def examples(self, n: int) -> list[TextExample]:
        """Return the first ``n`` of the first 1000 stories as infill examples."""
        out = []
        for s in load_stories(self.data_dir, n=min(n, 1000)):
            ex = infill_example(s)
            # the spans are joined by single spaces: the middle keeps a leading space, as in the story text
            out.append(TextExample(id=str(s["story_id"]), mode="infill", prefix=ex["prefix"] + " ",
                                   suffix=" " + ex["suffix"], reference=ex["middle"]))
        return out

    def score_batch(self, examples: list[TextExample], outputs: list[str]) -> list[Score]:
        """Return ROUGE-L F as the score, with ROUGE-1/2/L in the metrics (unstemmed, DiffuLLaMA's setting)."""
        scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=False)
        out = []
        for e, o in zip(examples, outputs):
            s = scorer.score(e.reference, o.strip())
            m = {k: s[k].fmeasure for k in ROUGE_TYPES}
            out.append(Score(score=m["rougeL"], correct=o.strip() == e.reference.strip(), metrics=m))
        return out
