"""Every fixed seed and random-stream id of the task adapters, in one place.

A task draws its data from ``np.random.default_rng([seed, ..., STREAM])``: the stream id keeps draws for
different purposes (training batches, learning-check prompts, evaluation references) independent under the
same run seed. The values are part of what the committed results were computed from: changing one changes
the data (and so the numbers); add new ids instead of reusing one.
"""

# Sudoku
SUDOKU_REVEAL_SEED = 31      # which extra cells an easier level reveals in evaluation puzzle i
SUDOKU_MDM_TRAIN = 11        # MDM training batches
SUDOKU_ARM_TRAIN = 12        # ARM-baseline training batches
SUDOKU_CHECKS = 5150         # learning-check prompts

# Zebra
ZEBRA_REVEAL_SEED = 32       # which extra cells an easier level reveals in evaluation puzzle i
ZEBRA_MDM_TRAIN = 21         # MDM training batches
ZEBRA_ARM_TRAIN = 22         # ARM-baseline training batches
ZEBRA_CHECKS = 5151          # learning-check prompts

# L&O-NAE-SAT
LO_TRIPLE_SEED = 0           # the fixed (N, P) instance: which latents each observation reads
LO_TRAIN = 1                 # training batches
LO_EVAL_REFS = 99            # reference samples behind the evaluation prompts (given latents)
LO_NAIVE_POOL = 7            # samples that measure the naive-guess rate in the header
LO_CHECK_REFS = 424242       # learning-check reference samples
LO_CHECK_HIDE = 4242         # which latent the one-latent check hides
