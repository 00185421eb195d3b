"""The preset store: user presets, the model cache, the MIDI map, and the factory bank.

Layout of the store folder (``$STYLEPEDAL_HOME`` or the platform's user data dir)::

    presets/NAME.toml                 user presets
    models/<key>/model.safetensors    the model cache (see cache.py)
    models/<key>/meta.json
    midimap.toml                      MIDI overrides and the mix CC

Factory presets ship read-only inside the package (``stylepedal/presets/factory/``: ``*.toml``
plus ``<key>.safetensors`` / ``<key>.json`` per model) and are listed together with the user's.
A user preset with the same name (case-insensitive) as a factory one *shadows* it; removing the
user preset brings the factory one back.

A bundle (``export``/``import_``) is a zip holding ``preset.toml``, ``model.safetensors``,
``meta.json`` and ``manifest.json`` (sha256 of each other member), so another machine plays the
preset without training. Import verifies everything before writing anything, files the model
under the key derived from its content (:func:`~stylepedal.presets.cache.content_key`) and never
changes what another preset plays: factory models are read from the package only, and a name
already in use (case-insensitively, factory names included) is only replaced on request.
Imports and saves hold a lock on the store folder (``flock``), so two of them never interleave.
"""

from __future__ import annotations

import difflib
import io
import json
import logging
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from ..effect.model.stream import MAX_WEIGHTS_BYTES
from ..errors import CacheError, ParameterError, PresetError
from ._io import atomic_write_bytes, sha256_bytes
from ._store_io import read_members, store_lock
from .cache import (
    META_FILE,
    WEIGHTS_FILE,
    ModelCache,
    content_key,
    meta_from_bytes,
    meta_to_bytes,
    store_root,
    verify_model,
    verify_network,
    weights_to_bytes,
)
from .format import Preset, check_name
from .midimap import MidiMap, MidiMapFile

__all__ = ["BUNDLE_FORMAT_VERSION", "PresetEntry", "Store", "factory_dir"]

log = logging.getLogger(__name__)

#: 2: the bundle's model key is its content key. Version 1 bundles (whose key named the
#: training inputs, which an importer cannot check) are read and filed under their content key.
BUNDLE_FORMAT_VERSION = 2
BUNDLE_KIND = "stylepedal-preset-bundle"
PRESET_MEMBER = "preset.toml"
MANIFEST_MEMBER = "manifest.json"
_BUNDLE_MEMBERS = (PRESET_MEMBER, WEIGHTS_FILE, META_FILE)
# Refuse absurd members before and while reading them (a zip bomb or a wrong file).
_MAX_MEMBER_BYTES = {
    PRESET_MEMBER: 1 << 20,
    META_FILE: 1 << 20,
    MANIFEST_MEMBER: 1 << 20,
    WEIGHTS_FILE: MAX_WEIGHTS_BYTES,
}
# How long an import or save waits for another one to finish before giving up.
_LOCK_SECONDS = 30.0
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same preset gives the same bundle


def factory_dir() -> Traversable:
    """The packaged factory bank folder (read-only; works from a wheel or a source tree)."""
    return resources.files("stylepedal.presets").joinpath("factory")


@dataclass(frozen=True)
class PresetEntry:
    """A preset as listed by the store.

    ``source`` is ``"factory"`` or ``"user"``; ``location`` the file it came from;
    ``shadows_factory`` is True for a user preset hiding a factory preset of the same name.
    """

    preset: Preset
    source: str
    location: str
    shadows_factory: bool = False

    @property
    def name(self) -> str:
        return self.preset.name


def _load_factory(folder: Traversable | Path) -> tuple[PresetEntry, ...]:
    if not folder.is_dir():
        return ()
    entries = []
    for item in sorted(folder.iterdir(), key=lambda t: t.name):
        if not item.name.endswith(".toml"):
            continue
        text = item.read_bytes().decode("utf-8")
        # A broken factory preset is a packaging bug: fail loudly, naming it.
        preset = Preset.from_toml(text, source=f"factory preset {item.name}")
        entries.append(PresetEntry(preset, "factory", f"factory/{item.name}"))
    return tuple(entries)


class Store:
    """The user's preset store, with the factory bank listed alongside.

    Parameters
    ----------
    root : path, optional
        Store folder; default :func:`~stylepedal.presets.cache.store_root`.
    factory : path, optional
        Factory bank folder; default the packaged one (:func:`factory_dir`). Tests and the
        bank build script point it elsewhere.

    Examples
    --------
    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> [e.name for e in store.list() if e.source == "user"]
    []
    """

    def __init__(
        self,
        root: str | Path | None = None,
        *,
        factory: Traversable | str | os.PathLike[str] | None = None,
    ) -> None:
        self.root = Path(root) if root is not None else store_root()
        self.factory: Traversable | Path = (
            factory_dir() if factory is None
            else Path(factory) if isinstance(factory, (str, os.PathLike)) else factory
        )
        self._factory: tuple[PresetEntry, ...] | None = None
        self.presets_dir = self.root / "presets"
        self.midimap_path = self.root / "midimap.toml"
        self.cache = ModelCache(self.root)

    # -- listing and lookup -------------------------------------------------------------------

    def factory_entries(self) -> list[PresetEntry]:
        """The factory presets (read once per Store)."""
        if self._factory is None:
            self._factory = _load_factory(self.factory)
        return list(self._factory)

    def user_entries(self) -> list[PresetEntry]:
        """The user's presets; unreadable files are logged and skipped (``get`` reports them)."""
        if not self.presets_dir.is_dir():
            return []
        out = []
        for path in sorted(self.presets_dir.glob("*.toml")):
            try:
                out.append(PresetEntry(Preset.load(path), "user", str(path)))
            except PresetError as exc:
                log.warning("skipping %s", exc)
        return out

    def list(self) -> list[PresetEntry]:
        """Every playable preset, user presets shadowing factory ones of the same name.

        Sorted by (bank, program) for presets with a MIDI program, then by name.
        """
        users = self.user_entries()
        user_names = {e.name.casefold() for e in users}
        factory = self.factory_entries()
        factory_names = {e.name.casefold() for e in factory}
        entries = [
            PresetEntry(e.preset, e.source, e.location, e.name.casefold() in factory_names)
            for e in users
        ]
        entries += [e for e in factory if e.name.casefold() not in user_names]

        def order(e: PresetEntry) -> tuple[Any, ...]:
            p = e.preset
            if p.midi_program is None:
                return (1, 0, 0, p.name.casefold())
            return (0, p.midi_bank or 0, p.midi_program, p.name.casefold())

        return sorted(entries, key=order)

    def entry(self, name: str) -> PresetEntry:
        """The entry named ``name`` (case-insensitive).

        Raises
        ------
        PresetError
            if there is none; the message lists close matches.
        """
        if not isinstance(name, str) or not name:
            raise PresetError(f"name={name!r} must be a preset name")
        # a broken user file of that name should be reported, not silently passed over
        path = self._user_path(name)
        if path is not None:
            preset = Preset.load(path)
            shadows = any(e.name.casefold() == name.casefold() for e in self.factory_entries())
            return PresetEntry(preset, "user", str(path), shadows)
        for e in self.list():
            if e.name.casefold() == name.casefold():
                return e
        names = [e.name for e in self.list()]
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        close += [n for n in names if name.casefold() in n.casefold() and n not in close][:3]
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise PresetError(
            f"preset {name!r} does not exist{hint} (see `stylepedal presets list`)"
        )

    def get(self, name: str) -> Preset:
        """The preset named ``name`` (case-insensitive); see :meth:`entry`."""
        return self.entry(name).preset

    def _user_path(self, name: str) -> Path | None:
        """The user preset file whose preset name matches ``name`` case-insensitively."""
        if not self.presets_dir.is_dir():
            return None
        try:
            check_name(name)
        except PresetError:
            return None  # never build a path from a name like "../x"
        exact = self.presets_dir / f"{name}.toml"
        candidates = [exact] if exact.is_file() else []
        candidates += [
            p for p in sorted(self.presets_dir.glob("*.toml"))
            if p.stem.casefold() == name.casefold() and p != exact
        ]
        return candidates[0] if candidates else None

    # -- models -------------------------------------------------------------------------------

    def load_model_bytes(self, preset: Preset) -> tuple[bytes, dict[str, Any]]:
        """``(safetensors bytes, meta)`` of ``preset``'s model, verified.

        A factory model is read from the factory bank only, never from the user's cache, so
        nothing in the store can change what a factory preset plays; other models come from
        the user's model cache. The network is checked too (sizes in range, tensor shapes,
        finite weights: :func:`~stylepedal.presets.cache.verify_network`). The effect builds
        its network from these (``meta["network"]`` is the network config).

        Raises
        ------
        CacheError
            if the model is in neither place, or corrupt or unplayable where it was found.
        """
        key = preset.model_key
        found = self._factory_model(key)
        if found is not None:
            return found
        try:
            weights, meta = self.cache.get(key)
        except CacheError:
            if key in self.cache:
                raise
            raise CacheError(
                f"the model of preset {preset.name!r} (key {key[:12]}...) is not in the store "
                f"{self.cache.models_dir}: train it with `stylepedal train` or import its "
                "bundle"
            ) from None
        verify_network(weights, meta, where=f"cached model {self.cache.path(key)}")
        return weights, meta

    def _factory_model(self, key: str) -> tuple[bytes, dict[str, Any]] | None:
        folder = self.factory
        weights_res = folder.joinpath(f"{key}.safetensors")
        meta_res = folder.joinpath(f"{key}.json")
        if not (weights_res.is_file() and meta_res.is_file()):
            return None
        where = f"factory model {key}"
        weights = weights_res.read_bytes()
        meta = meta_from_bytes(meta_res.read_bytes(), where)
        meta = verify_model(weights, meta, key, where=where)
        verify_network(weights, meta, where=where)
        return weights, meta

    # -- writing ------------------------------------------------------------------------------

    def save(
        self,
        preset: Preset,
        weights: Any = None,
        meta: Mapping[str, Any] | None = None,
        *,
        overwrite: bool = True,
    ) -> Path:
        """Save a user preset (and its model, when ``weights`` is given); return the file.

        Parameters
        ----------
        preset : Preset
        weights : dict of tensors or safetensors bytes, optional
            Stored in the model cache under ``preset.model_key`` with ``meta`` (which must hold
            ``"network"``), once verified as a playable network of it. Omit them when the model
            is already in the store.
        overwrite : bool
            Replace a user preset of the same name (case-insensitive); otherwise PresetError.
        """
        if not isinstance(preset, Preset):
            raise PresetError(f"preset={preset!r} must be a Preset")
        with store_lock(self.root, _LOCK_SECONDS):
            return self._save(preset, weights, meta, overwrite=overwrite)

    def _save(
        self, preset: Preset, weights: Any, meta: Mapping[str, Any] | None, *, overwrite: bool
    ) -> Path:
        existing = self._user_path(preset.name)
        if existing is not None and not overwrite:
            raise PresetError(
                f"a user preset named {preset.name!r} exists already ({existing}); "
                "pass overwrite=True or remove it first"
            )
        if weights is not None:
            if not isinstance(meta, Mapping) or not isinstance(meta.get("network"), Mapping):
                raise PresetError("meta must be given with weights (it holds the network config)")
            data = weights_to_bytes(weights)
            verify_network(data, meta, where=f"the model of preset {preset.name!r}")
            self.cache.put(preset.model_key, data, meta)
        else:
            self.load_model_bytes(preset)  # refuse a preset whose model is nowhere
        if any(e.name.casefold() == preset.name.casefold() for e in self.factory_entries()):
            log.info("user preset %r shadows the factory preset of the same name", preset.name)
        target = self.presets_dir / f"{preset.name}.toml"
        preset.save(target)
        if existing is not None and existing != target:
            existing.unlink()  # same name in another case: keep one file per name
        return target

    def remove(self, name: str) -> Path:
        """Delete the user preset ``name``; return the removed file.

        Its model stays in the cache (other presets may share it). Factory presets cannot be
        removed.
        """
        entry = self.entry(name)  # unknown name -> PresetError with suggestions
        if entry.source != "user":
            raise PresetError(
                f"{entry.name!r} is a factory preset and cannot be removed (it ships with "
                "stylepedal); map another preset to its MIDI program instead"
            )
        path = Path(entry.location)
        path.unlink()
        if any(e.name.casefold() == name.casefold() for e in self.factory_entries()):
            log.info("removed user preset %r; the factory preset of that name is back", name)
        return path

    # -- bundles ------------------------------------------------------------------------------

    def export(self, name: str, path: str | Path) -> Path:
        """Write preset ``name`` and its model into a bundle (zip) at ``path``; return it.

        The bundle files the model under its content key
        (:func:`~stylepedal.presets.cache.content_key`), which the importer recomputes.

        Examples
        --------
        >>> # store.export("Organ", "organ.stylepedal")  # then on another machine:
        >>> # Store().import_("organ.stylepedal")
        """
        preset = self.get(name)
        weights, meta = self.load_model_bytes(preset)
        key = content_key(weights, meta["network"])
        preset = preset.replace(model_key=key)
        members = {
            PRESET_MEMBER: preset.to_toml().encode("utf-8"),
            WEIGHTS_FILE: weights,
            META_FILE: meta_to_bytes({**meta, "key": key}),
        }
        manifest = {
            "format_version": BUNDLE_FORMAT_VERSION,
            "kind": BUNDLE_KIND,
            "name": preset.name,
            "model_key": key,
            "members": {k: sha256_bytes(v) for k, v in members.items()},
        }
        members[MANIFEST_MEMBER] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            for member in (MANIFEST_MEMBER, *_BUNDLE_MEMBERS):
                info = zipfile.ZipInfo(member, date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, members[member])
        return atomic_write_bytes(path, buffer.getvalue())

    def read_bundle(self, path: str | Path) -> tuple[Preset, bytes, dict[str, Any]]:
        """Read and verify a bundle without writing anything; return (preset, weights, meta).

        The preset and meta returned name the model's content key.

        Raises
        ------
        PresetError
            if the file is not a bundle, a member is missing, repeated, extra or too large
            (declared or actual: members are read in bounded chunks), a hash does not match the
            manifest, the preset is invalid, the network is out of range, mis-shaped or not
            finite, or the bundle's model key is not the one derived from its content.
        """
        path = Path(path)
        where = f"bundle {path}"
        data = read_members(path, where, _MAX_MEMBER_BYTES)
        try:
            manifest = json.loads(data[MANIFEST_MEMBER].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise PresetError(f"{where}: manifest.json is not valid JSON: {exc}") from exc
        if not isinstance(manifest, dict) or manifest.get("kind") != BUNDLE_KIND:
            raise PresetError(f"{where}: manifest.json is not a stylepedal bundle manifest")
        version = manifest.get("format_version")
        if version not in (1, BUNDLE_FORMAT_VERSION) or isinstance(version, bool):
            raise PresetError(
                f"{where}: bundle format_version={str(version)[:20]} is not supported "
                f"(this stylepedal reads 1 to {BUNDLE_FORMAT_VERSION})"
            )
        hashes = manifest.get("members")
        if not isinstance(hashes, dict) or set(hashes) != set(_BUNDLE_MEMBERS):
            raise PresetError(
                f"{where}: manifest.json must list the sha256 of {list(_BUNDLE_MEMBERS)}"
            )
        for member in _BUNDLE_MEMBERS:
            actual = sha256_bytes(data[member])
            if hashes[member] != actual:
                raise PresetError(
                    f"{where}: {member} sha256 {actual} does not match the manifest "
                    f"({str(hashes[member])[:70]!r}): the bundle was modified or damaged; "
                    "refusing it"
                )
        try:
            text = data[PRESET_MEMBER].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PresetError(f"{where}: preset.toml is not UTF-8: {exc}") from exc
        preset = Preset.from_toml(text, source=f"{where}: preset.toml")
        if manifest.get("model_key") != preset.model_key or manifest.get("name") != preset.name:
            raise PresetError(f"{where}: manifest name/model_key do not match preset.toml")
        weights = data[WEIGHTS_FILE]
        try:
            meta = verify_model(
                weights, meta_from_bytes(data[META_FILE], where), preset.model_key, where=where
            )
            verify_network(weights, meta, where=where)
            key = content_key(weights, meta["network"])
        except (CacheError, ParameterError) as exc:
            raise PresetError(f"refusing {exc}") from exc
        if key != preset.model_key:
            if version != 1:
                raise PresetError(
                    f"refusing {where}: its model_key {preset.model_key} is not the key of the "
                    f"model it holds ({key}); a bundle cannot claim another model's key"
                )
            # a version 1 bundle named its training inputs, which cannot be checked here
            log.info("%s: filing its model under its content key %s", where, key[:12])
            preset = preset.replace(model_key=key)
            meta = {**meta, "key": key}
        return preset, weights, meta

    def import_(self, path: str | Path, *, overwrite: bool = False) -> Preset:
        """Verify the bundle at ``path`` and add its preset and model to the store.

        Nothing is written unless every check passes (see :meth:`read_bundle`). The model is
        filed under its content key, so no other preset's model changes. A preset whose name
        is in use, case-insensitively, by a user preset (replaced) or a factory preset
        (shadowed) needs ``overwrite=True``; otherwise PresetError. Two imports never
        interleave (the store's lock): of two of the same name, the second is refused.
        """
        preset, weights, meta = self.read_bundle(path)
        check_name(preset.name)
        with store_lock(self.root, _LOCK_SECONDS):
            existing = self._user_path(preset.name)
            if existing is not None and not overwrite:
                raise PresetError(
                    f"a user preset named {preset.name!r} exists already ({existing}); remove "
                    "it first or import with overwrite (`presets import --force`)"
                )
            factory = [
                e.name for e in self.factory_entries()
                if e.name.casefold() == preset.name.casefold()
            ]
            if factory and not overwrite:
                raise PresetError(
                    f"{preset.name!r} is the name of the factory preset {factory[0]!r}: "
                    "importing it would change what that preset plays; import with overwrite "
                    "(`presets import --force`) to shadow it"
                )
            key = preset.model_key
            try:
                if key in self.cache and self.cache.get(key)[0] != weights:
                    # an entry written by an older stylepedal under a key it did not derive
                    self.cache.remove(key)
            except CacheError:
                pass  # corrupt: put_verified replaces it
            self.cache.put_verified(key, weights, meta)
            self._save(preset, None, None, overwrite=True)
        return preset

    # -- MIDI ---------------------------------------------------------------------------------

    def midimap_file(self) -> MidiMapFile:
        """The store's ``midimap.toml`` (defaults when absent)."""
        return MidiMapFile.load(self.midimap_path)

    def save_midimap_file(self, file: MidiMapFile) -> Path:
        """Write ``midimap.toml`` atomically."""
        return file.save(self.midimap_path)

    def midimap(self) -> MidiMap:
        """The MIDI map: presets' own program numbers plus ``midimap.toml`` overrides."""
        entries = self.list()
        # user presets first, so they win a program clash with a factory preset
        ordered = [e.preset for e in entries if e.source == "user"]
        ordered += [e.preset for e in entries if e.source == "factory"]
        return MidiMap.build(ordered, self.midimap_file(), known_names=[p.name for p in ordered])

