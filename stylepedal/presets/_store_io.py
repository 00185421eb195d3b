"""The store's guards against hostile files and racing writers: bounded reading of a bundle's
zip members, and the store's lock file."""

from __future__ import annotations

import contextlib
import os
import time
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from .._atomic import check_regular_file
from ..errors import PresetError

__all__ = ["read_members", "store_lock"]

_READ_CHUNK = 1 << 16


def read_members(path: Path, where: str, caps: Mapping[str, int]) -> dict[str, bytes]:
    """The members of the zip at ``path``, exactly the names of ``caps``, each read in chunks
    and refused past its cap in bytes (declared or actual): a zip bomb costs at most the cap.

    Raises
    ------
    PresetError
        naming ``where`` if the file is not a zip, a name is missing, extra or repeated, or a
        member is too large or cannot be read.
    """
    check_regular_file(path, what="bundle", error=PresetError)  # a FIFO is refused unopened
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError as exc:
        raise PresetError(f"{where} does not exist") from exc
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise PresetError(f"{where} is not a stylepedal preset bundle (zip): {exc}") from exc
    with zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise PresetError(f"{where} holds {repeated} more than once; refusing it")
        if set(names) != set(caps):
            raise PresetError(
                f"{where} has members {sorted(names)[:12]}; a bundle holds exactly {sorted(caps)}"
            )
        data = {}
        for info in infos:
            data[info.filename] = _read_member(zf, info, caps[info.filename], where)
    return data


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, where: str) -> bytes:
    if info.file_size > cap or info.compress_size > cap:
        raise PresetError(
            f"{where}: {info.filename} is {max(info.file_size, info.compress_size)} bytes: "
            f"allowed is at most {cap}"
        )
    chunks, size = [], 0
    try:
        with zf.open(info) as member:
            # read(n) inflates at most n bytes at a time; read() would inflate it all at once
            while chunk := member.read(_READ_CHUNK):
                size += len(chunk)
                if size > cap:
                    raise PresetError(
                        f"{where}: {info.filename} holds more than {cap} bytes (it declares "
                        f"{info.file_size}): refusing it"
                    )
                chunks.append(chunk)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        # zipfile stops at the declared size, so a member holding more fails its CRC
        raise PresetError(
            f"{where}: {info.filename} cannot be read (damaged, or it holds other than the "
            f"{info.file_size} bytes it declares): {exc}"
        ) from exc
    return b"".join(chunks)


@contextlib.contextmanager
def store_lock(root: Path, timeout_seconds: float) -> Iterator[None]:
    """Hold an exclusive lock on the store folder ``root``: one writer of presets and models at
    a time, across processes (the system drops it if a writer dies: ``flock`` on the folder on
    POSIX, ``msvcrt.locking`` on a lock file in it on Windows). Only writers take it, never
    anything that plays audio.

    Raises
    ------
    PresetError
        if the folder cannot be made or opened, or another writer holds the lock for
        ``timeout_seconds``.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        if os.name == "nt":
            fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT)
        else:
            fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise PresetError(f"cannot lock the store {root}: {exc}") from exc
    try:
        deadline = time.monotonic() + timeout_seconds
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise PresetError(
                    f"the store {root} is busy: another import or save has held its lock "
                    f"for {timeout_seconds:g} s; try again"
                )
            time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on ``fd`` without waiting; False if another process holds it."""
    if os.name == "nt":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
