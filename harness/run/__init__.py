"""The runner room: the only place that knows tasks, models and samplers together.

``cli`` parses the command line (``python -m harness.run --task sudoku --sampler margin``) into one typed
:class:`~harness.run.config.RunConfig` and nothing past it sees ``argparse``; ``puzzles`` trains and
evaluates the puzzle tasks' MDMs and ARM baselines; ``text`` runs the text tasks through ``transformers``
models; ``common`` holds the shared evaluation loop (resume, batching, per-example seeds, sharding under
``torchrun``/``accelerate``) and writes through the results store (:mod:`harness.results`).
A new task needs nothing here: it registers itself in :mod:`tasks`.
"""
