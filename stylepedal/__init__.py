"""stylepedal: playable neural audio style transfer."""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    AudioFileError,
    CacheError,
    DeviceError,
    ParameterError,
    PresetError,
    StylepedalError,
)

__all__ = [
    "AudioFileError",
    "CacheError",
    "DeviceError",
    "ParameterError",
    "PresetError",
    "StylepedalError",
    "__version__",
]
