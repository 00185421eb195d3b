"""Exception hierarchy.

Every error stylepedal raises on purpose derives from :class:`StylepedalError`, so a host can
catch one class. Messages name the parameter, the value and what is allowed, e.g.
``hop_length=0 must be a positive integer``.
"""

from __future__ import annotations

__all__ = [
    "StylepedalError",
    "ParameterError",
    "AudioFileError",
    "CacheError",
    "PresetError",
    "DeviceError",
    "BusyError",
]


class StylepedalError(Exception):
    """Base class of every stylepedal error."""


class ParameterError(StylepedalError, ValueError):
    """A parameter or input value is out of range or of the wrong kind."""


class AudioFileError(StylepedalError, OSError):
    """An audio file cannot be read or written (missing, corrupt, unsupported format)."""


class CacheError(StylepedalError):
    """A cached model is corrupt, foreign or does not match its key."""


class PresetError(StylepedalError, ValueError):
    """A preset file or bundle is invalid, unknown or tampered with."""


class DeviceError(StylepedalError):
    """An audio or MIDI device cannot be opened or used."""


class BusyError(StylepedalError, RuntimeError):
    """An effect or chain was called from a second thread while it was processing: one
    object processes one stream at a time (give each thread its own)."""
