"""The style network's compiled (numba) frame kernel for the live path.

One frame of the style network through BLAS costs a library call per layer and reads 1.2 MB of
float32 weights, more than a core's 1 MB L2 cache. Between two frames of a live stream the
caches go cold, and the weights come from memory at every frame (``benchmarks/live_frame.py``).
:func:`net_frames` runs the whole network for a few frames in one call and reads the weights as
float16 (half the bytes), converting each one exactly to float32 as it multiplies: the same
weights, so the same network; only the order of the float32 sums differs from BLAS.

The weights may also be float32 (a network whose weights float16 cannot hold exactly): the
kernel is compiled for each weight dtype.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

__all__ = ["as_half_bits", "level_scales", "net_frames"]

# float16 bits shifted into a float32 read 2**-112 times their value (the exponent bias differs
# by 127 - 15 = 112); multiplying the other factor by 2**112 first makes each product exact
_HALF_SCALE = np.float32(2.0**112)


def as_half_bits(weights: np.ndarray) -> np.ndarray | None:
    """The float16 bits of ``weights`` (uint16, C order) if float16 holds every weight exactly
    and finitely, else None."""
    with np.errstate(over="ignore"):
        half = weights.astype(np.float16)
    if not np.all(np.isfinite(half)) or not np.array_equal(half.astype(weights.dtype), weights):
        return None
    return np.ascontiguousarray(half.view(np.uint16))


@intrinsic
def _bits_as_float32(typingctx: Any, bits: Any) -> Any:
    sig = types.float32(types.uint32)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


def _weight(w):  # type: ignore[no-untyped-def]  # pragma: no cover - replaced by the overload in compiled code
    raise NotImplementedError


@overload(_weight, inline="always")
def _weight_impl(w):  # type: ignore[no-untyped-def]
    if isinstance(w, types.Integer):  # float16 bits: sign to bit 31, exponent and mantissa up

        def from_half(w):  # type: ignore[no-untyped-def]
            u = np.uint32(w)
            magnitude = (u & np.uint32(0x7FFF)) << np.uint32(13)
            sign = (u & np.uint32(0x8000)) << np.uint32(16)
            return _bits_as_float32(magnitude | sign)  # type: ignore[call-arg]

        return from_half
    if isinstance(w, types.Float):
        return lambda w: w
    return None


def _scale(w):  # type: ignore[no-untyped-def]  # pragma: no cover - replaced by the overload in compiled code
    raise NotImplementedError


@overload(_scale, inline="always")
def _scale_impl(w):  # type: ignore[no-untyped-def]
    if isinstance(w, types.Array) and isinstance(w.dtype, types.Integer):
        return lambda w: _HALF_SCALE
    return lambda w: np.float32(1.0)


@numba.njit(cache=True, nogil=True)
def _add_product(v: Any, w: Any, out: Any) -> None:
    """``out += v @ w`` for ``w`` of shape ``(len(v), len(out))``, one row of ``w`` at a time
    (the inner loop runs along ``out`` and vectorises)."""
    scale = _scale(w)
    m = out.shape[0]
    for i in range(v.shape[0]):
        s = v[i] * scale
        for j in range(m):
            out[j] += s * _weight(w[i, j])


@numba.njit(cache=True, nogil=True)
def net_frames(
    x: Any,
    w_in: Any,
    b_in: Any,
    w_conv: Any,
    b_conv: Any,
    dilations: Any,
    history: Any,
    w_out: Any,
    b_out: Any,
    leak: Any,
    gate: Any,
    y: Any,
) -> None:  # pragma: no cover - compiled; tested against the BLAS path
    """The style network on ``x`` ``(channels, frames, bins)`` into ``y`` (same shape).

    ``history`` ``(channels, sum((k - 1) * d), C)``: each layer's last inputs, oldest first,
    layer after layer; updated in place. Weights as in ``StyleNetTransform`` (``w_conv`` stacked
    ``(layers, k * C, C)``), float32 or float16 bits.
    """
    channels, n_frames, bins = x.shape
    width = b_in.shape[0]
    k = w_conv.shape[1] // width
    h = np.empty(width, np.float32)
    r = np.empty(width, np.float32)
    taps = np.empty(k * width, np.float32)
    o = np.empty(b_out.shape[0], np.float32)
    for c in range(channels):
        for f in range(n_frames):
            h[:] = b_in
            _add_product(x[c, f], w_in, h)
            start = 0
            for layer in range(w_conv.shape[0]):
                d = dilations[layer]
                n_hist = (k - 1) * d
                past = history[c, start : start + n_hist]
                for j in range(k - 1):
                    taps[j * width : (j + 1) * width] = past[j * d]
                taps[(k - 1) * width :] = h
                r[:] = b_conv[layer]
                _add_product(taps, w_conv[layer], r)
                for q in range(n_hist - 1):
                    past[q] = past[q + 1]
                past[n_hist - 1] = h
                for q in range(width):
                    v = r[q]
                    h[q] += max(v, leak * v)
                start += n_hist
            for q in range(width):
                v = h[q]
                h[q] = max(v, leak * v)
            o[:] = b_out
            _add_product(h, w_out, o)
            xf = x[c, f]
            yf = y[c, f]
            if gate:
                for q in range(bins):
                    yf[q] = max(xf[q] * (np.float32(1.0) + o[bins + q]) + o[q], np.float32(0.0))
            else:
                for q in range(bins):
                    yf[q] = max(xf[q] + o[q], np.float32(0.0))


@numba.njit(cache=True, nogil=True)
def level_scales(
    linear: Any, state: Any, decay: Any, out: Any
) -> None:  # pragma: no cover - compiled; tested against the formula
    """The network's input scale per frame of ``linear`` ``(channels, frames, bins)``: with
    ``p`` a frame's mean power and ``num``, ``den`` the decayed sums of ``p * p`` and ``p``
    carried in ``state`` ``(channels, 2)`` (updated), ``out = 1 / sqrt(num / den)``: the
    power-weighted mean power, so loud frames count more and pauses do not pull it down."""
    channels, n, bins = linear.shape
    for c in range(channels):
        num = state[c, 0]
        den = state[c, 1]
        for f in range(n):
            p = 0.0
            for k in range(bins):
                v = np.float64(linear[c, f, k])
                p += v * v
            p /= bins
            num = decay * num + p * p
            den = decay * den + p
            level = num / den if den > 0.0 else p
            out[c, f] = 1.0 / np.sqrt(max(level, 1e-20))
        state[c, 0] = num
        state[c, 1] = den
