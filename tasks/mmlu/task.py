"""MMLU, 57 subjects, 5-shot (Table 4, MMLU), scored two ways (PAPER.md §3.6 leaves it open):

* ``gen``: the answer letter is generated (semi-autoregressive, a few tokens) and extracted — the paper's
  33-36% looks generation-scored;
* ``likelihood``: each choice letter's log-likelihood is estimated by Monte-Carlo ELBO, as LLaDA reports
  MMLU (65.9 for the Base model); the sampler plays no part.
"""
from __future__ import annotations

from tasks.base import Score
from tasks.mmlu.data import LETTERS, extract_letter, few_shot_prompt, format_question, load_mmlu
from tasks.text import TextExample, TextTask
from tasks.text_presets import GENERATE_DECODE, text_scales


class Mmlu(TextTask):
    name = "mmlu"
    VARIANTS = {"gen": "generate", "likelihood": "choice"}
    SCALES = text_scales(variants={"smoke": ["gen"], "small": ["gen", "likelihood"], "paper": ["gen", "likelihood"]},
                         n_eval={"smoke": 4, "small": 100, "paper": 100_000}, decode=GENERATE_DECODE,
                         gen_length={"smoke": 4, "small": 4, "paper": 4}, block_length={},
                         batch_size={"smoke": 4, "small": 8, "paper": 16})
    shots = 5

    def examples(self, n: int) -> list[TextExample]:
        """Return the first ``n`` test questions (subjects interleaved in file order) with 5-shot prompts."""
        dev = load_mmlu("dev", self.data_dir)
        test = load_mmlu("test", self.data_dir)
        heads: dict[str, str] = {}
        out = []
        for i, r in enumerate(test[:n]):
            if r["subject"] not in heads:
                heads[r["subject"]] = few_shot_prompt(r["subject"], dev, self.shots)
            prompt = heads[r["subject"]] + format_question(r)
            out.append(TextExample(id=f"{r['subject']}/{i}", mode=self.mode, prompt=prompt,
                                   reference=LETTERS[r["answer"]],
                                   choices=[f" {c}" for c in LETTERS] if self.mode == "choice" else None,
                                   meta={"subject": r["subject"]}))
        return out

    def score_batch(self, examples: list[TextExample], outputs: list[str]) -> list[Score]:
        """Return 1 when the generated (or highest-likelihood) letter is the answer."""
        out = []
        for e, o in zip(examples, outputs):
            pred = o.strip() if self.mode == "choice" else extract_letter(o)
            ok = pred == e.reference
            out.append(Score(score=float(ok), correct=ok, metrics={"pred": pred, "ref": e.reference,
                                                                   "subject": e.meta["subject"]}))
        return out
