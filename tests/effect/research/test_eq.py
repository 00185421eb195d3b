"""The static EQ-match baseline: the long-term spectrum of the style, the content's level."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from stylepedal.effect.research.eq import GRAPHIC_OCTAVES, eq_match
from stylepedal.effect.research.judge import Judge, JudgeSpec
from stylepedal.errors import ParameterError

SR = 22050
# the output is float32: its RMS may differ from the content's by float32 rounding only
F32_RTOL = 10 * float(np.finfo(np.float32).eps)


def _noise(seconds: float, seed: int) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(
        np.float32
    )


def _ltas_db(x: np.ndarray) -> np.ndarray:
    _, p = scipy.signal.welch(x, SR, nperseg=2048)
    return 10 * np.log10(p / p.sum())


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    content = _noise(3.0, 0)
    b, a = scipy.signal.butter(4, 800 / (SR / 2))
    style = scipy.signal.lfilter(b, a, _noise(2.0, 1)).astype(np.float32)  # dark noise
    return content, style


@pytest.mark.parametrize("octaves", [0.0, GRAPHIC_OCTAVES])
def test_length_and_level_are_the_contents(pair, octaves):
    content, style = pair
    y = eq_match(content, style, SR, smoothing_octaves=octaves)
    assert y.dtype == np.float32 and y.shape == content.shape
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    assert rms == pytest.approx(float(np.sqrt(np.mean(content.astype(np.float64) ** 2))),
                                rel=F32_RTOL)


def test_the_output_takes_the_styles_long_term_spectrum(pair):
    content, style = pair
    y = eq_match(content, style, SR)
    band = slice(1, 400)  # up to 4.3 kHz, where the dark style still has power above the floor
    before = np.mean(np.abs(_ltas_db(content) - _ltas_db(style))[band])
    after = np.mean(np.abs(_ltas_db(y) - _ltas_db(style))[band])
    assert after < 0.25 * before


def test_the_judge_finds_it_closer_to_the_style(pair):
    content, style = pair
    jd = Judge((JudgeSpec("a", seed=1_000_003, width=3, filters=16),))
    assert jd(eq_match(content, style, SR), content, style, SR)["ratio"] < 0.5


def test_style_clips_and_rates(pair):
    content, style = pair
    np.testing.assert_array_equal(eq_match(content, [style], SR), eq_match(content, style, SR))
    pooled = eq_match(content, [style[: SR // 2], style[SR // 2 :]], SR)
    assert pooled.shape == content.shape
    import librosa

    style_44k = librosa.resample(style, orig_sr=SR, target_sr=44100)
    y = eq_match(content, style_44k, SR, style_rate=44100)
    band = slice(1, 400)
    assert np.mean(np.abs(_ltas_db(y) - _ltas_db(style))[band]) < np.mean(
        np.abs(_ltas_db(content) - _ltas_db(style))[band]
    )


def test_bad_input(pair):
    content, style = pair
    with pytest.raises(ParameterError, match="silent"):
        eq_match(np.zeros(SR, np.float32), style, SR)
    with pytest.raises(ParameterError, match="silent"):
        eq_match(content, np.zeros(SR, np.float32), SR)
    with pytest.raises(ParameterError, match="smoothing_octaves"):
        eq_match(content, style, SR, smoothing_octaves=-1.0)
    with pytest.raises(ParameterError, match="at least one style clip"):
        eq_match(content, [], SR)
    with pytest.raises(ParameterError, match="ndim"):
        eq_match(np.stack([content, content]), style, SR)
