"""Training room: the masked-diffusion and next-token objectives over token ids (never task code).

``trainer`` is the loop (seeded, resumable checkpoints loaded with ``weights_only``), ``precision`` decides
bf16 or fp32 by measuring this machine, ``permutations`` holds the order families of the pi-learning
experiments, and ``text_mdm`` builds the offline small text MDM and judge (tokenizer + model, saved in
``transformers`` format). Callers hand in batches and data directories; nothing here looks up a task.
"""
