"""stylepedal.effect: the effect and what makes it.

- :mod:`~stylepedal.effect.engine`: the real-time engine and the :class:`StyleTransfer` effect
  (never imports torch);
- :mod:`~stylepedal.effect.model`: Gram features, the style network, its torch-free streaming
  inference, the corpus and training;
- :mod:`~stylepedal.effect.research`: the seeds' per-input optimiser, representations,
  reconstruction and metrics (used by the CLI and the benchmarks, never by the engine or host).
"""

from __future__ import annotations

from .engine import (
    FrameTransform,
    IdentityTransform,
    StftConfig,
    StyleTransfer,
    analyze,
    latency_samples,
)

__all__ = [
    "FrameTransform",
    "IdentityTransform",
    "StftConfig",
    "StyleTransfer",
    "analyze",
    "latency_samples",
]
