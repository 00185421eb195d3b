"""The colour stage: a slowly adapting minimum-phase EQ toward a style's long-term spectrum."""

from __future__ import annotations

import numpy as np
import pytest

from stylepedal import StyleTransfer
from stylepedal.effect.engine import colour as colour_module
from stylepedal.effect.engine.colour import DESIGN_HOPS, UPDATE_FRAMES, Colour, minimum_phase
from stylepedal.effect.engine.constants import MODEL_BINS
from stylepedal.effect.engine.stft import StftConfig, analyze
from stylepedal.errors import ParameterError
from tests.effect.engine.test_effect import RATES, RecurrentTransform, block_sizes, stream
from tests.tolerances import FLOAT32_TINY, STREAM_ATOL


def _target(peak_bin: int = 200) -> np.ndarray:
    """A tilted spectrum with a strong peak: far from white noise."""
    k = np.arange(MODEL_BINS)
    target = 1.0 / (1.0 + k / 50.0) ** 2
    target[peak_bin - 3 : peak_bin + 4] *= 300.0
    return target


class ColouredRecurrent(RecurrentTransform):
    """A stateful causal transform that also asks for a colour stage: ``change`` of the way
    from each frame to the one-pole smoothing."""

    def __init__(self, target: np.ndarray, change: float = 0.3) -> None:
        self.colour_target = target
        self.change = change

    def __call__(self, frames: np.ndarray, state: np.ndarray) -> np.ndarray:
        return frames + self.change * (super().__call__(frames, state) - frames)


def _length(sr: int, frames: int = 30) -> int:
    return StftConfig.for_rate(sr).hop_length * frames


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("block", [1, 17, 137, 1024, 8192, "random"])
def test_grid_stream_equals_oneshot_across_redesigns(sr, block, rng):
    if block == 1 and sr > 48000:
        pytest.skip("a sample at a time at 96-192 kHz: covered by 17 and random")
    x = rng.uniform(-0.5, 0.5, (2, _length(sr))).astype(np.float32)
    fx = StyleTransfer(ColouredRecurrent(_target()), mix=0.8)
    whole = fx(x, sr, reset=False)  # the stream in one call
    parts = stream(fx, x, sr, block_sizes(block, rng))
    assert parts.shape == x.shape and np.all(np.isfinite(parts))
    nonzero = np.abs(parts[parts != 0])
    assert nonzero.size == 0 or nonzero.min() >= FLOAT32_TINY
    np.testing.assert_allclose(parts, whole, atol=STREAM_ATOL, rtol=0)
    # the filter was redesigned within the signal: the output is not the input's
    delay = fx.latency_samples(sr)
    assert np.abs(whole[:, delay:] - x[:, :-delay]).max() > 0.01


@pytest.mark.parametrize("sr", [22050, 48000, 96000])
def test_nan_inf_in_gives_finite_out(sr, rng):
    fx = StyleTransfer(ColouredRecurrent(_target()))
    x = rng.uniform(-0.5, 0.5, _length(sr)).astype(np.float32)
    bad = x.copy()
    bad[x.size // 3] = np.nan
    bad[x.size // 3 + 2] = np.inf
    y = stream(fx, bad[np.newaxis], sr, [137])[0]
    assert np.all(np.isfinite(y))
    clean = np.where(np.isfinite(bad), bad, 0.0).astype(np.float32)
    fx.reset()
    np.testing.assert_allclose(y, fx(clean, sr, reset=False), atol=STREAM_ATOL, rtol=0)


def test_silence_in_silence_out(rng):
    fx = StyleTransfer(ColouredRecurrent(_target(), change=1.0))
    assert np.all(fx(np.zeros(48000, np.float32), 48000) == 0.0)


def test_reset_gives_the_same_output_twice(rng):
    fx = StyleTransfer(ColouredRecurrent(_target()))
    x = rng.uniform(-0.5, 0.5, (2, _length(48000))).astype(np.float32)
    first = stream(fx, x, 48000, [137])
    second = stream(fx, x, 48000, [137])
    np.testing.assert_array_equal(first, second)


def test_style_zero_is_the_dry_spectrum(rng):
    """style=0: the colour stage's gain and the model's change are both scaled to nothing."""
    x = rng.uniform(-0.5, 0.5, _length(48000, 60)).astype(np.float32)
    styled = StyleTransfer(ColouredRecurrent(_target(), change=1.0), style=0.0)(x, 48000)
    dry = StyleTransfer.identity()(x, 48000)
    np.testing.assert_allclose(styled, dry, atol=1e-4, rtol=0)
    full = StyleTransfer(ColouredRecurrent(_target(), change=1.0))(x, 48000)
    assert np.abs(full - dry).max() > 0.05


def test_the_colour_brings_white_noise_to_the_target_spectrum(rng):
    sr = 22050
    target = _target()
    x = rng.standard_normal(sr * 6).astype(np.float32) * 0.05
    fx = StyleTransfer(ColouredRecurrent(target, change=0.0))
    y = fx(x, sr)  # one shot: aligned
    late = slice(sr * 3, None)  # after the input's spectrum has been learnt
    out = (np.expm1(analyze(y[late], sr).astype(np.float64)) ** 2).mean(axis=0)
    dry = (np.expm1(analyze(x[late], sr).astype(np.float64)) ** 2).mean(axis=0)

    def error_db(power: np.ndarray) -> float:
        band = slice(20, MODEL_BINS - 20)
        a = 10 * np.log10(power[band] / power[band].sum())
        b = 10 * np.log10(target[band] / target[band].sum())
        return float(np.sqrt(np.mean((a - b - np.mean(a - b)) ** 2)))

    assert error_db(out) < 3.0 and error_db(dry) > 2.0 * error_db(out)
    # and as loud as the input
    assert abs(10 * np.log10(np.mean(y[late] ** 2) / np.mean(x[late] ** 2))) < 1.5


def test_a_learnt_input_is_coloured_from_its_first_notes(rng):
    """White noise through a flat start reaches the target only as the stage learns it; with
    the input learnt first, the first half second is as close to the target as later on."""
    sr = 22050
    target = _target()
    x = rng.standard_normal(sr * 4).astype(np.float32) * 0.05
    fx = StyleTransfer(ColouredRecurrent(target, change=0.0))

    def early_error_db(y: np.ndarray) -> float:
        y = y[: sr // 2]  # aligned
        power = (np.expm1(analyze(y, sr).astype(np.float64)) ** 2).mean(axis=0)
        band = slice(20, MODEL_BINS - 20)
        a = 10 * np.log10(power[band] / power[band].sum())
        b = 10 * np.log10(target[band] / target[band].sum())
        return float(np.sqrt(np.mean((a - b - np.mean(a - b)) ** 2)))

    cold = early_error_db(fx(x, sr))
    fx.learn_input(x, sr)
    assert fx.learned_input_seconds == pytest.approx(4.0, abs=0.2)
    learnt = early_error_db(fx(x, sr))
    assert learnt < 3.0 < cold


def test_learning_is_partition_invariant_survives_reset_and_can_be_forgotten(rng):
    x = rng.uniform(-0.5, 0.5, (2, _length(48000, 60))).astype(np.float32)
    fx = StyleTransfer(ColouredRecurrent(_target()))
    cold = fx(x, 48000)
    fx.learn_input(x, 48000)
    learnt = fx(x, 48000)
    assert np.abs(learnt - cold).max() > 0.01
    fx.reset()
    np.testing.assert_array_equal(fx(x, 48000), learnt)  # reset keeps what was learnt
    fx.forget_input()
    for cut in (x[:, :1], x[:, 1:5000], x[:, 5000:]):  # chunk after chunk learns the same
        fx.learn_input(cut, 48000)
    np.testing.assert_array_equal(fx(x, 48000), learnt)
    fx.forget_input()
    np.testing.assert_array_equal(fx(x, 48000), cold)
    fx.learn_input(x, 44100)  # another rate starts over, and does not apply at 48 kHz
    np.testing.assert_array_equal(fx(x, 48000), cold)


def test_learning_without_a_colour_stage_does_nothing_and_checks_its_input():
    fx = StyleTransfer.identity()
    assert not fx.learns_input and StyleTransfer(ColouredRecurrent(_target())).learns_input
    fx.learn_input(np.ones(48000, np.float32), 48000)
    assert fx.learned_input_seconds == 0.0
    with pytest.raises(ParameterError, match="sample_rate"):
        StyleTransfer(ColouredRecurrent(_target())).learn_input(np.ones(100, np.float32), 1000)


def test_minimum_phase_design_has_the_asked_magnitude_and_comes_early():
    cfg = StftConfig.for_rate(48000)
    k = np.arange(MODEL_BINS)
    log_gain = (0.8 * np.sin(k / 40.0) + 0.5 * np.exp(-((k - 300) / 4.0) ** 2))[np.newaxis]
    ir = minimum_phase(log_gain, cfg)[0]
    spectrum = np.abs(np.fft.rfft(ir, cfg.n_fft))[:MODEL_BINS]
    got = np.log(np.maximum(spectrum, 1e-9))
    assert np.sqrt(np.mean((got - log_gain[0]) ** 2)) < 0.1  # within ~1 dB
    energy = np.cumsum(ir**2) / np.sum(ir**2)
    assert energy[int(0.01 * 48000)] > 0.9  # 90 % of it within the first 10 ms


def test_log_gains_keep_the_loudness_and_respect_the_clamp():
    cfg = StftConfig.for_rate(48000)
    colour = Colour(_target())
    state = colour.new_state(cfg, 1)
    power = np.ones((1, MODEL_BINS))
    power[0, 500:] = 1e-9  # bins the input never has
    state.power, state.weight = power * 1000.0, np.array([1000.0])
    g = colour.log_gains(state.power, state.weight, cfg, 1.0)[0]
    p = np.maximum(power[0], power[0].max() * 1e-6)
    p /= p.sum()
    assert np.sum(p * np.exp(2 * g)) == pytest.approx(1.0, rel=1e-6)
    assert np.abs(g).max() <= 24.0 / 20.0 * np.log(10) + 1e-9
    assert np.all(colour.log_gains(state.power, state.weight, cfg, 0.0) == 0.0)


def test_bad_targets_are_parameter_errors():
    with pytest.raises(ParameterError, match="colour target"):
        Colour(np.ones(10))
    with pytest.raises(ParameterError, match="colour target"):
        Colour(-np.ones(MODEL_BINS))


def _design_steps(monkeypatch) -> list[str]:
    """Record each step of a filter design as it runs (the real steps run)."""
    calls: list[str] = []
    for name in ("_folded_cepstrum", "_minimum_phase_response"):
        real = getattr(colour_module, name)
        monkeypatch.setattr(colour_module, name,
                            lambda *a, _real=real, _name=name: calls.append(_name) or _real(*a))
    real_gains = Colour.log_gains
    monkeypatch.setattr(Colour, "log_gains",
                        lambda self, *a: calls.append("log_gains") or real_gains(self, *a))
    return calls


@pytest.mark.parametrize("block", [128, 256])
def test_a_redesign_is_spread_over_blocks_and_takes_over_on_its_hop(block, rng, monkeypatch):
    sr = 48000
    cfg = StftConfig.for_rate(sr)
    every = UPDATE_FRAMES * cfg.model_stride
    fx = StyleTransfer(ColouredRecurrent(_target()), mix=1.0)
    x = rng.uniform(-0.5, 0.5, (1, (2 * every + DESIGN_HOPS) * cfg.hop_length))
    x = x.astype(np.float32)
    calls = _design_steps(monkeypatch)
    expected = None
    for i in range(x.shape[1] // block):
        before = len(calls)
        hops_before = (i * block) // cfg.hop_length
        fx(x[:, i * block : (i + 1) * block], sr, reset=False)
        state = fx._state.colour
        hops = ((i + 1) * block) // cfg.hop_length
        steps = calls[before:]
        # no block carries more than one step; at block 128 (a hop every other block) the
        # blocks that complete a hop carry none
        assert len(steps) <= 1, (i, steps)
        if block < cfg.hop_length and hops > hops_before:
            assert steps == [], (i, steps)
        if hops == every and hops_before < every:  # a design starts from its hop's statistics
            assert state.draft is not None and state.draft.at == every
            # the same design at once: the gains, the minimum-phase response, its partitions
            gains = fx._colour.log_gains(state.power, state.weight, cfg, 1.0)
            expected = colour_module._partitions(minimum_phase(gains, cfg), cfg)
            del calls[-3:]
            assert not np.array_equal(state.parts, expected)
        if hops == every + DESIGN_HOPS - 1:
            assert not np.array_equal(state.parts, expected)
        if hops == every + DESIGN_HOPS:  # ... and its filter takes over DESIGN_HOPS later
            assert state.draft is None
            np.testing.assert_array_equal(state.parts, expected)
    assert calls == 2 * ["log_gains", "_folded_cepstrum", "_minimum_phase_response"]
