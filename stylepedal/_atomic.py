"""Atomic file output: the one implementation every writer in stylepedal uses.

It also holds the two checks every command that reads or writes a user's file makes first:
:func:`check_regular_file` (refuse a FIFO, device or folder without opening it, since opening
a FIFO blocks) and :func:`check_output_target` (an output is never one of the inputs, and an
existing file is replaced only when asked).

:func:`atomic_output` hands a writer a temporary path in the target's folder (a hidden name
with the target's suffix, so format-by-extension writers such as ``pedalboard.io.AudioFile`` or
``matplotlib`` pick the right format), and moves the finished file into place with
``os.replace``: a reader sees the old file or the complete new one, never a half-written one.
On any exception (KeyboardInterrupt included) the temporary file is removed and the target is
left as it was.
"""

from __future__ import annotations

import contextlib
import glob
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import StylepedalError

__all__ = [
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_target",
    "check_regular_file",
    "current_umask",
    "fsync_dir",
    "temp_outputs",
]

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
    verify: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` when the block succeeds.

    On normal exit the file is fsynced, checked (not empty, then ``verify(tmp)``), given the
    mode a plain ``open()`` would give it (``0o666 & ~umask``; ``mkstemp`` makes it
    owner-only), and renamed over ``path`` with ``os.replace``. On any exception,
    KeyboardInterrupt included, the temporary file is removed and the exception re-raised; an
    existing ``path`` is untouched. An ``OSError`` of the file system (a read-only or missing
    folder, a full disk) is raised as ``error`` naming ``path``.

    Parameters
    ----------
    path : path-like
        The file to (re)place. Its folder must exist.
    overwrite : bool
        With False, an existing ``path`` raises ``error`` before anything is written.
    error : type of Exception
        The class raised for an existing ``path`` or a failed write
        (e.g. :class:`~stylepedal.errors.AudioFileError`).
    verify : callable, optional
        Called with the finished temporary file before it replaces ``path``; it raises if
        the file is not what was meant to be written (a short write on a full disk).

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
    if not overwrite and (target.exists() or target.is_symlink()):
        raise error(f"{str(target)!r} exists already: pass overwrite=True to replace it")
    if target.is_dir():
        raise error(f"{str(target)!r} is a folder: give a file name")
    folder = target.parent if str(target.parent) else Path(".")
    try:
        prefix, suffix = _temp_affixes(target)
        fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    except OSError as exc:
        raise _write_error(error, target, exc) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if os.stat(tmp).st_size == 0:
            raise error(f"cannot write {str(target)!r}: the written file is empty")
        if verify is not None:
            verify(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    except StylepedalError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _write_error(error, target, exc) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(folder)


def temp_outputs(path: str | os.PathLike[str]) -> list[Path]:
    """The temporary files :func:`atomic_output` is writing for ``path`` (in any process):
    what a writer killed outright (SIGKILL) leaves behind for its parent to remove.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.wav"
    >>> with atomic_output(target) as tmp:
    ...     _ = tmp.write_bytes(b"data")
    ...     temp_outputs(target) == [tmp]
    True
    >>> temp_outputs(target), target.read_bytes()
    ([], b'data')
    """
    target = Path(path)
    prefix, suffix = _temp_affixes(target)
    folder = target.parent if str(target.parent) else Path(".")
    return sorted(folder.glob(f"{glob.escape(prefix)}*{glob.escape(suffix)}"))


def _temp_affixes(target: Path) -> tuple[str, str]:
    # hidden, and ending in the target's suffix (writers pick the format by extension)
    return f".{target.stem}.", f".tmp{target.suffix}"


def _write_error(error: type[Exception], target: Path, exc: OSError) -> Exception:
    """``error`` naming the target and the file system's reason (``strerror``, not a repr)."""
    reason = exc.strerror or str(exc)
    return error(f"cannot write {str(target)!r}: {reason} (the old file, if any, is unchanged)")


def check_regular_file(
    path: str | os.PathLike[str], *, what: str = "file", error: type[Exception] = StylepedalError
) -> Path:
    """Return ``path`` if it is an existing regular file (or a link to one), else raise.

    Only ``stat`` is called: a FIFO is refused without being opened (opening one for reading
    blocks until a writer appears), and so are devices, sockets and folders.

    Raises
    ------
    error
        naming ``what``, the path and what it is instead.

    Examples
    --------
    >>> import tempfile, os
    >>> check_regular_file(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    stylepedal.errors.StylepedalError: file '...' is a folder, not a regular file
    """
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise error(f"{what} {str(p)!r} does not exist (no such file)") from None
    except OSError as exc:
        raise error(f"{what} {str(p)!r} cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        kind = (
            "a folder" if stat.S_ISDIR(mode)
            else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        raise error(f"{what} {str(p)!r} is {kind}, not a regular file")
    return p


def check_output_target(
    path: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str]] = (),
    *,
    overwrite: bool = False,
    error: type[Exception] = StylepedalError,
    option: str = "--overwrite",
) -> Path:
    """Check an output path before any work: not one of ``inputs``, not a folder, in a folder
    this process may write to, and not an existing file unless ``overwrite``.

    The same file is recognised through links and different spellings (``os.path.samefile``
    on the existing files, ``realpath`` otherwise).

    Raises
    ------
    error
        naming the path and, for an existing file, ``option`` (how to replace it).

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> check_output_target(os.path.join(d, "out.wav"), [os.path.join(d, "in.wav")]).name
    'out.wav'
    """
    target = Path(path)
    for src in inputs:
        if _same_file(target, Path(src)):
            raise error(
                f"output {str(target)!r} is the input file {str(src)!r}: writing it would "
                "destroy the input; choose another output name"
            )
    if target.is_dir():
        raise error(f"output {str(target)!r} is a folder: give a file name")
    folder = target.parent if str(target.parent) else Path(".")
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        raise error(f"output folder {str(folder)!r} is not writable: choose another folder")
    if target.exists() or target.is_symlink():
        if not overwrite:
            raise error(f"output {str(target)!r} exists already: pass {option} to replace it")
        if target.exists() and not target.is_file():
            raise error(f"output {str(target)!r} exists and is not a regular file")
    return target


def _same_file(a: Path, b: Path) -> bool:
    with contextlib.suppress(OSError):
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, error: type[Exception] = StylepedalError
) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`), creating its folder.

    The written file's size is checked against ``len(data)`` before it replaces ``path``; a
    file-system error (a read-only folder, a full disk, a file where the folder should be) is
    raised as ``error``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
    >>> atomic_write_bytes(p, b"hi").read_bytes()
    b'hi'
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(
            f"cannot write {str(target)!r}: its folder cannot be made "
            f"({exc.strerror or exc})"
        ) from exc

    def same_size(tmp: Path) -> None:
        written = os.stat(tmp).st_size
        if written != len(data):
            raise error(f"cannot write {str(target)!r}: {written} of {len(data)} bytes written")

    with atomic_output(target, error=error, verify=same_size) as tmp:
        tmp.write_bytes(data)
    return target


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, error: type[Exception] = StylepedalError
) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text (newlines written as ``\\n`` everywhere).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write_text(p, "hé").read_text(encoding="utf-8")
    'hé'
    """
    return atomic_write_bytes(path, text.encode("utf-8"), error=error)
