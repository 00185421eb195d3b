"""Test signals shared by several test files."""

from __future__ import annotations

import numpy as np


def pluck(sample_rate: int, seconds: float, freq_hz: float = 110.0, seed: int = 0) -> np.ndarray:
    """A guitar-like plucked string (Karplus-Strong), float32 mono."""
    rng = np.random.default_rng(seed)
    n = int(sample_rate * seconds)
    period = max(2, int(round(sample_rate / freq_hz)))
    buf = rng.uniform(-1, 1, period)
    out = np.empty(n)
    for i in range(n):
        out[i] = buf[i % period]
        buf[i % period] = 0.996 * 0.5 * (buf[i % period] + buf[(i + 1) % period])
    return (0.5 * out / (np.abs(out).max() + 1e-9)).astype(np.float32)
