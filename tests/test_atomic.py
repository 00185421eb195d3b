"""stylepedal._atomic: atomic output, cleanup on failure, permissions from the umask."""

from __future__ import annotations

import os
import stat

import pytest

from stylepedal._atomic import atomic_output, atomic_write_bytes, atomic_write_text, current_umask
from stylepedal.errors import AudioFileError, StylepedalError


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_success_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.wav"
    target.write_bytes(b"old")
    with atomic_output(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".") and tmp.suffix == ".wav"
        assert tmp != target and target.read_bytes() == b"old"  # untouched until the end
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_failure_keeps_old_file_and_removes_temp(tmp_path, exc_type):
    target = tmp_path / "keep.txt"
    target.write_bytes(b"precious")
    seen = []
    with pytest.raises(exc_type):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"half")
            seen.append(tmp)
            raise exc_type("stop")
    assert not seen[0].exists()
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_failure_without_old_file_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="bad"):
        with atomic_output(tmp_path / "new.flac") as tmp:
            tmp.write_bytes(b"x")
            raise ValueError("bad")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_false_refuses_before_writing(tmp_path):
    target = tmp_path / "x.wav"
    target.write_bytes(b"old")
    entered = False
    with pytest.raises(StylepedalError, match="x.wav.*exists already"):
        with atomic_output(target, overwrite=False):
            entered = True
    assert not entered
    with pytest.raises(AudioFileError, match="exists already"):
        with atomic_output(target, overwrite=False, error=AudioFileError):
            entered = True
    assert not entered and target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.wav"]
    with atomic_output(tmp_path / "fresh.wav", overwrite=False) as tmp:
        tmp.write_bytes(b"ok")
    assert (tmp_path / "fresh.wav").read_bytes() == b"ok"


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_permissions_follow_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        assert current_umask() == mask
        path = atomic_write_bytes(tmp_path / "a.bin", b"data")
        with atomic_output(tmp_path / "b.wav") as tmp:
            tmp.write_bytes(b"data")
        plain = tmp_path / "plain.bin"
        with open(plain, "wb") as f:
            f.write(b"data")
    finally:
        os.umask(old)
    assert _mode(path) == 0o666 & ~mask
    assert _mode(tmp_path / "b.wav") == 0o666 & ~mask
    assert _mode(path) == _mode(plain)  # as a plain open() would


def test_write_helpers_create_folder_and_round_trip(tmp_path):
    p = atomic_write_text(tmp_path / "sub" / "deeper" / "t.toml", "name = \"é\"\n")
    assert p.read_bytes() == 'name = "é"\n'.encode()
    atomic_write_bytes(p, b"\x00\x01")
    assert p.read_bytes() == b"\x00\x01"
    assert sorted(x.name for x in p.parent.iterdir()) == ["t.toml"]
