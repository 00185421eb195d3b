"""The transform slot: what the engine calls once per hop on log-magnitude model frames."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from .constants import MODEL_BINS

__all__ = ["FrameTransform", "IdentityTransform"]


@runtime_checkable
class FrameTransform(Protocol):
    """A causal per-frame transform of log-magnitude model frames.

    ``__call__(frames, state)`` takes float32 ``(channels, n_frames, model_bins)`` and returns
    the same shape, values >= 0, updating ``state`` in place. Output frame ``t`` may depend on
    input frames ``<= t`` only, and calling it on ``frames[:, :a]`` then ``frames[:, a:]`` gives
    what one call on all frames gives.
    """

    model_bins: int

    def new_state(self, channels: int) -> Any: ...

    def __call__(self, frames: np.ndarray, state: Any) -> np.ndarray: ...


class IdentityTransform:
    """Returns its input: the engine then reconstructs the input exactly (delayed).

    Examples
    --------
    >>> t = IdentityTransform()
    >>> x = np.ones((1, 3, t.model_bins), dtype=np.float32)
    >>> bool((t(x, t.new_state(1)) == x).all())
    True
    """

    model_bins = MODEL_BINS

    def new_state(self, channels: int) -> None:
        return None

    def __call__(self, frames: np.ndarray, state: Any) -> np.ndarray:
        return frames
