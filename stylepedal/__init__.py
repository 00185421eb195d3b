"""stylepedal: playable neural audio style transfer.

``from stylepedal import StyleTransfer, Chain, load_preset`` gives the effect, the chain that
holds it beside pedalboard plugins, and the effect a preset describes; each is imported on first
use, so ``import stylepedal`` (and ``stylepedal --help``) stays fast. Playing a preset never
imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    AudioFileError,
    BusyError,
    CacheError,
    DeviceError,
    ParameterError,
    PresetError,
    StylepedalError,
)

if TYPE_CHECKING:
    from .effect.engine.effect import StyleTransfer
    from .host.chain import Chain
    from .presets.load import effect_from_preset as load_preset

__version__ = "0.1.0"

__all__ = [
    "AudioFileError",
    "BusyError",
    "CacheError",
    "Chain",
    "DeviceError",
    "ParameterError",
    "PresetError",
    "StyleTransfer",
    "StylepedalError",
    "__version__",
    "load_preset",
]

# name -> (module, name there), imported on first access (PEP 562)
_LAZY = {
    "StyleTransfer": ("stylepedal.effect.engine.effect", "StyleTransfer"),
    "Chain": ("stylepedal.host.chain", "Chain"),
    "load_preset": ("stylepedal.presets.load", "effect_from_preset"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'stylepedal' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
