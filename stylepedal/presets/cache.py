"""Content-addressed cache of trained style models.

A trained model is identified by the hash of everything that defines it: the cache format
version, the style audio (float32 samples and sample rate of every style clip) and the training
config as canonical JSON (:func:`cache_key`). A model from a bundle is identified by the hash of
what it plays, its network config and weights (:func:`content_key`), recomputed at import. Each
entry is a folder ``models/<key>/`` in the store holding

- ``model.safetensors``: the network weights (safetensors only: nothing is ever unpickled);
- ``meta.json``: format version, key, sha256 of the weights file, the network config needed to
  rebuild the network, and who created it.

Entries are written atomically (both files go into a temporary folder inside ``models/`` which is
then renamed into place) and verified on every read: a corrupt, truncated or foreign entry raises
:class:`~stylepedal.errors.CacheError`; :meth:`ModelCache.get_or_build` rebuilds it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import CacheError, ParameterError
from ._io import fsync_dir, sha256_bytes

__all__ = [
    "FORMAT_VERSION",
    "META_FILE",
    "WEIGHTS_FILE",
    "ModelCache",
    "cache_key",
    "canonical_json",
    "check_key",
    "content_key",
    "store_root",
    "verify_model",
    "verify_network",
    "weights_to_bytes",
]

log = logging.getLogger(__name__)

#: Version of the cache layout and of the key derivation. Bump it when either changes (e.g. the
#: model frame period): old entries then no longer match any key and are simply rebuilt.
FORMAT_VERSION = 2
WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"
_KEY_RE = re.compile(r"[0-9a-f]{64}")
# Fields the cache writes itself into meta.json; a caller's meta cannot override them.
_RESERVED = ("format_version", "key", "weights_file", "weights_sha256", "created_by")


def store_root() -> Path:
    """The stylepedal store folder: ``$STYLEPEDAL_HOME`` or the platform's user data dir.

    Examples
    --------
    >>> store_root().name != ""
    True
    """
    override = os.environ.get("STYLEPEDAL_HOME")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("stylepedal"))


def _plain(obj: Any, where: str = "config") -> Any:
    """Turn a config (dataclass, mapping, tuple ...) into plain JSON types, rejecting the rest."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise ParameterError(f"{where} key {k!r} must be a string")
            out[k] = _plain(v, f"{where}.{k}")
        return out
    if isinstance(obj, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, (bool, str)) or obj is None:
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        if not math.isfinite(float(obj)):
            raise ParameterError(f"{where}={obj!r} must be a finite number")
        return float(obj)
    raise ParameterError(
        f"{where}={obj!r} of type {type(obj).__name__} is not supported: use numbers, strings, "
        "booleans, lists and string-keyed mappings"
    )


def canonical_json(config: Any) -> bytes:
    """Canonical JSON bytes of a config: sorted keys, no spaces, ASCII, finite numbers only.

    Dataclasses are converted with :func:`dataclasses.asdict`, tuples become lists.

    Examples
    --------
    >>> canonical_json({"b": 1, "a": (0.5, "x")})
    b'{"a":[0.5,"x"],"b":1}'
    """
    return json.dumps(
        _plain(config), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def cache_key(styles: Iterable[tuple[np.ndarray, int]], config: Any) -> str:
    """The cache key of the model trained on ``styles`` with ``config``.

    sha256 over the format version, every style clip's float32 little-endian samples with its
    shape and sample rate (in order: the order of the clips is part of the style), and the
    canonical JSON of the training config.

    Parameters
    ----------
    styles : iterable of (audio, sample_rate)
        The style clips exactly as given to training.
    config : dataclass or mapping
        The training config.

    Examples
    --------
    >>> import numpy as np
    >>> k = cache_key([(np.zeros(4, np.float32), 22050)], {"steps": 10})
    >>> len(k), k == cache_key([(np.zeros(4), 22050)], {"steps": 10})
    (64, True)
    """
    import hashlib

    digest = hashlib.sha256()
    digest.update(f"stylepedal-model-cache\0format_version={FORMAT_VERSION}\0".encode())
    n = 0
    for audio, sample_rate in styles:
        samples = np.ascontiguousarray(np.asarray(audio), dtype="<f4")
        if not isinstance(sample_rate, (int, np.integer)) or isinstance(sample_rate, bool):
            raise ParameterError(f"sample_rate={sample_rate!r} must be a whole number of Hz")
        digest.update(f"style shape={list(samples.shape)} rate={int(sample_rate)}\0".encode())
        digest.update(samples.tobytes())
        n += 1
    if n == 0:
        raise ParameterError("styles=[] is empty: give at least one (audio, sample_rate) clip")
    digest.update(b"config\0")
    digest.update(canonical_json(config))
    return digest.hexdigest()


def content_key(weights: bytes, network: Any) -> str:
    """The key of a model derived from what it plays: its network config and weights bytes.

    A bundle's model is filed under this key, recomputed at import, so a bundle cannot claim
    another model's key. Training files its models under :func:`cache_key` (the inputs that
    define them); the two derivations hash different prefixes, so a key of one kind never
    equals a key of the other.

    Examples
    --------
    >>> k = content_key(b"weights", {"channels": 8})
    >>> len(k), k == content_key(b"weights", {"channels": 9})
    (64, False)
    """
    import hashlib

    digest = hashlib.sha256(b"stylepedal-model-content\0version=1\0network\0")
    digest.update(canonical_json(network))
    digest.update(b"\0weights\0")
    digest.update(bytes(weights))
    return digest.hexdigest()


def verify_network(weights: bytes, meta: Mapping[str, Any], *, where: str) -> None:
    """Check that ``weights`` are a playable network of ``meta["network"]``: every size in
    range, the tensors' names, dtypes and shapes those of the config (read from the header,
    before any tensor is loaded), every weight finite.

    Raises
    ------
    CacheError
        naming ``where``, the field, its value and what is allowed.
    """
    from ..effect.model.stream import read_safetensors

    try:
        read_safetensors(weights, meta.get("network"))
    except CacheError as exc:
        raise CacheError(f"{where}: {exc}") from exc


def check_key(key: Any) -> str:
    """Return ``key`` if it is 64 lowercase hex digits, else raise ParameterError."""
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ParameterError(
            f"key={key!r} is not a model cache key: expected 64 lowercase hex digits"
        )
    return key


def weights_to_bytes(weights: Any) -> bytes:
    """Serialise ``weights`` (a ``dict[str, torch.Tensor | np.ndarray]`` or safetensors bytes).

    Bytes are checked to parse as safetensors and returned unchanged.
    """
    if isinstance(weights, (bytes, bytearray, memoryview)):
        data = bytes(weights)
        _parse_safetensors(data, "weights")
        return data
    if isinstance(weights, Mapping) and weights:
        first = next(iter(weights.values()))
        if isinstance(first, np.ndarray):
            from safetensors.numpy import save as np_save

            return np_save({str(k): np.ascontiguousarray(v) for k, v in weights.items()})
        from safetensors.torch import save as torch_save

        # contiguous CPU copies: safetensors refuses views and shared storage.
        return torch_save({str(k): v.detach().cpu().contiguous() for k, v in weights.items()})
    raise ParameterError(
        f"weights of type {type(weights).__name__} is not supported: pass a non-empty dict of "
        "tensors or safetensors bytes"
    )


def _parse_safetensors(data: bytes, where: str) -> None:
    from safetensors import SafetensorError, deserialize

    try:
        tensors = deserialize(data)
    except SafetensorError as exc:
        raise CacheError(f"{where} is not a valid safetensors file: {exc}") from exc
    if not tensors:
        raise CacheError(f"{where} holds no tensors")


def verify_model(weights: bytes, meta: Any, key: str, *, where: str) -> dict[str, Any]:
    """Check a model's weights bytes and meta against ``key``; return the meta.

    Checks the meta format version, that the meta names ``key``, that the weights' sha256 equals
    the one recorded in the meta, that the weights parse as safetensors and that the meta holds
    a network config. ``where`` names the entry in error messages.

    Raises
    ------
    CacheError
        naming the entry and what is wrong.
    """
    if not isinstance(meta, dict):
        raise CacheError(f"{where}: meta.json must hold a JSON object, got {type(meta).__name__}")
    version = meta.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise CacheError(
            f"{where}: format_version={version} was written by a newer stylepedal (this one reads "
            f"{FORMAT_VERSION}); upgrade stylepedal or rebuild the model"
        )
    if version != FORMAT_VERSION:
        raise CacheError(
            f"{where}: format_version={version!r} is not a stylepedal model cache entry "
            f"(expected {FORMAT_VERSION}); it is foreign or from an old version"
        )
    if meta.get("key") != key:
        raise CacheError(f"{where}: meta.json names key={meta.get('key')!r}, expected {key}")
    actual = sha256_bytes(weights)
    if meta.get("weights_sha256") != actual:
        raise CacheError(
            f"{where}: weights sha256 {actual} does not match meta.json "
            f"({meta.get('weights_sha256')!r}): the file is corrupt or was modified"
        )
    _parse_safetensors(weights, f"{where}: {WEIGHTS_FILE}")
    if not isinstance(meta.get("network"), dict):
        raise CacheError(f"{where}: meta.json has no 'network' config object")
    return meta


def make_meta(key: str, weights: bytes, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The meta.json object the cache writes for ``weights`` under ``key``."""
    if not isinstance(meta, Mapping):
        raise ParameterError(f"meta of type {type(meta).__name__} must be a mapping")
    clash = [k for k in _RESERVED if k in meta and k != "created_by"]
    if clash:
        raise ParameterError(f"meta keys {clash} are written by the cache itself; leave them out")
    if not isinstance(meta.get("network"), Mapping):
        raise ParameterError(
            "meta['network'] must be the network config (a mapping, e.g. StyleNet.to_config())"
        )
    out: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "key": key,
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": sha256_bytes(weights),
        "created_by": str(meta.get("created_by", f"stylepedal {__version__}")),
    }
    for k, v in meta.items():
        if k not in out:
            out[k] = _plain(v, f"meta.{k}")
    return out


def meta_to_bytes(meta: Mapping[str, Any]) -> bytes:
    """Deterministic, readable JSON for meta.json."""
    return (json.dumps(meta, sort_keys=True, indent=2, allow_nan=False) + "\n").encode("utf-8")


def meta_from_bytes(data: bytes, where: str) -> Any:
    """Parse meta.json bytes; a parse error is a CacheError naming ``where``."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CacheError(f"{where}: meta.json is not valid JSON: {exc}") from exc


class ModelCache:
    """The model cache under ``root/models`` (``root`` defaults to :func:`store_root`).

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> cache = ModelCache(tempfile.mkdtemp())
    >>> key = cache_key([(np.zeros(8), 22050)], {"steps": 1})
    >>> path = cache.put(key, {"w": np.ones(3, np.float32)}, {"network": {"kind": "demo"}})
    >>> weights, meta = cache.get(key)
    >>> meta["key"] == key
    True
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else store_root()
        self.models_dir = self.root / "models"

    def path(self, key: str) -> Path:
        """The folder of ``key``'s entry (whether or not it exists)."""
        return self.models_dir / check_key(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(_KEY_RE.fullmatch(key)) and self.path(key).is_dir()

    def keys(self) -> list[str]:
        """Keys of the entries present (not verified), sorted."""
        if not self.models_dir.is_dir():
            return []
        return sorted(p.name for p in self.models_dir.iterdir() if _KEY_RE.fullmatch(p.name))

    def put(self, key: str, weights: Any, meta: Mapping[str, Any]) -> Path:
        """Store ``weights`` and ``meta`` under ``key``; return the entry folder.

        Parameters
        ----------
        key : str
            From :func:`cache_key`.
        weights : dict of tensors/arrays, or safetensors bytes
        meta : mapping
            Must hold ``"network"`` (the network config); other JSON-able fields are kept.

        Both files are written into a temporary folder in ``models/`` and renamed into place,
        so a reader never sees half an entry. A valid entry already present with the same
        weights is kept; a corrupt one is replaced.
        """
        check_key(key)
        data = weights_to_bytes(weights)
        return self._write_entry(key, data, make_meta(key, data, meta))

    def put_verified(self, key: str, weights: bytes, meta: Mapping[str, Any]) -> Path:
        """Store an entry whose meta.json is already complete (from a bundle or the factory).

        The weights and meta are verified against ``key`` first (:func:`verify_model`); the meta
        is written as given, so a copied entry stays identical to its source.
        """
        check_key(key)
        full_meta = verify_model(bytes(weights), dict(meta), key, where=f"model {key}")
        return self._write_entry(key, bytes(weights), full_meta)

    def _write_entry(self, key: str, data: bytes, full_meta: Mapping[str, Any]) -> Path:
        self.models_dir.mkdir(parents=True, exist_ok=True)
        target = self.models_dir / key
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:12]}-", dir=self.models_dir))
        try:
            for name, payload in ((WEIGHTS_FILE, data), (META_FILE, meta_to_bytes(full_meta))):
                with open(tmp / name, "wb") as f:
                    f.write(payload)
                    f.flush()
                    os.fsync(f.fileno())
            fsync_dir(tmp)
            self._move_into_place(tmp, target, key)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        fsync_dir(self.models_dir)
        return target

    def _move_into_place(self, tmp: Path, target: Path, key: str) -> None:
        try:
            os.replace(tmp, target)
            return
        except OSError:
            if not target.exists():
                raise
        # An entry exists already (another process built it, or it is corrupt).
        try:
            self.get(key)
            return  # valid: same key means same inputs, keep it
        except CacheError as exc:
            log.warning("replacing corrupt cache entry %s: %s", target, exc)
        trash = Path(tempfile.mkdtemp(prefix=f".trash-{key[:12]}-", dir=self.models_dir))
        os.replace(target, trash / "old")
        try:
            os.replace(tmp, target)
        finally:
            shutil.rmtree(trash, ignore_errors=True)

    def get(self, key: str) -> tuple[bytes, dict[str, Any]]:
        """Return ``(safetensors bytes, meta)`` of ``key``'s entry, verified.

        Raises
        ------
        CacheError
            if the entry is missing, corrupt or foreign (the message says which and why).
        """
        folder = self.path(key)
        where = f"cached model {folder}"
        try:
            meta_bytes = (folder / META_FILE).read_bytes()
            weights = (folder / WEIGHTS_FILE).read_bytes()
        except FileNotFoundError as exc:
            if not folder.exists():
                raise CacheError(f"no cached model for key {key} in {self.models_dir}") from exc
            raise CacheError(f"{where}: {Path(exc.filename).name} is missing") from exc
        except OSError as exc:
            raise CacheError(f"{where}: cannot be read: {exc}") from exc
        meta = verify_model(weights, meta_from_bytes(meta_bytes, where), key, where=where)
        return weights, meta

    def get_or_build(
        self, key: str, build_fn: Callable[[], tuple[Any, Mapping[str, Any]]]
    ) -> tuple[bytes, dict[str, Any]]:
        """:meth:`get`, or, if the entry is missing or invalid, ``build_fn()`` then :meth:`put`.

        ``build_fn()`` returns ``(weights, meta)`` as taken by :meth:`put`.
        """
        try:
            return self.get(key)
        except CacheError as exc:
            if key in self:
                log.warning("rebuilding model: %s", exc)
        weights, meta = build_fn()
        self.put(key, weights, meta)
        return self.get(key)

    def remove(self, key: str) -> bool:
        """Delete ``key``'s entry; return whether there was one."""
        folder = self.path(key)
        if not folder.exists():
            return False
        trash = Path(tempfile.mkdtemp(prefix=f".trash-{key[:12]}-", dir=self.models_dir))
        # rename first so no reader sees a half-deleted entry
        os.replace(folder, trash / "old")
        with contextlib.suppress(OSError):
            shutil.rmtree(trash)
        return True
