"""ROCStories infilling (paper Table 4): Story Cloze Test stories, DiffuLLaMA's middle-sentence split, and ROUGE."""
