"""Compiled (numba) kernels of the engine's live path, where one frame arrives at a time.

Between two frames of a live stream the caches go cold, and every numpy or Python-level call
costs tens of microseconds (``benchmarks/live_frame.py``): so each step of a frame that would be
several numpy calls is one loop here. numba comes with librosa; it is imported when the first
effect is built, not with the package, and compiles each kernel once per machine (cached).
"""

from __future__ import annotations

import functools
from typing import Any

import numba
import numpy as np

from .constants import (
    CEILING,
    GATE_DEFAULT_DB,
    GATE_RANGE_DB,
    MAX_HIGH_GAIN,
    MODEL_BINS,
    TINY32,
    TOP_BAND,
)

__all__ = [
    "all_finite",
    "colour_mac",
    "colour_out",
    "colour_stats",
    "apply_gains",
    "band_magnitudes",
    "gate_wet",
    "overlap_add_tails",
    "scale_flush",
    "wet_gains",
    "wet_magnitudes",
    "ready",
]


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
    """True if no sample of the 2-D float32 ``x`` is NaN or infinite (stops at the first):
    one compiled call where ``np.isfinite(x).all()`` is two cold-cache numpy calls."""
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
def wet_magnitudes(
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
    """The wet magnitude of the model band, in place, per frame: ``grown`` is ``expm1`` of the
    model's log-magnitude output; clamped to ``[0, ceiling]`` and times ``scale`` it is the
    model's linear magnitude (as :func:`stft.from_logmag`, which clamps before ``expm1``: the
    same, ``expm1`` being monotonic); then :func:`gate_wet` (``ratio`` receives the high-band
    gains). Both phase modes take their wet magnitude from here."""
    channels, n_frames, m = mag.shape
    for c in range(channels):
        for f in range(n_frames):
            g = grown[c, f]
            for k in range(m):
                v = g[k]
                v = v if v > np.float32(0.0) else np.float32(0.0)  # NaN: 0
                g[k] = min(v, ceiling) * scale
    gate_wet(mag, grown, level_scale, floor_db, range_db, top, max_ratio, ratio)


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
    """:func:`wet_magnitudes`, then :func:`apply_gains` on ``spec``: the input-phase frame's
    whole wet spectrum in one call."""
    wet_magnitudes(mag, grown, scale, ceiling, level_scale, floor_db, range_db, top, max_ratio,
                   ratio)
    apply_gains(spec, mag, grown, ratio)


@numba.njit(cache=True, nogil=True)
def colour_mac(
    spec: Any, fdl: Any, slot: Any, parts: Any, acc: Any
) -> None:  # pragma: no cover - compiled; tested against the numpy convolution
    """One block of a uniformly partitioned convolution: ``spec`` ``(channels, K)`` (the
    spectrum of the last two input blocks) goes into slot ``slot`` of the frequency-domain
    delay line ``fdl`` ``(channels, P, K)``; ``acc`` ``(channels, K)`` receives the sum over
    partitions ``p`` of ``fdl[slot - p] * parts[p]``."""
    channels, n_parts, bins = fdl.shape
    for c in range(channels):
        fdl[c, slot] = spec[c]
        for k in range(bins):
            acc[c, k] = 0
        for p in range(n_parts):
            s = (slot - p) % n_parts
            for k in range(bins):
                acc[c, k] += fdl[c, s, k] * parts[c, p, k]


@numba.njit(cache=True, nogil=True)
def colour_out(
    filtered: Any, x: Any, gate: Any, active: Any, out: Any
) -> None:  # pragma: no cover - compiled; tested through the colour stage
    """The coloured block: the second half of ``filtered`` ``(channels, 2B)`` where the input
    is active, the input ``x`` ``(channels, B)`` where not, the weight gliding across the block
    from ``gate`` (the last block's, updated) to ``active``."""
    channels, block = x.shape
    for c in range(channels):
        start = gate[c]
        step = (active[c] - start) / block
        for i in range(block):
            w = start + step * (i + 1)
            v = x[c, i]
            out[c, i] = v + w * (filtered[c, block + i] - v)
        gate[c] = active[c]


@numba.njit(cache=True, nogil=True)
def colour_stats(
    spec: Any,
    level_scale: Any,
    floor_db: Any,
    decay: Any,
    power: Any,
    weight: Any,
    active: Any,
) -> None:  # pragma: no cover - compiled; tested against the numpy formulas
    """Frames ``spec`` ``(channels, n, bins)`` of the input into its long-term spectrum:
    each frame's activity (0 with its peak below ``floor_db`` dBFS, 1 from 20 dB above; into
    ``active`` ``(channels, n)``), then ``power = decay * power + activity * |spec|^2`` on the
    first ``power.shape[1]`` bins and ``weight = decay * weight + activity``."""
    channels, n, _ = spec.shape
    m = power.shape[1]
    for c in range(channels):
        for f in range(n):
            s = spec[c, f].view(np.float32)
            peak = 0.0
            for k in range(m):
                re, im = np.float64(s[2 * k]), np.float64(s[2 * k + 1])
                peak = max(peak, re * re + im * im)
            level_db = 10.0 * np.log10(max(peak * level_scale * level_scale, 1e-60))
            a = min(max((level_db - floor_db) / 20.0, 0.0), 1.0)
            active[c, f] = a
            for k in range(m):
                re, im = np.float64(s[2 * k]), np.float64(s[2 * k + 1])
                power[c, k] = decay * power[c, k] + a * (re * re + im * im)
            weight[c] = decay * weight[c] + a


@functools.cache
def ready() -> Any:
    """This module, every kernel called once with the argument types the effect passes, so
    that numba compiles them (or loads them from its cache) when the first effect is built,
    not in the first block of a live stream. Later calls return at once."""
    import sys

    from ._jit import notice_if_compiling
    from .stft import StftConfig

    kernels = sys.modules[__name__]
    notice_if_compiling(getattr(kernels, name) for name in __all__ if name != "ready")

    config = StftConfig.for_rate(48000)
    mag = np.zeros((1, 1, MODEL_BINS), dtype=np.float32)
    ratio = np.ones((1, 1), dtype=np.float32)
    spec = np.zeros((1, 1, config.n_bins), dtype=np.complex64)
    kernels.band_magnitudes(spec, np.float32(1.0), mag, mag.copy())
    args = (
        mag, mag.copy(), np.float32(1.0), CEILING, np.float32(1.0),
        GATE_DEFAULT_DB - GATE_RANGE_DB, GATE_RANGE_DB, TOP_BAND, MAX_HIGH_GAIN, ratio,
    )  # fmt: skip
    kernels.wet_gains(spec, *args)
    kernels.wet_magnitudes(*args)
    block = np.zeros((2, config.hop_length), dtype=np.float32)
    kernels.all_finite(block)
    for wet in (block, block[:, 1:]):  # contiguous, and a view of a stereo queue
        kernels.scale_flush(wet, np.float32(1.0), TINY32, np.empty_like(wet))
    parts = np.zeros((1, 2, config.hop_length + 1), dtype=np.complex64)
    acc = np.empty((1, config.hop_length + 1), dtype=np.complex64)
    kernels.colour_mac(acc, parts.copy(), 0, parts, acc)
    gate = np.zeros(1, dtype=np.float32)
    filtered = np.zeros((1, 2 * config.hop_length), dtype=np.float32)
    kernels.colour_out(filtered, block[:1], gate, gate.copy(), np.empty_like(block[:1]))
    kernels.colour_out(filtered, block[:1, 1:], gate, gate.copy(), np.empty_like(block[:1, 1:]))
    kernels.colour_stats(
        spec, np.float32(1.0), -90.0, 0.99, np.zeros((1, MODEL_BINS)), np.zeros(1),
        np.empty((1, 1), dtype=np.float32),
    )  # fmt: skip
    kernels.overlap_add_tails(
        np.zeros((1, 1, config.n_fft), dtype=np.float32), config.synthesis_window32,
        np.zeros((1, config.overlap - 1, config.hop_length), dtype=np.float32),
        config.ola_gain, np.empty((1, config.hop_length), dtype=np.float32),
    )  # fmt: skip
    return kernels
