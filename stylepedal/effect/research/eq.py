"""The static EQ-match baseline: the yardstick a style preset must beat.

A style model that moves guitar toward a style no further than one fixed equaliser does has
learned nothing a graphic EQ could not do. :func:`eq_match` is that equaliser, fitted with
hindsight to the whole content and the whole style: per STFT bin the gain
``sqrt(style LTAS / content LTAS)`` (long-term average power spectra; the gain law of
:func:`~stylepedal.effect.engine.longterm.match_log_gain`, which a render's hindsight colour
shares), applied by STFT / ISTFT,
the output at the content's RMS. With ``smoothing_octaves=0`` (per-bin gains) it is the most
stylised static filter, which also imprints the style's own pitches on the content; with a
third of an octave it is what a graphic EQ pedal can do (:data:`GRAPHIC_OCTAVES`).

``stylepedal eval`` reports it beside the output it judges, and ``benchmarks/quality.py``
counts the eval pairs where a preset is at least as stylised as it.

Examples
--------
>>> import numpy as np
>>> sr = 22050
>>> t = np.arange(sr) / sr
>>> content = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
>>> style = (0.1 * np.sign(np.sin(2 * np.pi * 330 * t))).astype(np.float32)
>>> y = eq_match(content, style, sr)
>>> y.shape == content.shape, bool(np.isclose(np.std(y), np.std(content), rtol=1e-3))
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..._validate import check_audible, check_range, check_sample_rate
from ...errors import ParameterError
from ..engine.longterm import EQ_FLOOR_DB, match_log_gain

__all__ = ["EQ_FLOOR_DB", "GRAPHIC_OCTAVES", "HOP_LENGTH", "N_FFT", "eq_match"]

N_FFT = 2048
HOP_LENGTH = 512
# A graphic EQ pedal's resolution: both spectra smoothed over a third of an octave.
GRAPHIC_OCTAVES = 1.0 / 3.0


def _smooth_octaves(power: np.ndarray, freqs: np.ndarray, octaves: float) -> np.ndarray:
    """Mean of ``power`` over ``[f 2^(-octaves/2), f 2^(octaves/2)]`` around every bin."""
    if octaves <= 0:
        return power
    cum = np.concatenate([[0.0], np.cumsum(power)])
    step = freqs[1] - freqs[0]
    lo = np.floor(freqs * 2.0 ** (-octaves / 2) / step).astype(int)
    hi = np.ceil(freqs * 2.0 ** (octaves / 2) / step).astype(int) + 1
    lo = np.clip(lo, 0, power.size - 1)
    hi = np.clip(np.maximum(hi, lo + 1), 1, power.size)
    return (cum[hi] - cum[lo]) / (hi - lo)


def eq_match(
    content: np.ndarray,
    style: np.ndarray | Sequence[np.ndarray],
    sample_rate: int,
    *,
    style_rate: int | None = None,
    smoothing_octaves: float = 0.0,
) -> np.ndarray:
    """The content through a static EQ that gives it the style's long-term average spectrum.

    Parameters
    ----------
    content : np.ndarray
        Mono float audio at ``sample_rate``.
    style : np.ndarray or sequence of np.ndarray
        Mono float audio at ``style_rate``; several clips define one style (their STFT frames
        are pooled into one long-term spectrum).
    sample_rate : int
        Rate of the content and of the output, in Hz.
    style_rate : int, optional
        Rate of the style, resampled to ``sample_rate`` if it differs (default
        ``sample_rate``).
    smoothing_octaves : float
        Smoothing of both long-term spectra across frequency before the gain is taken, in
        octaves (0: per-bin gains; :data:`GRAPHIC_OCTAVES`: a graphic EQ), in [0, 4].

    Returns
    -------
    np.ndarray
        float32, as long as ``content``, with the content's RMS (the EQ's overall gain is
        arbitrary: the judge and a player's volume knob are blind to it).

    Raises
    ------
    ParameterError
        for audio that is not mono float, not finite or silent, or a bad setting.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal(22050).astype(np.float32) * 0.1
    >>> eq_match(x, [x[:8000], x[8000:]], 22050, smoothing_octaves=GRAPHIC_OCTAVES).dtype
    dtype('float32')
    """
    import librosa

    from .represent import mono_audio

    sample_rate = check_sample_rate(sample_rate)
    if style_rate is None:
        style_rate = sample_rate
    style_rate = check_sample_rate(style_rate, name="style_rate")
    octaves = check_range(smoothing_octaves, "smoothing_octaves", 0.0, 4.0)
    x = mono_audio(content, name="content").astype(np.float64)
    check_audible(x, "content")
    clips = [style] if isinstance(style, np.ndarray) else list(style)
    if not clips:
        raise ParameterError("style=[] is not allowed: pass at least one style clip")
    frames = []
    for i, clip in enumerate(clips):
        name = "style" if len(clips) == 1 else f"style[{i}]"
        s = mono_audio(clip, name=name).astype(np.float64)
        check_audible(s, name)
        if style_rate != sample_rate:
            s = librosa.resample(s, orig_sr=style_rate, target_sr=sample_rate)
        frames.append(np.abs(librosa.stft(s, n_fft=N_FFT, hop_length=HOP_LENGTH)) ** 2)
    style_power = np.concatenate(frames, axis=1).mean(axis=1)
    spec = librosa.stft(x, n_fft=N_FFT, hop_length=HOP_LENGTH)
    content_power = np.mean(np.abs(spec) ** 2, axis=1)
    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=N_FFT)
    style_power = _smooth_octaves(style_power, freqs, octaves)
    content_power = _smooth_octaves(content_power, freqs, octaves)
    gain = np.exp(match_log_gain(style_power, content_power, EQ_FLOOR_DB))
    y = librosa.istft(spec * gain[:, None], hop_length=HOP_LENGTH, length=x.size)
    rms_in, rms_out = float(np.sqrt(np.mean(x**2))), float(np.sqrt(np.mean(y**2)))
    return (y * (rms_in / rms_out if rms_out > 0 else 0.0)).astype(np.float32)
