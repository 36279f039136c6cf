"""The decoding core, auditable against PAPER.md 3.1: torch only, no task, no model class, no runner.

``samplers`` holds the unmasking rules (which masked positions to reveal next and what to write there),
each one function plus one line in ``SAMPLERS``; ``decoder`` is the one loop (forward, choose values,
score certainty, add noise, select positions, write, record the step) for infilling, whole-sequence and
semi-autoregressive block decoding alike; ``ar_decoder`` decodes causal baselines left to right with a
key/value cache; ``textgen`` turns token rows of a ``transformers`` text model into decoder batches;
``rng`` holds the counter-based per-example random streams that make a row's result independent of its
batch. A new sampler is one function in ``samplers`` plus its registry line.
"""
