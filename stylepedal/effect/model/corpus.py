"""A procedural guitar-like content corpus (no downloads).

The per-style network is trained over *content* it will meet on stage: a guitar. Instead of
shipping recordings we synthesise plucked strings with the extended Karplus-Strong algorithm
(Jaffe & Smith 1983): a noise burst shaped by pick position and pick hardness circulates in a
delay line whose loop filter (a two-point average and a linear fractional delay) damps high
partials faster than low ones. Clips mix single notes, chords, strums (staggered onsets),
varied dynamics, a little body resonance and pick noise, and silence gaps, over the pitch range
of a guitar (E2..E6).

Every clip is a pure function of ``(seed, seconds, sample_rate)``, so held-out clips are simply
other seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.signal

from ..._validate import (
    check_non_negative_int,
    check_positive_int,
    check_range,
    check_sample_rate,
)
from ...errors import ParameterError

__all__ = ["LOWEST_MIDI", "HIGHEST_MIDI", "make_clip", "make_corpus", "played_through", "pluck",
           "through_rigs"]

# E2 (the low E string) .. E6 (24th fret of the high E string).
LOWEST_MIDI = 40
HIGHEST_MIDI = 88
# Offset of the rigs' random stream from the training seed: the rigs draw apart from the clips.
_RIG_SEED = 1234
# Standard tuning, open strings, MIDI numbers.
_OPEN_STRINGS = (40, 45, 50, 55, 59, 64)
# Common chord shapes as fret offsets per string (None = muted), relative to a root fret.
_SHAPES = (
    (0, 2, 2, 1, 0, 0),  # E major shape
    (0, 2, 2, 0, 0, 0),  # E minor shape
    (None, 0, 2, 2, 2, 0),  # A major shape
    (None, 0, 2, 2, 1, 0),  # A minor shape
    (0, 2, 0, 1, 0, 0),  # E7 shape
    (0, 2, 2, None, None, None),  # power chord on the low strings
    (None, 0, 2, 2, None, None),  # power chord on the A string
)


def _midi_to_hz(midi: float) -> float:
    return float(440.0 * 2.0 ** ((midi - 69.0) / 12.0))


def pluck(
    freq_hz: float,
    seconds: float,
    sample_rate: int,
    *,
    rng: np.random.Generator,
    velocity: float = 0.8,
    decay_s: float | None = None,
    pick_position: float = 0.2,
) -> np.ndarray:
    """One plucked string note (extended Karplus-Strong), float32, peak about ``velocity``.

    Parameters
    ----------
    freq_hz : float
        Fundamental frequency; exact thanks to a fractional delay in the loop.
    seconds : float
        Length of the returned note.
    sample_rate : int
        Sample rate in Hz.
    rng : numpy.random.Generator
        Source of the excitation noise.
    velocity : float
        0..1; soft notes are also darker (a stronger low-pass on the excitation).
    decay_s : float, optional
        Time to decay by 60 dB; default shorter for higher notes, like a real string.
    pick_position : float
        Relative pick position along the string (0..0.5): a comb on the excitation.

    Examples
    --------
    >>> note = pluck(110.0, 0.5, 22050, rng=np.random.default_rng(0))
    >>> note.shape, note.dtype
    ((11025,), dtype('float32'))
    """
    n = int(round(seconds * sample_rate))
    delay = sample_rate / freq_hz - 0.5  # the two-point average adds half a sample
    lag = int(np.floor(delay))
    if lag < 2:
        raise ParameterError(
            f"freq_hz={freq_hz} is too high for sample_rate={sample_rate}: "
            f"allowed is below {sample_rate / 2.5:.0f} Hz"
        )
    frac = delay - lag
    if decay_s is None:
        decay_s = float(np.clip(4.0 * (110.0 / freq_hz) ** 0.6, 0.4, 6.0))
    # Loop gain per period so that the note decays 60 dB in decay_s.
    g = 10.0 ** (-3.0 * (sample_rate / freq_hz) / (decay_s * sample_rate))
    # Loop filter taps at lags lag, lag+1, lag+2: [0.5, 0.5] average convolved with the
    # [1-frac, frac] linear interpolation.
    taps = g * np.array([0.5 * (1 - frac), 0.5, 0.5 * frac])

    # Excitation: one period of noise, comb-filtered by the pick position and darkened for soft
    # notes.
    period = lag + 1
    exc = rng.uniform(-1.0, 1.0, period)
    p = max(1, int(round(pick_position * period)))
    exc = exc - np.concatenate([np.zeros(p), exc[:-p]])
    pole = 0.85 * (1.0 - velocity) + 0.05
    exc = scipy.signal.lfilter([1.0 - pole], [1.0, -pole], exc)

    # y[t] = exc[t] + taps . y[t-lag-(0,1,2)]. Any block of `lag` samples depends only on
    # earlier blocks, so the recursion runs one period at a time with vector operations.
    y = np.zeros(n + lag + 2)
    off = 2  # two leading zeros so that y[t - lag - 2] is always valid
    y[off : off + min(period, n)] = exc[: min(period, n)]
    for start in range(off + lag, n + off, lag):
        stop = min(start + lag, n + off)
        m = stop - start
        y[start:stop] += (
            taps[0] * y[start - lag : start - lag + m]
            + taps[1] * y[start - lag - 1 : start - lag - 1 + m]
            + taps[2] * y[start - lag - 2 : start - lag - 2 + m]
        )
    out = y[off : off + n]
    peak = np.abs(out).max()
    if peak > 0:
        out = out * (velocity / peak)
    return out.astype(np.float32)


def _body(audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A little guitar-body colour: a few resonances (~100, ~200, ~400 Hz) added to the string."""
    out = audio.astype(np.float64).copy()
    for f0, gain in ((100.0, 0.25), (205.0, 0.18), (410.0, 0.1)):
        f = f0 * rng.uniform(0.9, 1.1)
        b, a = scipy.signal.iirpeak(f, Q=8.0, fs=sample_rate)
        out += gain * scipy.signal.lfilter(b, a, audio)
    return out


def _pick_noise(sample_rate: int, rng: np.random.Generator, velocity: float) -> np.ndarray:
    """A short high-passed click: the pick leaving the string."""
    n = int(0.004 * sample_rate)
    noise = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.0008 * sample_rate))
    b, a = scipy.signal.butter(2, 2000.0, "highpass", fs=sample_rate)
    return 0.05 * velocity * scipy.signal.lfilter(b, a, noise)


def _event_notes(rng: np.random.Generator) -> tuple[list[int], float]:
    """Pick an event: MIDI notes and the strum spread in seconds (0 for one note)."""
    kind = rng.choice(["single", "chord", "strum", "dyad"], p=[0.4, 0.2, 0.3, 0.1])
    if kind == "single":
        return [int(rng.integers(LOWEST_MIDI, HIGHEST_MIDI + 1))], 0.0
    if kind == "dyad":
        low = int(rng.integers(LOWEST_MIDI, HIGHEST_MIDI - 6))
        return [low, low + int(rng.choice([3, 4, 5, 7]))], 0.0
    shape = _SHAPES[int(rng.integers(len(_SHAPES)))]
    root = int(rng.integers(0, 10))
    notes = [_OPEN_STRINGS[i] + root + off for i, off in enumerate(shape) if off is not None]
    spread = 0.0 if kind == "chord" else float(rng.uniform(0.008, 0.035))
    if kind == "strum" and rng.random() < 0.4:
        notes = notes[::-1]  # an up-strum
    return notes, spread


def make_clip(seconds: float, sample_rate: int, *, seed: int) -> np.ndarray:
    """One guitar-like clip: a random sequence of notes, chords and strums with gaps.

    Parameters
    ----------
    seconds : float
        Clip length in seconds (0.1 .. 600).
    sample_rate : int
        Sample rate in Hz (>= 8000).
    seed : int
        The clip is a pure function of ``(seconds, sample_rate, seed)``.

    Returns
    -------
    numpy.ndarray
        float32 mono samples, peak 0.05 .. 0.9 (varied dynamics).

    Examples
    --------
    >>> clip = make_clip(2.0, 22050, seed=3)
    >>> clip.shape
    (44100,)
    """
    seconds = check_range(seconds, "seconds", 0.1, 600.0)
    sample_rate = check_sample_rate(sample_rate)
    if sample_rate < 8000:
        raise ParameterError(f"sample_rate={sample_rate} is too low: allowed is >= 8000 Hz")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed={seed!r} must be a non-negative integer")
    rng = np.random.default_rng([0x5713, int(seed)])
    n = int(round(seconds * sample_rate))
    out = np.zeros(n + sample_rate, dtype=np.float64)  # tail room, trimmed below
    # Playing intensity of this clip (some players are soft, some loud) and tempo.
    clip_level = rng.uniform(0.1, 1.0)
    t = float(rng.uniform(0.0, 0.3))
    while t < seconds:
        notes, spread = _event_notes(rng)
        # Note length: until the next event, as a player re-picks (damping the last note).
        length = float(rng.choice([0.15, 0.25, 0.4, 0.6, 1.0, 1.6]) * rng.uniform(0.8, 1.25))
        velocity = float(np.clip(rng.normal(0.65, 0.2), 0.15, 1.0))
        for i, midi in enumerate(notes):
            midi = min(max(midi, LOWEST_MIDI), HIGHEST_MIDI)
            onset = t + i * spread * rng.uniform(0.7, 1.3)
            start = int(onset * sample_rate)
            if start >= n:
                break
            ring = length + 0.05  # a short release after the damping
            note = pluck(
                _midi_to_hz(midi + rng.normal(0.0, 0.05)),  # slight detuning
                ring,
                sample_rate,
                rng=rng,
                velocity=velocity * rng.uniform(0.8, 1.0) / np.sqrt(len(notes)),
                pick_position=float(rng.uniform(0.08, 0.4)),
            )
            # Damp the note at its end (the player's hand), 50 ms fade.
            fade = min(len(note), int(0.05 * sample_rate))
            note[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
            click = _pick_noise(sample_rate, rng, velocity)
            note[: len(click)] += click.astype(np.float32)[: len(note)]
            stop = min(start + len(note), len(out))
            out[start:stop] += note[: stop - start]
        t += length
        if rng.random() < 0.15:
            t += float(rng.uniform(0.1, 0.8))  # a silence gap
    out = _body(out, sample_rate, rng)[:n]
    # A DC blocker (a guitar pickup does not pass DC; Karplus-Strong loops can leave some).
    b, a = scipy.signal.butter(1, 30.0, "highpass", fs=sample_rate)
    out = scipy.signal.lfilter(b, a, out)
    peak = np.abs(out).max()
    if peak > 0:
        out *= clip_level * 0.9 / peak
    return out.astype(np.float32)


def make_corpus(
    n_clips: int, seconds: float, sample_rate: int, *, seed: int = 0
) -> list[np.ndarray]:
    """``n_clips`` independent clips (clip ``i`` uses seed ``seed * 100003 + i``).

    Held-out clips for validation come from another ``seed``.

    Examples
    --------
    >>> clips = make_corpus(2, 1.0, 22050, seed=7)
    >>> len(clips), clips[0].dtype
    (2, dtype('float32'))
    """
    n_clips = check_positive_int(n_clips, "n_clips")
    seed = check_non_negative_int(seed, "seed")
    return [make_clip(seconds, sample_rate, seed=int(seed) * 100003 + i) for i in range(n_clips)]


def through_rigs(clips: list[np.ndarray], sample_rate: int, *, seed: int = 0) -> list[np.ndarray]:
    """Each clip through a random pedalboard rig, at the clip's own peak level.

    A player's guitar reaches the pedal through their own drive, tone and compressor, which
    the clean soundfont guitars do not cover: each rig is a drive (8-30 dB, half the time),
    a low-pass (1.5-9 kHz), a high shelf (-9..+6 dB at 2.5 kHz, half the time) and a
    compressor (half the time). Deterministic in ``seed``.

    Examples
    --------
    >>> rigged = through_rigs(make_corpus(1, 1.0, 22050), 22050)
    >>> len(rigged), rigged[0].dtype
    (1, dtype('float32'))
    """
    import pedalboard

    sample_rate = check_sample_rate(sample_rate)
    rng = np.random.default_rng(_RIG_SEED + check_non_negative_int(seed, "seed"))
    out = []
    for clip in clips:
        chain: list[pedalboard.Plugin] = []
        if rng.random() < 0.5:
            chain.append(pedalboard.Distortion(drive_db=float(rng.uniform(8.0, 30.0))))
        cutoff = float(np.exp(rng.uniform(np.log(1500.0), np.log(9000.0))))
        chain.append(pedalboard.LowpassFilter(cutoff_frequency_hz=cutoff))
        if rng.random() < 0.5:
            chain.append(pedalboard.HighShelfFilter(cutoff_frequency_hz=2500.0,
                                                    gain_db=float(rng.uniform(-9.0, 6.0))))
        if rng.random() < 0.5:
            chain.append(pedalboard.Compressor(threshold_db=float(rng.uniform(-36.0, -12.0)),
                                               ratio=float(rng.uniform(2.0, 6.0))))
        out.append(played_through(clip, chain, sample_rate))
    return out


def played_through(clip: np.ndarray, plugins: list[Any], sample_rate: int) -> np.ndarray:
    """Mono ``clip`` through the pedalboard ``plugins``, at the clip's own peak level (a rig
    changes the tone, not how hard the player hits the pedal)."""
    import pedalboard

    x = np.asarray(clip, dtype=np.float32)
    y = pedalboard.Pedalboard(plugins)(x[np.newaxis], sample_rate)[0]
    return (y * (np.abs(x).max() / max(float(np.abs(y).max()), 1e-9))).astype(np.float32)

