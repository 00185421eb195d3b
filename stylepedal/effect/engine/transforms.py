"""The transform slot: what the engine calls once per hop on log-magnitude model frames."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .constants import MODEL_BINS

__all__ = ["FrameTransform", "IdentityTransform", "strided_transform"]


@runtime_checkable
class FrameTransform(Protocol):
    """A causal per-frame transform of log-magnitude model frames.

    ``__call__(frames, state)`` takes float32 ``(channels, n_frames, model_bins)`` and returns
    the same shape, values >= 0, updating ``state`` in place. Output frame ``t`` may depend on
    input frames ``<= t`` only, and calling it on ``frames[:, :a]`` then ``frames[:, a:]`` gives
    what one call on all frames gives.

    A transform may also offer ``linear(magnitudes, state)``: the same on linear magnitudes
    (``expm1`` of the frames) in and out. The engine then calls it instead where it blends
    nothing in the log domain (the live default), sparing a log/exp round trip a frame.
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


def strided_transform(
    run: Callable[[np.ndarray], np.ndarray], feats: np.ndarray, st: Any
) -> np.ndarray:
    """The model ``run`` at its own frame rate on an STFT that hops ``model_stride`` times as
    often (``st``: the engine's :class:`~stylepedal.effect.engine.state.EngineState`).

    Frame ``g`` of the stream (0-based) is a model frame when ``(g + 1) % stride == 0``, so
    model frames end on the same samples as in ``"default"`` mode. Every other frame gets
    the log-domain change the model made to the latest model frame before it.
    """
    stride = st.config.model_stride
    n = feats.shape[1]
    first = (stride - 1 - st.frame_phase) % stride
    idx = np.arange(first, n, stride)
    st.frame_phase = (st.frame_phase + n) % stride
    assert st.last_delta is not None
    deltas = np.empty((feats.shape[0], idx.size + 1, feats.shape[2]), dtype=np.float32)
    deltas[:, 0] = st.last_delta
    y = None
    if idx.size:
        x = np.ascontiguousarray(feats[:, idx])
        y = run(x)
        np.subtract(y, x, out=deltas[:, 1:])
    src = np.searchsorted(idx, np.arange(n), side="right")
    out = feats + deltas[:, src]
    if y is not None:
        out[:, idx] = y
    st.last_delta = deltas[:, -1].copy()
    return out
