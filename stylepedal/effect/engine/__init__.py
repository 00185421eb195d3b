"""The real-time engine: the low-delay STFT on a fixed analysis grid, phase, the frame-transform
slot and the :class:`StyleTransfer` effect. numpy, scipy and numba only: never torch."""

from __future__ import annotations

from .effect import StyleTransfer
from .stft import StftConfig, analyze, latency_samples
from .transforms import FrameTransform, IdentityTransform

__all__ = ["FrameTransform", "IdentityTransform", "StftConfig", "StyleTransfer", "analyze",
           "latency_samples"]
