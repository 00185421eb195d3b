"""Small file helpers shared by the preset modules: hashing, TOML reading, the atomic writers.

The atomic writers live in :mod:`stylepedal._atomic` (one implementation for the package);
they are re-exported here for the preset modules that import them from this module.
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any

from .._atomic import atomic_write_bytes, atomic_write_text, check_regular_file, fsync_dir

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
    "read_small_file",
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


# A preset or MIDI map is a few KB of text: anything far larger is not one.
MAX_TEXT_FILE_BYTES = 1 << 20


def read_small_file(
    path: str | os.PathLike[str], *, what: str, error: type[Exception],
    limit: int = MAX_TEXT_FILE_BYTES,
) -> bytes:
    """The bytes of a small regular file; anything else is ``error`` naming ``what``.

    The file is checked with ``stat`` before it is opened: a FIFO, device or folder is
    refused instead of blocking or failing oddly, and so is a file over ``limit`` bytes.
    """
    p = check_regular_file(path, what=what, error=error)
    try:
        with open(p, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise error(f"{what} {str(p)!r} cannot be read: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise error(f"{what} {str(p)!r} is larger than {limit} bytes: it is not one")
    return data


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error is a PresetError naming ``source``.

    Hostile text (thousands of nested arrays, numbers too long to convert) is a
    PresetError too, never a RecursionError or a bare ValueError.

    Examples
    --------
    >>> parse_toml("a = 1", "x.toml")
    {'a': 1}
    """
    from ..errors import PresetError

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{source} is not valid TOML: {exc}") from exc
    except RecursionError:
        raise PresetError(f"{source} is not valid TOML: it is nested too deeply") from None
    except (ValueError, OverflowError) as exc:
        raise PresetError(f"{source} is not valid TOML: {str(exc)[:200]}") from None
