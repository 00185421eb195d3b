"""The procedural guitar corpus: deterministic, guitar-ranged, well-formed."""

from __future__ import annotations

import numpy as np
import pytest

from stylepedal.effect.model.corpus import (
    HIGHEST_MIDI,
    LOWEST_MIDI,
    make_clip,
    make_corpus,
    pluck,
    through_rigs,
)
from stylepedal.errors import ParameterError


def _fundamental_hz(note: np.ndarray, sample_rate: int, fmin: float, fmax: float) -> float:
    """Autocorrelation pitch: the lag of the highest peak between 1/fmax and 1/fmin."""
    x = note[: sample_rate // 2].astype(np.float64)
    ac = np.correlate(x, x, mode="full")[len(x) - 1 :]
    lo, hi = int(sample_rate / fmax), int(sample_rate / fmin)
    lag = lo + int(np.argmax(ac[lo:hi]))
    # parabolic interpolation around the peak
    a, b, c = ac[lag - 1], ac[lag], ac[lag + 1]
    return sample_rate / (lag + 0.5 * (a - c) / (a - 2 * b + c))


@pytest.mark.parametrize("freq_hz", [82.41, 110.0, 329.63, 1318.5])
def test_pluck_pitch_is_exact(freq_hz, rng):
    note = pluck(freq_hz, 0.5, 22050, rng=rng)
    est = _fundamental_hz(note, 22050, freq_hz / 1.5, freq_hz * 1.5)
    cents = 1200 * np.log2(est / freq_hz)
    assert abs(cents) < 5.0


def test_pluck_decays_and_is_bounded(rng):
    note = pluck(196.0, 2.0, 22050, rng=rng, velocity=0.5)
    assert note.dtype == np.float32
    assert np.abs(note).max() == pytest.approx(0.5, rel=1e-5)
    head = np.sqrt(np.mean(note[:2205] ** 2))
    tail = np.sqrt(np.mean(note[-2205:] ** 2))
    assert tail < 0.3 * head


def test_pluck_rejects_pitch_above_range(rng):
    with pytest.raises(ParameterError, match="freq_hz"):
        pluck(10000.0, 0.1, 22050, rng=rng)


def test_clip_is_deterministic_and_seeded():
    a = make_clip(1.5, 22050, seed=4)
    b = make_clip(1.5, 22050, seed=4)
    c = make_clip(1.5, 22050, seed=5)
    assert a.dtype == np.float32 and a.shape == (33075,)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.isfinite(a).all() and 0.01 < np.abs(a).max() <= 0.9 + 1e-6


def test_corpus_has_varied_dynamics_and_pitch():
    clips = make_corpus(8, 3.0, 22050, seed=1)
    peaks = [float(np.abs(c).max()) for c in clips]
    assert max(peaks) / min(peaks) > 1.5
    # Energy in the band of the guitar's range, not above it.
    spec = np.abs(np.fft.rfft(np.concatenate(clips)))
    freqs = np.fft.rfftfreq(sum(len(c) for c in clips), 1 / 22050)
    lo = 440 * 2 ** ((LOWEST_MIDI - 69) / 12) * 0.9
    hi = 440 * 2 ** ((HIGHEST_MIDI - 69) / 12) * 1.1
    band = spec[(freqs > lo) & (freqs < hi)] ** 2
    assert band.sum() > 0.7 * (spec**2).sum()


def test_corpus_seeds_give_disjoint_clips():
    train = make_corpus(3, 1.0, 22050, seed=0)
    held = make_corpus(3, 1.0, 22050, seed=1)
    for a in train:
        for b in held:
            assert not np.array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_clips": 0, "seconds": 1.0, "sample_rate": 22050}, "n_clips"),
        ({"n_clips": 1, "seconds": 0.0, "sample_rate": 22050}, "seconds"),
        ({"n_clips": 1, "seconds": 1.0, "sample_rate": 4000}, "sample_rate"),
        ({"n_clips": 1, "seconds": 1.0, "sample_rate": 22050, "seed": -1}, "seed"),
    ],
)
def test_corpus_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        make_corpus(**kwargs)


def test_rigs_recolour_each_clip_at_its_own_peak_deterministically():
    clips = make_corpus(6, 1.0, 22050, seed=3)
    rigged = through_rigs(clips, 22050)
    again = through_rigs(clips, 22050)
    other = through_rigs(clips, 22050, seed=1)
    for clean, r, a, o in zip(clips, rigged, again, other, strict=True):
        assert r.dtype == np.float32 and r.shape == clean.shape
        np.testing.assert_array_equal(r, a)
        assert not np.allclose(r, o)
        np.testing.assert_allclose(np.abs(r).max(), np.abs(clean).max(), rtol=1e-5)
        # every rig ends in a low-pass at 9 kHz or below: the top octave loses power
        top = np.fft.rfftfreq(clean.size, 1 / 22050) > 9000
        power = [(np.abs(np.fft.rfft(y))[top] ** 2).sum() for y in (r, clean)]
        assert power[0] < power[1]


def test_rigs_reject_a_bad_rate():
    with pytest.raises(ParameterError, match="sample_rate"):
        through_rigs(make_corpus(1, 1.0, 22050), -1)
