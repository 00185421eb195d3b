"""The streaming engine and the StyleTransfer effect: the conformance grid of shared/TESTING.md."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stylepedal import ParameterError
from stylepedal.effect import IdentityTransform, StftConfig, StyleTransfer
from stylepedal.effect.engine.stft import MODEL_BINS, analyze, istft, latency_samples, stft
from tests.helpers import GainTransform
from tests.tolerances import (
    CLICK_STEP_RATIO,
    FLOAT32_TINY,
    IDENTITY_ATOL,
    STREAM_ATOL,
)

RATES = [22050, 44100, 48000, 88200, 96000, 192000]
BLOCKS = [0, 1, 17, 64, 128, 137, 256, 512, 1024, 4096, 8192, "random"]


class InventingTransform:
    """Adds energy to every bin, even from silence: the silence gate must still give silence."""

    model_bins = MODEL_BINS

    def new_state(self, channels: int) -> dict:
        return {"frames": 0}

    def __call__(self, frames: np.ndarray, state: dict) -> np.ndarray:
        state["frames"] += frames.shape[1]
        return (frames + 0.5).astype(np.float32)


class RecurrentTransform:
    """A stateful causal transform (one-pole smoothing over frames) for partition tests."""

    model_bins = MODEL_BINS

    def new_state(self, channels: int) -> np.ndarray:
        return np.zeros((channels, MODEL_BINS), dtype=np.float32)

    def __call__(self, frames: np.ndarray, state: np.ndarray) -> np.ndarray:
        out = np.empty_like(frames)
        for t in range(frames.shape[1]):
            state[:] = 0.7 * state + 0.3 * frames[:, t]
            out[:, t] = state
        return out


def stream(fx: StyleTransfer, x: np.ndarray, sr: int, sizes) -> np.ndarray:
    """Feed x (channels, n) to fx in blocks of the given sizes (cycled); block 0 = empty calls."""
    fx.reset()
    out, i, k = [], 0, 0
    n = x.shape[-1]
    while i < n:
        b = sizes[k % len(sizes)]
        k += 1
        if b == 0:
            y = fx(x[..., i:i], sr, reset=False)
            assert y.shape[-1] == 0
            b = 64  # interleave the empty calls with real ones so the stream advances
        out.append(fx(x[..., i : i + b], sr, reset=False))
        i += b
    return np.concatenate(out, axis=-1)


def block_sizes(block, rng) -> list[int]:
    if block == "random":
        return [int(v) for v in rng.integers(0, 700, 64)]
    return [block]


def signal_length(sr: int, block) -> int:
    cfg = StftConfig.for_rate(sr)
    base = cfg.latency_samples + 6 * cfg.hop_length
    if isinstance(block, int) and block > 1:
        base = max(base, 10 * block)  # at least 10 blocks
    return base


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("block", BLOCKS)
def test_grid_noise_stream_equals_oneshot_no_nan_no_subnormal(sr, block, rng):
    x = rng.uniform(-1.0, 1.0, (2, signal_length(sr, block))).astype(np.float32)
    fx = StyleTransfer(RecurrentTransform(), mix=0.8)
    whole = fx(x, sr, reset=False)  # the stream in one call
    parts = stream(fx, x, sr, block_sizes(block, rng))
    assert parts.shape == x.shape
    assert np.all(np.isfinite(parts))
    nonzero = np.abs(parts[parts != 0])
    assert nonzero.size == 0 or nonzero.min() >= FLOAT32_TINY
    np.testing.assert_allclose(parts, whole, atol=STREAM_ATOL, rtol=0)


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("block", BLOCKS)
def test_grid_identity_is_delay_and_latency_matches_impulse(sr, block, rng):
    fx = StyleTransfer.identity()
    latency = fx.latency_samples(sr)
    n = signal_length(sr, block)
    x = rng.uniform(-0.9, 0.9, n).astype(np.float32)
    y = stream(fx, x[np.newaxis], sr, block_sizes(block, rng))[0]
    np.testing.assert_allclose(y[latency:], x[: n - latency], atol=IDENTITY_ATOL, rtol=0)
    assert np.abs(y[:latency]).max() <= IDENTITY_ATOL  # nothing before the delay but FFT rounding
    impulse = np.zeros(n, dtype=np.float32)
    impulse[37] = 1.0
    yi = stream(fx, impulse[np.newaxis], sr, block_sizes(block, rng))[0]
    assert int(np.argmax(np.abs(yi))) - 37 == latency


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("block", [1, 137, 4096, "random"])
def test_grid_silence_in_silence_out_even_when_model_invents(sr, block, rng):
    fx = StyleTransfer(InventingTransform())
    cfg = StftConfig.for_rate(sr)
    burst = rng.uniform(-0.5, 0.5, cfg.hop_length * 8).astype(np.float32)
    x = np.concatenate([burst, np.zeros(fx.tail_samples(sr) + 3 * cfg.hop_length, np.float32)])
    y = stream(fx, x[np.newaxis], sr, block_sizes(block, rng))[0]
    assert np.any(np.abs(y) > 0.01)  # the burst came through, changed
    tail_start = burst.size + fx.tail_samples(sr)
    assert np.all(y[tail_start:] == 0.0)
    # and pure silence from the start is silence throughout
    assert np.all(fx(np.zeros(5000, np.float32), sr) == 0.0)


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("block", [1, 17, 128, 8192, "random"])
def test_grid_nan_inf_in_gives_finite_out_and_stream_continues(sr, block, rng):
    fx = StyleTransfer(RecurrentTransform())
    n = signal_length(sr, block) * 2
    x = rng.uniform(-0.5, 0.5, n).astype(np.float32)
    bad = x.copy()
    bad[n // 4] = np.nan
    bad[n // 4 + 3] = np.inf
    bad[n // 4 + 5] = -np.inf
    y = stream(fx, bad[np.newaxis], sr, block_sizes(block, rng))[0]
    assert np.all(np.isfinite(y))
    # bad samples are treated as zeros: same output as the cleaned signal
    clean = np.where(np.isfinite(bad), bad, 0.0).astype(np.float32)
    fx.reset()
    np.testing.assert_allclose(y, fx(clean, sr, reset=False), atol=STREAM_ATOL, rtol=0)


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("phase_mode", ["input", "pghi"])
def test_grid_reset_gives_same_output_twice(sr, phase_mode, rng):
    fx = StyleTransfer(GainTransform(-6.0), phase_mode=phase_mode)
    x = rng.uniform(-0.5, 0.5, (2, signal_length(sr, 137))).astype(np.float32)
    first = stream(fx, x, sr, [137])
    fx.reset()
    second = stream(fx, x, sr, [137])
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("block", [1, 64, 128, 137, 1024, "random"])
def test_grid_parameter_changes_every_block_no_clicks(sr, block, rng):
    fx = StyleTransfer(GainTransform(-12.0))
    n = max(signal_length(sr, block), sr // 10)
    t = np.arange(n) / sr
    x = (0.5 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    sizes = block_sizes(block, rng)
    out, i, k = [], 0, 0
    while i < n:
        b = max(1, sizes[k % len(sizes)])
        fx.mix = float(rng.uniform(0, 1))
        fx.output_gain_db = float(rng.uniform(-12, 6))
        fx.bypass = bool(rng.integers(0, 2))
        out.append(fx(x[i : i + b], sr, reset=False))
        i, k = i + b, k + 1
    y = np.concatenate(out)
    assert np.all(np.isfinite(y))
    max_in_step = np.abs(np.diff(x)).max()
    # gain can reach +6 dB, so the output's own steps may be 2x the input's; clicks are more
    assert np.abs(np.diff(y)).max() <= CLICK_STEP_RATIO * 2.0 * max_in_step


@pytest.mark.parametrize("block", [1, 17, 128, 137, "random"])
def test_pghi_stream_equals_oneshot(block, rng):
    fx = StyleTransfer(GainTransform(-3.0), phase_mode="pghi")
    x = rng.uniform(-0.5, 0.5, (2, 6000)).astype(np.float32)
    whole = fx(x, 48000, reset=False)
    np.testing.assert_allclose(
        stream(fx, x, 48000, block_sizes(block, rng)), whole, atol=STREAM_ATOL, rtol=0
    )


def test_pghi_reconstructs_a_sinusoid_with_its_frequency():
    sr = 48000
    t = np.arange(sr // 2) / sr
    x = (0.5 * np.sin(2 * np.pi * 441.3 * t)).astype(np.float32)
    fx = StyleTransfer.identity(phase_mode="pghi")
    y = fx(x, sr)[8192:]
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    peak_hz = np.argmax(spectrum) * sr / y.size
    assert abs(peak_hz - 441.3) < 2.0
    # the level is kept: RMS within 1 dB of the input's
    rms_in = np.sqrt(np.mean(x**2))
    rms_out = np.sqrt(np.mean(y**2))
    assert abs(20 * np.log10(rms_out / rms_in)) < 1.0


@settings(max_examples=15, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=600), min_size=1, max_size=20),
    channels=st.integers(min_value=1, max_value=2),
)
def test_property_any_partition_same_output_same_length(cuts, channels):
    rng = np.random.default_rng(len(cuts))
    x = rng.uniform(-1, 1, (channels, sum(cuts) + 1)).astype(np.float32)
    fx = StyleTransfer(RecurrentTransform(), mix=0.7, latency_mode="low")
    whole = fx(x, 44100, reset=False)
    fx.reset()
    pieces, i = [], 0
    for c in [*cuts, 1]:
        pieces.append(fx(x[:, i : i + c], 44100, reset=False))
        assert pieces[-1].shape == (channels, c)
        i += c
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, atol=STREAM_ATOL, rtol=0)


def test_layouts_mono_channels_first_channels_last(rng):
    fx = StyleTransfer.identity()
    mono = rng.uniform(-0.5, 0.5, 3000).astype(np.float32)
    stereo = np.stack([mono, -mono])
    assert fx(mono, 48000).shape == (3000,)
    assert fx(stereo, 48000).shape == (2, 3000)
    last = fx(np.ascontiguousarray(stereo.T), 48000)
    assert last.shape == (3000, 2)
    np.testing.assert_array_equal(last.T, fx(stereo, 48000))
    assert fx(mono.astype(np.float64), 48000).dtype == np.float32


def test_buffer_size_gives_same_result(rng):
    fx = StyleTransfer(RecurrentTransform())
    x = rng.uniform(-0.5, 0.5, 20000).astype(np.float32)
    np.testing.assert_allclose(fx(x, 48000, buffer_size=333), fx(x, 48000), atol=STREAM_ATOL)


def test_mix_zero_and_bypass_are_the_delayed_dry_signal(rng):
    x = rng.uniform(-0.5, 0.5, 9000).astype(np.float32)
    latency = latency_samples(48000)
    for fx in (
        StyleTransfer(GainTransform(-20), mix=0.0),
        StyleTransfer(GainTransform(-20), bypass=True),
    ):
        y = fx(x, 48000, reset=False)
        np.testing.assert_allclose(y[latency:], x[:-latency], atol=IDENTITY_ATOL)
        fx.reset()
        np.testing.assert_array_equal(fx(x, 48000), x)  # one shot: the dry signal, aligned
    wet = StyleTransfer(GainTransform(-20.0))(x, 48000)
    # the wet path really is 20 dB down (in the model band this is exact; checked by energy)
    ratio = np.sqrt(np.mean(wet[2000:] ** 2) / np.mean(x[2000:] ** 2))
    assert 0.05 < ratio < 0.2


def test_output_gain_db(rng):
    x = rng.uniform(-0.25, 0.25, 9000).astype(np.float32)
    latency = latency_samples(48000)
    y = StyleTransfer.identity(output_gain_db=6.0)(x, 48000, reset=False)
    np.testing.assert_allclose(y[latency + 480 :], 10 ** (6 / 20) * x[480:-latency], atol=1e-4)


def test_output_gain_glides_while_fully_wet(rng):
    # a gain change mid-stream at mix 1 (mix and bypass settled, only the gain moving)
    x = np.full((2, 1024), 0.5, np.float32)
    fx = StyleTransfer.identity()
    fx.process(x, 48000, reset=False)
    fx.output_gain_db = -6.0
    y = fx.process(x, 48000, reset=False)  # the wet path is 0.5 throughout by now
    glide = int(0.010 * 48000)
    target = 0.5 * 10 ** (-6 / 20)
    np.testing.assert_allclose(y[:, glide:], target, atol=1e-4)
    assert np.all(np.diff(y[:, :glide], axis=1) <= 1e-6)  # a monotonic ramp, no jump
    assert abs(y[0, 0] - 0.5) < 0.5 * (1 - 10 ** (-6 / 20)) / glide * 2


def test_low_latency_mode_latency_and_identity(rng):
    fx = StyleTransfer.identity(latency_mode="low")
    assert fx.latency_samples(48000) == 255
    assert StyleTransfer.identity().latency_samples(48000) == 511
    x = rng.uniform(-0.5, 0.5, 5000).astype(np.float32)
    np.testing.assert_allclose(fx(x, 48000, reset=False)[255:], x[:-255], atol=IDENTITY_ATOL)
    np.testing.assert_allclose(fx(x, 48000), x, atol=IDENTITY_ATOL)  # one shot: aligned


class RecordingTransform:
    """Keeps every frame it is called with; adds 0.25 in the log domain."""

    model_bins = MODEL_BINS

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def new_state(self, channels: int) -> None:
        return None

    def __call__(self, frames: np.ndarray, state: None) -> np.ndarray:
        self.seen.append(frames.copy())
        return (frames + 0.25).astype(np.float32)


@pytest.mark.parametrize("mode", ["default", "low"])
def test_model_runs_at_its_own_frame_rate_in_both_latency_modes(mode, rng):
    x = rng.uniform(-0.5, 0.5, 48000 // 4).astype(np.float32)
    tf = RecordingTransform()
    StyleTransfer(tf, latency_mode=mode)(x, 48000, buffer_size=100, reset=False)
    seen = np.concatenate(tf.seen, axis=1)[0]
    expected = analyze(x, 48000, latency_mode=mode)
    assert len(expected) == len(x) // 256  # one model frame per 5.333 ms in both modes
    assert seen.shape == expected.shape
    np.testing.assert_allclose(seen, expected, atol=1e-4, rtol=1e-5)


def test_low_mode_frames_between_model_frames_follow_the_model(rng):
    # A constant log-domain change is the same on every frame, so the frames the model skips in
    # "low" mode are changed like the ones it sees: the wet path is 0.25 up on every frame.
    x = rng.uniform(-0.5, 0.5, 48000 // 2).astype(np.float32)
    fx = StyleTransfer(RecordingTransform(), latency_mode="low")
    y = fx(x, 48000, reset=False)
    spec_in = np.abs(stft(x, StftConfig.for_rate(48000, "low")))[8:, 5:MODEL_BINS]
    spec_out = np.abs(stft(y[255:], StftConfig.for_rate(48000, "low")))[8:-4, 5:MODEL_BINS]
    # compare loud bins only: log1p(s*|Y|) - log1p(s*|X|) ~ 0.25 there on odd and even frames
    cfg = StftConfig.for_rate(48000, "low")
    scale = 1024.0 / cfg.window_sum
    d = np.log1p(spec_out * scale) - np.log1p(spec_in[: len(spec_out)] * scale)
    loud = spec_in[: len(spec_out)] * scale > 3
    for parity in (0, 1):
        sel = d[parity::2][loud[parity::2]]
        assert sel.size > 1000
        assert abs(np.median(sel) - 0.25) < 0.05, (parity, np.median(sel))


def test_offline_stft_matches_stream_framing(rng):
    sr = 44100
    cfg = StftConfig.for_rate(sr)
    x = rng.uniform(-0.5, 0.5, 10000)
    spec = stft(x, cfg)
    assert spec.shape == (10000 // cfg.hop_length, cfg.n_bins)
    # frame k ends at sample (k+1)*hop: a frame's content equals a direct DFT of that slice
    k = 30
    end = (k + 1) * cfg.hop_length
    direct = np.fft.rfft(x[end - cfg.n_fft : end] * cfg.analysis_window)
    np.testing.assert_allclose(spec[k], direct, atol=1e-9)
    aligned = istft(spec, cfg)
    assert aligned.size == spec.shape[0] * cfg.hop_length
    good = aligned.size - cfg.latency_samples  # the rest needs frames after the end
    np.testing.assert_allclose(aligned[:good], x[:good], atol=1e-9)
    delayed = istft(spec, cfg, delayed=True)
    y = StyleTransfer.identity()(x.astype(np.float32), sr, reset=False)
    np.testing.assert_allclose(delayed[: y.size], y[: delayed.size], atol=IDENTITY_ATOL)
    feats = analyze(x.astype(np.float32), sr)
    assert feats.shape == (spec.shape[0], MODEL_BINS) and feats.dtype == np.float32


def test_same_frequency_grid_at_every_rate():
    # a 1 kHz sine peaks in the same model bin at every rate: one model serves all rates
    peaks = set()
    for sr in RATES:
        t = np.arange(sr // 4) / sr
        feats = analyze((0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32), sr)
        peaks.add(int(np.argmax(feats[-1])))
        assert abs(feats[-1].max() - analyze_peak_reference()) < 0.05
    assert len(peaks) == 1


def analyze_peak_reference() -> float:
    t = np.arange(48000 // 4) / 48000
    return float(
        analyze((0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32), 48000)[-1].max()
    )


@pytest.mark.parametrize("sr", [0, -48000, 8000, 16000, 32000, 44101, 1_000_000, 48000.5])
def test_unsupported_rates_are_clear_errors(sr):
    with pytest.raises(ParameterError, match="sample_rate"):
        StyleTransfer.identity()(np.zeros(100, np.float32), sr)


@pytest.mark.parametrize(
    ("audio", "match"),
    [
        (np.zeros(100, dtype=np.int16), "dtype"),
        (np.zeros((1, 2, 100), dtype=np.float32), "ndim"),
        ([0.0, 0.1], "numpy array"),
    ],
)
def test_bad_audio_is_a_parameter_error(audio, match):
    with pytest.raises(ParameterError, match=match):
        StyleTransfer.identity()(audio, 48000)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mix": 1.5}, "mix=1.5"),
        ({"mix": "wet"}, "mix="),
        ({"output_gain_db": 40}, "output_gain_db=40"),
        ({"latency_mode": "ultra"}, "latency_mode='ultra'"),
        ({"phase_mode": "random"}, "phase_mode='random'"),
        ({"bypass": "yes"}, "bypass="),
    ],
)
def test_bad_parameters_name_parameter_and_value(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        StyleTransfer.identity(**kwargs)
    fx = StyleTransfer.identity()
    with pytest.raises(ParameterError, match=match):
        for k, v in kwargs.items():
            setattr(fx, k, v)


def test_bad_buffer_size_and_transform():
    with pytest.raises(ParameterError, match="buffer_size=0"):
        StyleTransfer.identity()(np.zeros(10, np.float32), 48000, buffer_size=0)
    with pytest.raises(ParameterError, match="transform"):
        StyleTransfer.identity().transform = object()  # type: ignore[assignment]


def test_parameter_error_is_a_value_error():
    assert issubclass(ParameterError, ValueError)
    assert isinstance(IdentityTransform(), object)


def test_constructor_and_setter_check_the_transform_alike():
    class WrongBins(IdentityTransform):
        model_bins = 513

    for bad in (object(), WrongBins()):
        with pytest.raises(ParameterError, match="transform="):
            StyleTransfer(bad)  # type: ignore[arg-type]
        with pytest.raises(ParameterError, match="transform="):
            StyleTransfer.identity().transform = bad  # type: ignore[assignment]


@pytest.mark.parametrize("mix", [1.0, 0.5], ids=["wet", "mixed"])
def test_no_subnormal_leaves_the_effect(mix):
    """Samples that would come out subnormal (a tiny input at -60 dB) come out as 0, whether
    the gain has settled or is gliding."""
    x = np.full((2, 4800), 3e-36, dtype=np.float32)
    x[:, ::2] *= -1
    fx = StyleTransfer.identity(mix=mix, output_gain_db=-60.0)
    y = fx(x, 48000, reset=False)
    assert (np.abs(x * 10 ** (-60 / 20)) < FLOAT32_TINY).all()  # what they would have been
    assert (y == 0).all()
    fx.output_gain_db = -40.0  # gliding
    y2 = fx.process(x, 48000, reset=False)
    nonzero = np.abs(y2[y2 != 0])
    assert nonzero.size == 0 or nonzero.min() >= FLOAT32_TINY


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4480,), (1, 1, 4480), (2, 1, 4116), (3, 5, 77), (1, 31, 2058)])
def test_fft_paths_equal_scipy_fft(dtype, shape, rng):
    # the engine calls scipy's pocketfft binding directly (the live path's cold-cache cost):
    # it must be there on the supported scipy, and give scipy.fft's result bit for bit
    import scipy.fft

    from stylepedal.effect.engine import fft as stft_mod

    assert stft_mod._POCKETFFT is not None
    x = rng.standard_normal(shape).astype(dtype)
    spec = stft_mod.rfft(x)
    assert spec.dtype == (np.complex64 if dtype is np.float32 else np.complex128)
    assert np.array_equal(spec, scipy.fft.rfft(x, axis=-1))
    back = stft_mod.irfft(spec, shape[-1])
    assert back.dtype == dtype
    assert np.array_equal(back, scipy.fft.irfft(spec, n=shape[-1], axis=-1))
    # a non-contiguous view gives the same as its copy
    view = np.repeat(x[..., np.newaxis], 2, axis=-1)[..., 0]
    assert np.array_equal(stft_mod.rfft(view), spec)


@pytest.mark.parametrize(
    "change", [{"output_gain_db": -6.0}, {"mix": 0.25}, {"bypass": True}, {"mix": 1.0}]
)
def test_a_change_after_the_output_settled_is_heard(rng, change):
    # a settled stream takes a fast path (no ramps): setting a parameter must leave it, glide,
    # and end where an effect built with that value is
    sr, block = 48000, 128
    x = rng.uniform(-0.3, 0.3, (1, sr // 2)).astype(np.float32)
    half = (x.shape[1] // 2) // block * block
    moved = StyleTransfer(GainTransform(-12.0))
    ys = [moved.process(x[:, i : i + block], sr, reset=False) for i in range(0, half, block)]
    for name, value in change.items():
        setattr(moved, name, value)
    ys += [
        moved.process(x[:, i : i + block], sr, reset=False)
        for i in range(half, x.shape[1], block)
    ]
    y = np.concatenate(ys, axis=1)
    built = StyleTransfer(GainTransform(-12.0), **change)(x, sr, reset=False)
    unchanged = StyleTransfer(GainTransform(-12.0))(x, sr, reset=False)
    settled = half + int(0.05 * sr)  # the glide (10 ms) is over
    np.testing.assert_allclose(y[:, settled:], built[:, settled:], atol=STREAM_ATOL)
    if change != {"mix": 1.0}:  # it did change something
        assert np.abs(y[:, settled:] - unchanged[:, settled:]).max() > 1e-3


class LinearRecurrent(RecurrentTransform):
    """The recurrent transform that also offers ``linear`` (as a style network does), counting
    which of its two paths the engine calls."""

    def __init__(self) -> None:
        self.calls = {"log": 0, "linear": 0}

    def __call__(self, frames: np.ndarray, state: np.ndarray) -> np.ndarray:
        self.calls["log"] += 1
        return super().__call__(frames, state)

    def linear(self, magnitudes: np.ndarray, state: np.ndarray) -> np.ndarray:
        self.calls["linear"] += 1
        return np.expm1(super().__call__(np.log1p(magnitudes), state))


@pytest.mark.parametrize(
    ("settings", "path"),
    [({}, "linear"), ({"style": 0.5}, "log"), ({"latency_mode": "low"}, "log"),
     ({"phase_mode": "pghi"}, "linear")],
    ids=["live-default", "style-blended", "strided-model", "pghi"],
)
def test_a_transforms_linear_path_is_taken_when_nothing_is_blended_in_the_log_domain(
    settings, path, rng
):
    """The live default calls a transform's ``linear`` (two log/exp passes fewer a frame); a
    style amount below 1 (blended in the log domain) and a strided model take the log path;
    either way the output is what the transform's log path gives."""
    sr = 48000
    x = rng.uniform(-0.5, 0.5, (1, signal_length(sr, 137) * 4)).astype(np.float32)
    spy = LinearRecurrent()
    got = stream(StyleTransfer(spy, **settings), x, sr, [137])
    want = stream(StyleTransfer(RecurrentTransform(), **settings), x, sr, [137])
    other = "log" if path == "linear" else "linear"
    assert spy.calls[path] > 0 and spy.calls[other] == 0
    np.testing.assert_allclose(got, want, atol=STREAM_ATOL, rtol=0)
    assert np.abs(got).max() > 0.05
