"""Helpers shared by several test modules."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from stylepedal.effect.engine.constants import MODEL_BINS


def make_preset(name: str, seed: int, program: int | None = None) -> str:
    """Save a real user preset in the current store (``STYLEPEDAL_HOME``): a small StyleNet,
    nudged off the identity so that it audibly changes the sound. Returns ``name``."""
    import torch

    from stylepedal.effect.model.network import StyleNet
    from stylepedal.presets.cache import cache_key
    from stylepedal.presets.format import Preset
    from stylepedal.presets.store import Store

    torch.manual_seed(seed)
    net = StyleNet(channels=8, dilations=(1, 2))
    with torch.no_grad():
        net.out.weight.normal_(0.0, 0.01)
    key = cache_key([(np.full(64, seed, np.float32), 22050)], {"test-preset": name})
    preset = Preset(name=name, model_key=key, midi_program=program)
    Store().save(preset, net.to_safetensors(), {"network": net.to_config()})
    return name


class GainTransform:
    """Scales the linear magnitude of every model bin by ``gain_db`` (a memoryless test transform).

    In the log1p domain: ``log1p(g * expm1(x))``.
    """

    model_bins = MODEL_BINS

    def __init__(self, gain_db: float) -> None:
        self.gain = float(10.0 ** (gain_db / 20.0))

    def new_state(self, channels: int) -> None:
        return None

    def __call__(self, frames: np.ndarray, state: Any) -> np.ndarray:
        return np.log1p(self.gain * np.expm1(frames)).astype(np.float32)


def benchmark_help(script: str) -> str:
    """The ``--help`` text of ``benchmarks/<script>``, run as a user runs it (asserts exit 0)."""
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, str(root / "benchmarks" / script), "--help"],
        capture_output=True, text=True, timeout=120, cwd=root,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class BlockingTransform:
    """A transform that waits inside the model until released: a call that is surely running."""

    model_bins = MODEL_BINS

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def new_state(self, channels: int) -> None:
        return None

    def __call__(self, frames: np.ndarray, state: None) -> np.ndarray:
        self.entered.set()
        assert self.release.wait(30)
        return frames
