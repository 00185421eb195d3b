"""Compiled (numba) kernels for the live path, where one frame arrives at a time.

One frame of the style network through BLAS costs a library call per layer and reads 1.2 MB of
float32 weights, more than a core's 1 MB L2 cache. Between two frames of a live stream the
caches go cold, and the weights come from memory at every frame: measured 290-320 us per frame
paced at 5.3 ms, against 55 us in a tight loop. :func:`net_frames` runs the whole network for a
few frames in one call and reads the weights as float16 (half the bytes), converting each one
exactly to float32 as it multiplies: the same weights, so the same network; only the order of
the float32 sums differs from BLAS (about 1e-6). Measured 103-122 us paced, 35 us hot.

The weights may also be float32 (a network whose weights float16 cannot hold exactly): the
kernel is compiled for each weight dtype.

numba comes with librosa; it is imported when the first transform is built, not with the
package.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

__all__ = [
    "all_finite",
    "as_half_bits",
    "band_magnitudes",
    "wet_gains",
    "net_frames",
    "gate_wet",
    "apply_gains",
    "overlap_add_tails",
    "scale_flush",
]

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
def gate_wet(
    mag: Any,
    wet: Any,
    level_scale: Any,
    floor_db: Any,
    range_db: Any,
    top: Any,
    max_ratio: Any,
    ratio: Any,
) -> None:  # pragma: no cover - compiled; tested against the numpy formulas
    """The gate and the high-band gain, per frame of ``(channels, frames, m)`` arrays.

    ``mag``: the input magnitude of the model band; ``wet``: the model's output magnitude there,
    overwritten with the wet magnitude: below the gate (frame peak ``* level_scale`` in dB under
    ``floor_db + range_db``) it blends towards the input's own. ``ratio`` ``(channels,
    frames)`` receives the gain for the bins above the band: the wet/input ratio of the band's
    top ``top`` bins, at most ``max_ratio``.
    """
    channels, n_frames, m = mag.shape
    for c in range(channels):
        for f in range(n_frames):
            x = mag[c, f]
            w = wet[c, f]
            peak = np.float32(0.0)
            for k in range(m):
                peak = max(peak, x[k])
            level_db = 20.0 * np.log10(max(peak * level_scale, 1e-30))
            gate = min(max((level_db - floor_db) / range_db, 0.0), 1.0)
            if gate < 1.0:
                g = np.float32(gate)
                for k in range(m):
                    w[k] = (w[k] - x[k]) * g + x[k]
            top_out = 0.0
            top_in = 0.0
            for k in range(m - top, m):
                top_out += w[k]
                top_in += x[k]
            ratio[c, f] = min((top_out + 1e-20) / (top_in + 1e-20), max_ratio)


@numba.njit(cache=True, nogil=True)
def apply_gains(
    spec: Any, mag: Any, wet: Any, ratio: Any
) -> None:  # pragma: no cover - compiled; tested against the numpy formulas
    """Turn the input spectrum ``spec`` ``(channels, frames, bins)`` into the wet one, in
    place: each of the first ``m`` bins gets the gain ``wet / mag`` (``(channels, frames, m)``),
    the bins above them the frame's ``ratio``."""
    channels, n_frames, n_bins = spec.shape
    m = mag.shape[2]
    for c in range(channels):
        for f in range(n_frames):
            x = mag[c, f]
            w = wet[c, f]
            s = spec[c, f].view(np.float32)  # re, im, re, im, ...: a real gain scales both
            for k in range(m):
                gain = w[k] / max(x[k], np.float32(1e-30))
                s[2 * k] *= gain
                s[2 * k + 1] *= gain
            r = ratio[c, f]
            for k in range(2 * m, 2 * n_bins):
                s[k] *= r


@numba.njit(cache=True, nogil=True)
def overlap_add_tails(
    frames: Any, window: Any, pending: Any, gain: Any, out: Any
) -> None:  # pragma: no cover - compiled; tested against stft.overlap_add
    """Overlap-add the last ``len(window)`` samples of each inverse-FFT frame, windowed.

    ``frames`` ``(channels, n, n_fft)``; ``pending`` ``(channels, overlap - 1, hop)`` partial
    sums carried across calls (updated in place); ``out`` ``(channels, n * hop)`` receives the
    finished samples divided by ``gain``.
    """
    channels, n_frames, n_fft = frames.shape
    hop = pending.shape[2]
    r = pending.shape[1] + 1
    start = n_fft - window.shape[0]
    for c in range(channels):
        p = pending[c]
        for f in range(n_frames):
            t = frames[c, f]
            o = out[c, f * hop : (f + 1) * hop]
            for i in range(hop):
                o[i] = (p[0, i] + t[start + i] * window[i]) / gain
            for j in range(r - 2):
                for i in range(hop):
                    p[j, i] = p[j + 1, i] + t[start + (j + 1) * hop + i] * window[(j + 1) * hop + i]
            for i in range(hop):
                p[r - 2, i] = t[start + (r - 1) * hop + i] * window[(r - 1) * hop + i]


@numba.njit(cache=True, nogil=True)
def scale_flush(x: Any, gain: Any, tiny: Any, out: Any) -> None:  # pragma: no cover - compiled
    """``out = x * gain`` (2-D float32, ``out`` may be ``x``), with every result smaller than
    ``tiny`` in magnitude set to 0: no subnormal leaves the effect."""
    for c in range(x.shape[0]):
        for i in range(x.shape[1]):
            v = x[c, i] * gain
            out[c, i] = v if abs(v) >= tiny else np.float32(0.0)


@numba.njit(cache=True, nogil=True)
def all_finite(x: Any) -> bool:  # pragma: no cover - compiled; tested against np.isfinite
    """True if no sample of the 2-D float32 ``x`` is NaN or infinite (stops at the first).

    One compiled call: in a live callback, where the caches are cold, ``np.isfinite(x).all()``
    (two numpy calls) took 14-42 us paced on a 128-sample block and this 5-9 us."""
    for c in range(x.shape[0]):
        for i in range(x.shape[1]):
            v = x[c, i]
            if not np.isfinite(v):
                return False
    return True


@numba.njit(cache=True, nogil=True)
def band_magnitudes(
    spec: Any, scale: Any, mag: Any, scaled: Any
) -> None:  # pragma: no cover - compiled; tested against the numpy formulas
    """``mag = |spec|`` on the first ``m`` bins (``mag`` is ``(channels, frames, m)``) and
    ``scaled = mag * scale``, in one pass over the spectrum: the model feature is then
    ``np.log1p(scaled)`` (numpy's vectorised log1p; numba's scalar one is 20x slower)."""
    channels, n_frames, m = mag.shape
    for c in range(channels):
        for f in range(n_frames):
            s = spec[c, f].view(np.float32)
            a = mag[c, f]
            b = scaled[c, f]
            for k in range(m):
                re, im = np.float64(s[2 * k]), np.float64(s[2 * k + 1])
                v = np.float32(np.sqrt(re * re + im * im))  # exact in float64, rounded once
                a[k] = v
                b[k] = v * scale


@numba.njit(cache=True, nogil=True)
def wet_gains(
    spec: Any,
    mag: Any,
    grown: Any,
    scale: Any,
    ceiling: Any,
    level_scale: Any,
    floor_db: Any,
    range_db: Any,
    top: Any,
    max_ratio: Any,
    ratio: Any,
) -> None:  # pragma: no cover - compiled; tested against the numpy formulas
    """The model's output as gains on the input spectrum, in place, per frame: ``grown`` is
    ``expm1`` of the model's log-magnitude output; clamped to ``[0, ceiling]`` and times
    ``scale`` it is the model's linear magnitude (as :func:`stft.from_logmag`, which clamps
    before ``expm1``: the same, ``expm1`` being monotonic), overwritten in place; then
    :func:`gate_wet` and :func:`apply_gains` (``ratio`` receives the high-band gains)."""
    channels, n_frames, m = mag.shape
    for c in range(channels):
        for f in range(n_frames):
            g = grown[c, f]
            for k in range(m):
                v = g[k]
                v = v if v > np.float32(0.0) else np.float32(0.0)  # NaN: 0
                g[k] = min(v, ceiling) * scale
    gate_wet(mag, grown, level_scale, floor_db, range_db, top, max_ratio, ratio)
    apply_gains(spec, mag, grown, ratio)
