"""A render's Gram fit: banks apart from the judge's, the seeds' scale and level, and a fit that
brings the input closer to the style under banks it never saw."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stylepedal.effect.engine.constants import GRID_HZ, MODEL_BINS
from stylepedal.effect.engine.longterm import learnt
from stylepedal.effect.engine.stft import StftConfig
from stylepedal.effect.model import gramfit
from stylepedal.effect.model.gramfit import (
    FIT_AMOUNT,
    FIT_BANKS,
    FIT_BOUND_DB,
    FIT_CHROMA_KEEP,
    bank_taps,
    fit_log_gain,
    gram_distance,
    style_grams,
)
from stylepedal.effect.model.train import BANK_SEED_LIMIT, BANK_WIDTHS
from stylepedal.effect.research.judge import (
    JUDGES,
    RESERVED_SEEDS,
    VALIDATION_JUDGES,
    VALIDATION_SEEDS,
)
from stylepedal.errors import ParameterError

SR = 22050


def _tone(f0: float, seconds: float, rolloff: float, rng: np.random.Generator) -> np.ndarray:
    """Notes of a harmonic tone (partials falling by ``rolloff`` each), restruck every 0.5 s."""
    t = np.arange(int(seconds * SR)) / SR
    envelope = np.exp(-3.0 * (t % 0.5))
    x = sum(np.sin(2 * np.pi * f0 * k * t) * rolloff ** (k - 1) for k in range(1, 25))
    return (0.1 * envelope * x + 0.001 * rng.standard_normal(t.size)).astype(np.float32)


def _sample(audio: np.ndarray, sr: int = SR) -> list[np.ndarray]:
    """The sharp frames a render's profile keeps of ``audio``, as the engine learns them."""
    profile = learnt(None, audio[np.newaxis], StftConfig.for_rate(sr), -120.0, sharp=True)
    return profile.sample.pieces()


# Banks the fit never uses (other seeds and widths): what an independent judge of the same
# representation would see.
OTHER_BANKS = ((3_100_001, 5, 96), (3_100_002, 13, 96))


def test_the_fit_banks_are_neither_the_judges_nor_training_draws():
    judge_widths = {j.width for j in (*JUDGES, *VALIDATION_JUDGES)}
    for seed, width, filters in FIT_BANKS:
        assert seed not in RESERVED_SEEDS and seed not in VALIDATION_SEEDS
        assert seed >= BANK_SEED_LIMIT  # training draws its banks below this
        assert width not in judge_widths and width in BANK_WIDTHS
        assert filters == FIT_BANKS[0][2]  # one Gram shape, stored in a model file


@pytest.mark.parametrize("sr", [22050, 48000])
def test_the_learnt_sample_is_at_the_seeds_scale(sr, rng):
    import librosa

    x = (0.1 * rng.standard_normal(SR * 4)).astype(np.float32)
    if sr != SR:  # the same noise, with nothing above the model band (as the seeds hear it)
        x = librosa.resample(x, orig_sr=SR, target_sr=sr).astype(np.float32)
    energy = np.mean([p.sum(axis=1).mean() for p in _sample(x, sr)])
    if sr == SR:  # the seeds' own |STFT| (2048, Hann) of the same signal
        seeds = np.abs(librosa.stft(x.astype(np.float64), n_fft=2048, center=False)) ** 2
        assert energy == pytest.approx(seeds.sum(axis=0).mean(), rel=0.02)
    # the level the fit normalises to is the seeds' RMS of 0.1 (white noise: its whole band)
    assert energy == pytest.approx(gramfit._TARGET_ENERGY, rel=0.02 if sr == SR else 0.08)


def test_style_grams_are_level_blind_and_need_a_long_enough_clip(rng):
    style = _tone(330.0, 3.0, 0.8, rng)
    grams = style_grams([style])
    filters = FIT_BANKS[0][2]
    assert grams.shape == (len(FIT_BANKS), filters, filters) and grams.dtype == np.float32
    np.testing.assert_allclose(style_grams([0.1 * style]), grams, rtol=2e-3, atol=1e-6)
    assert not np.allclose(style_grams([_tone(110.0, 3.0, 0.95, rng)]), grams, rtol=0.1)
    with pytest.raises(ParameterError, match="too short"):
        style_grams([style[:2000]])


def test_the_fit_brings_the_input_closer_to_the_style_under_banks_it_never_saw(rng):
    style = _tone(330.0, 4.0, 0.55, rng)  # dark: its partials fall fast
    content = _tone(196.0, 4.0, 0.9, rng)  # bright
    grams, pieces = style_grams([style]), _sample(content)
    full = fit_log_gain(pieces, grams, amount=1.0, keep=0.0)
    assert np.abs(full).max() <= FIT_BOUND_DB / 20 * math.log(10) + 1e-9
    assert gram_distance(pieces, grams, full) < 0.7 * gram_distance(pieces, grams)
    other = bank_taps(OTHER_BANKS)
    theirs = style_grams([style], taps=other)
    before = gram_distance(pieces, theirs, taps=other)
    assert gram_distance(pieces, theirs, full, taps=other) < 0.8 * before
    # with no chroma to keep, any share is that share of the same fit
    np.testing.assert_allclose(fit_log_gain(pieces, grams, keep=0.0), FIT_AMOUNT * full,
                               rtol=1e-6)
    assert np.all(fit_log_gain(pieces, grams, amount=0.0) == 0.0)


def test_pitch_classes_are_librosas_chroma_map():
    import librosa

    ours = gramfit._pitch_classes()
    hz = np.arange(MODEL_BINS) * GRID_HZ
    assert np.all(ours[(hz < 55.0) | (hz > 5000.0)] == -1)
    # the model grid is a 2058-point STFT at 22.05 kHz; librosa's bank puts C first too
    theirs = librosa.filters.chroma(sr=22050, n_fft=2 * (MODEL_BINS - 1), tuning=0.0).argmax(0)
    semitones = 12.0 * np.log2(np.maximum(hz, 1.0) / 440.0)
    # bins well inside a semitone, where a hard edge and librosa's soft one agree
    clear = (hz >= 200.0) & (hz <= 5000.0) & (np.abs(semitones - np.round(semitones)) < 0.3)
    assert clear.sum() > 250
    np.testing.assert_array_equal(ours[clear], theirs[clear])


def test_chroma_keep_is_one_for_a_flat_gain_and_falls_with_a_pitch_class_cut(rng):
    pieces = _sample(_tone(196.0, 3.0, 0.9, rng))
    active = gramfit._active(pieces)
    assert gramfit.chroma_keep(pieces, active, np.full(MODEL_BINS, 0.7)) == pytest.approx(1.0)
    g = gramfit._pitch_classes() == 7  # G: the tone's own pitch class
    keeps = [gramfit.chroma_keep(pieces, active, -depth * g) for depth in (0.5, 1.0, 2.0)]
    assert 1.0 > keeps[0] > keeps[1] > keeps[2]
    # a tilt across the whole band moves every class alike (the notes' balance stays)
    tilt = np.linspace(-0.5, 0.5, MODEL_BINS)
    assert gramfit.chroma_keep(pieces, active, tilt) > keeps[0]


def test_the_share_is_the_largest_step_that_keeps_the_chroma(rng):
    style = _tone(330.0, 4.0, 0.55, rng)
    grams, pieces = style_grams([style]), _sample(_tone(196.0, 4.0, 0.9, rng))
    active = gramfit._active(pieces)
    full = fit_log_gain(pieces, grams, amount=1.0, keep=0.0)
    keeps = [gramfit.chroma_keep(pieces, active, step * full) for step in gramfit._SHARE_STEPS]
    assert keeps[0] < keeps[4] < 1.0  # the full fit moves the notes' balance more than half
    # a keep between the two: the largest step that keeps it, and never a smaller one
    wanted = 0.5 * (keeps[0] + keeps[4])
    first = next(i for i, k in enumerate(keeps) if k >= wanted)
    assert 0 < first <= 4
    got = fit_log_gain(pieces, grams, amount=1.0, keep=wanted)
    np.testing.assert_allclose(got, gramfit._SHARE_STEPS[first] * full, rtol=1e-6)
    # a keep no gain meets leaves the input as it is; the shipped setting is within range
    assert np.all(fit_log_gain(pieces, grams, amount=1.0, keep=1.0) == 0.0)
    assert 0.0 <= FIT_CHROMA_KEEP < 1.0
    with pytest.raises(ParameterError, match="keep"):
        fit_log_gain(pieces, grams, keep=1.5)


def test_silence_short_pieces_and_bad_grams():
    grams = np.zeros((len(FIT_BANKS), FIT_BANKS[0][2], FIT_BANKS[0][2]), np.float32)
    assert np.all(fit_log_gain([np.zeros((200, MODEL_BINS), np.float32)], grams) == 0.0)
    assert np.all(fit_log_gain([np.ones((5, MODEL_BINS), np.float32)], grams) == 0.0)
    with pytest.raises(ParameterError, match="grams of shape"):
        fit_log_gain([np.ones((200, MODEL_BINS), np.float32)], grams[:2])
    with pytest.raises(ParameterError, match="frame powers of shape"):
        fit_log_gain([np.ones((200, 12), np.float32)], grams)
    with pytest.raises(ParameterError, match="amount"):
        fit_log_gain([np.ones((200, MODEL_BINS), np.float32)], grams, amount=2.0)
