"""prep: trimming, tempo matching (librosa + pedalboard), loudness (pyloudnorm), the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from stylepedal.audio_io import read_audio, write_audio
from stylepedal.effect.research.prep import (
    estimate_tempo,
    integrated_loudness,
    match_tempo,
    normalize_loudness,
    parse_trim,
    prepare,
    trim,
)
from stylepedal.errors import ParameterError
from stylepedal.host.cli import main as cli_main
from tests.signals import pluck
from tests.tolerances import LOUDNESS_TOL_LU, TEMPO_MATCH_TOL_BPM


def drum_loop(bpm: float, seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Kick on the beats 1 and 3, noise snare on 2 and 4, closed hat on the off-beats."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    y = np.zeros(n)
    beat = 60.0 / bpm
    k = 0
    while k * beat / 2 * sample_rate < n:
        i = int(round(k * beat / 2 * sample_rate))
        length = min(int(0.1 * sample_rate), n - i)
        t = np.arange(length) / sample_rate
        if k % 4 == 0:
            hit = 0.8 * np.sin(2 * np.pi * (50 + 120 * np.exp(-t * 30)) * t) * np.exp(-t * 20)
        elif k % 4 == 2:
            hit = 0.5 * rng.standard_normal(length) * np.exp(-t * 30)
        else:
            hit = 0.15 * rng.standard_normal(length) * np.exp(-t * 120)
        y[i : i + length] += hit
        k += 1
    return y.astype(np.float32)


# -- trim -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [("1.5:4", (1.5, 4.0)), ("0:2", (0.0, 2.0)), (":2.25", (0.0, 2.25)), ("3:", (3.0, None))],
)
def test_parse_trim(text, expected):
    assert parse_trim(text) == expected


@pytest.mark.parametrize("text", ["1.5", "1:2:3", "a:b", "", "nan:2"])
def test_parse_trim_errors(text):
    with pytest.raises(ParameterError, match="trim="):
        parse_trim(text)


def test_trim_cuts_the_right_samples():
    sr = 1000
    y = np.arange(5000, dtype=np.float32)
    np.testing.assert_array_equal(trim(y, sr, start_s=1.5, end_s=4.0), y[1500:4000])
    np.testing.assert_array_equal(trim(y, sr, start_s=2.0), y[2000:])
    stereo = np.stack([y, -y])
    assert trim(stereo, sr, start_s=0.5, end_s=1.0).shape == (2, 500)


@pytest.mark.parametrize(
    "start, end, match",
    [
        (5.0, None, r"trim start=5.0 s is outside the clip: allowed is \[0, 5.000\)"),
        (-1.0, 2.0, "trim start=-1.0 s is outside the clip"),
        (1.0, 6.0, "trim end=6.0 s is outside the clip: it is 5.000 s long"),
        (3.0, 2.0, "trim end=2.0 s must be after start=3.0 s"),
    ],
)
def test_trim_outside_the_clip_is_a_parameter_error(start, end, match):
    with pytest.raises(ParameterError, match=match):
        trim(np.zeros(5000, np.float32), 1000, start_s=start, end_s=end)


# -- tempo ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sample_rate", [22050, 44100])
def test_tempo_matching_brings_100_to_120_bpm(sample_rate):
    content = drum_loop(100.0, 9.6, sample_rate, seed=1)  # 16 beats
    reference = drum_loop(120.0, 8.0, sample_rate, seed=2)
    target = estimate_tempo(reference, sample_rate)
    assert abs(target - 120.0) < TEMPO_MATCH_TOL_BPM
    out, source, factor = match_tempo(content, sample_rate, target_bpm=target)
    assert abs(source - 100.0) < TEMPO_MATCH_TOL_BPM
    assert abs(estimate_tempo(out, sample_rate) - 120.0) < TEMPO_MATCH_TOL_BPM
    # the clip really got faster (Rubber Band keeps the pitch, shortens the clip)
    assert len(out) / len(content) == pytest.approx(100.0 / 120.0, rel=0.01)


def test_tempo_ratio_is_folded_by_octaves():
    sr = 22050
    y = drum_loop(100.0, 6.0, sr)
    _, _, factor = match_tempo(y, sr, target_bpm=240.0, source_bpm=100.0)
    assert factor == pytest.approx(1.2)
    _, _, unfolded = match_tempo(y[:sr], sr, target_bpm=150.0, source_bpm=100.0, fold_octaves=False)
    assert unfolded == pytest.approx(1.5)


def test_tempo_of_silence_is_an_error():
    with pytest.raises(ParameterError, match="silent"):
        estimate_tempo(np.zeros(22050, np.float32), 22050)
    with pytest.raises(ParameterError, match="target_bpm=0"):
        match_tempo(drum_loop(100, 2, 22050), 22050, target_bpm=0)


# -- loudness ---------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [-23.0, -16.0, -30.0])
@pytest.mark.parametrize("channels", [1, 2])
def test_loudness_reaches_the_target(target, channels):
    sr = 44100
    y = pluck(sr, 3.0, 110.0)
    audio = y if channels == 1 else np.stack([y, 0.5 * pluck(sr, 3.0, 165.0, seed=4)])
    before = integrated_loudness(audio, sr)
    out = normalize_loudness(audio, sr, target_lufs=target)
    assert out.shape == audio.shape
    assert abs(integrated_loudness(out, sr) - target) < LOUDNESS_TOL_LU
    # a plain gain: the waveform's shape is unchanged
    gain = 10 ** ((target - before) / 20)
    np.testing.assert_allclose(out, audio * gain, rtol=1e-5, atol=1e-7)


def test_loudness_errors():
    with pytest.raises(ParameterError, match="silent"):
        normalize_loudness(np.zeros(44100, np.float32), 44100)
    with pytest.raises(ParameterError, match="at least 0.4 s"):
        normalize_loudness(pluck(44100, 0.1), 44100)
    with pytest.raises(ParameterError, match="target_lufs=5"):
        normalize_loudness(pluck(44100, 1.0), 44100, target_lufs=5)


# -- files and the CLI ------------------------------------------------------------------------


def test_prepare_runs_all_steps_and_writes_atomically(tmp_path):
    sr = 44100
    content = drum_loop(100.0, 10.0, sr, seed=3)
    reference = drum_loop(120.0, 8.0, sr, seed=4)
    write_audio(tmp_path / "in.wav", np.stack([content, content]), sr)
    write_audio(tmp_path / "ref.flac", reference, sr)
    info = prepare(
        tmp_path / "in.wav",
        tmp_path / "out.wav",
        trim_range=(0.0, 9.6),
        reference=tmp_path / "ref.flac",
        loudness_lufs=-23.0,
    )
    out, out_sr = read_audio(tmp_path / "out.wav")
    assert out_sr == sr and out.shape[0] == 2
    assert out.shape[1] / sr == pytest.approx(9.6 * 100 / 120, rel=0.01)
    assert abs(estimate_tempo(out, sr) - 120.0) < TEMPO_MATCH_TOL_BPM
    assert abs(integrated_loudness(out, sr) + 23.0) < LOUDNESS_TOL_LU
    assert info["stretch_factor"] == pytest.approx(1.2, rel=0.01)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "out.wav", "ref.flac"]


def test_cli_prep(tmp_path, capsys):
    sr = 22050
    write_audio(tmp_path / "in.wav", pluck(sr, 4.0), sr)
    code = cli_main(
        ["prep", str(tmp_path / "in.wav"), str(tmp_path / "out.flac"), "--trim", "1:3.5",
         "--loudness", "-20", "--match-tempo", "120"]
    )  # fmt: skip
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    out, out_sr = read_audio(tmp_path / "out.flac")
    assert out_sr == sr
    assert abs(integrated_loudness(out, sr) + 20.0) < LOUDNESS_TOL_LU


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--trim", "3:9"], "trim end=9.0 s is outside the clip"),
        (["--trim", "7:"], "trim start=7.0 s is outside the clip"),
        (["--trim", "oops"], "trim='oops'"),
        (["--match-tempo", "missing.wav"], "does not exist"),
        (["--loudness", "3"], "target_lufs=3.0"),
    ],
)
def test_cli_prep_errors_write_nothing(tmp_path, capsys, extra, message):
    sr = 22050
    write_audio(tmp_path / "in.wav", pluck(sr, 4.0), sr)
    code = cli_main(["prep", str(tmp_path / "in.wav"), str(tmp_path / "out.wav"), *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]
