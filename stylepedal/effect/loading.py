"""Build a :class:`StyleTransfer` from a preset: the one place where presets meet the network."""

from __future__ import annotations

from typing import Any

from ..errors import PresetError

__all__ = ["effect_from_preset", "transform_from_preset"]


def transform_from_preset(preset: Any, store: Any = None) -> Any:
    """The trained network of ``preset`` as a frame transform (weights verified on load).

    Parameters
    ----------
    preset : str or Preset
        A preset name (factory or user, case-insensitive) or a loaded preset.
    store : Store, optional
        Where to look; the default store (``STYLEPEDAL_HOME``) if None.
    """
    from ..presets.format import Preset
    from ..presets.store import Store
    from .network import StyleNet

    store = store if store is not None else Store()
    if isinstance(preset, str):
        preset = store.get(preset)
    if not isinstance(preset, Preset):
        raise PresetError(f"preset={preset!r} must be a preset name or a Preset")
    weights, meta = store.load_model_bytes(preset)
    net = StyleNet.from_safetensors(weights, meta["network"])
    return preset, net.as_transform()


def effect_from_preset(preset: Any, *, store: Any = None, **overrides: Any) -> Any:
    """A :class:`StyleTransfer` set up as ``preset`` says; ``overrides`` win over its settings.

    Examples
    --------
    >>> fx = effect_from_preset("Organ", mix=0.5)  # doctest: +SKIP
    """
    from .transfer import StyleTransfer

    loaded, transform = transform_from_preset(preset, store)
    settings = {
        "mix": loaded.mix,
        "output_gain_db": loaded.output_gain_db,
        "latency_mode": loaded.latency_mode,
        "phase_mode": loaded.phase_mode,
    }
    settings.update(overrides)
    return StyleTransfer(transform, name=loaded.name, **settings)
