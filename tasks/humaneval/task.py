"""HumanEval-Infilling as MDM-native infilling (Table 4: HumanEval-Single, -Multi, -Split).

The code before the gap (``prompt``) and after it (``suffix``) are given; the gap is masked with as many
tokens as the canonical solution has under the model's tokenizer, and decoded all at once. The
completion is scored by running prompt + completion + suffix + the tests in the sandbox (pass@1).
"Split" is the random-span subset (PAPER.md §3.6: no subset is called "split").
"""
from __future__ import annotations

from tasks.base import Score
from tasks.humaneval.data import load_infilling
from tasks.humaneval.execute import score_completions
from tasks.text import TextExample, TextTask
from tasks.text_presets import INFILL_DECODE, text_scales

_SCALES = text_scales(variants={"smoke": ["infill"], "small": ["infill"], "paper": ["infill"]},
                      n_eval={"smoke": 4, "small": 30, "paper": 100_000}, decode=INFILL_DECODE,
                      gen_length={}, block_length={}, batch_size={"smoke": 4, "small": 8, "paper": 8})


class HumanEvalInfill(TextTask):
    """One HumanEval-Infilling subset; subclasses pick it."""

    subset = "single"
    VARIANTS = {"infill": "infill"}
    SCALES = _SCALES

    def records(self) -> list[dict]:
        """Return the subset's records (official file, sha256-checked)."""
        return load_infilling(self.subset, self.data_dir)

    def examples(self, n: int) -> list[TextExample]:
        """Return the first ``n`` problems as infill examples (reference = canonical solution)."""
        out = []
        for r in self.records()[:n]:
            out.append(TextExample(id=r["task_id"], mode="infill", prefix=r["prompt"], suffix=r["suffix"],
                                   reference=r["canonical_solution"], meta={"record": r, "subset": self.subset}))
        return out

    def score_batch(self, examples: list[TextExample], outputs: list[str]) -> list[Score]:
        """Return pass/fail per completion from the sandboxed test run."""
        results = score_completions([e.meta["record"] for e in examples], outputs)
        return [Score(score=float(r["passed"]), correct=bool(r["passed"]),
                      metrics={"passed": r["passed"], "result": r["status"], "stderr_tail": r["stderr_tail"][-300:]})
                for r in results]

    def info(self) -> dict:
        """Return the subset name and mode."""
        return {"mode": "infill", "subset": self.subset}


class HumanEvalSingle(HumanEvalInfill):
    name = "humaneval_single"
    subset = "single"


class HumanEvalMulti(HumanEvalInfill):
    name = "humaneval_multi"
    subset = "multi"


class HumanEvalSplit(HumanEvalInfill):
    name = "humaneval_split"
    subset = "random_span"
