"""Test signals shared by several test files."""

from __future__ import annotations

import numpy as np

from stylepedal.effect.model.corpus import pluck as _pluck


def pluck(sample_rate: int, seconds: float, freq_hz: float = 110.0, seed: int = 0) -> np.ndarray:
    """A guitar-like plucked string, float32 mono, peak 0.5: the package's one guitar-signal
    generator (:func:`stylepedal.effect.model.corpus.pluck`)."""
    return _pluck(freq_hz, seconds, sample_rate, rng=np.random.default_rng(seed), velocity=0.5)
