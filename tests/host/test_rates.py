"""Files at any sample rate: rendered at a rate the engine runs at, written back at their own
rate with exactly their length; live, a clear word about which rates to set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pedalboard.io import AudioFile

from stylepedal.effect.engine.stft import StftConfig, supported_sample_rate
from stylepedal.errors import DeviceError, ParameterError
from stylepedal.host._rates import (
    COMMON_RATES,
    RateRestorer,
    ResampledReader,
    check_device_rate,
    processing_rate,
    resample,
)
from stylepedal.host.chain import build_chain
from stylepedal.host.cli import main
from stylepedal.host.render import render_file

# A resampled tone against the same tone computed at the new rate, away from the edges: soxr's
# HQ filter is exact to float32 rounding there; a fraction of a sample of delay gives > 1e-2.
RESAMPLED_TONE_ATOL = 1e-5
# The render of an off-grid file against the same chain on a file resampled by hand, relative
# to the output's RMS: the same computation in other chunks, so float32 rounding only.
OFF_GRID_RENDER_RTOL = 1e-4


def write(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    with AudioFile(str(path), "w", samplerate=sample_rate, num_channels=audio.shape[0],
                   bit_depth=32) as f:
        f.write(audio)
    return path


def read(path: Path) -> tuple[np.ndarray, int]:
    with AudioFile(str(path)) as f:
        return f.read(f.frames), int(f.samplerate)


def guitar_like(sample_rate: int, frames: int, channels: int) -> np.ndarray:
    """Plucked harmonic notes (a few per second), below the lowest rate's Nyquist."""
    t = np.arange(frames) / sample_rate
    x = np.zeros(frames)
    for k, f0 in enumerate((110.0, 147.0, 196.0, 165.0)):
        start = k * 0.25
        env = np.where(t >= start, np.exp(-4.0 * np.clip(t - start, 0, None)), 0.0)
        for h in range(1, 6):
            if f0 * h < 0.45 * sample_rate:
                x += env * np.sin(2 * np.pi * f0 * h * (t - start)) / h
    x = 0.25 * x / np.abs(x).max()
    return np.stack([x * (1.0 - 0.2 * c) for c in range(channels)]).astype(np.float32)


def test_processing_rates():
    assert [processing_rate(r) for r in (8000, 11025, 16000, 22050, 32000, 37800, 44100,
                                         48000, 50000, 192000, 400000)] == [
        22050, 22050, 22050, 22050, 44100, 37800, 44100, 48000, 88200, 192000, 384000]
    for rate in (*COMMON_RATES, 8000, 11025, 32000, 37800, 400000):
        assert supported_sample_rate(processing_rate(rate))
    assert not supported_sample_rate(32000) and supported_sample_rate(37800)
    with pytest.raises(ParameterError, match="multiple of 75"):
        StftConfig.for_rate(32000)


@pytest.mark.parametrize(("from_rate", "to_rate"), [(44100, 32000), (22050, 11025),
                                                    (48000, 48000)])
@pytest.mark.parametrize("frames", [1, 9999, 32001])
def test_rate_restorer_writes_exactly_the_frames_whatever_the_blocks(rng, from_rate, to_rate,
                                                                     frames):
    n_in = int(np.ceil(frames * from_rate / to_rate))
    x = rng.standard_normal((2, n_in)).astype(np.float32)

    class Sink:
        def __init__(self) -> None:
            self.parts: list[np.ndarray] = []

        def write(self, y: np.ndarray) -> None:
            assert y.dtype == np.float32 and y.shape[0] == 2
            self.parts.append(y.copy())

    outs = []
    for block in (17, 4096, n_in):
        sink = Sink()
        restorer = RateRestorer(sink, from_rate, to_rate, channels=2, frames=frames)
        for i in range(0, n_in, block):
            restorer.write(x[:, i : i + block])
        restorer.finish()
        outs.append(np.concatenate(sink.parts, axis=1))
    assert all(o.shape == (2, frames) for o in outs)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])
    if from_rate == to_rate:
        np.testing.assert_array_equal(outs[0], x[:, :frames])


class _Source:
    """A file's read interface over an array; ``missing`` frames short of what it claims."""

    def __init__(self, audio: np.ndarray, sample_rate: int, missing: int = 0) -> None:
        self.audio, self.samplerate, self.num_channels = audio, float(sample_rate), audio.shape[0]
        self.frames, self.file_dtype, self._at = audio.shape[1] + missing, "float32", 0

    def read(self, n: int) -> np.ndarray:
        out = self.audio[:, self._at : self._at + n]
        self._at += out.shape[1]
        return out


@pytest.mark.parametrize("block", [1, 3, 4096, 100000])
def test_resampled_reader_gives_exactly_its_frames_in_any_blocks(rng, block):
    x = rng.standard_normal((2, 32001)).astype(np.float32)
    reader = ResampledReader(_Source(x, 32000), 44100)
    parts = []
    while (y := reader.read(block)).shape[1]:
        assert y.shape[1] <= block and y.dtype == np.float32
        parts.append(y)
    got = np.concatenate(parts, axis=1)
    assert reader.frames == got.shape[1] == round(32001 * 44100 / 32000)
    assert reader.source_frames_read == 32001
    np.testing.assert_allclose(got, resample(x, 32000, 44100), atol=RESAMPLED_TONE_ATOL)


def test_resampled_reader_does_not_pad_a_file_that_ends_early(rng):
    x = rng.standard_normal((1, 22050)).astype(np.float32)
    reader = ResampledReader(_Source(x, 11025, missing=11025), 22050)
    assert reader.frames == 66150
    n = 0
    while (y := reader.read(4096)).shape[1]:
        n += y.shape[1]
    assert reader.source_frames_read == 22050 and abs(n - 44100) <= 2


def test_resample_keeps_a_tone_and_its_place():
    rate, to = 32000, 44100
    t = np.arange(rate) / rate
    x = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)[None]
    y = resample(x, rate, to)
    assert y.shape == (1, to)
    ref = 0.5 * np.sin(2 * np.pi * 440.0 * np.arange(to) / to)
    # away from the edges the resampled tone is the same tone at the same phase
    assert np.abs(y[0, 2000:-2000] - ref[2000:-2000]).max() < RESAMPLED_TONE_ATOL


@pytest.mark.slow
@pytest.mark.parametrize(("rate", "channels"), [(32000, 2), (11025, 1)])
def test_render_at_a_rate_off_the_grid_keeps_rate_and_length(tmp_path, rate, channels):
    frames = int(1.1 * rate) + 7  # not a whole number of anything
    x = guitar_like(rate, frames, channels)
    src = write(tmp_path / f"in{rate}.wav", x, rate)
    chain = build_chain("Organ")
    result = render_file(src, tmp_path / "out.wav", chain, chunk_frames=4096, progress=False)
    y, sr = read(tmp_path / "out.wav")
    assert sr == rate and y.shape == (channels, frames)
    assert (result.sample_rate, result.frames, result.channels) == (rate, frames, channels)

    # It is the style transfer: what the same chain makes of the file resampled to the
    # processing rate by hand, brought back by hand; not silence, not the dry input.
    work = processing_rate(rate)
    ref_in = write(tmp_path / "ref_in.wav", resample(x, rate, work), work)
    render_file(ref_in, tmp_path / "ref_out.wav", build_chain("Organ"), progress=False)
    ref = resample(read(tmp_path / "ref_out.wav")[0], work, rate)[:, :frames]
    rms = float(np.sqrt(np.mean(ref**2)))
    assert rms > 0.01
    assert float(np.sqrt(np.mean((y - ref) ** 2))) < OFF_GRID_RENDER_RTOL * rms
    dry_difference = float(np.sqrt(np.mean((y - x) ** 2)))
    assert dry_difference > 0.2 * rms


@pytest.mark.slow
def test_cli_renders_a_32_khz_mp3_and_flac(tmp_path, capsys):
    x = guitar_like(32000, 32000, 2)
    src = write(tmp_path / "in.wav", x, 32000)
    for out in ("out.flac", "out.mp3"):
        assert main(["render", str(src), str(tmp_path / out), "--preset", "Organ",
                     "--no-progress"]) == 0
        y, sr = read(tmp_path / out)
        assert sr == 32000 and np.abs(y).max() > 0.01
    assert read(tmp_path / "out.flac")[0].shape == (2, 32000)


def test_live_rate_message_lists_the_rates_to_set():
    assert check_device_rate(48000) == 48000
    with pytest.raises(DeviceError) as info:
        check_device_rate(32000)
    message = str(info.value)
    assert "the audio device runs at 32000 Hz" in message
    assert "44100, 48000" in message and "JACK server" in message
    with pytest.raises(DeviceError, match=r"--sample-rate=11025 is not a rate"):
        check_device_rate(11025, given=True)
