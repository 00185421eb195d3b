"""Offline rendering through pedalboard.io: exact length, every format, atomic, flat memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pedalboard
import pytest
from pedalboard.io import AudioFile

from stylepedal.effect import StyleTransfer
from stylepedal.errors import AudioFileError, ParameterError
from stylepedal.host.chain import Chain, build_chain
from stylepedal.host.cli import main
from stylepedal.host.render import render_file
from tests.helpers import make_preset
from tests.tolerances import PCM16_ROUND_TRIP_ATOL

SR = 48000
# MP3 pads the end of a file up to whole frames (1152 samples) plus the encoder's tail.
MP3_MAX_PADDING = 3 * 1152


def write(path: Path, audio: np.ndarray, sample_rate: int = SR, **kw) -> Path:
    with AudioFile(str(path), "w", samplerate=sample_rate, num_channels=audio.shape[0], **kw) as f:
        f.write(audio)
    return path


def read(path: Path) -> tuple[np.ndarray, int]:
    with AudioFile(str(path)) as f:
        return f.read(f.frames), int(f.samplerate)


@pytest.fixture
def stereo(rng) -> np.ndarray:
    t = np.arange(SR // 2) / SR
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    noise = 0.05 * rng.standard_normal((2, t.size))
    return (tone + noise).astype(np.float32)


def _chain():
    return Chain(
        [pedalboard.Gain(gain_db=-3), StyleTransfer.identity(), pedalboard.HighpassFilter(60)]
    )


@pytest.mark.parametrize("chunk_frames", [17, 4096, 65536])
def test_wav_render_equals_offline_chain(tmp_path, stereo, chunk_frames):
    src = write(tmp_path / "in.wav", stereo, bit_depth=32)
    chain = _chain()
    result = render_file(src, tmp_path / "out.wav", chain, chunk_frames=chunk_frames,
                         progress=False)
    out, sr = read(tmp_path / "out.wav")
    assert sr == SR and out.shape == stereo.shape
    assert (result.frames, result.channels, result.sample_rate) == (stereo.shape[1], 2, SR)
    assert result.latency_samples == chain.latency_samples(SR, channels=2) > 0
    np.testing.assert_allclose(out, _chain().process_offline(stereo, SR), atol=1e-5)


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".mp3", ".aiff"])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("chunk_frames", [1000, 8192])
def test_every_format_keeps_length_rate_and_channels(tmp_path, stereo, suffix, channels,
                                                     chunk_frames):
    audio = stereo[:channels, : SR // 4 + 77]
    src = write(tmp_path / f"in{suffix}", audio, sample_rate=44100)
    with AudioFile(str(src)) as f:
        in_frames = f.frames  # an MP3 input already carries its padding
    dst = tmp_path / f"out{suffix}"
    result = render_file(src, dst, _chain(), chunk_frames=chunk_frames, progress=False)
    assert result.frames == in_frames
    out, sr = read(dst)
    assert sr == 44100 and out.shape[0] == channels
    if suffix == ".mp3":
        # Encoding pads the end again (alignment: test_mp3_output_start_is_aligned).
        assert in_frames <= out.shape[1] <= in_frames + MP3_MAX_PADDING
    else:
        assert out.shape[1] == in_frames
    if suffix in (".wav", ".flac", ".aiff"):
        ref = _chain().process_offline(read(src)[0], 44100)
        np.testing.assert_allclose(out, ref, atol=PCM16_ROUND_TRIP_ATOL)


def test_mp3_output_start_is_aligned(tmp_path):
    # Silence, then an abrupt tone: its onset must come out where the input's is.
    sr = 44100
    x = np.zeros((1, sr // 2), np.float32)
    x[0, 10000:] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(x.shape[1] - 10000) / sr)
    src = write(tmp_path / "in.wav", x, sample_rate=sr)
    render_file(src, tmp_path / "out.mp3", _chain(), progress=False)
    out, _ = read(tmp_path / "out.mp3")
    ref = _chain().process_offline(x, sr)
    onset = [int(np.argmax(np.abs(a[0]) > 0.25)) for a in (out, ref)]
    assert abs(onset[0] - onset[1]) <= 32, onset


def _render_peak_bytes(folder: Path, seconds: int, rng) -> int:
    sr = 48000
    src = folder / f"noise{seconds}.wav"
    with AudioFile(str(src), "w", samplerate=sr, num_channels=2) as f:
        for _ in range(seconds):
            f.write((0.1 * rng.standard_normal((2, sr))).astype(np.float32))
    chain = Chain([pedalboard.Reverb(), StyleTransfer.identity()])
    tracemalloc.start()
    try:
        result = render_file(src, folder / f"out{seconds}.flac", chain, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.frames == seconds * sr
    with AudioFile(str(folder / f"out{seconds}.flac")) as f:
        assert f.frames == seconds * sr
    return peak


def test_memory_stays_flat_for_a_long_file(tmp_path, rng):
    # A file six times longer must not need more memory: it is streamed in chunks.
    short = _render_peak_bytes(tmp_path, 10, rng)
    long = _render_peak_bytes(tmp_path, 60, rng)
    whole_long = 60 * 48000 * 2 * 4  # the long signal as float32: 23 MB
    assert long < 1.2 * short + 1_000_000, (short, long)
    assert long < whole_long, (long, whole_long)


@pytest.mark.parametrize("channel_workers", [False, True])
def test_keyboard_interrupt_leaves_nothing_behind(tmp_path, stereo, channel_workers):
    import multiprocessing

    src = write(tmp_path / "in.wav", np.tile(stereo, 4))
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def interrupt(done, total):
        if done > 10000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_file(src, out_dir / "o.wav", _chain(), chunk_frames=4096, progress=False,
                    progress_callback=interrupt, channel_workers=channel_workers)
    assert list(out_dir.iterdir()) == [] and multiprocessing.active_children() == []


def _preset_chain():
    return build_chain("Test Tone", pre="Compressor(threshold_db=-20)", post="Reverb()")


@pytest.mark.parametrize("channel_workers", [False, True])
def test_three_channels_in_chunks_of_two_frames(tmp_path, stereo, channel_workers):
    """A chunk shorter than the channel count is still (channels, frames), not the reverse."""
    audio = np.concatenate([stereo, stereo[:1] * 0.5])[:, :6001]
    src = write(tmp_path / "in.wav", audio, bit_depth=32)
    render_file(src, tmp_path / "out.wav", _chain(), chunk_frames=2, progress=False,
                channel_workers=channel_workers)
    out, _ = read(tmp_path / "out.wav")
    np.testing.assert_allclose(out, _chain().process_offline(audio, SR), atol=1e-5)


@pytest.mark.parametrize("channels", [2, 3])
def test_channel_workers_render_the_same_bytes(tmp_path, stereo, channels):
    import multiprocessing

    make_preset("Test Tone", seed=1)
    audio = np.concatenate([stereo, stereo[::-1] * 0.5])[:channels]
    src = write(tmp_path / "in.wav", np.tile(audio, 3), bit_depth=32)
    one = render_file(src, tmp_path / "one.wav", _preset_chain(), chunk_frames=5000,
                      progress=False, channel_workers=False)
    many = render_file(src, tmp_path / "many.wav", _preset_chain(), chunk_frames=5000,
                       progress=False, channel_workers=True)
    assert (tmp_path / "one.wav").read_bytes() == (tmp_path / "many.wav").read_bytes()
    assert one.latency_samples == many.latency_samples
    out, _ = read(tmp_path / "many.wav")
    assert np.abs(out - np.tile(audio, 3)).max() > 1e-3  # the chain changes the sound
    assert multiprocessing.active_children() == []  # the workers are stopped


class _Fragile(StyleTransfer):
    """The identity effect, which fails on a block with a large sample (in a worker too)."""

    def process(self, audio, sample_rate, **kw):
        if np.abs(audio).max() > 10.0:
            raise RuntimeError("model blew up")
        return super().process(audio, sample_rate, **kw)


def test_channel_worker_failure_leaves_nothing_behind(tmp_path, stereo):
    import multiprocessing

    loud = np.tile(stereo, 4)
    loud[1, 20000] = 100.0  # only the second channel, which a worker computes
    src = write(tmp_path / "in.wav", loud, bit_depth=32)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(RuntimeError, match="channel worker 1.*model blew up"):
        render_file(src, out_dir / "o.wav", Chain([_Fragile()]), chunk_frames=4096,
                    progress=False, channel_workers=True)
    assert list(out_dir.iterdir()) == [] and multiprocessing.active_children() == []
    # a stream that goes on after the error refuses to, rather than read a stale block
    chain = Chain([_Fragile()])
    chain.start(SR, 2, channel_workers=True)
    bad = np.zeros((2, 512), np.float32)
    bad[1, 7] = 100.0
    with pytest.raises(RuntimeError, match="model blew up"):
        chain.process(bad, SR, reset=False)
    with pytest.raises(RuntimeError, match="restart the stream"):
        chain.process(np.zeros((2, 512), np.float32), SR, reset=False)
    assert multiprocessing.active_children() == []
    chain.reset()
    with pytest.raises(ParameterError, match="channel_workers='yes'"):
        render_file(src, out_dir / "o.wav", _chain(), channel_workers="yes")


def test_failure_keeps_an_existing_output_untouched(tmp_path, stereo):
    src = write(tmp_path / "in.wav", stereo)
    dst = tmp_path / "o.wav"
    dst.write_bytes(b"precious")

    class Broken:
        def latency_samples(self, sample_rate):
            return 0

        def reset(self):
            pass

        def process(self, audio, sample_rate, *, reset=True):
            raise RuntimeError("effect blew up")

    with pytest.raises(RuntimeError, match="blew up"):
        render_file(src, dst, Chain([Broken()]), overwrite=True, progress=False)
    assert dst.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "o.wav"]
    # Without overwrite an existing file is refused before any work.
    with pytest.raises(AudioFileError, match="exists already: pass --overwrite"):
        render_file(src, dst, _chain(), progress=False)
    assert dst.read_bytes() == b"precious"
    render_file(src, dst, _chain(), overwrite=True, progress=False)
    assert read(dst)[0].shape == stereo.shape


@pytest.mark.parametrize(
    "content, name, pattern",
    [
        (b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 8, "bad.wav", "cannot be read as audio"),
        (b"", "empty.flac", "cannot be read as audio"),
        (b"hello", "notes.txt", "unsupported format '.txt'"),
        (None, "missing.wav", "does not exist"),
    ],
)
def test_corrupt_or_unsupported_input(tmp_path, content, name, pattern):
    src = tmp_path / name
    if content is not None:
        src.write_bytes(content)
    with pytest.raises(AudioFileError, match=pattern):
        render_file(src, tmp_path / "out.wav", _chain(), progress=False)
    assert not (tmp_path / "out.wav").exists()


def test_unsupported_output_and_bad_arguments(tmp_path, stereo):
    src = write(tmp_path / "in.wav", stereo)
    with pytest.raises(AudioFileError, match="unsupported format '.xyz'"):
        render_file(src, tmp_path / "out.xyz", _chain(), progress=False)
    with pytest.raises(AudioFileError, match="folder .* does not exist"):
        render_file(src, tmp_path / "nope" / "out.wav", _chain(), progress=False)
    with pytest.raises(ParameterError, match="chunk_frames=0"):
        render_file(src, tmp_path / "out.wav", _chain(), chunk_frames=0, progress=False)


def test_build_chain_order_and_mix():
    fx = StyleTransfer.identity()
    chain = build_chain(None, mix=0.25, pre="Gain(gain_db=-3)", post="Reverb(), Delay()",
                        effect=fx)
    assert [type(i).__name__ for i in chain] == ["Gain", "StyleTransfer", "Reverb", "Delay"]
    assert fx.mix == pytest.approx(0.25)


# ---------------------------------------------------------------------------- CLI
def test_cli_renders_with_a_real_preset(tmp_path, stereo, capsys):
    make_preset("Test Tone", seed=1)
    src = write(tmp_path / "in.wav", stereo)
    dst = tmp_path / "out.flac"
    code = main(["render", str(src), str(dst), "--preset", "Test Tone", "--mix", "0.8",
                 "--pre", "Compressor(threshold_db=-20)", "--post", "Reverb(room_size=0.3)",
                 "--no-progress", "--plot", str(tmp_path / "fig.png")])
    assert code == 0
    out, sr = read(dst)
    assert out.shape == stereo.shape and sr == SR
    assert np.abs(out).max() > 0.01
    assert (tmp_path / "fig.png").stat().st_size > 1000
    # The same command again refuses to overwrite, and leaves the file as it was.
    before = dst.read_bytes()
    code = main(["render", str(src), str(dst), "--preset", "Test Tone", "--no-progress"])
    assert code == 2
    assert "exists already" in capsys.readouterr().err
    assert dst.read_bytes() == before


@pytest.mark.parametrize("hindsight", [False, True])
def test_render_learns_the_input_through_the_effects_before_the_style(tmp_path, stereo,
                                                                      hindsight):
    """The style effect learns the file as it will hear it (after the --pre effects), so a
    render is the chain's offline output with that input learnt; learn_input=False (--as-live)
    is the chain's output as it streams, learning as it goes. With a render's hindsight colour
    the render trims the latency it has once it has learnt."""
    from tests.effect.engine.test_colour import ColouredRecurrent
    from tests.effect.engine.test_hindsight import Hindsight

    src = write(tmp_path / "in.wav", stereo, bit_depth=32)
    target = np.linspace(2.0, 0.01, 1030)

    def chain() -> Chain:
        transform = Hindsight(target[::-1].copy()) if hindsight else ColouredRecurrent(target)
        return Chain([pedalboard.Gain(gain_db=-12), StyleTransfer(transform)])

    outs, trimmed = {}, {}
    for learn in (True, False):
        result = render_file(src, tmp_path / f"{learn}.wav", chain(), progress=False,
                             learn_input=learn, chunk_frames=5000)
        outs[learn], trimmed[learn] = read(tmp_path / f"{learn}.wav")[0], result.latency_samples
    live = chain()
    np.testing.assert_allclose(outs[False], live.process_offline(stereo, SR), atol=1e-5)
    learnt = chain()
    learnt[1].learn_input(stereo * np.float32(10 ** (-12 / 20)), SR)
    np.testing.assert_allclose(outs[True], learnt.process_offline(stereo, SR), atol=1e-5)
    assert np.abs(outs[True] - outs[False]).max() > 1e-3
    assert trimmed[False] == live.latency_samples(SR, channels=2)
    assert trimmed[True] == learnt.latency_samples(SR, channels=2)
    assert (trimmed[True] > trimmed[False]) == hindsight


def test_cli_as_live_renders_as_the_stream_plays(tmp_path, stereo):
    src = write(tmp_path / "in.wav", stereo, bit_depth=32)
    for flags, name in (([], "render.wav"), (["--as-live"], "live.wav")):
        argv = ["render", str(src), str(tmp_path / name), "--preset", "Organ", "--no-progress"]
        assert main([*argv, *flags]) == 0
    live = Chain([StyleTransfer.from_preset("Organ")]).process_offline(stereo, SR)
    np.testing.assert_allclose(read(tmp_path / "live.wav")[0], live, atol=1e-5)
    assert np.abs(read(tmp_path / "render.wav")[0] - live).max() > 1e-3


def test_cli_several_inputs_to_a_folder(tmp_path, stereo):
    make_preset("Test Tone", seed=1)
    a = write(tmp_path / "a.wav", stereo)
    b = write(tmp_path / "b.aiff", stereo[:1])
    out = tmp_path / "out"
    out.mkdir()
    assert main(["render", str(a), str(b), "--out-dir", str(out), "--preset", "test tone",
                 "--no-progress"]) == 0
    assert read(out / "a.wav")[0].shape == stereo.shape
    assert read(out / "b.aiff")[0].shape == (1, stereo.shape[1])


def test_cli_jobs_render_in_parallel_processes_with_the_same_output(tmp_path, stereo, capsys):
    make_preset("Test Tone", seed=1)
    a = write(tmp_path / "a.wav", stereo)
    b = write(tmp_path / "b.flac", stereo[::-1].copy())
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    serial.mkdir()
    parallel.mkdir()
    common = ["--preset", "Test Tone", "--post", "Reverb(room_size=0.3)", "--no-progress"]
    assert main(["render", str(a), str(b), "--out-dir", str(serial), *common]) == 0
    assert main(["render", str(a), str(b), "--out-dir", str(parallel), "--jobs", "2",
                 *common]) == 0
    for name in ("a.wav", "b.flac"):
        np.testing.assert_array_equal(read(parallel / name)[0], read(serial / name)[0])
    # a bad file among them: the good one is rendered, the bad one leaves nothing, exit 2
    bad = tmp_path / "c.mp3"
    bad.write_bytes(b"\xff\xfb" + b"\x00" * 100)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    capsys.readouterr()
    assert main(["render", str(bad), str(a), "--out-dir", str(mixed), "--jobs", "2",
                 *common]) == 2
    assert "c.mp3" in capsys.readouterr().err
    assert sorted(p.name for p in mixed.iterdir()) == ["a.wav"]
    assert main(["render", str(a), str(b), "--out-dir", str(mixed), "--jobs", "0",
                 *common]) == 2
    assert "--jobs=0 is out of range" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv_tail, message",
    [
        (["--preset", "Nope"], "Nope"),
        (["--preset", "Test Tone", "--mix", "2"], "--mix=2.0 is out of range"),
        (["--preset", "Test Tone", "--pre", "Reverb(size=1)"], "Reverb has no parameter 'size'"),
    ],
)
def test_cli_errors_exit_2_with_a_message(tmp_path, stereo, capsys, argv_tail, message):
    make_preset("Test Tone", seed=1)
    src = write(tmp_path / "in.wav", stereo)
    assert main(["render", str(src), str(tmp_path / "o.wav"), *argv_tail, "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()


def test_cli_corrupt_input_exit_2(tmp_path, capsys):
    make_preset("Test Tone", seed=1)
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\xff\xfb" + b"\x00" * 100)
    assert main(["render", str(bad), str(tmp_path / "o.wav"), "--preset", "Test Tone",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "bad.mp3" in err and "cannot be read" in err
    assert not (tmp_path / "o.wav").exists()


def test_cli_needs_out_or_out_dir(tmp_path, stereo, capsys):
    src = write(tmp_path / "in.wav", stereo)
    assert main(["render", str(src), str(src), str(src), "--preset", "x"]) == 2
    assert "give IN OUT" in capsys.readouterr().err


def test_output_permissions_follow_the_umask(tmp_path, stereo):
    import os
    import stat

    src = write(tmp_path / "in.wav", stereo)
    old = os.umask(0o027)
    try:
        render_file(src, tmp_path / "out.flac", _chain(), progress=False)
    finally:
        os.umask(old)
    # as a plain open() would: 0o666 & ~umask, not mkstemp's owner-only 0600
    assert stat.S_IMODE((tmp_path / "out.flac").stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "out.flac"]
