"""MMLU (paper Table 4): the 57-subject test/dev loader, the Hendrycks prompt layout and the answer-letter extractor."""
