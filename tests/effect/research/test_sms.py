"""SMS: sinusoidal analysis (peaks, tracks), additive synthesis, residual handling."""

from __future__ import annotations

import numpy as np
import pytest

from stylepedal.effect.research.reconstruction import snr_db
from stylepedal.effect.research.sms import SmsRepresentation, additive_synthesis
from stylepedal.errors import ParameterError
from tests.signals import pluck
from tests.tolerances import SMS_FREQ_TOL_HZ, SMS_MAG_TOL_DB, SMS_STATIONARY_SNR_DB


def _sum_of_sines(sample_rate, seconds, freqs_hz, amps_db, phases):
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    y = sum(
        10 ** (a / 20) * np.cos(2 * np.pi * f * t + p)
        for f, a, p in zip(freqs_hz, amps_db, phases, strict=True)
    )
    return np.asarray(y, dtype=np.float32)


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000])
def test_known_sinusoids_are_recovered(rng, sample_rate):
    freqs = np.sort(rng.uniform(150.0, 5000.0, 5))
    # keep them resolvable: at least 150 Hz apart (Blackman-Harris main lobe ~86 Hz wide)
    freqs = freqs + 150.0 * np.arange(5)
    amps_db = rng.uniform(-30.0, -6.0, 5)
    phases = rng.uniform(-np.pi, np.pi, 5)
    y = _sum_of_sines(sample_rate, 1.5, freqs, amps_db, phases)
    an = SmsRepresentation(max_sinusoids=16).decompose(y, sample_rate)
    assert an.tracks.shape[0] == 16 and an.tracks.shape[2] == 3
    inner = an.tracks[:, 3:-3]  # frames whose window lies inside the clip
    active = inner[:, :, 1] > 0
    assert active.sum(axis=0).tolist() == [5] * inner.shape[1]  # exactly the five partials
    for f, a in zip(freqs, amps_db, strict=True):
        slot = int(np.argmin(np.abs(inner[:, inner.shape[1] // 2, 0] - f)))
        assert active[slot].all(), "a stationary partial stays in one track"
        assert np.abs(inner[slot, :, 0] - f).max() < SMS_FREQ_TOL_HZ
        assert np.abs(20 * np.log10(inner[slot, :, 1]) - a).max() < SMS_MAG_TOL_DB


def test_measured_phases_resynthesise_the_signal(rng):
    sr = 22050
    freqs, amps = [220.0, 523.3, 1500.0], [-6.0, -14.0, -22.0]
    y = _sum_of_sines(sr, 2.0, freqs, amps, rng.uniform(-np.pi, np.pi, 3))
    an = SmsRepresentation().decompose(y, sr)
    inner = slice(4096, -4096)
    assert snr_db(y[inner], an.sines[inner]) > SMS_STATIONARY_SNR_DB


def test_sines_plus_residual_is_the_input(rng):
    y = pluck(22050, 1.0) + (0.01 * rng.standard_normal(22050)).astype(np.float32)
    an = SmsRepresentation().decompose(y, 22050)
    np.testing.assert_allclose(an.sines + an.residual, y, atol=1e-6)
    # and the sinusoids carry most of a plucked string's energy
    assert np.sum(an.sines**2) > 0.5 * np.sum(y**2)


def test_max_sinusoids_keeps_the_strongest(rng):
    sr = 22050
    freqs = 200.0 + 300.0 * np.arange(10)
    amps_db = -6.0 - 3.0 * np.arange(10)  # strongest first
    y = _sum_of_sines(sr, 1.0, freqs, amps_db, rng.uniform(-np.pi, np.pi, 10))
    tracks = SmsRepresentation(max_sinusoids=4).decompose(y, sr).tracks
    assert tracks.shape[0] == 4
    inner = tracks[:, 3:-3]
    assert ((inner[:, :, 1] > 0).sum(axis=0) <= 4).all()
    found = np.sort(inner[:, inner.shape[1] // 2, 0])
    np.testing.assert_allclose(found, freqs[:4], atol=SMS_FREQ_TOL_HZ)


def test_a_glide_is_tracked_as_one_partial():
    sr = 22050
    t = np.arange(sr * 2) / sr
    f0, f1 = 300.0, 420.0  # 60 Hz/s: within the tracker's per-frame deviation
    phase = 2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / 2.0 * t**2)
    y = (0.4 * np.cos(phase)).astype(np.float32)
    tracks = SmsRepresentation(max_sinusoids=8).decompose(y, sr).tracks
    inner = tracks[:, 3:-3]
    slots = np.flatnonzero((inner[:, :, 1] > 0).any(axis=1))
    assert slots.tolist() == [int(slots[0])]
    hop = 512
    centres = (np.arange(tracks.shape[1]) * hop / sr)[3:-3]
    expected = f0 + (f1 - f0) / 2.0 * centres
    # a glide smears the window's peak a little; still well within 1 Hz of the true frequency
    assert np.abs(inner[slots[0], :, 0] - expected).max() < SMS_FREQ_TOL_HZ


def test_short_spurious_tracks_are_dropped(rng):
    sr = 22050
    y = _sum_of_sines(sr, 1.0, [440.0], [-6.0], [0.0])
    blip = np.zeros_like(y)
    blip[11000:11300] = 0.3 * np.cos(2 * np.pi * 3000.0 * np.arange(300) / sr)
    # a 93 ms window at a 23 ms hop sees a 14 ms blip in about five frames
    tracks = SmsRepresentation(min_track_frames=8).decompose(y + blip, sr).tracks
    assert not (tracks[:, :, 0] > 2000).any()
    assert (tracks[:, :, 0] > 400).any()  # the long partial stays
    kept = SmsRepresentation(min_track_frames=1).decompose(y + blip, sr).tracks
    assert (kept[:, :, 0] > 2000).any()


def test_additive_synthesis_births_fade_in_and_deaths_fade_out():
    sr, hop = 22050, 100
    tracks = np.zeros((1, 6, 3))
    w = 2 * np.pi * 1000.0 / sr
    tracks[0, 2] = (1000.0, 0.5, 0.0)  # alive at frames 2 and 3 only,
    tracks[0, 3] = (1000.0, 0.5, np.angle(np.exp(1j * w * hop)))  # with consistent phases
    y = additive_synthesis(tracks, sr, hop_length=hop, length=600)
    assert np.all(y[:hop] == 0)  # nothing before the hop that leads to the birth
    env = np.abs(y[hop : 2 * hop])
    assert env[:10].max() < env[-10:].max()  # fading in
    assert np.all(y[4 * hop + 1 :] == 0)  # silent after the death's hop
    # between two alive frames: the exact cosine with the frame's phase
    n = np.arange(2 * hop, 3 * hop)
    np.testing.assert_allclose(
        y[n], 0.5 * np.cos(2 * np.pi * 1000.0 * (n - 2 * hop) / sr), atol=1e-5
    )


def test_tracks_view_round_trip_keeps_frequencies_and_amplitudes(rng):
    sr = 22050
    y = _sum_of_sines(sr, 1.0, [330.0, 990.0], [-8.0, -16.0], [0.3, 1.0])
    rep = SmsRepresentation(view="tracks", max_sinusoids=8)
    an = rep.decompose(y, sr)
    back = rep.tracks_from_view(rep.analyze(y, sr), sr)
    np.testing.assert_allclose(back[:, :, 0], an.tracks[:, :, 0], atol=1e-3)
    np.testing.assert_allclose(back[:, :, 1], an.tracks[:, :, 1], rtol=1e-4, atol=1e-9)


def test_spectrum_view_peaks_give_back_the_partials(rng):
    sr = 22050
    freqs, amps = [262.0, 659.0, 1319.0], [-10.0, -16.0, -20.0]
    y = _sum_of_sines(sr, 1.5, freqs, amps, rng.uniform(-np.pi, np.pi, 3))
    rep = SmsRepresentation(max_sinusoids=8)
    tracks = rep.tracks_from_view(rep.analyze(y, sr), sr)
    mid = tracks[:, tracks.shape[1] // 2]
    live = mid[mid[:, 1] > 0]
    assert sorted(np.round(live[:, 0]).tolist()) == pytest.approx(freqs, abs=2.0)
    order = np.argsort(live[:, 0])
    # the Hann view is coarser than the analysis, but the levels stay within a dB or two
    np.testing.assert_allclose(20 * np.log10(live[order, 1]), amps, atol=2 * SMS_MAG_TOL_DB)


def test_residual_modes(rng):
    sr = 22050
    y = pluck(sr, 1.0, 196.0) + (0.02 * rng.standard_normal(sr)).astype(np.float32)
    out = {}
    for mode in ("pass", "drop", "stochastic"):
        rep = SmsRepresentation(residual=mode, seed=1)
        x = rep.analyze(y, sr)
        out[mode] = rep.synthesize(x, sr, reference=y)
        assert out[mode].shape == y.shape
    residual = SmsRepresentation().residual_of(y, sr)
    # pass = the oscillators plus the content's residual, sample for sample
    np.testing.assert_allclose(out["pass"] - out["drop"], residual, atol=1e-5)
    noise = out["stochastic"] - out["drop"]
    # stochastic: a new noise with about the residual's energy, not the residual itself
    assert 0.5 < np.sqrt(np.mean(noise**2) / np.mean(residual**2)) < 2.0
    assert abs(np.corrcoef(noise, residual)[0, 1]) < 0.5


def test_plain_round_trip_without_reference_uses_the_clips_residual():
    sr = 22050
    y = pluck(sr, 1.0)
    rep = SmsRepresentation(seed=2)
    x = rep.analyze(y, sr)
    with_ref = rep.synthesize(x, sr, reference=y)
    without = rep.synthesize(x, sr)
    np.testing.assert_allclose(without[: len(y)], with_ref, atol=1e-6)
    # an array it never analysed (an optimiser's output) gets no residual
    other = rep.synthesize(x * 0.9, sr)
    drop = SmsRepresentation(seed=2, residual="drop").synthesize(x * 0.9, sr)
    np.testing.assert_allclose(other, drop, atol=1e-6)


def test_silence_and_bad_input():
    rep = SmsRepresentation(max_sinusoids=4)
    an = rep.decompose(np.zeros(5000, np.float32), 22050)
    assert not an.tracks.any() and not an.sines.any()
    with pytest.raises(ParameterError, match=r"max_sinusoids=0 .*\[1, 1024\]"):
        SmsRepresentation(max_sinusoids=0)
    with pytest.raises(ParameterError, match="max_sinusoids=True"):
        SmsRepresentation(max_sinusoids=True)
    with pytest.raises(ParameterError, match="n_fft=512 must be at least win_length"):
        SmsRepresentation(win_length=1001, n_fft=512).params(22050)
    with pytest.raises(ParameterError, match=r"tracks shape=\(2, 3\)"):
        additive_synthesis(np.zeros((2, 3)), 22050, hop_length=10, length=10)
    with pytest.raises(ParameterError, match="is empty"):
        rep.decompose(np.zeros(0, np.float32), 22050)


def test_stochastic_residual_is_finite_for_a_plucked_string():
    # the running mean of the residual's power over frequency can round to tiny negatives,
    # and their square root is NaN (synthesize() used to hide that with nan_to_num)
    from stylepedal.effect.research.sms import SmsRepresentation, _stochastic

    x = pluck(22050, 5.0, 110.0, seed=1)
    rep = SmsRepresentation(residual="stochastic")
    residual = rep.decompose(x, 22050).residual
    with np.errstate(invalid="raise"):
        y = _stochastic(residual, 1024, 256, seed=0)
    assert y.shape == residual.shape and np.all(np.isfinite(y))
