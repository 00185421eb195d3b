"""Small file helpers shared by the preset modules: hashing, TOML reading, the atomic writers.

The atomic writers live in :mod:`stylepedal._atomic` (one implementation for the package);
they are re-exported here for the preset modules that import them from this module.
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any

from .._atomic import atomic_write_bytes, atomic_write_text, fsync_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - python 3.10
    import tomli as tomllib

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "fsync_dir",
    "sha256_bytes",
    "parse_toml",
    "sha256_file",
    "tomllib",
]


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error is a PresetError naming ``source``."""
    from ..errors import PresetError

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{source} is not valid TOML: {exc}") from exc
