"""MATH by semi-autoregressive generation (Table 4, Math; PAPER.md §3.6 argues Math is MATH).

The problem is asked zero-shot (inside the chat template when the model has one) with the instruction
to put the final answer in \\boxed{}; the answer is extracted and checked for equivalence with the
reference (fractions, radicals, intervals, LaTeX variants; math-verify where it applies).
"""
from __future__ import annotations

from tasks.base import Score
from tasks.mathqa.answer import extract_answer, is_equiv
from tasks.mathqa.data import load_math
from tasks.text import TextExample, TextTask
from tasks.text_presets import GENERATE_DECODE, text_scales

PROMPT = "{problem}\nPlease reason step by step, and put your final answer within \\boxed{{}}.\n"


class Math(TextTask):
    name = "math"
    VARIANTS = {"test": "generate", "math500": "generate"}
    SCALES = text_scales(variants={"smoke": ["math500"], "small": ["math500"], "paper": ["test"]},
                         n_eval={"smoke": 4, "small": 30, "paper": 5000}, decode=GENERATE_DECODE,
                         gen_length={"smoke": 16, "small": 64, "paper": 256},
                         block_length={"smoke": 8, "small": 32, "paper": 32},
                         batch_size={"smoke": 4, "small": 8, "paper": 16})

    def examples(self, n: int) -> list[TextExample]:
        """Return the first ``n`` problems of the split as generation examples."""
        recs = load_math(self.variant, self.data_dir)[:n]
        return [TextExample(id=r["unique_id"] or f"{self.variant}/{i}", mode="generate",
                            prompt=PROMPT.format(problem=r["problem"]), reference=r["answer"],
                            meta={"level": r["level"], "subject": r["subject"]})
                for i, r in enumerate(recs)]

    def score_batch(self, examples: list[TextExample], outputs: list[str]) -> list[Score]:
        """Return 1 when the extracted answer is equivalent to the reference."""
        out = []
        for e, o in zip(examples, outputs):
            pred = extract_answer(o)
            ok = is_equiv(pred, e.reference)
            out.append(Score(score=float(ok), correct=ok, metrics={"pred": pred, "ref": e.reference,
                                                                   "level": e.meta.get("level")}))
        return out
