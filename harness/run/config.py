"""A run's whole configuration as one typed object: what the command line asked for, defaults left as None
(meaning "the scale preset's"). Built by :mod:`harness.run.cli` from ``argv``; the library functions of
the runner take it instead of an ``argparse.Namespace``, and every results header records it (``run``)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

DECODE_KNOBS = ("steps", "temperature", "gumbel", "gumbel_schedule", "gumbel_space", "gaussian", "block_length",
                "remask", "score_dtype", "cfg_scale", "suppress_eos", "defer_eos", "noise", "mask_logit",
                "sampler_args", "cache")
"""The :class:`harness.decoding.decoder.DecodeConfig` fields a run may override (the rest come from the preset)."""


@dataclass(frozen=True)
class RunConfig:
    """One ``python -m harness.run`` invocation. ``decode`` holds only the knobs given explicitly."""

    task: str
    samplers: tuple[str, ...] = ("vanilla", "top_prob", "margin")
    scale: str = "small"
    variants: tuple[str, ...] | None = None
    seed: int = 0
    n: int | None = None
    decode: dict = field(default_factory=dict)
    batch_size: int | None = None
    device: str = "auto"
    amp: str = "auto"
    threads: int | None = None
    results_dir: str = "results"
    ckpt_dir: str = "checkpoints"
    data_dir: str | None = None
    train_only: bool = False
    progress: bool = True
    # text tasks (Table 4)
    model: str | None = None
    mask_id: int | None = None
    dtype: str = "auto"
    gen_length: int | None = None
    chat: str = "auto"
    mc_num: int | None = None

    def __post_init__(self):
        unknown = sorted(set(self.decode) - set(DECODE_KNOBS))
        if unknown:
            raise ValueError(f"decode: unknown knob(s) {', '.join(unknown)}; known: {', '.join(DECODE_KNOBS)}")
        if self.n is not None and self.n < 1:
            raise ValueError(f"--n must be >= 1 (got {self.n})")
        if not self.samplers:
            raise ValueError("--sampler: name at least one sampler")

    def to_dict(self) -> dict:
        """Return the configuration as plain JSON-able values (for the results header)."""
        d = asdict(self)
        d["samplers"], d["variants"] = list(self.samplers), list(self.variants) if self.variants else None
        return d
