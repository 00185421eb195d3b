"""stylepedal.audio_io: real files of every format written and read back, and the errors."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from stylepedal.audio_io import FORMATS, open_audio, read_audio, write_audio
from stylepedal.errors import AudioFileError, ParameterError
from tests.tolerances import PCM16_ROUND_TRIP_ATOL, PCM24_ROUND_TRIP_ATOL

SR = 44100


def _tone(seconds: float = 0.5, channels: int = 2, freq_hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rows = [0.5 * np.sin(2 * np.pi * freq_hz * (k + 1) * t) for k in range(channels)]
    return np.asarray(rows, dtype=np.float32)


def _peak_hz(x: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spectrum) * sample_rate / x.size)


@pytest.mark.parametrize(
    "suffix, bit_depth, atol",
    [
        (".wav", None, PCM16_ROUND_TRIP_ATOL),
        (".wav", 32, 0.0),  # 32-bit float WAV is exact
        (".flac", None, PCM16_ROUND_TRIP_ATOL),
        (".flac", 24, PCM24_ROUND_TRIP_ATOL),
        (".aiff", 24, PCM24_ROUND_TRIP_ATOL),  # AIFF has no float samples in pedalboard
        (".aif", None, PCM16_ROUND_TRIP_ATOL),
    ],
)
def test_lossless_round_trip(tmp_path, suffix, bit_depth, atol):
    audio = _tone()
    path = write_audio(tmp_path / f"x{suffix}", audio, SR, bit_depth=bit_depth)
    back, sr = read_audio(path)
    assert sr == SR and back.dtype == np.float32 and back.shape == audio.shape
    np.testing.assert_allclose(back, audio, rtol=0, atol=atol)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"x{suffix}"]  # no temp file left


@pytest.mark.parametrize("suffix", [".ogg", ".mp3"])
def test_lossy_round_trip_keeps_channels_rate_and_pitch(tmp_path, suffix):
    audio = _tone(1.0)
    back, sr = read_audio(write_audio(tmp_path / f"x{suffix}", audio, SR))
    assert sr == SR and back.shape[0] == 2
    # codecs pad to whole frames: never shorter than the input, at most a few frames longer
    assert audio.shape[1] <= back.shape[1] <= audio.shape[1] + 4 * 1152
    for ch, freq in enumerate((440.0, 880.0)):
        assert abs(_peak_hz(back[ch], sr) - freq) < 2.0
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"x{suffix}"]


def test_mono_resample_and_crop(tmp_path):
    audio = _tone(0.5)
    path = write_audio(tmp_path / "x.wav", audio, SR, bit_depth=32)
    mono, sr = read_audio(path, mono=True)
    assert sr == SR and mono.shape == (audio.shape[1],)
    np.testing.assert_allclose(mono, audio.mean(axis=0), atol=1e-7)
    half, sr2 = read_audio(path, sample_rate=22050, seconds=0.2)
    assert sr2 == 22050 and half.shape == (2, round(0.2 * 22050))
    assert abs(_peak_hz(half[0], sr2) - 440.0) < 6.0
    one_d = write_audio(tmp_path / "m.flac", audio[0], SR)  # (frames,) is one channel
    assert read_audio(one_d)[0].shape == (1, audio.shape[1])


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = write_audio(tmp_path / "x.wav", _tone(0.1), SR)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_overwrite_false_keeps_the_file(tmp_path):
    path = tmp_path / "x.wav"
    path.write_bytes(b"precious")
    with pytest.raises(AudioFileError, match="exists already"):
        write_audio(path, _tone(0.1), SR, overwrite=False)
    assert path.read_bytes() == b"precious"
    write_audio(path, _tone(0.1), SR)
    assert read_audio(path)[0].shape == (2, int(0.1 * SR))


def test_read_errors(tmp_path):
    with pytest.raises(AudioFileError, match="style file .* does not exist"):
        read_audio(tmp_path / "missing.wav", name="style")
    (tmp_path / "junk.wav").write_bytes(b"RIFF not really a wave file")
    with pytest.raises(AudioFileError, match="cannot be read as audio"):
        read_audio(tmp_path / "junk.wav")
    (tmp_path / "notes.txt").write_bytes(b"hello")
    with pytest.raises(AudioFileError, match="unsupported format '.txt'"):
        open_audio(tmp_path / "notes.txt")
    nan = _tone(0.1)
    nan[1, 7] = np.nan
    from pedalboard.io import AudioFile

    with AudioFile(str(tmp_path / "nan.wav"), "w", SR, 2, bit_depth=32) as f:
        f.write(nan)  # written directly: write_audio refuses NaN
    with pytest.raises(ParameterError, match="1 NaN/Inf samples"):
        read_audio(tmp_path / "nan.wav")
    with AudioFile(str(tmp_path / "empty.wav"), "w", SR, 1) as f:
        f.write(np.zeros((1, 0), np.float32))
    with pytest.raises(AudioFileError, match="holds no samples"):
        read_audio(tmp_path / "empty.wav")
    with pytest.raises(ParameterError, match="seconds"):
        read_audio(tmp_path / "nan.wav", seconds=0)


def test_write_errors_leave_nothing(tmp_path):
    audio = _tone(0.1)
    with pytest.raises(AudioFileError, match="folder"):
        write_audio(tmp_path / "no" / "x.wav", audio, SR)
    with pytest.raises(AudioFileError, match="extension"):
        write_audio(tmp_path / "x", audio, SR)
    with pytest.raises(AudioFileError, match="unsupported format '.xyz'"):
        write_audio(tmp_path / "x.xyz", audio, SR)
    bad = audio.copy()
    bad[0, 3] = np.inf
    with pytest.raises(ParameterError, match="NaN/Inf"):
        write_audio(tmp_path / "x.wav", bad, SR)
    with pytest.raises(AudioFileError, match="cannot write"):
        write_audio(tmp_path / "x.flac", audio, SR, bit_depth=32)  # FLAC is integer-only
    assert list(tmp_path.iterdir()) == []


def test_formats_cover_the_documented_ones():
    assert {".wav", ".flac", ".ogg", ".mp3", ".aiff"} <= set(FORMATS)
