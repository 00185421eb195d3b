"""stylepedal.effect: the streaming spectral engine, phase, Gram features and the style model."""

from __future__ import annotations

from .engine.effect import StyleTransfer
from .engine.stft import StftConfig, analyze, latency_samples
from .engine.transforms import FrameTransform, GainTransform, IdentityTransform

__all__ = [
    "FrameTransform",
    "GainTransform",
    "IdentityTransform",
    "StftConfig",
    "StyleTransfer",
    "analyze",
    "latency_samples",
]
