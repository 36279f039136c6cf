"""The paper's numbers: Kim et al., ICML 2025, "Train for the Worst, Plan for the Best" (arXiv 2502.06768v3).

Reference data only: no logic beyond the lookup tables themselves. Every value is copied from
/work/shared/PAPER.md section 1 and is identical in arXiv v2 and v3 unless a note says otherwise.
Accuracies are percentages (0-100), as printed in the paper.

Rows are keyed by this harness's sampler names:

* ``"vanilla"``   - random-order unmasking (the paper's "vanilla"; Table 5 calls it "MDM (random)")
* ``"top_prob"``  - top probability (v2: "Top-K probability")
* ``"margin"``    - top probability margin (v2: "Top-K probability margin"; Table 1's "adaptive")
* ``"arm_fixed"`` - autoregressive baseline without ordering (the paper says "w/o ordering"; whether
  Shah et al.'s fixed row-major or random order was used is not stated; we take fixed)
* ``"arm_solver"`` - autoregressive baseline trained in solver order ("with ordering")
"""
from __future__ import annotations

from dataclasses import dataclass, field

PAPER = "Kim et al., ICML 2025 (arXiv 2502.06768v3)"

SAMPLER_LABELS = {
    "vanilla": "Vanilla",
    "top_prob": "Top probability",
    "margin": "Top prob. margin",
    "entropy": "Entropy",
    "arm_fixed": "ARM (w/o ordering)",
    "arm_solver": "ARM (with ordering)",
}
"""Display names of the samplers as the paper labels its rows (entropy is ours; the paper has none)."""

NAIVE_GUESS_LO = 75.0
"""L&O-NAE-SAT naive-guess accuracy (%): always predicting NAE = 1 is right 1 - 2 * (1/2)**3 = 75% of the
time for binary latents and three distinct indices (Table 1 caption states 75%; the derivation is [INF])."""


@dataclass(frozen=True)
class PaperTable:
    """Metadata of one paper table: caption, source tag, model, metric and caveats."""

    name: str
    caption: str
    source: str
    model: str
    metric: str
    notes: tuple[str, ...] = field(default_factory=tuple)


TABLE1: dict[tuple[int, int], dict[str, float]] = {
    (25, 275): {"vanilla": 78.06, "margin": 93.76},
    (30, 270): {"vanilla": 75.70, "margin": 93.54},
    (40, 260): {"vanilla": 74.60, "margin": 92.21},
    (50, 250): {"vanilla": 67.94, "margin": 90.01},
    (100, 200): {"vanilla": 62.84, "margin": 88.91},
}
"""Table 1 - L&O-NAE-SAT, keyed by (N, P) ([V3] sections 4.1-4.2, App. D.1.1).

Caption: "L&O-NAE-SAT. Adaptive MDM inference achieves better likelihood matching than vanilla MDM
inference. Note that naive guessing leads to 75% accuracy, indicating that vanilla inference performs
similarly or worse than naive guessing."
"Adaptive" is top probability margin; one 19M MDM per (N, P); metric = accuracy on observation tokens."""

TABLE2: dict[str, float] = {
    "arm_fixed": 9.73,
    "arm_solver": 87.18,
    "vanilla": 6.88,
    "top_prob": 18.51,
    "margin": 89.49,
}
"""Table 2 - Sudoku ([V3] section 4.2). Caption: "Comparison of accuracy for solving the Sudoku puzzle."
Metric: percentage of correctly solved puzzles. ARM rows 42M, MDM rows 6M (see TABLE2_PARAMS)."""

TABLE2_PARAMS = {"arm_fixed": "42M", "arm_solver": "42M", "vanilla": "6M", "top_prob": "6M", "margin": "6M"}
"""Table 2 "# Param" column."""

TABLE3: dict[str, float] = {
    "arm_fixed": 80.31,
    "arm_solver": 91.17,
    "vanilla": 76.9,
    "top_prob": 98.5,
    "margin": 98.3,
}
"""Table 3 - Zebra ([V3] section 4.2). Caption: "Comparison of accuracy for solving the Zebra puzzle."
ARM rows 42M, MDM rows 19M (see TABLE3_PARAMS)."""

TABLE3_PARAMS = {"arm_fixed": "42M", "arm_solver": "42M", "vanilla": "19M", "top_prob": "19M", "margin": "19M"}
"""Table 3 "# Param" column."""

TABLE4: dict[str, dict[str, float]] = {
    "humaneval_single": {"vanilla": 31.8, "top_prob": 32.9, "margin": 33.5},
    "humaneval_multi": {"vanilla": 16.5, "top_prob": 20.8, "margin": 25.4},
    "humaneval_split": {"vanilla": 14.2, "top_prob": 18.4, "margin": 22.3},
    "math": {"vanilla": 28.5, "top_prob": 31.3, "margin": 34.3},
    "mmlu": {"vanilla": 33.2, "top_prob": 36.5, "margin": 35.4},
    "rocstories": {"vanilla": 21.23, "top_prob": 21.10, "margin": 21.41},
}
"""Table 4 - LLaDA-8B, keyed by benchmark column ([V3] section 4.4, App. D.3).

Caption: "Performance of different inference strategies for LLaDa 8B model on coding and math tasks."
Columns in paper order: HumanEval-Single, HumanEval-Multi, HumanEval-Split, Math, MMLU, ROCStories."""

TABLE4_COLUMNS = {
    "humaneval_single": "HumanEval-Single",
    "humaneval_multi": "HumanEval-Multi",
    "humaneval_split": "HumanEval-Split",
    "math": "Math",
    "mmlu": "MMLU",
    "rocstories": "ROCStories",
}
"""Table 4 column headers as printed."""

TABLE5: dict[str, float] = {
    "arm_solver": 32.57,
    "vanilla": 3.62,
    "top_prob": 9.44,
    "margin": 49.88,
}
"""Table 5 - hard Sudoku, easy-to-hard generalization ([V3] section 4.5).
Caption: "Comparison of accuracy for solving the hard Sudokus."
"MDM (random)" is stored as "vanilla"; the paper has no ARM (w/o ordering) row. ARM 42M, MDM 6M."""

TABLE5_PARAMS = {"arm_solver": "42M", "vanilla": "6M", "top_prob": "6M", "margin": "6M"}
"""Table 5 "#Param" column."""

FIGURE2_TEXT_VAL_LOSS: dict[str, float] = {"identity": 3.171, "closer": 3.212, "uniform": 3.245}
"""Figure 2 (top right) inline table: validation loss of a 170M text MDM scored along pi-ordered
likelihoods, pi = identity / pi ~ Closer(S_N) / pi ~ Unif(S_N), averaged over 1024 samples ([V3] App. C.2.2)."""

FIGURE2_CAPTION = (
    "Left: MDMs train on hard problems (Section 3.2). x-axis and y-axis correspond to log(FLOPs) and "
    "-log p_theta(x), respectively. MDM (Blue) is worse than ARM (Orange) in likelihood modeling. Most masking "
    "problems (Other lines) that MDM is trained on are harder than those encountered by ARM, as indicated by "
    "small log-likelihoods. Right: Task error imbalance (Section 3.3). MDM's performance varies across different "
    "tasks. For text data (top right), this is indicated by validation loss. For L&O-NAE-SAT (bottom right), MDM "
    "performs well on the masking problems for observation positions (light region) but struggles with latent "
    "positions (dark region).")
FIGURE3_CAPTION = (
    "Generative Perplexity. We compare the resulting generative perplexity (GenPPL) of adaptive vs. vanilla MDM "
    "inference. We employ a pretrained 170M MDM and LLaMA-7B (Touvron et al., 2023) as inference and evaluation, "
    "respectively. Adaptive MDM inference (Blue) leads to a substantial reduction in generative perplexity, while "
    "maintaining the entropy.")

TABLES: dict[str, PaperTable] = {
    "table1": PaperTable(
        name="Table 1 - L&O-NAE-SAT",
        caption="L&O-NAE-SAT. Adaptive MDM inference achieves better likelihood matching than vanilla MDM "
        "inference. Note that naive guessing leads to 75% accuracy, indicating that vanilla inference "
        "performs similarly or worse than naive guessing.",
        source="[V3] sections 4.1-4.2, App. D.1.1",
        model="19M MDM, one per (N, P)",
        metric="accuracy on observation tokens (%)",
        notes=(
            'Adaptive = top probability margin (App. D.1.1).',
            "N + P = 300 in every row; train size, iterations and test count are not stated.",
            "Observation accuracy most plausibly = generated observations consistent with NAE of the "
            "generated latents [INF].",
        ),
    ),
    "table2": PaperTable(
        name="Table 2 - Sudoku",
        caption="Comparison of accuracy for solving the Sudoku puzzle.",
        source="[V3] section 4.2; ARM baselines from [SHAH]",
        model="MDM 6M GPT-2 (bidirectional); ARM 42M",
        metric="correctly solved puzzles (%)",
        notes=(
            'v2 labels: "Top-K probability" / "Top-K prob. margin".',
            'ARM "w/o ordering": fixed or random order is not stated (stored as arm_fixed).',
            "50 reverse steps, Gumbel coefficient 0.5 on the oracle (App. D.2).",
        ),
    ),
    "table3": PaperTable(
        name="Table 3 - Zebra",
        caption="Comparison of accuracy for solving the Zebra puzzle.",
        source="[V3] section 4.2; ARM baselines from [SHAH]",
        model="MDM 19M; ARM 42M",
        metric="solved puzzles (%) [INF: metric not stated, presumably as for Sudoku]",
        notes=("Here top probability (98.5) slightly beats margin (98.3).",),
    ),
    "table4": PaperTable(
        name="Table 4 - LLaDA-8B",
        caption="Performance of different inference strategies for LLaDa 8B model on coding and math tasks.",
        source="[V3] section 4.4, App. D.3",
        model="LLaDA-8B (Base vs Instruct not stated)",
        metric="per column; HumanEval pass@1 [INF]",
        notes=(
            "Math is most likely MATH (minerva_math) [INF].",
            "ROCStories is most likely ROUGE (probably ROUGE-L, DiffuLLaMA protocol), not accuracy [INF].",
            'HumanEval-Split probably = RandomSpan [INF].',
            "MMLU 33-36% is far below LLaDA's likelihood-scored 65.9: scored by generation [INF].",
            "Not all cells support 'adaptive beats vanilla': ROCStories top_prob < vanilla; MMLU top_prob > margin.",
        ),
    ),
    "table5": PaperTable(
        name="Table 5 - hard Sudoku",
        caption="Comparison of accuracy for solving the hard Sudokus.",
        source="[V3] section 4.5, App. D.2",
        model="MDM 6M (trained on easy Sudoku); ARM 42M",
        metric="correctly solved puzzles (%)",
        notes=(
            '"MDM (random)" = vanilla [INF: naming only].',
            "Hard set = remaining ~1M Radcliffe puzzles; how many were evaluated is not stated.",
        ),
    ),
    "figure2_text": PaperTable(
        name="Figure 2 (top right) - text error imbalance",
        caption="Val. Loss along pi = id / Closer(S_N) / Unif(S_N).",
        source="[V3] Figure 2, App. C.2.2",
        model="170M MDM pretrained on text",
        metric="pi-ordered validation loss (nats/token), 1024 samples",
        notes=(
            "Score along pi: sum_i log p(x^pi(i) | x with pi(i..L-1) masked), averaged over 1024 x0 ~ p_data.",
            "Closer = L/10 random swaps of the identity; the checkpoint and data are not named (SMDM on "
            "SlimPajama [INF]).",
        ),
    ),
    "figure2_isoflop": PaperTable(
        name="Figure 2 (left) - IsoFLOP curves of pi-learners",
        caption=FIGURE2_CAPTION,
        source="[V3] section 3.2, Figure 2 left, App. C.1",
        model="causal transformers with learnable position embeddings (no RoPE) on SlimPajama, L = 2048; MDM",
        metric="-log p_theta(x) (validation loss, nats/token) at the best size per FLOP budget",
        notes=(
            "pi families: identity (ARM), much-closer (sqrt(L) swaps), closer (L/10 swaps), uniform; "
            "3 permutations each.",
            "IsoFLOP: tokens = C / (6N), N non-embedding parameters; the point is the smallest validation loss "
            "over sizes. Budgets and sizes are not listed (SMDM's grid [INF]).",
            "Stated result: uniform-pi learners scale worse than the ARM, closer pi moves toward the ARM, the MDM "
            "is not much worse than the pi-learners. No numbers are printed: the curves are read off the plot.",
            "AdamW (0.9, 0.95), weight decay 0.1, cosine lr 4e-4 -> 4e-5.",
        ),
    ),
    "figure2_lo": PaperTable(
        name="Figure 2 (bottom right) - L&O-NAE-SAT error imbalance",
        caption=FIGURE2_CAPTION,
        source="[V3] section 3.3, Figure 2 bottom right, App. C.2.1",
        model="19M MDM with RoPE, context 512 (212 padding tokens), 2e3 iterations vs a 5e4-iteration proxy",
        metric="per-position E||log p_theta(x0|x0[M]) - log p_proxy(x0|x0[M])||^2, 1000 repeats",
        notes=(
            "(N, P) = (20, 280); l latents and l*P/N observations masked; l = 11 shown, other l said to agree.",
            "Picture: a heat strip over the 300 positions; latent positions have the larger errors.",
            "Shading is inconsistent: the caption says observations light / latents dark, the section 3.3 text "
            "the reverse; both agree latents are worse.",
        ),
    ),
    "figure3": PaperTable(
        name="Figure 3 - generative perplexity",
        caption=FIGURE3_CAPTION,
        source="[V3] section 4.2, Figure 3, App. D.1.2",
        model="text MDM (caption: 170M; App. D.1.2: 1.1B), judged by LLaMA-7B (caption) / Llama-2-7B (appendix)",
        metric="GenPPL under the judge and unigram entropy of unconditional samples",
        notes=(
            "Adaptive = top-probability margin + additive Gaussian noise; sigma is not given.",
            "K = #masks * (alpha_s - alpha_t) / (1 - alpha_t) per step; x-axis = sampling steps [INF].",
            "Entropy = -sum_i p_i log p_i of a sample's token frequencies (the paper drops the minus sign).",
            "Stated result: adaptive inference substantially lowers GenPPL while keeping the entropy. No numbers "
            "are printed.",
        ),
    ),
    "beyond_frontier": PaperTable(
        name="Beyond the paper - every unmasking rule, accuracy against forward passes",
        caption="(not in the paper) the paper's three rules beside those published since, on the same models",
        source="beyond [V3]: arXiv 2505.22618, 2505.24857, 2511.05664, 2508.13021, 2506.19037, 2502.03540, "
               "2503.00307",
        model="the puzzle MDMs of Tables 1-3 and 5",
        metric="the task's score against mean forward passes per example",
        notes=("Each rule's own paper evaluates it on LLaDA/Dream-scale text models, not on these puzzles.",),
    ),
}
"""Per-table metadata (caption, source, model, metric, notes) for the report, keyed by report name."""
