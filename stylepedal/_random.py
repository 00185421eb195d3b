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
    raw = np.random.PCG64([seed, layer]).random_raw(2 * ((n + 1) // 2))
    uniform = (raw >> np.uint64(11)).astype(np.float64) * 2.0**-53
    radius = np.sqrt(-2.0 * np.log1p(-uniform[0::2]))  # 1 - u is in (0, 1]: log is finite
    angle = 2.0 * np.pi * uniform[1::2]
    normal = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[:n]
    return (normal * math.sqrt(2.0 / fan_in)).reshape(shape).astype(np.float32)
