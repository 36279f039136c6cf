"""Model stack: one transformer for bidirectional MDMs and causal ARMs."""
from .transformer import PRESETS, ModelConfig, Transformer, build_model, new_model

__all__ = ["PRESETS", "ModelConfig", "Transformer", "build_model", "new_model"]
