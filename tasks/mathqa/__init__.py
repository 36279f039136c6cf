"""MATH / MATH-500 (paper Table 4, "Math"): the data loader and the final-answer extractor and equivalence checker."""
