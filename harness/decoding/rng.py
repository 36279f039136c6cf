"""Counter-based random numbers: a pure function of (example seed, stream, step, position, token).

Every random draw the decoder makes (token sampling, Gumbel noise on certainty scores, the random order
of vanilla decoding) is hashed from the example's own seed and the coordinates of the draw, never taken
from a shared generator. So an example decodes to the same tokens whether it runs alone or inside a batch
of any size, in any position, on any device: batch invariance by construction, and resumable runs need
no saved RNG state.

The hash is ``lowbias32`` (Chris Wellons' integer hash) applied to a running mix of the coordinates, done
in int64 tensors with every intermediate kept below 2**63, so it is exact on CPU and CUDA alike.
"""
from __future__ import annotations

import torch

_M32 = 0xFFFFFFFF
# Streams: one independent family of draws per purpose.
STREAM_TOKEN = 1      # Gumbel-max sampling of token values
STREAM_SCORE = 2      # Gumbel noise added to certainty scores
STREAM_ORDER = 3      # random scores for vanilla (random-order) decoding
STREAM_BERNOULLI = 4  # reveal coin flips of ancestral vanilla decoding
STREAM_GAUSSIAN = 5   # Gaussian noise added to certainty scores


def _mix(h: torch.Tensor) -> torch.Tensor:
    """Return lowbias32(h) for int64 tensors holding 32-bit values."""
    h = h & _M32
    h = h ^ (h >> 16)
    h = (h * 0x7FEB352D) & _M32
    h = h ^ (h >> 15)
    # 0x846CA68B is above 2**31; split it so the product stays below 2**63.
    h = ((((h * 0x846C) & 0xFFFF) << 16) + h * 0xA68B) & _M32
    h = h ^ (h >> 16)
    return h


def _combine(h: torch.Tensor, v) -> torch.Tensor:
    """Return the hash state h absorbing the value(s) v (int or int64 tensor)."""
    return _mix(h ^ ((v * 0x9E3779B1) & _M32))


def _row_state(seeds: torch.Tensor, stream: int, step: int) -> torch.Tensor:
    """Return the hash state [B] of each row's (seed, stream, step): the prefix every draw of a step shares."""
    h = _mix(seeds.to(torch.int64) & _M32) ^ ((seeds.to(torch.int64) >> 32) & _M32)
    return _combine(_combine(h, stream), step)


def _to_unit(h: torch.Tensor) -> torch.Tensor:
    """Return float64 uniforms in (0, 1) from final hash states (two words: 42 bits of resolution)."""
    hi = _mix(h ^ 0x5BD1E995)  # a second word for 53 bits of resolution
    return ((h >> 11).to(torch.float64) * 2.0**21 + (hi >> 11).to(torch.float64) + 0.5) / 2.0**42


def uniform(seeds: torch.Tensor, stream: int, step: int, shape_tail: tuple[int, ...],
            offsets: torch.Tensor | None = None) -> torch.Tensor:
    """Return float64 uniforms in (0, 1) of shape ``(B, *shape_tail)``.

    ``seeds`` is an int64 tensor ``[B]`` with one seed per example. Entry ``[b, i, j, ...]`` depends only on
    ``(seeds[b], stream, step, i - offsets[b], j, ...)``: ``offsets`` (e.g. each row's left padding) makes
    the draws follow a row's content rather than its column.
    """
    device = seeds.device
    h = _row_state(seeds, stream, step)
    h = h.view(-1, *([1] * len(shape_tail)))
    for dim, size in enumerate(shape_tail):
        idx = torch.arange(size, device=device, dtype=torch.int64)
        idx = idx.view(*([1] * (dim + 1)), size, *([1] * (len(shape_tail) - dim - 1)))
        if dim == 0 and offsets is not None:
            idx = (idx - offsets.to(device=device, dtype=torch.int64).view(-1, *([1] * len(shape_tail)))) & _M32
        h = _combine(h, idx)
    return _to_unit(h)


def uniform_at(seeds: torch.Tensor, stream: int, step: int, positions: torch.Tensor, size: int) -> torch.Tensor:
    """Return float64 uniforms [n, size]: row ``k`` equals ``uniform(...)[b, positions[k], :]`` for the row
    whose seed is ``seeds[k]`` (position coordinates already shifted by any offset). Draws only the
    positions asked for, with the same values as the full draw."""
    h = _combine(_row_state(seeds, stream, step), positions.to(torch.int64) & _M32)
    h = _combine(h.view(-1, 1), torch.arange(size, device=seeds.device, dtype=torch.int64).view(1, size))
    return _to_unit(h)


def gumbel_of(u: torch.Tensor) -> torch.Tensor:
    """Return standard Gumbel noise -log(-log u) from uniforms ``u`` in (0, 1) (the one Gumbel formula)."""
    return -torch.log(-torch.log(u))


def gumbel(seeds: torch.Tensor, stream: int, step: int, shape_tail: tuple[int, ...]) -> torch.Tensor:
    """Return float64 standard Gumbel noise of shape ``(B, *shape_tail)`` (see :func:`uniform`)."""
    return gumbel_of(uniform(seeds, stream, step, shape_tail))


def example_seeds(run_seed: int, indices) -> torch.Tensor:
    """Return one int64 seed per example from the run seed and each example's integer index."""
    idx = torch.as_tensor(indices, dtype=torch.int64)
    h = _combine(_mix(torch.full_like(idx, run_seed & _M32)), idx)
    return _mix(h ^ 0x27D4EB2F) | ((h & 0x7FFFFFFF) << 32)
