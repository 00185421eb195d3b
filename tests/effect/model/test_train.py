"""Training a style network: lowers the held-out loss, deterministic, validates its input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylepedal.effect.model.gram import FeatureConfig, GramFeatures
from stylepedal.effect.model.network import StyleNet
from stylepedal.effect.model.train import (
    TrainConfig,
    prepare_style,
    style_grams,
    train_style,
)
from stylepedal.errors import ParameterError

SR = 22050


def _small(**kw) -> TrainConfig:
    base = dict(
        features=FeatureConfig(n_filters=48, kernel_size=5),
        steps=40,
        batch_size=4,
        segment_loss_frames=24,
        learning_rate=5e-3,
        corpus_clips=4,
        corpus_seconds=1.5,
        heldout_clips=2,
        channels=16,
        dilations=(1, 2, 4),
    )
    base.update(kw)
    return TrainConfig(**base)


def _organ(seconds: float, rng: np.random.Generator, sample_rate: int = SR) -> np.ndarray:
    """A bright sustained harmonic tone: a style far from a decaying pluck."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 220.0
    x = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6)) / h for h in range(1, 9))
    return (0.4 * x / np.abs(x).max()).astype(np.float32)


def test_training_lowers_heldout_loss(rng):
    torch.set_num_threads(1)
    losses = []
    net, report = train_style(
        [(_organ(3.0, rng), SR)],
        _small(),
        progress=False,
        callback=lambda step, loss: losses.append(loss),
    )
    assert isinstance(net, StyleNet)
    assert len(report.train_losses) == 40 and losses == report.train_losses
    before, after = report.heldout_before, report.heldout_after
    assert before["content"] == 0.0  # the untrained network is the identity
    assert after["style"] < 0.7 * before["style"]
    assert after["total"] < before["total"]
    assert report.n_parameters == net.n_parameters()


def test_style_reduction_trades_content_for_style(rng):
    style = [(_organ(3.0, rng), SR)]
    _, mild = train_style(style, _small(style_reduction=0.3), progress=False)
    _, strong = train_style(style, _small(style_reduction=0.9), progress=False)
    _, fixed = train_style(style, _small(style_reduction=0.0), progress=False)
    assert mild.heldout_after["style"] > strong.heldout_after["style"]
    assert mild.heldout_after["content"] < strong.heldout_after["content"]
    assert mild.content_weight > strong.content_weight
    assert fixed.content_weight == pytest.approx(fixed.config["alpha"])


def test_training_is_deterministic(rng):
    style = [(_organ(2.0, rng), SR)]
    cfg = _small(steps=3)
    a, _ = train_style(style, cfg, progress=False)
    b, _ = train_style(style, cfg, progress=False)
    c, _ = train_style(style, _small(steps=3, seed=1), progress=False)
    assert a.to_safetensors() == b.to_safetensors()
    assert a.to_safetensors() != c.to_safetensors()


def test_style_grams_are_frame_weighted_average(rng):
    feats = GramFeatures(1030, FeatureConfig(n_filters=8, kernel_size=3))
    a = (_organ(1.0, rng), SR)
    b = ((0.2 * rng.standard_normal(SR * 2)).astype(np.float32), SR)
    ga, na = style_grams([a], feats, feature_stride=8)
    gb, nb = style_grams([b], feats, feature_stride=8)
    gab, nab = style_grams([a, b], feats, feature_stride=8)
    assert nab == na + nb
    expected = (ga[0] * na + gb[0] * nb) / (na + nb)
    torch.testing.assert_close(gab[0], expected, rtol=1e-5, atol=1e-6)


def test_style_grams_divide_each_layer_by_its_own_frames(rng):
    """With two feature layers each layer's Gram is averaged over that layer's frames (the
    second convolution has fewer): the same Grams as the seeds' optimiser computes."""
    from stylepedal.effect.model.gram import style_gram
    from stylepedal.effect.model.train import _frames

    feats = GramFeatures(1030, FeatureConfig(n_filters=8, kernel_size=5, layers=2))
    audio = (_organ(1.0, rng), SR)
    grams, n = style_grams([audio], feats, feature_stride=1)
    spec = np.ascontiguousarray(_frames(prepare_style(*audio)).T)
    expected, _ = style_gram([spec], feats)
    assert len(grams) == 2 and n == spec.shape[1] - 2 * 4
    for got, want in zip(grams, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_prepare_style_resamples_and_mixes_to_mono(rng):
    stereo = np.stack([_organ(1.0, rng, 44100), _organ(1.0, rng, 44100)])
    mono = prepare_style(stereo, 44100)
    assert mono.shape == (SR,) and mono.dtype == np.float32


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda rng: np.zeros(SR * 2, np.float32), "silent"),
        (lambda rng: np.full(SR * 2, 1e-6, np.float32), "silent"),
        (lambda rng: _organ(0.05, rng), "too short"),
        (
            lambda rng: np.where(np.arange(SR) == 100, np.nan, _organ(1.0, rng)).astype(np.float32),
            "NaN",
        ),
        (lambda rng: np.zeros((2, 2, 10), np.float32), "ndim"),
        (lambda rng: np.arange(SR, dtype=np.int16), "dtype"),
    ],
    ids=["silence", "below-90dBFS", "too-short", "nan", "3d", "int"],
)
def test_bad_style_audio_is_rejected(rng, make, match):
    with pytest.raises(ParameterError, match=match):
        train_style([(make(rng), SR)], _small(steps=1), progress=False)


def test_bad_style_arguments_are_rejected(rng):
    with pytest.raises(ParameterError, match="empty"):
        train_style([], _small(steps=1), progress=False)
    with pytest.raises(ParameterError, match="pair"):
        train_style([_organ(1.0, rng)], _small(steps=1), progress=False)  # type: ignore[list-item]
    with pytest.raises(ParameterError, match="sample_rate"):
        train_style([(_organ(1.0, rng), 0)], _small(steps=1), progress=False)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"steps": 0}, "steps"),
        ({"alpha": -1.0}, "alpha"),
        ({"segment_loss_frames": 2}, "segment_loss_frames"),
        ({"feature_stride": 0}, "feature_stride"),
    ],
)
def test_bad_config_is_rejected(kw, match):
    with pytest.raises(ParameterError, match=match):
        _small(**kw)


def test_config_round_trips_through_dict():
    cfg = _small()
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def _write_wav(path, audio: np.ndarray, sample_rate: int) -> str:
    from pedalboard.io import AudioFile

    with AudioFile(str(path), "w", sample_rate, num_channels=1) as f:
        f.write(audio[np.newaxis, :])
    return str(path)


_CLI_FAST = ["--steps", "2", "--clips", "2", "--seconds", "2", "--filters", "16", "--threads", "1"]


def test_cli_trains_stores_and_reuses_the_cached_model(tmp_path, rng, capsys, _isolated_store):
    from stylepedal.host.cli import main
    from stylepedal.presets.store import Store

    wav = _write_wav(tmp_path / "organ.wav", _organ(2.0, rng, 44100), 44100)
    assert main(["train", wav, "--name", "Test Organ", *_CLI_FAST]) == 0
    assert "trained 'Test Organ'" in capsys.readouterr().out
    store = Store(_isolated_store)
    preset = store.get("test organ")
    assert preset.styles[0].file == "organ.wav"
    weights, meta = store.load_model_bytes(preset)
    net = StyleNet.from_safetensors(weights, meta["network"])
    assert net.to_safetensors() == weights
    # Same styles and settings: the cached model is reused, not retrained.
    assert main(["train", wav, "--name", "Again", *_CLI_FAST]) == 0
    assert "cached" in capsys.readouterr().out
    assert store.get("Again").model_key == preset.model_key


def test_cli_bad_style_files_write_nothing(tmp_path, rng, capsys, _isolated_store):
    from stylepedal.host.cli import main

    silent = _write_wav(tmp_path / "silent.wav", np.zeros(SR * 2, np.float32), SR)
    assert main(["train", silent, "--name", "Silent", *_CLI_FAST]) == 2
    assert "silent" in capsys.readouterr().err
    missing = str(tmp_path / "missing.wav")
    assert main(["train", missing, "--name", "Missing", *_CLI_FAST]) == 2
    assert "no such file" in capsys.readouterr().err
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF not really a wave file")
    assert main(["train", str(garbage), "--name", "Garbage", *_CLI_FAST]) == 2
    assert "cannot be read as audio" in capsys.readouterr().err
    assert not any(p.is_file() for p in _isolated_store.rglob("*"))
