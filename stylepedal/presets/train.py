"""Train a style model from audio files and keep it as a user preset (``stylepedal train``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CacheError

__all__ = ["TrainedPreset", "model_key", "train_preset"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainedPreset:
    """What :func:`train_preset` did: where the preset is, and the training report (None when
    the model for these styles and settings was cached already)."""

    name: str
    path: Path
    report: Any = None


def model_key(
    styles: Sequence[tuple[Any, int]], config: Any, content_hashes: Sequence[str] = ()
) -> str:
    """The cache key of the model that ``config`` trains from ``styles`` (``(audio, rate)``
    pairs) and the content files of ``content_hashes`` (their sha256): what the store and the
    factory bank file it under."""
    from ..effect.model.network import FORMAT_VERSION as NETWORK_FORMAT_VERSION
    from ..effect.model.train import TRAIN_VERSION
    from .cache import cache_key

    return cache_key(styles, {
        "train": config.to_dict(),
        "train_version": TRAIN_VERSION,
        "network_format_version": NETWORK_FORMAT_VERSION,
        "content": list(content_hashes),
    })


def train_preset(
    name: str,
    style_paths: Sequence[str | os.PathLike[str]],
    *,
    content_paths: Sequence[str | os.PathLike[str]] = (),
    config: Any = None,
    store: Any = None,
    progress: bool = True,
) -> TrainedPreset:
    """Train the style of ``style_paths`` (with ``config``, default ``TrainConfig()``) and save
    it as the user preset ``name``; reuse a verified cached model of the same key (its key,
    :func:`model_key`, is only ever written by training: an import files a model under its
    content key, which never equals a training key).

    ``content_paths`` are extra content clips (e.g. a DI recording of the player's guitar);
    they change the model, so their hashes are part of its cache key.
    """
    from ..effect.model.excerpts import read_style
    from ..effect.model.train import TrainConfig, train_style
    from ._io import sha256_file
    from .cache import verify_network
    from .format import Preset, StyleSource, check_name
    from .store import Store

    name = check_name(name)
    config = config if config is not None else TrainConfig()
    # a long style or content file is read as the excerpts training uses: bounded memory
    styles = [clip for p in style_paths for clip in read_style(p, name="style")]
    contents = [clip for p in content_paths for clip in read_style(p, name="content")]
    key = model_key(styles, config, [sha256_file(p) for p in content_paths])
    store = store if store is not None else Store()
    sources = tuple(
        StyleSource(file=Path(p).name, sha256=sha256_file(p), description="") for p in style_paths
    )
    preset = Preset(name=name, model_key=key, styles=sources, training=config.to_dict())
    if key in store.cache:
        try:
            verify_network(*store.cache.get(key), where=f"cached model {key[:12]}")
        except CacheError as exc:
            log.warning("rebuilding the cached model %s: %s", key[:12], exc)
            store.cache.remove(key)  # a valid-looking entry would otherwise be kept
        else:
            return TrainedPreset(name, store.save(preset))
    net, report = train_style(styles, config, content_clips=contents or None, progress=progress)
    meta = {
        "network": net.to_config(),
        "train": config.to_dict(),
        "styles": [s.file for s in sources],
        "heldout_before": report.heldout_before,
        "heldout_after": report.heldout_after,
        "train_seconds": round(report.seconds, 3),
    }
    return TrainedPreset(name, store.save(preset, net.to_safetensors(), meta), report)
