"""Build a :class:`StyleTransfer` from a preset: the one place where presets meet the network."""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..errors import PresetError

__all__ = ["effect_from_preset", "transform_from_preset"]

log = logging.getLogger(__name__)

# Verified, built transforms by model key (a content hash, so equal keys mean equal weights).
# A transform holds only read-only weights; each effect keeps its own state (new_state), so one
# transform serves any number of effects. Building one parses safetensors and prepares the
# weights, which holds the GIL for tens of milliseconds: the live host builds every mapped
# preset before its stream starts, so a program change never does that next to the callback.
_TRANSFORMS: dict[str, Any] = {}
_LOCK = threading.Lock()


def transform_from_preset(preset: Any, store: Any = None) -> Any:
    """The trained network of ``preset`` as a frame transform (weights verified on load).

    Parameters
    ----------
    preset : str or Preset
        A preset name (factory or user, case-insensitive) or a loaded preset.
    store : Store, optional
        Where to look; the default store (``STYLEPEDAL_HOME``) if None.
    """
    from ..effect.model.stream import StyleNetTransform
    from .format import Preset
    from .store import Store

    store = store if store is not None else Store()
    if isinstance(preset, str):
        preset = store.get(preset)
    if not isinstance(preset, Preset):
        raise PresetError(f"preset={preset!r} must be a preset name or a Preset")
    with _LOCK:
        cached = _TRANSFORMS.get(preset.model_key)
    if cached is not None:
        return preset, cached
    weights, meta = store.load_model_bytes(preset)
    transform = StyleNetTransform.from_safetensors(weights, meta["network"])
    with _LOCK:
        _TRANSFORMS.setdefault(preset.model_key, transform)
    return preset, transform


def effect_from_preset(preset: Any, *, store: Any = None, **overrides: Any) -> Any:
    """A :class:`StyleTransfer` set up as ``preset`` says; ``overrides`` win over its settings.

    Exported as ``stylepedal.load_preset``.

    Parameters
    ----------
    preset : str or Preset
        A preset name (factory or user, case-insensitive) or a loaded preset.
    store : Store, optional
        Where to look; the default store (``STYLEPEDAL_HOME``) if None.
    **overrides
        Effect parameters that replace the preset's (``mix``, ``style``, ``gate_db``...).

    Returns
    -------
    StyleTransfer

    Raises
    ------
    PresetError
        If no preset has that name, or its model fails verification.

    Examples
    --------
    >>> from stylepedal import load_preset
    >>> fx = load_preset("Organ", mix=0.5)  # doctest: +SKIP
    """
    from ..effect.engine.effect import StyleTransfer

    loaded, transform = transform_from_preset(preset, store)
    settings = {
        "mix": loaded.mix,
        "style": loaded.style,
        "output_gain_db": loaded.output_gain_db,
        "latency_mode": loaded.latency_mode,
        "phase_mode": loaded.phase_mode,
    }
    settings.update(overrides)
    return StyleTransfer(transform, name=loaded.name, **settings)
