"""stylepedal: playable neural audio style transfer.

``from stylepedal import StyleTransfer, Chain`` gives the effect and the chain that holds it
beside pedalboard plugins; both are imported on first use, so ``import stylepedal`` (and
``stylepedal --help``) stays fast. Playing a preset never imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    AudioFileError,
    CacheError,
    DeviceError,
    ParameterError,
    PresetError,
    StylepedalError,
)

if TYPE_CHECKING:
    from .effect.engine.effect import StyleTransfer
    from .host.chain import Chain

__version__ = "0.1.0"

__all__ = [
    "AudioFileError",
    "CacheError",
    "Chain",
    "DeviceError",
    "ParameterError",
    "PresetError",
    "StyleTransfer",
    "StylepedalError",
    "__version__",
]

# name -> module that defines it, imported on first access (PEP 562)
_LAZY = {"StyleTransfer": "stylepedal.effect.engine.effect", "Chain": "stylepedal.host.chain"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'stylepedal' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
