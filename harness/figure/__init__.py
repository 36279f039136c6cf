"""The figure experiments room (Figures 2 and 3): each experiment module trains and evaluates what one panel
needs and writes JSONL records through :mod:`harness.figure.common`; :mod:`harness.report` draws them.

Experiments: ``isoflop`` (Figure 2 left), ``pi_order`` (Figure 2 top right), ``lo_imbalance`` (Figure 2
bottom right), ``genppl`` (Figure 3). Their helpers: ``char_corpus`` and ``text_models`` (data and the small
text models), ``flops`` (FLOP counting), ``pi_likelihood`` (pi-ordered likelihoods), ``genppl_score``
(generative perplexity and entropy). Every experiment exposes ``NAME``, ``SCALES`` (``smoke`` / ``small`` /
``paper`` presets: data, never code) and ``run(scale, results_dir, ckpt_dir, data_dir, device, workers,
progress) -> list[Path]``, and is one line in ``FIGURES`` of :mod:`harness.figure.__main__`; experiments use
the library rooms (decoding, models, training, results store), never the runner's command line. Command
line: ``python -m harness.figure <name> --scale small``.
"""
