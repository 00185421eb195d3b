"""Random Gaussian weights that are the same on every machine and numpy version.

Random-feature banks whose weights must be regenerated from a seed long after something was
computed with them (the independent judge's banks; the Gram targets a model file stores for a
render's Gram fit) cannot come from ``torch.randn`` or ``Generator.standard_normal``, whose
streams may change between versions.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["random_weights"]

_CHUNK_PAIRS = 1 << 16


def random_weights(seed: int, shape: tuple[int, ...], fan_in: int, *, layer: int = 0) -> np.ndarray:
    """He-initialised Gaussian weights, identical on every machine and numpy version.

    Box-Muller on the raw 64-bit output of ``numpy.random.PCG64([seed, layer])``: numpy
    guarantees the streams of its bit generators and seed sequences, not that of
    ``Generator.standard_normal``.

    Parameters
    ----------
    seed : int
        The seed.
    shape : tuple of int
        Shape of the returned array.
    fan_in : int
        Inputs per output unit; the standard deviation is ``sqrt(2 / fan_in)``.
    layer : int
        Layer index: each layer has its own stream under the same seed.

    Returns
    -------
    np.ndarray
        float32 array of ``shape``.

    Examples
    --------
    >>> w = random_weights(7, (4, 5), fan_in=5)
    >>> w.shape, w.dtype
    ((4, 5), dtype('float32'))
    """
    n = int(np.prod(shape))
    pairs = (n + 1) // 2
    bits = np.random.PCG64([seed, layer])
    scale = math.sqrt(2.0 / fan_in)
    # pair i gives the i-th normal of the first half (cosine) and of the second (sine); drawn
    # in chunks so that a large bank's float64 temporaries stay small
    normal = np.empty(2 * pairs, dtype=np.float32)
    for start in range(0, pairs, _CHUNK_PAIRS):
        stop = min(start + _CHUNK_PAIRS, pairs)
        raw = bits.random_raw(2 * (stop - start))
        uniform = (raw >> np.uint64(11)).astype(np.float64) * 2.0**-53
        radius = np.sqrt(-2.0 * np.log1p(-uniform[0::2]))  # 1 - u is in (0, 1]: log is finite
        angle = 2.0 * np.pi * uniform[1::2]
        normal[start:stop] = radius * np.cos(angle) * scale
        normal[pairs + start : pairs + stop] = radius * np.sin(angle) * scale
    return normal[:n].reshape(shape)
