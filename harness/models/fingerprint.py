"""A model's weights as one short hash: ties every results record to the exact parameters that wrote it."""
from __future__ import annotations

import hashlib

import torch


def fingerprint(model: torch.nn.Module) -> str:
    """Return a short sha256 of the model's parameters (ties results to the exact weights)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
