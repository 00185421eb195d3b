"""The independent judge: level-blind, zero on the style, seeds reserved, weights reproducible."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from stylepedal import _random
from stylepedal.effect.model.features import FeatureConfig
from stylepedal.effect.model.train import TrainConfig
from stylepedal.effect.research.judge import (
    JUDGES,
    RESERVED_SEEDS,
    Judge,
    JudgeSpec,
    content_score,
    describe,
    normalise_level,
    random_weights,
)
from stylepedal.errors import ParameterError

SR = 22050
# Small judges of the default kinds (one layer, two layers): the tests run in seconds.
SMALL = (
    JudgeSpec("a", seed=1_000_003, width=3, filters=16),
    JudgeSpec("b", seed=1_000_004, width=5, filters=8, layers=2),
)


def _tone(freq: float, seconds: float = 2.0, level: float = 0.1) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    env = np.minimum(1.0, 20 * (t % 0.5)) * np.exp(-3 * (t % 0.5))  # re-struck every 0.5 s
    return (level * env * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def jd() -> Judge:
    return Judge(SMALL)


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    content = _tone(220.0)
    style = np.clip(_tone(330.0) * 30, -0.3, 0.3).astype(np.float32)  # a clipped, brighter tone
    return content, style


def test_the_style_itself_is_at_distance_zero(jd, pair):
    content, style = pair
    r = jd(style, content, style, SR)
    assert r["ratio"] == 0.0
    assert set(r["distance"].values()) == {0.0}
    assert all(d > 0 for d in r["distance_dry"].values())


@pytest.mark.parametrize("gain", [4.0, 0.25, 2.0**-7])
def test_a_gain_change_is_invisible(jd, pair, gain):
    content, style = pair
    r = jd(content * np.float32(gain), content, style, SR)
    # a power-of-two gain scales every sample exactly, and the level normalisation undoes it
    assert r["ratio"] == 1.0
    assert set(r["ratios"].values()) == {1.0}
    assert r["content"] == pytest.approx(1.0)


def test_normalise_level_sets_the_active_rms():
    x = np.concatenate([np.zeros(SR), _tone(440.0, 1.0, level=0.01)])  # a second of silence
    y = normalise_level(x, SR)
    active = y[SR:]
    # the silence does not set the level: the active second sits near the target, not below
    assert 0.05 < float(np.sqrt(np.mean(active**2))) < 0.2
    assert not normalise_level(np.zeros(SR), SR).any()


def test_a_delayed_copy_keeps_the_content_and_noise_does_not(jd, pair):
    content, style = pair
    delay = int(0.03 * SR)
    delayed = np.concatenate([np.zeros(delay, np.float32), content[:-delay]])
    kept = jd(delayed, content, style, SR)
    assert kept["content"] > 0.9 and kept["onset"] > 0.9
    noise = (0.1 * np.random.default_rng(0).standard_normal(content.size)).astype(np.float32)
    lost = jd(noise, content, style, SR)
    assert lost["content"] < 0.3
    assert lost["ratio"] > 1.0


def test_content_score_takes_public_analyses(jd, pair):
    content, _ = pair
    a = jd.analyse(content, SR)
    score = content_score(a, a)
    assert set(score) == {"onset", "chroma", "content"}
    assert score["content"] == pytest.approx(1.0)


def test_judge_seeds_are_reserved_and_unused_by_training():
    seeds = [s.seed for s in JUDGES]
    assert len(set(seeds)) == len(seeds)
    assert all(seed in RESERVED_SEEDS for seed in seeds)
    # every seed the default training and features use, whatever fields the config grows
    def seeds_in(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if "seed" in key and isinstance(item, int):
                    yield item
                yield from seeds_in(item)

    used = [*seeds_in(TrainConfig().to_dict()), FeatureConfig().seed]
    assert used and not [seed for seed in used if seed in RESERVED_SEEDS]


def test_validation_judges_share_nothing_with_the_eval_judges_or_training():
    from stylepedal.effect.model.train import BANK_FILTERS, BANK_SEED_LIMIT, BANK_WIDTHS
    from stylepedal.effect.research.judge import VALIDATION_JUDGES, VALIDATION_SEEDS

    assert all(s.seed in VALIDATION_SEEDS and s.seed not in RESERVED_SEEDS
               for s in VALIDATION_JUDGES)
    assert BANK_SEED_LIMIT <= min(VALIDATION_SEEDS)
    widths, sizes = {s.width for s in VALIDATION_JUDGES}, {s.filters for s in VALIDATION_JUDGES}
    assert not widths & ({s.width for s in JUDGES} | set(BANK_WIDTHS))
    assert not sizes & ({s.filters for s in JUDGES} | set(BANK_FILTERS))


@pytest.mark.parametrize("seed", [0, 999_999, 1_001_000, 1_999_999, 2_001_000, True])
def test_judge_spec_refuses_other_seeds(seed):
    with pytest.raises(ParameterError, match="RESERVED_SEEDS"):
        JudgeSpec("x", seed=seed, width=3, filters=4)


def test_judge_spec_refuses_bad_shapes():
    with pytest.raises(ParameterError, match="width"):
        JudgeSpec("x", seed=1_000_003, width=0, filters=4)
    with pytest.raises(ParameterError, match="unique"):
        Judge((SMALL[0], SMALL[0]))


def test_weights_are_identical_on_every_construction():
    a, b = Judge(SMALL).weights, Judge(SMALL).weights
    assert a.keys() == b.keys()
    for name in a:
        for wa, wb in zip(a[name], b[name], strict=True):
            np.testing.assert_array_equal(wa, wb)
    # pinned values: the stream is PCG64's raw output, which numpy guarantees across versions
    pinned = np.array([-1.2485673427581787, -1.0594556331634521, -0.689216136932373,
                       -0.5851196646690369], np.float32)
    np.testing.assert_array_equal(random_weights(1_000_003, (4,), fan_in=2), pinned)
    # each layer has its own stream
    assert not np.array_equal(random_weights(1_000_003, (4,), 2, layer=1), pinned)


@pytest.mark.parametrize("n", [1, 2 * _random._CHUNK_PAIRS - 1, 2 * _random._CHUNK_PAIRS + 3])
def test_weights_drawn_in_chunks_are_box_muller_on_the_whole_stream(n):
    # the whole stream at once: the first half of the normals are the cosines, then the sines
    raw = np.random.PCG64([5, 2]).random_raw(2 * ((n + 1) // 2))
    u = (raw >> np.uint64(11)).astype(np.float64) * 2.0**-53
    r, a = np.sqrt(-2.0 * np.log1p(-u[0::2])), 2.0 * np.pi * u[1::2]
    whole = (np.concatenate([r * np.cos(a), r * np.sin(a)])[:n] * math.sqrt(2.0 / 9))
    np.testing.assert_array_equal(random_weights(5, (n,), 9, layer=2), whole.astype(np.float32))


def test_several_style_clips_define_one_style(jd, pair):
    content, style = pair
    other = _tone(523.0, 1.0)
    both = [style, other]
    alone = jd(style, content, [style], SR)
    assert alone["ratio"] == 0.0
    # one clip of a two-clip style is not the style
    part = jd(style, content, both, SR)
    assert part["ratio"] > 0.0
    # both clips played one after the other are nearer to it than either alone
    joined = jd(np.concatenate(both), content, both, SR)
    assert joined["ratio"] < min(part["ratio"], jd(other, content, both, SR)["ratio"])
    # the order of the clips does not matter (a frame-weighted mean)
    assert jd(content, content, both[::-1], SR)["ratios"] == jd(content, content, both, SR)[
        "ratios"
    ]
    merged = jd.analyse_style(both, SR)
    assert merged.frames == {
        s.name: jd.analyse(style, SR).frames[s.name] + jd.analyse(other, SR).frames[s.name]
        for s in SMALL
    }


def test_bad_input_is_a_parameter_error(jd, pair):
    content, style = pair
    bad = content.copy()
    bad[10] = np.nan
    with pytest.raises(ParameterError, match="NaN or Inf"):
        jd(bad, content, style, SR)
    with pytest.raises(ParameterError, match="too short"):
        Judge((JudgeSpec("w", seed=1_000_009, width=25, filters=4),))(
            content[:2048], content[:2048], style, SR
        )
    with pytest.raises(ParameterError, match="at least one style clip"):
        jd(content, content, [], SR)
    with pytest.raises(ParameterError, match="dtype"):
        jd(np.zeros(SR, np.int16), content, style, SR)


def test_describe_is_json():
    d = json.loads(json.dumps(describe()))
    assert [j["seed"] for j in d["judges"]] == [s.seed for s in JUDGES]
