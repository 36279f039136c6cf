"""The paper's figure experiments (Figures 2 and 3): each module trains/evaluates what one panel needs and
writes JSONL records through :mod:`harness.figures.common`; :mod:`harness.report_figures` draws them.

Every module exposes ``NAME``, ``SCALES`` (``smoke`` / ``small`` / ``paper`` presets: data, never code) and
``run(scale, results_dir, ckpt_dir, data_dir, device, workers, progress) -> list[Path]``. The command line
is ``python -m harness.figure <name> --scale small``.
"""
