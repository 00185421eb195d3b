"""Atomic file output: the one implementation every writer in stylepedal uses.

:func:`atomic_output` hands a writer a temporary path in the target's folder (a hidden name
with the target's suffix, so format-by-extension writers such as ``pedalboard.io.AudioFile`` or
``matplotlib`` pick the right format), and moves the finished file into place with
``os.replace``: a reader sees the old file or the complete new one, never a half-written one.
On any exception (KeyboardInterrupt included) the temporary file is removed and the target is
left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from .errors import StylepedalError

__all__ = ["atomic_output", "atomic_write_bytes", "atomic_write_text", "current_umask", "fsync_dir"]

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows.

    Linux reports it in ``/proc/self/status``; elsewhere it is read with the
    ``os.umask`` set-and-restore pair, under a lock so that two threads of this module
    never interleave (code outside it could still create a file in that instant).

    Examples
    --------
    >>> 0 <= current_umask() <= 0o777
    True
    """
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a directory entry to disk where the OS allows it (POSIX); a no-op elsewhere."""
    # Opening a directory is not allowed on Windows; the rename is still atomic there.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = True,
    error: type[Exception] = StylepedalError,
) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` when the block succeeds.

    On normal exit the file is fsynced, given the mode a plain ``open()`` would give it
    (``0o666 & ~umask``; ``mkstemp`` makes it owner-only), and renamed over ``path`` with
    ``os.replace``. On any exception, KeyboardInterrupt included, the temporary file is
    removed and the exception re-raised; an existing ``path`` is untouched.

    Parameters
    ----------
    path : path-like
        The file to (re)place. Its folder must exist.
    overwrite : bool
        With False, an existing ``path`` raises ``error`` before anything is written.
    error : type of Exception
        The class raised for an existing ``path`` (e.g. :class:`~stylepedal.errors.AudioFileError`).

    Yields
    ------
    Path
        A hidden file in the same folder, with the same suffix as ``path``; it exists (empty).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_output(target) as tmp:
    ...     _ = tmp.write_text("hello")
    >>> target.read_text()
    'hello'
    """
    target = Path(path)
    if not overwrite and target.exists():
        raise error(f"{str(target)!r} exists already: pass overwrite=True to replace it")
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}",
                                    dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(folder)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`), creating its folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
    >>> atomic_write_bytes(p, b"hi").read_bytes()
    b'hi'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(target) as tmp:
        tmp.write_bytes(data)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text (newlines written as ``\\n`` everywhere).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write_text(p, "hé").read_text(encoding="utf-8")
    'hé'
    """
    return atomic_write_bytes(path, text.encode("utf-8"))
