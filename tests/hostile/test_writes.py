"""Writes that cannot lie: a full disk, a read-only folder or a short file never replaces the
old output, never leaves a temporary file, and is a typed error; no command overwrites its
input or an existing file without --overwrite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from pedalboard.io import AudioFile

from stylepedal._atomic import atomic_output, atomic_write_bytes
from stylepedal.audio_io import write_audio
from stylepedal.errors import AudioFileError, StylepedalError
from stylepedal.host.cli import main

from ._util import clean_failure, cli, leftovers, tone

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file semantics")


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_disk_full_render_keeps_the_old_output(tmp_path, suffix):
    src = tone(tmp_path / "in.wav", seconds=2.0, channels=2)
    old = tone(tmp_path / f"old{suffix}", seconds=0.1)
    before = old.read_bytes()
    # room for most of the new file, not all of it: the failure comes in the last KB
    scratch = tmp_path / "sizes" / f"full{suffix}"
    scratch.parent.mkdir()
    argv = ["render", str(src), str(scratch), "--preset", "Organ", "--no-progress"]
    assert cli(argv).returncode == 0
    limit = scratch.stat().st_size - 2000
    proc = cli(["render", str(src), str(old), "--preset", "Organ", "--overwrite",
                "--no-progress"], file_limit=limit)
    err = clean_failure(proc)
    assert "cannot write" in err
    assert old.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_disk_full_prep_keeps_the_old_output(tmp_path):
    src = tone(tmp_path / "in.wav", seconds=2.0)
    old = tone(tmp_path / "old.wav", seconds=0.1)
    before = old.read_bytes()
    scratch = tmp_path / "sizes" / "full.wav"
    scratch.parent.mkdir()
    assert cli(["prep", str(src), str(scratch), "--loudness", "-23"]).returncode == 0
    proc = cli(["prep", str(src), str(old), "--loudness", "-23", "--overwrite"],
               file_limit=scratch.stat().st_size - 1000)  # the header update at close fails
    assert "cannot write" in clean_failure(proc)
    assert old.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_disk_full_export_keeps_the_old_bundle(tmp_path):
    old = tmp_path / "organ.stylepedal"
    old.write_bytes(b"an older bundle")
    proc = cli(["presets", "export", "Organ", str(old), "--overwrite"], file_limit=50_000)
    assert "cannot write" in clean_failure(proc)
    assert old.read_bytes() == b"an older bundle"
    assert leftovers(tmp_path) == []


def test_verification_catches_a_short_file(tmp_path):
    """A writer that leaves a file whose header claims more than it holds (what a disk that
    fills before the last flush leaves) is caught before the replace."""
    target = tone(tmp_path / "out.wav", seconds=0.1)
    before = target.read_bytes()
    x = np.zeros((2, 48000), np.float32)
    from stylepedal.audio_io import verify_written

    def verify(tmp: Path) -> None:
        verify_written(tmp, frames=x.shape[1], channels=2, sample_rate=48000, target=target)

    with pytest.raises(AudioFileError, match=r"wrote 48000 frames.*holds 4[0-9]{4} frames"):
        with atomic_output(target, error=AudioFileError, verify=verify) as tmp:
            with AudioFile(str(tmp), "w", 48000, num_channels=2) as f:
                f.write(x)
            os.truncate(tmp, os.path.getsize(tmp) - 4000)
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_write_audio_verifies_what_it_wrote(tmp_path, monkeypatch):
    """write_audio reads its file back: a writer that silently drops the last block fails."""
    import pedalboard.io

    real = pedalboard.io.AudioFile

    class Dropping:  # a real writer that loses the last 1000 frames, as a short write does
        def __init__(self, *args, **kwargs):
            self._f = real(*args, **kwargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

        def __getattr__(self, name):
            return getattr(self._f, name)

        def write(self, data):
            self._f.write(data[:, :-1000])

    target = tone(tmp_path / "keep.flac", seconds=0.1)
    before = target.read_bytes()
    monkeypatch.setattr(pedalboard.io, "AudioFile", Dropping)
    with pytest.raises(AudioFileError, match="wrote 8000 frames"):
        write_audio(target, np.zeros(8000, np.float32), 8000)
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []


def _read_only_folder(tmp_path: Path) -> Path:
    """A folder no file can be created in, for whoever runs the tests."""
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    # root ignores permission bits; /proc refuses new files to everyone
    if not Path("/proc").is_dir():  # pragma: no cover - Linux only
        pytest.skip("running as root without /proc: no folder refuses root's writes")
    return Path("/proc")


@pytest.mark.parametrize("command", ["render", "prep", "plot", "export", "render-plot"])
def test_read_only_folder_is_a_typed_error(tmp_path, command):
    src = tone(tmp_path / "in.wav")
    folder = _read_only_folder(tmp_path)
    argv = {
        "render": ["render", str(src), str(folder / "o.wav"), "--preset", "Organ",
                   "--no-progress"],
        "prep": ["prep", str(src), str(folder / "o.wav"), "--loudness", "-23"],
        "plot": ["plot", str(folder / "f.png"), "--content", str(src), "--style", str(src),
                 "--output", str(src)],
        "export": ["presets", "export", "Organ", str(folder / "o.stylepedal")],
        "render-plot": ["render", str(src), str(tmp_path / "o.wav"), "--preset", "Organ",
                        "--no-progress", "--plot", str(folder / "f.png")],
    }[command]
    assert main(argv) == 2


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink"])
def test_prep_refuses_its_input_as_output(tmp_path, spelling, capsys):
    full = tone(tmp_path / "full.wav")
    before = full.read_bytes()
    out = {"same": full, "dotted": tmp_path / "sub" / ".." / "full.wav",
           "symlink": tmp_path / "link.wav"}[spelling]
    (tmp_path / "sub").mkdir()
    if spelling == "symlink":
        out.symlink_to(full)
    for extra in ([], ["--overwrite"]):
        assert main(["prep", str(full), str(out), "--loudness", "-23", *extra]) == 2
        assert "is the input file" in capsys.readouterr().err
    assert full.read_bytes() == before


@pytest.mark.parametrize("command", ["prep", "texture", "plot", "export", "render-plot"])
def test_an_existing_output_needs_overwrite(tmp_path, command, capsys):
    src = tone(tmp_path / "in.wav", seconds=1.0)
    existing = tmp_path / {"plot": "f.png", "render-plot": "f.png",
                           "export": "b.stylepedal"}.get(command, "o.wav")
    existing.write_bytes(b"precious")
    argv = {
        "prep": ["prep", str(src), str(existing), "--loudness", "-23"],
        "texture": ["texture", str(src), str(existing), "--seconds", "0.2", "--iterations", "1",
                    "--filters", "8", "--griffin-lim-iters", "1"],
        "plot": ["plot", str(existing), "--content", str(src), "--style", str(src),
                 "--output", str(src)],
        "export": ["presets", "export", "Organ", str(existing)],
        "render-plot": ["render", str(src), str(tmp_path / "o.wav"), "--preset", "Organ",
                        "--no-progress", "--plot", str(existing)],
    }[command]
    assert main(argv) == 2
    assert "exists already" in capsys.readouterr().err
    assert existing.read_bytes() == b"precious"
    if command == "render-plot":
        assert not (tmp_path / "o.wav").exists()  # refused before any work


def test_export_into_a_folder_writes_name_dot_stylepedal(tmp_path):
    assert main(["presets", "export", "Organ", str(tmp_path)]) == 0
    assert (tmp_path / "Organ.stylepedal").is_file()
    assert main(["presets", "export", "Organ", str(tmp_path)]) == 2  # exists now


def test_atomic_write_bytes_failure_is_typed(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"x")
    with pytest.raises(StylepedalError, match="cannot write"):
        atomic_write_bytes(blocker / "sub" / "x.bin", b"data")
