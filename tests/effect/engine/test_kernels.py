"""The compiled engine kernels against the numpy formulas they replace."""

from __future__ import annotations

import numpy as np
import pytest

from stylepedal.effect.engine.kernels import (
    all_finite,
    apply_gains,
    band_magnitudes,
    gate_wet,
    overlap_add_tails,
    wet_gains,
    wet_magnitudes,
)
from stylepedal.effect.engine.stft import StftConfig, from_logmag, overlap_add

MODEL = 1030


@pytest.mark.parametrize("mode", ["default", "low"])
@pytest.mark.parametrize("calls", [[1] * 6, [5, 1, 3], [32]], ids=["single", "mixed", "batch"])
def test_overlap_add_tails_equals_stft_overlap_add(rng, mode, calls):
    cfg = StftConfig.for_rate(48000, mode)
    n = sum(calls)
    frames = rng.normal(size=(2, n, cfg.n_fft)).astype(np.float32)
    pending_ref = rng.normal(size=(2, cfg.overlap - 1, cfg.hop_length)).astype(np.float32)
    pending = pending_ref.copy()
    ref, out, i = [], [], 0
    for k in calls:
        block = frames[:, i : i + k]
        tails = block[..., -cfg.synth_length :] * cfg.synthesis_window32
        seg, pending_ref = overlap_add(tails, pending_ref, cfg)
        ref.append(seg)
        got = np.empty((2, k * cfg.hop_length), np.float32)
        overlap_add_tails(block, cfg.synthesis_window32, pending, cfg.ola_gain, got)
        out.append(got)
        i += k
    np.testing.assert_array_equal(np.concatenate(out, 1), np.concatenate(ref, 1))
    np.testing.assert_array_equal(pending, pending_ref)


def _reference_wet_spectrum(spec, mag, wet, level_scale, floor_db, range_db, top):
    """The engine's numpy formulas before the kernel (gate per frame, float64 for clarity)."""
    spec, mag = spec.astype(np.complex128), mag.astype(np.float64)
    out = wet.astype(np.float64)
    level_db = 20 * np.log10(np.maximum(mag.max(axis=-1, keepdims=True) * level_scale, 1e-30))
    gate = np.clip((level_db - floor_db) / range_db, 0.0, 1.0)
    out = mag + gate * (out - mag)
    result = spec.copy()
    result[..., :MODEL] *= out / np.maximum(mag, 1e-30)
    if spec.shape[-1] > MODEL:
        ratio = (out[..., -top:].sum(-1, keepdims=True) + 1e-20) / (
            mag[..., -top:].sum(-1, keepdims=True) + 1e-20
        )
        result[..., MODEL:] *= np.minimum(ratio, 16.0)
    return result, out


@pytest.mark.parametrize("n_bins", [2241, MODEL], ids=["48k", "band-only"])
def test_gate_and_gains_equal_the_numpy_formulas(rng, n_bins):
    spec = (rng.normal(size=(2, 6, n_bins)) + 1j * rng.normal(size=(2, 6, n_bins))).astype(
        np.complex64
    )
    spec[:, 1] *= 1e-4  # frame 1 well below the gate, frame 2 part-way: blended
    spec[:, 2] *= 3e-3
    spec[:, 3, 40:60] = 0  # empty bins: gain 0 on a zero bin, no division by zero
    mag = np.abs(spec[..., :MODEL])
    wet = np.abs(rng.normal(0.02, 0.01, (2, 6, MODEL))).astype(np.float32)
    args = (np.float32(1.0), -50.0, 20.0, 128)
    ref, ref_wet = _reference_wet_spectrum(spec, mag, wet, *args)
    level = 20 * np.log10(mag.max(-1) * float(args[0]))
    assert (level[:, 1] < -50).all() and (-50 < level[:, 2]).all() and (level[:, 2] < -30).all()
    ratio = np.empty((2, 6), np.float32)
    gate_wet(mag, wet, *args, 16.0, ratio)
    np.testing.assert_allclose(wet, ref_wet, rtol=1e-5, atol=1e-7)
    apply_gains(spec, mag, wet, ratio)
    np.testing.assert_allclose(spec, ref, rtol=1e-5, atol=1e-7)
    assert (spec[:, 3, 40:60] == 0).all()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("shape", [(1, 128), (2, 7), (3, 1)])
def test_all_finite_equals_numpy(rng, bad, shape):
    x = rng.uniform(-2, 2, shape).astype(np.float32)
    x[0, 0] = np.finfo(np.float32).max  # large is still finite
    assert all_finite(x) is True
    for c, i in [(0, 0), (shape[0] - 1, shape[1] - 1), (shape[0] // 2, shape[1] // 2)]:
        y = x.copy()
        y[c, i] = bad
        assert all_finite(y) is bool(np.isfinite(y).all()) is False
    assert all_finite(np.zeros((2, 0), np.float32)) is True


def test_band_magnitudes_are_exact(rng):
    spec = rng.normal(size=(2, 5, 2241)) * 10.0 ** rng.uniform(-30, 6, (2, 5, 1))
    spec = (spec + 1j * rng.normal(size=spec.shape) * 10.0 ** rng.uniform(-30, 6, (2, 5, 1)))
    spec = spec.astype(np.complex64)
    spec[0, 0, :10] = 0
    mag = np.empty((2, 5, MODEL), np.float32)
    scaled = np.empty_like(mag)
    band_magnitudes(spec, np.float32(0.457), mag, scaled)
    band = spec[..., :MODEL]
    exact = np.sqrt(band.real.astype(np.float64) ** 2 + band.imag.astype(np.float64) ** 2)
    np.testing.assert_array_equal(mag, exact.astype(np.float32))  # rounded once: no under/overflow
    np.testing.assert_array_equal(scaled, mag * np.float32(0.457))
    assert (mag[0, 0, :10] == 0).all() and (mag[0, 0, 10:] > 0).all()


def test_wet_gains_equal_from_logmag_gate_and_gains(rng):
    cfg = StftConfig.for_rate(48000)
    spec = (rng.normal(size=(2, 6, 2241)) + 1j * rng.normal(size=(2, 6, 2241))).astype(
        np.complex64
    )
    spec[:, 1] *= 1e-4  # under the gate
    mag = np.abs(spec[..., :MODEL])
    logmag = rng.uniform(-2.0, 45.0, (2, 6, MODEL)).astype(np.float32)  # clamped both ways
    scale = np.float32(cfg.window_sum / 1024.0)
    args = (np.float32(2.0 / cfg.window_sum), -70.0, 20.0, 128, 16.0)
    ref_spec, ref_ratio = spec.copy(), np.empty((2, 6), np.float32)
    ref_wet = from_logmag(logmag, cfg)
    gate_wet(mag, ref_wet, *args, ref_ratio)
    apply_gains(ref_spec, mag, ref_wet, ref_ratio)
    grown = np.expm1(logmag)
    ratio = np.empty((2, 6), np.float32)
    wet_gains(spec, mag, grown, scale, np.expm1(np.float32(40.0)), *args, ratio)
    np.testing.assert_array_equal(grown, ref_wet)
    np.testing.assert_array_equal(ratio, ref_ratio)
    np.testing.assert_array_equal(spec, ref_spec)


def test_wet_magnitudes_are_wet_gains_without_the_spectrum(rng):
    """Both phase modes take the model band's wet magnitude from one kernel: wet_gains is
    wet_magnitudes followed by the gains on the spectrum."""
    cfg = StftConfig.for_rate(48000)
    spec = (rng.normal(size=(2, 6, 2241)) + 1j * rng.normal(size=(2, 6, 2241))).astype(
        np.complex64
    )
    spec[:, 1] *= 1e-4  # under the gate
    mag = np.abs(spec[..., :MODEL])
    grown = np.expm1(rng.uniform(-2.0, 45.0, (2, 6, MODEL)).astype(np.float32))
    args = (np.float32(cfg.window_sum / 1024.0), np.expm1(np.float32(40.0)),
            np.float32(2.0 / cfg.window_sum), -70.0, 20.0, 128, 16.0)  # fmt: skip
    wet, ratio = grown.copy(), np.empty((2, 6), np.float32)
    wet_magnitudes(mag, wet, *args, ratio)
    ref_spec, ref_wet, ref_ratio = spec.copy(), grown.copy(), np.empty((2, 6), np.float32)
    wet_gains(ref_spec, mag, ref_wet, *args, ref_ratio)
    np.testing.assert_array_equal(wet, ref_wet)
    np.testing.assert_array_equal(ratio, ref_ratio)
    assert not np.array_equal(ref_spec, spec)  # wet_gains changed its spectrum, this did not


def test_a_stream_never_compiles_a_kernel(rng):
    """Everything a stream calls was compiled when the effect was built (numba compiles a new
    signature on first call: seconds, inside an audio callback). Streams in every mode, mono
    and stereo, with gliding parameters, float64 and channels-last input add no signature."""
    from stylepedal.effect import StyleTransfer
    from stylepedal.effect.engine import kernels
    from stylepedal.effect.model import kernels as net_kernels

    effects = [
        StyleTransfer.from_preset("Brass", phase_mode=phase, latency_mode=latency)
        for phase in ("input", "pghi")
        for latency in ("default", "low")
    ] + [StyleTransfer.identity()]
    names = [
        "gate_wet", "apply_gains", "overlap_add_tails", "scale_flush", "all_finite",
        "band_magnitudes", "wet_gains", "wet_magnitudes",
    ]  # fmt: skip
    before = {name: len(getattr(kernels, name).signatures) for name in names}
    before["net_frames"] = len(net_kernels.net_frames.signatures)
    for fx in effects:
        for channels in (1, 2):
            x = rng.uniform(-0.2, 0.2, (channels, 9600)).astype(np.float32)
            fx.reset()
            for i in range(0, 4800, 128):
                fx.process(x[:, i : i + 128], 48000, reset=False)
            fx.mix, fx.output_gain_db = 0.5, -3.0  # gliding
            fx.process(x[:, 4800:6000], 48000, reset=False)
            fx.bypass = True
            fx.process(x[:, 6000:7000].astype(np.float64), 48000, reset=False)
            fx.process(x[:, 7000:].T.copy(), 48000, reset=False)
            fx.process(x, 48000)  # one call, many frames
    import pedalboard

    from stylepedal.host.chain import Chain

    for channels in (1, 2):  # a live chain, as the callback runs it, started first
        chain = Chain([pedalboard.Gain(-1.0), effects[0]])
        chain.start(48000, channels)
        x = rng.uniform(-0.2, 0.2, (channels, 1280)).astype(np.float32)
        x[0, 5] = np.nan
        for i in range(0, 1280, 128):
            chain.process(x[:, i : i + 128], 48000, reset=False)
    after = {name: len(getattr(kernels, name).signatures) for name in names}
    after["net_frames"] = len(net_kernels.net_frames.signatures)
    assert after == before


def test_colour_kernels_are_a_partitioned_convolution(rng):
    """colour_mac over the blocks, with colour_out fully active, is the linear convolution of
    the input with the partitioned response."""
    from stylepedal.effect.engine.kernels import colour_mac, colour_out

    block, n_parts = 16, 5
    ir = rng.normal(size=block * n_parts).astype(np.float32)
    x = rng.normal(size=block * 12).astype(np.float32)
    parts = np.fft.rfft(
        np.concatenate((ir.reshape(n_parts, block), np.zeros((n_parts, block))), axis=1)
    ).astype(np.complex64)[np.newaxis]
    fdl = np.zeros_like(parts)
    pair = np.zeros((1, 2 * block), np.float32)
    acc = np.empty((1, block + 1), np.complex64)
    gate = np.ones(1, np.float32)
    out = np.empty((1, x.size), np.float32)
    for i in range(x.size // block):
        new = x[np.newaxis, i * block : (i + 1) * block]
        pair[:, :block], pair[:, block:] = pair[:, block:], new
        colour_mac(np.fft.rfft(pair).astype(np.complex64), fdl, i % n_parts, parts, acc)
        filtered = np.fft.irfft(acc, 2 * block).astype(np.float32)
        colour_out(filtered, new, gate, np.ones(1, np.float32), out[:, i * block : (i + 1) * block])
    np.testing.assert_allclose(out[0], np.convolve(x, ir)[: x.size], atol=1e-4)
