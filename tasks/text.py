"""What a text task adapter provides (Table 4): examples as text, the decoding mode, and a scorer.

A text task never sees token ids, samplers or models. It says, per example, what is given and what the
model must write:

* ``infill``: ``prefix`` + a span of the reference's token length + ``suffix`` (HumanEval-Infilling,
  ROCStories), decoded all at once;
* ``generate``: a ``prompt`` followed by ``gen_length`` masked tokens, decoded in semi-autoregressive
  blocks (MATH, MMLU by generation);
* ``choice``: a ``prompt`` and candidate ``choices`` scored by the model's log-likelihood (MMLU by
  likelihood; the sampler plays no part).

The runner turns these into token rows with the model's tokenizer, decodes, and hands back the completion
text to :meth:`TextTask.score_batch`. Presets per scale are plain data (``SCALES``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from tasks.base import Score

MODES = ("infill", "generate", "choice")

DEFAULT_MODEL = {"paper": "GSAI-ML/LLaDA-8B-Base"}
"""The model each scale runs when ``--model`` is not given (small/smoke: our own small text MDM)."""


@dataclass
class TextExample:
    """One text item: ``prompt`` (generate/choice) or ``prefix``/``suffix`` around ``reference`` (infill)."""

    id: str
    mode: str
    prompt: str = ""
    prefix: str = ""
    suffix: str = ""
    reference: str = ""
    choices: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class TextTask:
    """Base class of text adapters: set ``name``, ``SCALES``, ``VARIANTS`` and implement the methods."""

    name: ClassVar[str]
    VARIANTS: ClassVar[dict[str, str]]
    """variant -> decoding mode"""
    SCALES: ClassVar[dict[str, dict[str, Any]]]
    """scale -> {"variants": [...], "n_eval": int, "batch_size": int, "decode": DecodeConfig fields,
    "gen_length": int (generate), "mc_num": int (choice), "chat": "auto" | bool}"""
    is_text: ClassVar[bool] = True

    def __init__(self, variant: str, scale: str, data_dir: str | None = None):
        if scale not in self.SCALES:
            raise ValueError(f"unknown scale '{scale}' for task {self.name}; choose one of: {', '.join(self.SCALES)}")
        if variant not in self.VARIANTS:
            raise ValueError(f"unknown variant '{variant}' for task {self.name}; "
                             f"choose one of: {', '.join(self.VARIANTS)}")
        self.variant, self.scale, self.data_dir = variant, scale, data_dir
        self.mode = self.VARIANTS[variant]

    @classmethod
    def variants(cls, scale: str) -> list[str]:
        """Return the variants run by default at ``scale``."""
        return list(cls.SCALES[scale]["variants"])

    def preset(self) -> dict[str, Any]:
        """Return this scale's preset (n_eval, batch_size, decode knobs, gen_length, ...)."""
        return dict(self.SCALES[self.scale])

    def examples(self, n: int) -> list[TextExample]:
        """Return the first ``n`` evaluation examples (the same list on every call)."""
        raise NotImplementedError

    def score_batch(self, examples: list[TextExample], outputs: list[str]) -> list[Score]:
        """Return one :class:`Score` per example for the completion texts ``outputs`` (choice: the chosen
        choice's text)."""
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """Return facts about the data recorded in every results header."""
        return {"mode": self.mode}
