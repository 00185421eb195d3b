"""Boundary checks for audio and parameters (librosa ``util.valid_audio`` style).

Validation happens once where data enters (``process()``, file readers, the CLI); hot paths
inside the engine trust what these functions return.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .errors import ParameterError

__all__ = [
    "as_audio_2d",
    "check_choice",
    "check_range",
    "check_sample_rate",
    "restore_layout",
    "sanitize",
]


def as_audio_2d(audio: Any, *, name: str = "audio") -> tuple[np.ndarray, bool]:
    """Return ``(audio as float32 (channels, frames), was_1d)``.

    Accepts float32/float64 arrays of shape ``(frames,)`` or ``(channels, frames)``, the
    pedalboard layout. A 2-D array whose first axis is longer than its second and whose second
    axis is 1 or 2 is taken as ``(frames, channels)`` and transposed, like pedalboard does.
    Non-finite samples are *not* an error here: the engine treats them as zero (see
    :func:`sanitize`), so a stream with a glitch keeps going.

    Raises
    ------
    ParameterError
        on a non-array, a non-float dtype, or a number of dimensions other than 1 or 2.
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
        return np.ascontiguousarray(audio[np.newaxis, :], dtype=np.float32), True
    if audio.ndim == 2:
        if audio.shape[0] > audio.shape[1] and audio.shape[1] <= 2:
            audio = audio.T
        return np.ascontiguousarray(audio, dtype=np.float32), False
    raise ParameterError(
        f"{name}.ndim={audio.ndim} is not supported: pass (frames,) or (channels, frames)"
    )


def restore_layout(audio: np.ndarray, was_1d: bool) -> np.ndarray:
    """Undo :func:`as_audio_2d`'s promotion of 1-D input."""
    return audio[0] if was_1d else audio


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


def check_range(value: Any, name: str, low: float, high: float) -> float:
    """Return ``value`` as float if ``low <= value <= high``, else raise ParameterError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name}={value!r} must be a number in [{low}, {high}]")
    v = float(value)
    if not (low <= v <= high):
        raise ParameterError(f"{name}={value!r} is out of range: allowed is [{low}, {high}]")
    return v


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ParameterError."""
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ParameterError(f"{name}={value!r} is not supported: choose one of {allowed}")
    return str(value)
