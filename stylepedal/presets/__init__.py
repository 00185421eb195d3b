"""stylepedal.presets: the preset format, the store, the model cache and the MIDI map.

Heavy libraries are not imported here; submodules import them where needed.
"""

from __future__ import annotations

from .cache import ModelCache, cache_key, store_root
from .format import Preset, StyleSource
from .midimap import MidiMap, MidiSelector
from .store import PresetEntry, Store

__all__ = [
    "MidiMap",
    "MidiSelector",
    "ModelCache",
    "Preset",
    "PresetEntry",
    "Store",
    "StyleSource",
    "cache_key",
    "store_root",
]
