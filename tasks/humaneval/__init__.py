"""HumanEval-Infilling (paper Table 4, code columns): the benchmark files, program assembly and scoring."""
