"""stylepedal eval: Gram style distance, content distance, MIR descriptor ratios."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stylepedal.effect.model.gram import FeatureConfig
from stylepedal.effect.research.metrics import (
    DESCRIPTORS,
    descriptors,
    evaluate,
    format_judge_table,
    format_table,
)
from stylepedal.effect.research.optimize import optimize_logmag
from stylepedal.effect.research.represent import get_representation
from stylepedal.errors import AudioFileError, ParameterError
from stylepedal.host.cli import main as cli_main
from tests.signals import pluck
from tests.tolerances import SINE_CENTROID_RTOL

SR = 22050
SMALL = FeatureConfig(n_filters=32, kernel_size=5)
TOP_KEYS = {
    "style_distance",
    "content_distance",
    "style_loss",
    "descriptors",
    "descriptor_ratio_mean",
    "descriptors_toward_style",
    "sample_rate",
    "representation",
    "features",
    "frames",
}

JUDGE_KEYS = {"output", "eq_match", "beats_eq_match", "rule", "judges", "sample_rate", "files"}


def _saw(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = sum(2.0 * ((t * f) % 1.0) - 1.0 for f in (220.0, 221.3, 330.0))
    return (0.2 * x).astype(np.float32)


@pytest.fixture
def clips():
    return pluck(SR, 1.0, 110.0), _saw(1.0)


def test_keys_and_style_vs_style_is_zero(clips):
    content, style = clips
    r = evaluate(style, content, style, SR, features=SMALL)
    assert set(r) == TOP_KEYS
    assert set(r["descriptors"]) == set(DESCRIPTORS)
    assert r["style_distance"] == 0.0
    assert r["style_loss"]["output"] == 0.0 and r["style_loss"]["content"] > 0
    for row in r["descriptors"].values():
        assert set(row) == {"output", "content", "style", "ratio"}
        assert row["ratio"] == 0.0
    assert r["descriptors_toward_style"] == len(DESCRIPTORS)
    json.dumps(r)  # plain JSON types only


def test_content_vs_itself_is_ratio_one_and_content_distance_zero(clips):
    content, style = clips
    r = evaluate(content, content, style, SR, features=SMALL)
    assert r["style_distance"] == pytest.approx(1.0)
    assert r["content_distance"] == 0.0
    for row in r["descriptors"].values():
        assert row["ratio"] == pytest.approx(1.0)
    assert r["descriptors_toward_style"] == 0


def test_style_distance_squared_is_the_optimisers_style_loss(clips):
    content, style = clips
    rep = get_representation("stft")
    c, s = rep.analyze(content, SR), rep.analyze(style, SR)
    res = optimize_logmag(c, s, features=SMALL, iterations=20)
    out = rep.synthesize(res.logmag, SR, n_iter=8, reference=content)
    r = evaluate(out, content, style, SR, features=SMALL)
    # the output moved toward the style (Griffin-Lim loses some of it, not all)
    assert r["style_distance"] < 1.0
    assert 0.0 < r["content_distance"]
    # the content's Gram error is exactly the optimiser's style loss of the content
    init = optimize_logmag(c, s, features=SMALL, iterations=0)
    assert r["style_loss"]["content"] == pytest.approx(init.style_loss, rel=1e-4)


def test_several_style_clips_pool(clips):
    content, style = clips
    r1 = evaluate(content, content, [style[: SR // 2], style[SR // 2 :]], SR, features=SMALL)
    assert r1["frames"]["style"] == [22, 22]
    assert r1["style_distance"] == pytest.approx(1.0)


def test_descriptors_of_a_sine():
    y = (0.5 * np.sin(2 * np.pi * 1000.0 * np.arange(SR) / SR)).astype(np.float32)
    d = descriptors(y, SR)
    # a pure tone: centroid at its frequency, very tonal
    assert d["spectral_centroid"] == pytest.approx(1000.0, rel=SINE_CENTROID_RTOL)
    assert d["spectral_flatness"] < 1e-3
    assert len(d["spectral_contrast"]) == 7
    assert len(d["mfcc_mean"]) == 20 and len(d["mfcc_std"]) == 20


def test_bad_input(clips):
    content, style = clips
    with pytest.raises(ParameterError, match="silent"):
        evaluate(content, content, np.zeros(SR, np.float32), SR, features=SMALL)
    bad = content.copy()
    bad[3] = np.inf
    with pytest.raises(ParameterError, match="NaN/Inf"):
        evaluate(bad, content, style, SR, features=SMALL)
    with pytest.raises(ParameterError, match="ndim"):
        evaluate(np.stack([content, content]), content, style, SR, features=SMALL)


def _write(path, audio):
    from pedalboard.io import AudioFile

    with AudioFile(str(path), "w", SR, 1) as f:
        f.write(audio.reshape(1, -1))
    return path


def test_cli_json_and_table(clips, tmp_path, capsys):
    content, style = clips
    c = _write(tmp_path / "c.wav", content)
    s = _write(tmp_path / "s.wav", style)
    args = ["eval", str(s), "--content", str(c), "--style", str(s)]
    assert cli_main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert JUDGE_KEYS <= set(result) and "descriptors" not in result
    # OUT is the style itself: the judge puts it at the style's Gram, and it beats the EQ
    assert result["output"]["ratio"] == 0.0
    assert 0.0 < result["eq_match"]["ratio"] < 1.0
    assert result["beats_eq_match"] is True
    assert result["files"]["style"] == [str(s)]
    assert cli_main(args) == 0
    table = capsys.readouterr().out
    assert "style ratio" in table and "EQ-match" in table and "Gram style distance" not in table
    assert table.strip() == format_judge_table(result).strip()


def test_cli_descriptors_keep_the_gram_and_mir_measures(clips, tmp_path, capsys):
    content, style = clips
    c = _write(tmp_path / "c.wav", content)
    s = _write(tmp_path / "s.wav", style)
    args = ["eval", str(s), "--content", str(c), "--style", str(s), "--descriptors",
            "--filters", "32"]
    assert cli_main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert TOP_KEYS <= set(result["descriptors"])
    assert result["descriptors"]["style_distance"] == 0.0
    assert result["descriptors"]["features"]["n_filters"] == 32
    assert cli_main(args) == 0
    table = capsys.readouterr().out
    assert "style ratio" in table and "Gram style distance" in table
    assert "spectral_centroid" in table
    assert format_table(result["descriptors"]).strip() in table


def test_eval_help_says_what_the_numbers_mean(capsys):
    with pytest.raises(SystemExit):
        cli_main(["eval", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "< 1 means OUT is closer to the style than the input was" in text
    assert "EQ-match baseline" in text


def test_cli_missing_file(clips, tmp_path, capsys):
    content, _ = clips
    c = _write(tmp_path / "c.wav", content)
    code = cli_main(["eval", str(c), "--content", str(c), "--style", str(tmp_path / "no.wav")])
    assert code == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(AudioFileError):
        from stylepedal.audio_io import read_audio

        read_audio(tmp_path / "no.wav")
