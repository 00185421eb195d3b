"""Reading files that lie: FIFOs and devices are refused without blocking; a file whose
header claims more frames than it holds is refused, saying both numbers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from stylepedal.audio_io import read_audio
from stylepedal.errors import AudioFileError
from stylepedal.host.cli import main

from ._forge import lying_wav
from ._util import clean_failure, cli, tone

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")


def test_fifo_as_render_input_is_named(tmp_path, capsys):
    fifo = tmp_path / "in.wav"
    os.mkfifo(fifo)
    assert main(["render", str(fifo), str(tmp_path / "o.wav"), "--preset", "Organ",
                 "--no-progress"]) == 2
    assert "FIFO" in capsys.readouterr().err


def test_presets_import_of_a_fifo_does_not_block(tmp_path):
    fifo = tmp_path / "bundle.stylepedal"
    os.mkfifo(fifo)
    err = clean_failure(cli(["presets", "import", str(fifo)], timeout=30))
    assert "FIFO" in err


def test_a_fifo_in_the_store_is_skipped_with_a_warning(tmp_path):
    home = Path(os.environ["STYLEPEDAL_HOME"])
    (home / "presets").mkdir(parents=True)
    os.mkfifo(home / "presets" / "Stuck.toml")
    proc = cli(["presets", "list"], timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "Organ" in proc.stdout and "FIFO" in proc.stderr
    proc = cli(["presets", "show", "Organ"], timeout=30)
    assert proc.returncode == 0, proc.stderr


def test_a_header_claiming_a_billion_frames_is_refused(tmp_path, capsys):
    src = lying_wav(tmp_path / "lie.wav", 10**9)
    assert 500_000 < src.stat().st_size < 600_000
    assert main(["render", str(src), str(tmp_path / "o.wav"), "--preset", "Organ",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "claims" in err and "144000" in err  # what the header says and what is there
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3"])
@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_truncated_files_are_refused(tmp_path, suffix, keep):
    whole = tone(tmp_path / f"whole{suffix}", seconds=2.0, channels=2)
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: int(len(data) * keep)])
    read_audio(whole)  # the whole file reads
    with pytest.raises(AudioFileError, match=r"truncated or damaged: its header claims \d+"):
        read_audio(cut)


def test_truncated_input_is_not_rendered(tmp_path, capsys):
    whole = tone(tmp_path / "whole.flac", seconds=2.0)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole.read_bytes()[:-3000])
    assert main(["render", str(cut), str(tmp_path / "o.wav"), "--preset", "Organ",
                 "--no-progress"]) == 2
    assert "truncated" in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="/dev/zero as a path")
def test_a_device_is_refused_unopened():
    # an endless device read into memory must not take the test machine down with it
    proc = cli(["presets", "import", "/dev/zero"], memory_limit=2 << 30, timeout=30)
    assert "device" in clean_failure(proc)
