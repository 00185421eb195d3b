"""A render's Gram fit: the static EQ that brings the coloured input closer to the style's Gram.

A render knows its whole input, so beyond the hindsight colour (the EQ-match's gain law, a
power spectrum matched bin by bin) it can ask what the style *is* in the seeds' sense: the Gram
matrix of random convolution features of ``log1p|STFT|``. :func:`fit_log_gain` finds the
per-bin gain (bounded, and pulled toward none) that brings the coloured input's Gram closest to
the style's under :data:`FIT_BANKS`, then keeps a share of it, the largest up to
:data:`FIT_AMOUNT` that keeps the input's chroma (:data:`FIT_CHROMA_KEEP`): the seeds'
optimisation with the spectrogram held to a static filter of the input, which keeps *when*
notes start and *which* notes sound. The style's Grams are computed when a model is trained
(:func:`style_grams`) and travel in its file; the render's input is the sample of sharp frames
its profile learnt (:class:`~stylepedal.effect.engine.longterm.FrameSample`), coloured by the
hindsight gain.

The banks share nothing with the independent judge (:mod:`stylepedal.effect.research.judge`):
seeds outside its ranges, widths it does not use. Their weights come from
:func:`stylepedal._random.random_weights`, so a model's stored Grams match the banks a later
version draws. ``benchmarks/texture.py`` chose :data:`FIT_AMOUNT` and :data:`FIT_CHROMA_KEEP`
on validation material.

Examples
--------
>>> sr = 22050
>>> t = np.arange(3 * sr) / sr
>>> style = (0.2 * np.sign(np.sin(2 * np.pi * 330 * t))).astype(np.float32)
>>> grams = style_grams([style])
>>> grams.shape
(3, 128, 128)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from ..._random import random_weights
from ..._validate import check_range
from ...errors import ParameterError
from ..engine.constants import GRID_HZ, MODEL_BINS, SEEDS_ACTIVE_DB, SEEDS_RMS

__all__ = [
    "FIT_AMOUNT", "FIT_BANKS", "FIT_BOUND_DB", "FIT_CHROMA_KEEP", "FIT_ITERATIONS",
    "FIT_REGULARISATION", "bank_taps", "chroma_keep", "fit_log_gain", "gram_distance",
    "style_grams",
]

# (seed, width in frames, filters) of the fit's random banks: seeds apart from the judge's
# ranges and below none of its own, widths the judge does not use.
FIT_BANKS: tuple[tuple[int, int, int], ...] = ((3_000_001, 4, 128), (3_000_002, 9, 128),
                                               (3_000_003, 17, 128))
# The fitted gain's bound: the hindsight colour has already matched the long-term power.
FIT_BOUND_DB = 12.0
# Weight of the mean squared gain (natural log) beside the Gram distance: small gains first.
FIT_REGULARISATION = 1.0
FIT_ITERATIONS = 12
# The most of the fitted gain a render applies, and the least mean chroma correlation (per
# frame, before and after the gain) of the input's own sharp frames it keeps: the largest share
# up to FIT_AMOUNT that keeps FIT_CHROMA_KEEP is applied. The full fit moves far past the
# EQ-match toward the style and costs notes on styles whose range is far from the guitar's; the
# chroma rule goes further where the notes survive it. 0 applies FIT_AMOUNT always.
FIT_AMOUNT = 0.45
FIT_CHROMA_KEEP = 0.995
# Shares tried, as fractions of ``amount``, largest first.
_SHARE_STEPS = np.linspace(1.0, 0.0, 9)
# The seeds' level as energy per frame: a Hann frame of a signal at RMS r sums to
# r^2 * 3/4 * 1024^2 over the bins at the seeds' scale.
_TARGET_ENERGY = SEEDS_RMS**2 * 0.75 * 1024.0**2


Taps = tuple[tuple[np.ndarray, ...], ...]


def bank_taps(banks: Sequence[tuple[int, int, int]]) -> Taps:
    """Random banks ``(seed, width, filters)`` as one ``(MODEL_BINS, filters)`` matrix per tap
    (oldest first), He-initialised."""
    out = []
    for seed, width, filters in banks:
        w = random_weights(seed, (filters, MODEL_BINS, width), MODEL_BINS * width)
        out.append(tuple(np.ascontiguousarray(w[:, :, k].T) for k in range(width)))
    return tuple(out)


@functools.cache
def _fit_taps() -> Taps:
    return bank_taps(FIT_BANKS)


def _pieces(power: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Checked ``(frames, MODEL_BINS)`` power pieces long enough for the widest bank."""
    widest = max(width for _, width, _ in FIT_BANKS)
    out = []
    for p in power:
        p = np.asarray(p, dtype=np.float32)
        if p.ndim != 2 or p.shape[1] != MODEL_BINS or not np.all(np.isfinite(p)):
            raise ParameterError(
                f"frame powers of shape {p.shape} must be finite (frames, {MODEL_BINS})")
        if p.shape[0] >= widest:
            out.append(np.maximum(p, 0.0))
    return out


def _active(pieces: list[np.ndarray]) -> list[np.ndarray]:
    """Each piece's frames within 40 dB of the loudest: the frames that set the level."""
    top = max(float(p.sum(axis=1).max()) for p in pieces)
    return [p.sum(axis=1) >= top * 10.0 ** (-SEEDS_ACTIVE_DB / 10.0) for p in pieces]


class _Features:
    """The banks' features of frame powers through a log gain, at the seeds' level, with what
    the Gram distance's gradient needs."""

    def __init__(self, pieces: list[np.ndarray], active: list[np.ndarray],
                 log_gain: np.ndarray, taps: Taps | None = None) -> None:
        self.taps = _fit_taps() if taps is None else taps
        gain = np.exp(log_gain).astype(np.float32)
        # the level's share of each bin among the active frames, and the level itself
        per_bin = sum(p[a].sum(axis=0, dtype=np.float64)
                      for p, a in zip(pieces, active, strict=True))
        self.share = per_bin * gain.astype(np.float64) ** 2
        energy = max(float(self.share.sum()), 1e-30)
        self.share /= energy
        frames = sum(int(a.sum()) for a in active)
        scale = np.float32(np.sqrt(_TARGET_ENERGY * frames / energy))
        self.z = [np.sqrt(p) * (scale * gain) for p in pieces]  # magnitudes, as the seeds'
        self.x = [np.log1p(z) for z in self.z]
        self.h = [[_conv(x, taps) for taps in self.taps] for x in self.x]
        self.n = [sum(h[b].shape[0] for h in self.h) for b in range(len(self.taps))]

    def grams(self) -> list[np.ndarray]:
        out = []
        for b, n in enumerate(self.n):
            g = sum(_relu_gram(h[b]) for h in self.h)
            out.append(g / n)
        return out

    def gradient(self, d_grams: list[np.ndarray]) -> np.ndarray:
        """d(loss)/d(log gain) from d(loss)/d(Gram) per bank (symmetric matrices)."""
        direct = np.zeros(MODEL_BINS)
        for x, z, hs in zip(self.x, self.z, self.h, strict=True):
            dx = np.zeros_like(x)
            for b, (h, taps) in enumerate(zip(hs, self.taps, strict=True)):
                dh = np.maximum(h, 0.0) @ ((2.0 / self.n[b]) * d_grams[b]).astype(np.float32)
                dh *= h > 0
                for k, tap in enumerate(taps):
                    dx[k : k + h.shape[0]] += dh @ tap.T
            direct += (dx / (1.0 + z) * z).sum(axis=0, dtype=np.float64)
        # the level follows the gain: each bin's share of it pulls the other way
        return direct - direct.sum() * self.share


def _conv(x: np.ndarray, taps: tuple[np.ndarray, ...]) -> np.ndarray:
    """``(frames - width + 1, filters)`` pre-activations of ``x`` ``(frames, bins)``."""
    n = x.shape[0] - len(taps) + 1
    h = x[:n] @ taps[0]
    for k in range(1, len(taps)):
        h += x[k : k + n] @ taps[k]
    return h


def _relu_gram(h: np.ndarray) -> np.ndarray:
    f = np.maximum(h, 0.0)
    return (f.T @ f).astype(np.float64)


def _distance(features: _Features, target: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """The mean over banks of ``||G - G_style||^2 / ||G_style||^2``, and its gradient in G."""
    grams = features.grams()
    k = len(grams)
    loss, d_grams = 0.0, []
    for g, s in zip(grams, target, strict=True):
        norm = max(float(np.sum(s.astype(np.float64) ** 2)), 1e-30)
        diff = g - s
        loss += float(np.sum(diff**2)) / norm / k
        d_grams.append(2.0 * diff / norm / k)
    return loss, d_grams


def style_grams(clips: Sequence[np.ndarray], *, taps: Taps | None = None) -> np.ndarray:
    """The style's Gram under each of :data:`FIT_BANKS` (``(banks, filters, filters)``
    float32; with ``taps``, under those banks), every clip (mono, 22050 Hz) at the seeds'
    level, their frames pooled.

    Raises
    ------
    ParameterError
        if no clip is long enough for the widest bank.
    """
    pieces = _pieces(_frame_powers(clips))
    if not pieces:
        raise ParameterError(
            f"style clips of {[np.size(c) for c in clips]} samples are too short for the "
            "Gram fit's widest bank: pass longer clips")
    # each clip at its own level, as the judge levels each of a style's clips
    sums: list[np.ndarray] = []
    frames: list[int] = []
    for p, a in zip(pieces, _active(pieces), strict=True):
        features = _Features([p], [a], np.zeros(MODEL_BINS), taps)
        for b, g in enumerate(features.grams()):
            if b == len(sums):
                sums.append(np.zeros_like(g))
                frames.append(0)
            sums[b] += g * features.n[b]
            frames[b] += features.n[b]
    return np.stack([s / n for s, n in zip(sums, frames, strict=True)]).astype(np.float32)


def gram_distance(power: Sequence[np.ndarray], grams: np.ndarray,
                  log_gain: np.ndarray | None = None, *, taps: Taps | None = None) -> float:
    """The mean over banks of ``||G - G_style||^2 / ||G_style||^2`` of the frame powers
    ``power`` through ``log_gain`` (none by default): what :func:`fit_log_gain` lowers; with
    ``taps`` (:func:`bank_taps`), under other banks (``grams``: the style's under them)."""
    pieces = _pieces(power)
    g = np.zeros(MODEL_BINS) if log_gain is None else np.asarray(log_gain, dtype=np.float64)
    target = _checked(grams) if taps is None else np.asarray(grams, dtype=np.float32)
    return _distance(_Features(pieces, _active(pieces), g, taps), target)[0]


def _frame_powers(clips: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Mono 22050 Hz clips' sharp frames' power at the seeds' scale, one piece a clip."""
    from ..engine.longterm import clip_sharp_power, seeds_scale
    from ..engine.stft import StftConfig
    from .train import TRAIN_SAMPLE_RATE

    scale = seeds_scale(StftConfig.for_rate(TRAIN_SAMPLE_RATE))
    return [clip_sharp_power(clip, TRAIN_SAMPLE_RATE) * scale for clip in clips]


def _checked(grams: np.ndarray) -> np.ndarray:
    grams = np.asarray(grams, dtype=np.float32)
    expected = (len(FIT_BANKS), *(2 * (FIT_BANKS[0][2],)))
    if grams.shape != expected or not np.all(np.isfinite(grams)):
        raise ParameterError(f"grams of shape {grams.shape} must be finite {expected}")
    return grams


def fit_log_gain(
    power: Sequence[np.ndarray], grams: np.ndarray, *, amount: float = FIT_AMOUNT,
    keep: float = FIT_CHROMA_KEEP,
) -> np.ndarray:
    """The per-bin gain (natural log, ``(MODEL_BINS,)`` float64) a render applies on top of
    its colour: ``amount`` (:data:`FIT_AMOUNT`) of the gain within +-:data:`FIT_BOUND_DB`
    that minimises :func:`gram_distance` to ``grams`` plus :data:`FIT_REGULARISATION` times
    its mean square (L-BFGS-B). ``power``: pieces of consecutive sharp frames' power
    ``(frames, MODEL_BINS)`` at the seeds' scale, already coloured; zeros if none is long
    enough or all are silent. With ``keep`` (:data:`FIT_CHROMA_KEEP`) above 0, the share is
    the largest step toward ``amount`` whose gain keeps that much of the input's chroma
    (:func:`chroma_keep`), none if no step does."""
    from scipy.optimize import minimize

    amount = check_range(amount, "amount", 0.0, 1.0)
    keep = check_range(keep, "keep", 0.0, 1.0)
    pieces = _pieces(power)
    target = _checked(grams)
    if amount == 0.0 or not pieces or max(float(p.max()) for p in pieces) <= 0.0:
        return np.zeros(MODEL_BINS)
    active = _active(pieces)

    def loss(g: np.ndarray) -> tuple[float, np.ndarray]:
        features = _Features(pieces, active, g)
        value, d_grams = _distance(features, target)
        grad = features.gradient(d_grams)
        value += FIT_REGULARISATION * float(np.mean(g**2))
        grad = grad + 2.0 * FIT_REGULARISATION * g / MODEL_BINS
        # per bin, not per spectrum: the quasi-Newton steps start at the gains' own scale
        return MODEL_BINS * value, MODEL_BINS * grad

    bound = FIT_BOUND_DB / 20.0 * math.log(10.0)
    result = minimize(loss, np.zeros(MODEL_BINS), jac=True, method="L-BFGS-B",
                      bounds=[(-bound, bound)] * MODEL_BINS,
                      # a fixed budget: the distance's gradients are far below scipy's tolerances
                      options={"maxiter": FIT_ITERATIONS, "maxfun": FIT_ITERATIONS,
                               "gtol": 0.0, "ftol": 0.0})
    full = np.asarray(result.x, dtype=np.float64)
    for step in _SHARE_STEPS:
        if keep == 0.0 or step == 0.0 or chroma_keep(pieces, active, amount * step * full) >= keep:
            break
    return amount * step * full


@functools.cache
def _pitch_classes() -> np.ndarray:
    """Each model bin's pitch class (0 = C, by its centre frequency), or -1 outside the notes'
    band (55 Hz to 5 kHz): a hard-edged chroma map, as librosa's filter bank without its
    import cost."""
    hz = np.arange(MODEL_BINS) * GRID_HZ
    classes = np.full(MODEL_BINS, -1)
    band = (hz >= 55.0) & (hz <= 5000.0)
    classes[band] = np.round(12.0 * np.log2(hz[band] / 440.0) + 9.0).astype(int) % 12
    return classes


@functools.cache
def _chroma_map() -> tuple[np.ndarray, np.ndarray]:
    """The bins in the notes' band, and their pitch classes as a ``(bins, 12)`` 0/1 matrix."""
    classes = _pitch_classes()
    band = classes >= 0
    onehot = np.zeros((int(band.sum()), 12))
    onehot[np.arange(onehot.shape[0]), classes[band]] = 1.0
    return band, onehot


def chroma_keep(power: Sequence[np.ndarray], active: Sequence[np.ndarray],
                log_gain: np.ndarray) -> float:
    """The mean Pearson correlation between each active frame's chroma (of ``power``'s
    magnitudes) and its chroma through ``log_gain``: 1 for a gain that keeps every frame's
    balance of pitch classes (any flat gain)."""
    band, onehot = _chroma_map()
    gain = np.exp(log_gain[band])
    total, frames = 0.0, 0
    for p, a in zip(power, active, strict=True):
        m = np.sqrt(p[a][:, band])
        if m.shape[0] == 0:
            continue
        before, after = m @ onehot, (m * gain) @ onehot
        before -= before.mean(axis=1, keepdims=True)
        after -= after.mean(axis=1, keepdims=True)
        norms = np.linalg.norm(before, axis=1) * np.linalg.norm(after, axis=1)
        r = np.where(norms > 0, (before * after).sum(axis=1) / np.maximum(norms, 1e-30), 1.0)
        total += float(r.sum())
        frames += r.size
    return total / frames if frames else 1.0
