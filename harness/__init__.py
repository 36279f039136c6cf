"""tokenorder harness: the rooms of DESIGN.md, one package each.

- :mod:`harness.decoding`: the sampler core (samplers, the one decoding loop, ARM decoding, random streams).
- :mod:`harness.models`: token ids -> logits (our transformer, its ``transformers`` face, text models).
- :mod:`harness.training`: objectives, the training loop, precision, the small text models' builder.
- :mod:`harness.run`: the runner (``python -m harness.run``), the only room that knows tasks, models and
  samplers together.
- :mod:`harness.results`: the JSONL results store (``python -m harness.results check|quarantine``).
- :mod:`harness.report`: tables and figures from results alone (``python -m harness.report``), no torch.
- :mod:`harness.figure`: the paper's figure experiments (``python -m harness.figure <name>``).
- :mod:`harness.integrations`: lm-evaluation-harness.

Task adapters live in :mod:`tasks` (one folder or file per task plus one registry line). Shared utilities:
:mod:`harness.cli_args` (command-line argument types), :mod:`harness.env_info` (the environment a header
records). The allowed imports between rooms are written in ``.importlinter`` and checked by the tests.
"""
__version__ = "0.1.0"
