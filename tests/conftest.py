"""Shared fixtures: seeded random generators and test signals (librosa tests/conftest style)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261121)


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path_factory, monkeypatch):
    """Every test gets its own STYLEPEDAL_HOME, so no test touches the user's store."""
    home = tmp_path_factory.mktemp("stylepedal-home")
    monkeypatch.setenv("STYLEPEDAL_HOME", str(home))
    yield home


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
