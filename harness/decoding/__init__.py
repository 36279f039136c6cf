"""The decoding core, auditable against PAPER.md 3.1: torch only, no task, no model class, no runner.

``samplers`` holds the registry, the selection primitive and the paper's unmasking rules (which masked
positions to reveal next), each one function plus one ``register`` line; ``rules`` holds the rules published
since (Fast-dLLM threshold, EB-sampler, KLASS, PC-Sampler, DUS, P2, ReMDM), the same way; ``decoder`` is the one loop (forward, choose values,
score certainty, add noise, select positions, write, record the step) for infilling, whole-sequence and
semi-autoregressive block decoding alike; ``ar_decoder`` decodes causal baselines left to right with a
key/value cache; ``prefix_cache`` is Fast-dLLM's approximate prefix key/value cache for semi-autoregressive
text decoding (off by default); ``textgen`` turns token rows of a ``transformers`` text model into decoder batches;
``rng`` holds the counter-based per-example random streams that make a row's result independent of its
batch. A new sampler is one function plus its ``register`` line (in ``rules``, or a module of its own
imported below).
"""
from harness.decoding import rules as _rules  # noqa: F401  (registers the later rules with the registry)
