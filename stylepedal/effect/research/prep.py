"""Prepare clips for style transfer: trim, match tempo, normalise loudness.

The paper's tips for samples ("Tips para samples y texturas"): cut content and style to the
same duration, find their BPM and adapt it if needed; its conclusions propose matching the
style's tempo to the content before transfer. This module does those steps with kept
libraries: ``librosa`` beat tracking for the tempo, ``pedalboard.time_stretch`` (Rubber Band)
to change it without changing pitch, ``pyloudnorm`` (ITU-R BS.1770) for loudness, and
``pedalboard.io.AudioFile`` to read and (atomically) write files.

``stylepedal prep IN OUT [--trim START:END] [--match-tempo REFERENCE] [--loudness LUFS]``
applies them in that order (loudness last, so its target holds in the file written).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..._validate import as_audio_2d, check_range, check_sample_rate, restore_layout
from ...audio_io import bit_depth_for, check_output_path, read_audio, write_audio
from ...errors import ParameterError

__all__ = [
    "estimate_tempo",
    "match_tempo",
    "normalize_loudness",
    "parse_trim",
    "prepare",
    "time_stretch",
    "trim",
]

log = logging.getLogger(__name__)

# pyloudnorm's gating block: a clip shorter than one block has no integrated loudness.
_LOUDNESS_BLOCK_S = 0.4


# -- trim -----------------------------------------------------------------------------------


def parse_trim(text: str) -> tuple[float, float | None]:
    """Parse ``"START:END"`` seconds (either side may be empty) into ``(start_s, end_s)``.

    Examples
    --------
    >>> parse_trim("1.5:4")
    (1.5, 4.0)
    >>> parse_trim(":2")
    (0.0, 2.0)
    >>> parse_trim("3:")
    (3.0, None)
    """
    if not isinstance(text, str) or text.count(":") != 1:
        raise ParameterError(
            f"trim={text!r} must be START:END in seconds, e.g. '1.5:4', ':4' or '1.5:'"
        )
    left, right = (part.strip() for part in text.split(":"))
    try:
        start = float(left) if left else 0.0
        end = float(right) if right else None
    except ValueError as exc:
        raise ParameterError(
            f"trim={text!r} must be START:END in seconds, e.g. '1.5:4', ':4' or '1.5:'"
        ) from exc
    if not math.isfinite(start) or (end is not None and not math.isfinite(end)):
        raise ParameterError(f"trim={text!r} must hold finite numbers of seconds")
    return start, end


def trim(
    audio: np.ndarray, sample_rate: int, *, start_s: float = 0.0, end_s: float | None = None
) -> np.ndarray:
    """Cut ``audio`` to ``[start_s, end_s)`` seconds (``end_s=None``: to the end).

    Raises
    ------
    ParameterError
        if the range is empty or reaches outside the clip.

    Examples
    --------
    >>> trim(np.ones(1000, np.float32), 100, start_s=1.5, end_s=4).shape
    (250,)
    """
    sr = check_sample_rate(sample_rate)
    data, layout = as_audio_2d(audio)
    duration = data.shape[1] / sr
    if not isinstance(start_s, (int, float)) or isinstance(start_s, bool):
        raise ParameterError(f"start_s={start_s!r} must be a number of seconds")
    if start_s < 0 or start_s >= duration:
        raise ParameterError(
            f"trim start={start_s} s is outside the clip: allowed is [0, {duration:.3f}) s"
        )
    if end_s is not None:
        if isinstance(end_s, bool) or not isinstance(end_s, (int, float)):
            raise ParameterError(f"end_s={end_s!r} must be a number of seconds or None")
        if end_s > duration + 0.5 / sr:
            raise ParameterError(
                f"trim end={end_s} s is outside the clip: it is {duration:.3f} s long"
            )
        if end_s <= start_s:
            raise ParameterError(f"trim end={end_s} s must be after start={start_s} s")
    a = int(round(start_s * sr))
    b = data.shape[1] if end_s is None else min(data.shape[1], int(round(end_s * sr)))
    out = data[:, a:b]
    return restore_layout(out, layout)


# -- tempo ----------------------------------------------------------------------------------


def estimate_tempo(audio: np.ndarray, sample_rate: int, *, hop_length: int = 128) -> float:
    """Tempo in BPM: ``librosa.beat.beat_track``, refined by a fit of the beat times.

    librosa's tempo estimate is quantised by the onset-autocorrelation lag (about +-3 BPM at
    120 BPM with its default hop of 512 samples), too coarse to match tempi within 1 BPM. So
    the beats it tracks (on a finer hop) are fitted with a straight line, time = a + period *
    index, and ``60 / period`` is returned; with fewer than four beats the global estimate is
    returned.

    Examples
    --------
    >>> sr = 22050
    >>> y = np.zeros(sr * 8, np.float32)
    >>> for k in range(16):
    ...     y[int(k * 0.5 * sr):int(k * 0.5 * sr) + 200] = 0.5
    >>> round(estimate_tempo(y, sr))
    120
    """
    import librosa

    sr = check_sample_rate(sample_rate)
    data, _ = as_audio_2d(audio)
    mono = data.mean(axis=0)
    if not np.any(mono):
        raise ParameterError("audio is silent: its tempo cannot be estimated")
    env = librosa.onset.onset_strength(y=mono, sr=sr, hop_length=hop_length)
    tempo, beats = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=hop_length)
    tempo_bpm = float(np.atleast_1d(tempo)[0])
    beats = np.asarray(beats)
    if beats.size >= 4:
        times = librosa.frames_to_time(beats, sr=sr, hop_length=hop_length)
        period = float(np.polyfit(np.arange(beats.size), times, 1)[0])
        if period > 0:
            return 60.0 / period
    if not tempo_bpm > 0:
        raise ParameterError("no beats found in the audio: its tempo cannot be estimated")
    return tempo_bpm


def time_stretch(audio: np.ndarray, sample_rate: int, *, stretch_factor: float) -> np.ndarray:
    """Change speed without changing pitch (``pedalboard.time_stretch``, Rubber Band).

    ``stretch_factor`` > 1 makes the audio faster and shorter (2.0: twice as fast).
    """
    import pedalboard

    sr = check_sample_rate(sample_rate)
    factor = check_range(stretch_factor, "stretch_factor", 0.05, 20.0)
    data, layout = as_audio_2d(audio)
    out = pedalboard.time_stretch(data, float(sr), stretch_factor=factor)
    out = np.ascontiguousarray(out, dtype=np.float32)
    return restore_layout(out, layout)


def match_tempo(
    audio: np.ndarray,
    sample_rate: int,
    *,
    target_bpm: float,
    source_bpm: float | None = None,
    fold_octaves: bool = True,
) -> tuple[np.ndarray, float, float]:
    """Time-stretch ``audio`` so its tempo becomes ``target_bpm``.

    Parameters
    ----------
    target_bpm : float
        The reference tempo (e.g. ``estimate_tempo(reference, sr)``).
    source_bpm : float, optional
        The audio's tempo; estimated with :func:`estimate_tempo` when not given.
    fold_octaves : bool
        Beat trackers often report half or double the felt tempo; fold the ratio into
        ``[1/sqrt(2), sqrt(2)]`` by powers of two so a 60 vs 120 BPM mix-up does not halve
        the clip's speed.

    Returns
    -------
    (stretched audio, source_bpm, stretch_factor)
    """
    sr = check_sample_rate(sample_rate)
    target = check_range(target_bpm, "target_bpm", 1.0, 1000.0)
    source = (
        estimate_tempo(audio, sr)
        if source_bpm is None
        else check_range(source_bpm, "source_bpm", 1.0, 1000.0)
    )
    factor = target / source
    if fold_octaves:
        while factor > math.sqrt(2.0):
            factor /= 2.0
        while factor < 1.0 / math.sqrt(2.0):
            factor *= 2.0
    log.info("tempo %.2f BPM -> %.2f BPM (stretch factor %.4f)", source, target, factor)
    return time_stretch(audio, sr, stretch_factor=factor), source, factor


# -- loudness -------------------------------------------------------------------------------


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4, ``pyloudnorm``)."""
    import pyloudnorm

    sr = check_sample_rate(sample_rate)
    data, _ = as_audio_2d(audio)
    if data.shape[1] < int(_LOUDNESS_BLOCK_S * sr):
        raise ParameterError(
            f"audio is {data.shape[1] / sr:.3f} s long: loudness needs at least"
            f" {_LOUDNESS_BLOCK_S} s"
        )
    meter = pyloudnorm.Meter(sr)
    return float(meter.integrated_loudness(data.T.astype(np.float64)))


def normalize_loudness(
    audio: np.ndarray, sample_rate: int, *, target_lufs: float = -23.0
) -> np.ndarray:
    """Scale ``audio`` to ``target_lufs`` integrated loudness (EBU R128 default: -23 LUFS).

    A peak above full scale after the gain is logged as a warning (the file is written as
    float, so nothing clips in it).

    Examples
    --------
    >>> sr = 22050
    >>> y = (0.1 * np.sin(2 * np.pi * 997 * np.arange(2 * sr) / sr)).astype(np.float32)
    >>> round(integrated_loudness(normalize_loudness(y, sr, target_lufs=-20), sr), 1)
    -20.0
    """
    sr = check_sample_rate(sample_rate)
    target = check_range(target_lufs, "target_lufs", -70.0, 0.0)
    data, layout = as_audio_2d(audio)
    measured = integrated_loudness(data, sr)
    if not math.isfinite(measured):
        raise ParameterError("audio is silent (or below the -70 LUFS gate): cannot normalise")
    gain = 10.0 ** ((target - measured) / 20.0)
    out = (data * gain).astype(np.float32)
    peak = float(np.abs(out).max())
    if peak > 1.0:
        log.warning("loudness %.1f LUFS puts the peak at %+.1f dBFS", target, 20 * np.log10(peak))
    return restore_layout(out, layout)


# -- the whole step -------------------------------------------------------------------------


def prepare(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    trim_range: tuple[float, float | None] | None = None,
    reference: str | os.PathLike[str] | float | None = None,
    loudness_lufs: float | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Trim, match tempo to ``reference`` (a file or a BPM), normalise loudness; write.

    ``out_path`` must not be the input or the reference file, and an existing one is
    replaced only with ``overwrite=True`` (checked before any work).

    Returns a summary dict (durations, tempi, stretch factor, loudness).
    """
    inputs = [in_path]
    if isinstance(reference, (str, os.PathLike)):
        inputs.append(reference)
    check_output_path(out_path, inputs=inputs, overwrite=overwrite)
    audio, sr = read_audio(in_path, name="input")
    info: dict[str, Any] = {"sample_rate": sr, "input_seconds": audio.shape[1] / sr}
    if trim_range is not None:
        audio = trim(audio, sr, start_s=trim_range[0], end_s=trim_range[1])
    if reference is not None:
        if isinstance(reference, bool):
            raise ParameterError(f"reference={reference!r} must be an audio file or a BPM")
        if isinstance(reference, (int, float)):
            target = float(reference)
        else:
            ref_audio, ref_sr = read_audio(reference, name="input")
            target = estimate_tempo(ref_audio, ref_sr)
        audio, source, factor = match_tempo(audio, sr, target_bpm=target)
        info.update(source_bpm=source, target_bpm=target, stretch_factor=factor)
    if loudness_lufs is not None:
        audio = normalize_loudness(audio, sr, target_lufs=loudness_lufs)
        info["loudness_lufs"] = integrated_loudness(audio, sr)
    write_audio(out_path, audio, sr, bit_depth=bit_depth_for(Path(out_path).suffix),
                overwrite=overwrite)
    info["output_seconds"] = audio.shape[1] / sr
    return info
