"""A render's hindsight colour: the static EQ-match's filter, linear phase, from a learnt input."""

from __future__ import annotations

import numpy as np
import pytest

from stylepedal import StyleTransfer
from stylepedal.effect.engine.colour import HINDSIGHT_TAPS, Colour, linear_phase
from stylepedal.effect.engine.constants import MODEL_BINS
from stylepedal.effect.engine.longterm import (
    hann_spectra,
    long_term_power,
    match_log_gain,
    sharp_frames,
)
from stylepedal.effect.engine.stft import StftConfig
from stylepedal.effect.research.eq import eq_match
from stylepedal.errors import ParameterError
from tests.effect.engine.test_colour import ColouredRecurrent, _target
from tests.effect.engine.test_effect import block_sizes, stream
from tests.tolerances import STREAM_ATOL

SR = 22050


def delay_of(cfg: StftConfig) -> int:
    """The hindsight filter's delay: half its HINDSIGHT_TAPS analysis sizes."""
    return round(HINDSIGHT_TAPS * cfg.n_fft / 2)


class Hindsight(ColouredRecurrent):
    """A coloured stateful transform that also carries a render's hindsight colour."""

    def __init__(self, power: np.ndarray, change: float = 0.3, render_change: float = 1.0):
        super().__init__(_target(), change)
        self.style_power = power
        self.render_change = render_change


def _harmonics(f0: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A bright harmonic tone over a little noise: a spectrum with deep valleys."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 20))
    return (0.1 * x + 0.002 * rng.standard_normal(t.size)).astype(np.float32)


def _log_error(audio: np.ndarray, power: np.ndarray) -> float:
    """RMS distance (nepers) of ``audio``'s sharp long-term spectrum from ``power`` over the
    bins where ``power`` is within 40 dB of its peak, shapes compared (levels ignored)."""
    got = long_term_power([audio], SR)
    loud = power > power.max() * 1e-4
    d = np.log(got[loud] + 1e-30) - np.log(power[loud])
    return float(np.sqrt(np.mean((d - d.mean()) ** 2)))


def test_a_learnt_render_takes_the_styles_sharp_spectrum_as_the_eq_match_does(rng):
    style = _harmonics(330.0, 3.0, rng)
    content = _harmonics(220.0, 4.0, rng)
    power = long_term_power([style], SR)
    fx = StyleTransfer(Hindsight(power, change=0.0))
    live = _log_error(fx(content, SR), power)  # nothing learnt: the streaming colour
    fx.learn_input(content, SR)
    render = _log_error(fx(content, SR), power)
    eq = _log_error(eq_match(content, style, SR), power)
    assert render < 0.6 * live
    assert render < 1.25 * eq


def test_the_hindsight_filter_is_the_eq_match_gain_law_at_the_style_amount():
    rng = np.random.default_rng(5)
    style = rng.uniform(0.1, 1.0, MODEL_BINS)
    heard = rng.uniform(0.1, 1.0, MODEL_BINS)
    heard[700:] = 0.0  # bins the input never has: raised to the floor, not divided by zero
    colour = Colour(_target(), style)
    g = colour.hindsight_log_gains(heard, 1.0)
    want = match_log_gain(style / style.sum(), heard)
    np.testing.assert_allclose(g - g.mean(), want - want.mean(), atol=1e-9)
    p = heard / heard.sum()
    assert np.sum(p * np.exp(2 * g)) == pytest.approx(1.0, rel=1e-9)  # as loud as the input
    half = colour.hindsight_log_gains(heard, 0.5)
    np.testing.assert_allclose(np.diff(half), 0.5 * np.diff(g), atol=1e-9)
    assert np.all(colour.hindsight_log_gains(heard, 0.0) == 0.0)


def test_linear_phase_design_has_the_asked_magnitude_and_a_centred_delay():
    cfg = StftConfig.for_rate(48000)
    k = np.arange(MODEL_BINS)
    log_gain = (0.8 * np.sin(k / 40.0) + 0.5 * np.exp(-((k - 300) / 4.0) ** 2))[np.newaxis]
    ir = linear_phase(log_gain, cfg)[0]
    n, mid = cfg.n_fft, delay_of(cfg)
    assert mid == round(HINDSIGHT_TAPS * n / 2)
    np.testing.assert_allclose(ir[mid - 500 : mid], ir[mid + 500 : mid : -1], atol=1e-12)
    assert int(np.argmax(np.abs(ir))) == mid
    spectrum = np.abs(np.fft.rfft(ir, 4 * n))[: 4 * MODEL_BINS : 4]
    got = np.log(np.maximum(spectrum, 1e-9))
    assert np.sqrt(np.mean((got - log_gain[0]) ** 2)) < 0.1  # within ~1 dB


@pytest.mark.parametrize("sr", [22050, 48000])
def test_learning_adds_the_filters_delay_and_the_output_stays_aligned(sr, rng):
    cfg = StftConfig.for_rate(sr)
    x = rng.uniform(-0.3, 0.3, (2, cfg.hop_length * 200)).astype(np.float32)
    power = long_term_power([x[0]], sr)  # the input's own shape: a near-identity filter
    fx = StyleTransfer(Hindsight(power, change=0.0))
    base = fx.latency_samples(sr)
    fx.learn_input(x, sr)
    assert fx.latency_samples(sr) == base + delay_of(cfg)
    assert fx.tail_samples(sr) == base + delay_of(cfg) + cfg.n_fft
    y = fx(x, sr)  # one shot: aligned
    assert y.shape == x.shape
    lag = np.argmax(np.correlate(y[0, 5000:9000], x[0, 5000 - 50 : 9000 + 50], "valid"))
    assert lag == 50
    assert np.corrcoef(y[0, 2000:-2000], x[0, 2000:-2000])[0, 1] > 0.99
    fx.forget_input()
    assert fx.latency_samples(sr) == base


@pytest.mark.parametrize("block", [1, 137, 8192, "random"])
def test_a_hindsight_stream_is_partition_invariant(block, rng):
    x = rng.uniform(-0.5, 0.5, (2, StftConfig.for_rate(SR).hop_length * 60)).astype(np.float32)
    fx = StyleTransfer(Hindsight(_target(300), render_change=0.5), mix=0.7)
    fx.learn_input(x, SR)
    whole = fx(x, SR, reset=False)
    parts = stream(fx, x, SR, block_sizes(block, rng))
    np.testing.assert_allclose(parts, whole, atol=STREAM_ATOL, rtol=0)
    # and equals the one shot, delayed by the latency
    delay = fx.latency_samples(SR)
    np.testing.assert_allclose(whole[:, delay:], fx(x, SR)[:, :-delay], atol=STREAM_ATOL)


def test_the_render_change_scales_the_models_change_only_with_hindsight(rng):
    x = rng.uniform(-0.5, 0.5, SR * 2).astype(np.float32)
    power = _target(300)
    colour_only = StyleTransfer(Hindsight(power, change=0.0))
    none = StyleTransfer(Hindsight(power, change=0.6, render_change=0.0))
    half = StyleTransfer(Hindsight(power, change=0.6, render_change=0.5))
    third = StyleTransfer(Hindsight(power, change=0.3, render_change=1.0), style=0.5)
    as_live = [fx(x, SR) for fx in (colour_only, none)]
    assert np.abs(as_live[0] - as_live[1]).max() > 0.01  # live: the whole change
    for fx in (colour_only, none, half, third):
        fx.learn_input(x, SR)
    np.testing.assert_allclose(none(x, SR), colour_only(x, SR), atol=1e-6)
    # the change is linear in the log domain: 0.6 at half is 0.3 at full
    third.style = 1.0
    np.testing.assert_allclose(half(x, SR), third(x, SR), atol=1e-5)


def test_without_a_style_power_a_learnt_input_keeps_the_streaming_colour(rng):
    x = rng.uniform(-0.5, 0.5, SR * 2).astype(np.float32)
    fx = StyleTransfer(ColouredRecurrent(_target()))
    base = fx.latency_samples(SR)
    fx.learn_input(x, SR)
    assert fx.latency_samples(SR) == base
    assert fx._profile is not None and fx._profile.sharp_frames == 0  # nor measures for it


def test_the_sharp_spectrum_is_learnt_the_same_in_any_chunks(rng):
    x = rng.uniform(-0.5, 0.5, (2, SR * 2)).astype(np.float32)
    whole, parts = (StyleTransfer(Hindsight(_target(300))) for _ in range(2))
    whole.learn_input(x, SR)
    for cut in (x[:, :1], x[:, 1:3001], x[:, 3001:20000], x[:, 20000:]):
        parts.learn_input(cut, SR)
    a, b = whole._profile, parts._profile
    assert a is not None and b is not None and a.sharp_frames == b.sharp_frames > 0
    np.testing.assert_allclose(b.sharp, a.sharp, rtol=1e-9)


def test_hann_spectra_are_the_windowed_periodograms_and_bad_clips_are_errors(rng):
    cfg = StftConfig.for_rate(SR)
    x = rng.standard_normal((1, cfg.n_fft + 9 * cfg.hop_length)).astype(np.float32)
    picked = sharp_frames(cfg, 3, 10)  # a chunk from the stream's fourth frame on
    step = cfg.n_fft // 4 // cfg.hop_length
    assert step > 1 and list(picked) == [i for i in range(10) if (3 + i) % step == 0]
    got = sum(p[0].sum(axis=0) for p in hann_spectra(x, cfg, picked))
    window = np.hanning(cfg.n_fft + 1)[:-1]
    want = sum(np.abs(np.fft.rfft(x[0, i * cfg.hop_length : i * cfg.hop_length + cfg.n_fft]
                                  * window)[:MODEL_BINS]) ** 2 for i in picked)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(ParameterError, match="no audible frame"):
        long_term_power([np.zeros(100, np.float32)], SR)
    with pytest.raises(ParameterError, match="style_power"):
        Colour(_target(), np.ones(7))


def test_below_the_gate_the_input_passes_uncoloured_and_in_time(rng):
    x = rng.uniform(-0.3, 0.3, (1, SR * 2)).astype(np.float32)
    power = _target(300)
    quiet = StyleTransfer(Hindsight(power, change=0.0), gate_db=0.0)  # nothing is above it
    loud = StyleTransfer(Hindsight(power, change=0.0), gate_db=-120.0)
    for fx in (quiet, loud):
        fx.learn_input(x, SR)
    np.testing.assert_allclose(quiet(x, SR), x, atol=1e-4)  # the delayed input, aligned
    assert np.abs(loud(x, SR) - x).max() > 0.05  # coloured


class Fitted(Hindsight):
    """A hindsight transform whose Gram fit is a fixed gain, keeping what it was asked."""

    def __init__(self, power: np.ndarray, gain: np.ndarray):
        super().__init__(power, change=0.0)
        self.gain = gain
        self.asked: list[list[np.ndarray]] = []

    def fit_log_gain(self, power: list[np.ndarray]) -> np.ndarray:
        self.asked.append(power)
        return self.gain


def test_a_learnt_render_adds_its_gram_fit_once_per_learnt_input(rng):
    content = _harmonics(220.0, 3.0, rng)
    power = long_term_power([_harmonics(330.0, 3.0, rng)], SR)
    k = np.arange(MODEL_BINS)
    gain = 0.6 * np.sin(k / 25.0)
    fitted, plain = Fitted(power, gain), Hindsight(power, change=0.0)
    fx, ref = StyleTransfer(fitted), StyleTransfer(plain)
    fx(content, SR)
    assert fitted.asked == []  # as live: nothing learnt, nothing to fit
    for f in (fx, ref):
        f.learn_input(content, SR)
    assert fx.fit_to_style(SR) and not ref.fit_to_style(SR)
    y, want = fx(content, SR), ref(content, SR)
    fx(content[:SR], SR)
    assert len(fitted.asked) == 1  # the streams after it reuse the fit
    # it was asked about the learnt sample of sharp frames through the hindsight gain
    profile = fx._profile
    assert profile is not None
    assert sum(p.shape[0] for p in fitted.asked[0]) == profile.sharp_frames
    colour = Colour(_target(), power)
    squared = np.exp(2 * colour.hindsight_log_gains(profile.long_term, 1.0))
    np.testing.assert_allclose(fitted.asked[0][0], profile.sample.pieces()[0] * squared,
                               rtol=1e-5)
    # and the render's colour is the hindsight one with the fitted gain on top
    ratio = 0.5 * np.log(long_term_power([y], SR) / long_term_power([want], SR))
    loud = long_term_power([want], SR) > 1e-5
    assert np.corrcoef(ratio[loud], gain[loud])[0, 1] > 0.9
    # at style amount 0 the fit goes with the colour: dry
    for f in (fx, ref):
        f.style = 0.0
    np.testing.assert_allclose(fx(content, SR), ref(content, SR), atol=1e-6)
    fx.learn_input(content[:SR], SR)  # learning more: fitted again
    fx(content, SR)
    assert len(fitted.asked) == 2
    fx.forget_input()
    fx(content, SR)
    assert len(fitted.asked) == 2


@pytest.mark.parametrize("chunk", [1, 100, 1000])
def test_the_frame_sample_keeps_whole_runs_spread_evenly_and_bounded(chunk):
    from stylepedal.effect.engine.longterm import SAMPLE_MAX_RUNS, SAMPLE_RUN_FRAMES, FrameSample

    sample = FrameSample()
    total = SAMPLE_RUN_FRAMES * 37 + 50
    index = np.arange(total, dtype=np.float32)[:, np.newaxis]
    for start in range(0, total, chunk):
        sample.add(index[start : start + chunk])
    assert len(sample.runs) <= SAMPLE_MAX_RUNS and sample.stride == 8
    starts = [int(r[0, 0]) for r in sample.runs]
    assert starts == [i * sample.stride * SAMPLE_RUN_FRAMES for i in range(len(starts))]
    for run in sample.runs:  # consecutive frames, a whole run each
        assert run.shape == (SAMPLE_RUN_FRAMES, 1)
        np.testing.assert_array_equal(np.diff(run[:, 0]), 1.0)
