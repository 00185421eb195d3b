"""Boundary checks for audio and parameters (librosa ``util.valid_audio`` style).

Validation happens once where data enters (``process()``, file readers, the CLI); hot paths
inside the engine trust what these functions return.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .errors import ParameterError

# Audio whose peak is at or below this level is silence: a style (or content) needs sound.
SILENCE_DBFS = -90.0

__all__ = [
    "SILENCE_DBFS",
    "as_audio_2d",
    "check_audible",
    "check_bool",
    "check_choice",
    "check_int_range",
    "check_non_negative_int",
    "check_positive_float",
    "check_positive_int",
    "check_range",
    "check_sample_rate",
    "restore_layout",
    "sanitize",
]


def as_audio_2d(audio: Any, *, name: str = "audio") -> tuple[np.ndarray, str]:
    """Return ``(audio as float32 (channels, frames), layout)``.

    Accepts float32/float64 arrays of shape ``(frames,)`` or ``(channels, frames)``, the
    pedalboard layout. A 2-D array with more than two rows and one or two columns is taken as
    ``(frames, channels)``; anything else 2-D as ``(channels, frames)``, so a stereo block of one
    or two samples (``(2, 1)``, ``(2, 2)``) or an empty one (``(2, 0)``) keeps its channels.
    ``layout`` is ``"mono"``, ``"channels_first"`` or ``"channels_last"``; :func:`restore_layout`
    puts a result back into it. Non-finite samples are *not* an error here: the engine treats
    them as zero (see :func:`sanitize`), so a stream with a glitch keeps going.

    Raises
    ------
    ParameterError
        on a non-array, a non-float dtype, or a number of dimensions other than 1 or 2.

    Examples
    --------
    >>> x, layout = as_audio_2d(np.zeros((480, 2), dtype=np.float32))
    >>> x.shape, layout
    ((2, 480), 'channels_last')
    """
    if not isinstance(audio, np.ndarray):
        raise ParameterError(
            f"{name} must be a numpy array of float32 samples, got {type(audio).__name__}"
        )
    if audio.dtype not in (np.float32, np.float64):
        raise ParameterError(
            f"{name}.dtype={audio.dtype} is not supported: pass float32 (or float64) samples "
            "in [-1, 1], e.g. audio.astype(np.float32)"
        )
    if audio.ndim == 1:
        return np.ascontiguousarray(audio[np.newaxis, :], dtype=np.float32), "mono"
    if audio.ndim == 2:
        if audio.shape[1] <= 2 < audio.shape[0]:
            return np.ascontiguousarray(audio.T, dtype=np.float32), "channels_last"
        return np.ascontiguousarray(audio, dtype=np.float32), "channels_first"
    raise ParameterError(
        f"{name}.ndim={audio.ndim} is not supported: pass (frames,) or (channels, frames)"
    )


def restore_layout(audio: np.ndarray, layout: str) -> np.ndarray:
    """Put a ``(channels, frames)`` result back into the layout :func:`as_audio_2d` reported."""
    if layout == "mono":
        return audio[0]
    if layout == "channels_last":
        return audio.T
    return audio


def sanitize(audio: np.ndarray) -> np.ndarray:
    """Replace NaN and +-Inf with 0 (in place when possible) and return the array."""
    if not np.isfinite(audio).all():
        audio = np.where(np.isfinite(audio), audio, 0.0).astype(audio.dtype, copy=False)
    return audio


def check_sample_rate(sample_rate: Any, *, name: str = "sample_rate") -> int:
    """Return ``sample_rate`` as a positive int or raise :class:`ParameterError`."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Real):
        raise ParameterError(f"{name}={sample_rate!r} must be a positive number of Hz")
    value = float(sample_rate)
    if not np.isfinite(value) or value <= 0 or value != int(value):
        raise ParameterError(f"{name}={sample_rate!r} must be a positive whole number of Hz")
    return int(value)


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` (a Python or numpy integer, not a bool) as an int ``>= 1``, else raise
    :class:`ParameterError`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(f"{name}={value!r} must be a positive integer")
    return int(value)


def check_non_negative_int(value: Any, name: str) -> int:
    """Return ``value`` (a Python or numpy integer, not a bool) as an int ``>= 0``, else raise
    :class:`ParameterError`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ParameterError(f"{name}={value!r} must be a non-negative integer")
    return int(value)


def check_positive_float(value: Any, name: str) -> float:
    """Return ``value`` as a float if it is a finite number above 0, else raise
    ParameterError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name}={value!r} must be a positive number")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ParameterError(f"{name}={value!r} must be a positive number")
    return v


def check_range(
    value: Any, name: str, low: float, high: float, *, error: type[Exception] = ParameterError
) -> float:
    """Return ``value`` as a float if it is a finite number in ``[low, high]``, else raise
    ``error`` (a :class:`ParameterError` unless a caller names another, e.g. PresetError)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
    ):
        raise error(f"{name}={value!r} must be a number in [{low}, {high}]")
    v = float(value)
    if not (low <= v <= high):
        raise error(f"{name}={value!r} is out of range: allowed is [{low}, {high}]")
    return v + 0.0  # -0.0 reads oddly in files and messages


def check_int_range(
    value: Any, name: str, low: int, high: int, *, error: type[Exception] = ParameterError
) -> int:
    """Return ``value`` if it is an integer (not a bool) in ``[low, high]``, else raise
    ``error``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not low <= value <= high
    ):
        raise error(f"{name}={value!r} is out of range: allowed is an integer in [{low}, {high}]")
    return int(value)


def check_choice(
    value: Any, name: str, choices: tuple[str, ...], *, error: type[Exception] = ParameterError
) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ``error``."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise error(f"{name}={value!r} is not supported: choose one of {allowed}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` (a Python or numpy bool) as a bool, else raise ParameterError."""
    if not isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"{name}={value!r} must be True or False")
    return bool(value)


def check_audible(audio: np.ndarray, name: str) -> None:
    """Raise ParameterError if ``audio`` is empty or its peak is at or below
    :data:`SILENCE_DBFS`.

    Examples
    --------
    >>> check_audible(np.zeros(100, np.float32), "style")
    Traceback (most recent call last):
    ...
    stylepedal.errors.ParameterError: style is silent (peak -inf dBFS): allowed is a peak above \
-90 dBFS
    """
    if audio.size == 0:
        raise ParameterError(f"{name} is empty (0 samples): it needs sound")
    peak = float(np.max(np.abs(audio)))
    if peak <= 10.0 ** (SILENCE_DBFS / 20.0):
        peak_db = 20 * math.log10(peak) if peak > 0 else -math.inf
        raise ParameterError(
            f"{name} is silent (peak {peak_db:.1f} dBFS): allowed is a peak above "
            f"{SILENCE_DBFS:.0f} dBFS"
        )
