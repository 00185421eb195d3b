"""Training a style: through the engine's synthesis, fresh banks, level augmentation, control."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import stylepedal.effect.model.colour as colour_mod
import stylepedal.effect.model.train as train_mod
from stylepedal.effect.engine.stft import StftConfig, istft
from stylepedal.effect.model.colour import style_power
from stylepedal.effect.model.gramfit import style_grams
from stylepedal.effect.model.network import StyleNet
from stylepedal.effect.model.stream import StyleNetTransform
from stylepedal.effect.model.train import (
    BANK_FILTERS,
    BANK_SEED_LIMIT,
    BANK_WIDTHS,
    TrainConfig,
    colour_target,
    draw_bank,
    prepare_style,
    synthesize,
    train_style,
)
from stylepedal.errors import ParameterError

SR = 22050


def _small(**kw) -> TrainConfig:
    base = dict(steps=12, batch_size=2, segment_frames=80, learning_rate=5e-3,
                procedural_clips=2, corpus_seconds=2.0, use_guitars=False, channels=8,
                dilations=(1, 2))  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def _organ(seconds: float, rng: np.random.Generator, sample_rate: int = SR) -> np.ndarray:
    """A bright sustained harmonic tone: a style far from a decaying pluck."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 220.0
    x = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6)) / h for h in range(1, 9))
    return (0.4 * x / np.abs(x).max()).astype(np.float32)


def test_training_lowers_the_style_loss_and_reports(rng):
    torch.set_num_threads(1)
    losses = []
    net, report = train_style([(_organ(3.0, rng), SR)], _small(steps=40), progress=False,
                              callback=lambda step, loss: losses.append(loss))
    assert isinstance(net, StyleNet) and net.level_norm and net.colour
    assert len(report.train_losses) == 40 and losses == report.train_losses
    assert report.heldout_before["content"] < 1e-9  # the untrained network is the identity
    assert report.heldout_after["content"] > 0.0  # ... and the trained one changes the input
    assert np.mean(losses[-10:]) < 0.9 * np.mean(losses[:10])
    assert report.n_parameters == net.n_parameters() and report.content_weight > 0


def test_training_is_deterministic(rng):
    style = [(_organ(2.0, rng), SR)]
    a, _ = train_style(style, _small(steps=3), progress=False)
    b, _ = train_style(style, _small(steps=3), progress=False)
    c, _ = train_style(style, _small(steps=3, seed=1), progress=False)
    assert a.to_safetensors() == b.to_safetensors()
    assert a.to_safetensors() != c.to_safetensors()


def test_every_step_draws_a_fresh_bank(rng, monkeypatch):
    drawn = []

    def spy(generator):
        bank = draw_bank(generator)
        drawn.append(bank)
        return bank

    monkeypatch.setattr(train_mod, "draw_bank", spy)
    train_style([(_organ(2.0, rng), SR)], _small(steps=8), progress=False)
    steps = drawn[1:-1]  # the held-out measure draws the first and the last (the same bank)
    assert len(steps) == 8 and drawn[0] == drawn[-1]
    assert len({b.seed for b in steps}) == 8


def test_the_saved_network_makes_the_texture_share_of_its_change(rng):
    """Same training, texture 1 vs 0.4: the saved change to the input is 0.4 times as large."""
    style = [(_organ(2.0, rng), SR)]
    full, _ = train_style(style, _small(steps=6, texture=1.0), progress=False)
    part, report = train_style(style, _small(steps=6, texture=0.4, render_texture=0.1),
                               progress=False)
    assert report.config["texture"] == 0.4
    # a render makes render_texture of the trained change: a quarter of the saved one, toward
    # the style's sharp spectrum
    assert part.render_change == pytest.approx(0.25)
    np.testing.assert_allclose(part.get_buffer("style_power").numpy(),
                               style_power([style[0][0]]), rtol=1e-6)
    # and the style's Grams for the render's Gram fit, at float16 as saved
    assert part.gram_fit
    np.testing.assert_allclose(part.get_buffer("fit_grams").numpy(),
                               style_grams([style[0][0]]), rtol=1e-3, atol=1e-3)
    assert full.render_change == pytest.approx(0.25 / 1.0)  # the default render_texture
    x = torch.from_numpy(np.abs(rng.normal(3.0, 1.0, (1, 40, 1030))).astype(np.float32) + 6.0)
    with torch.no_grad():
        out_full = full(x)
        change_full, change_part = out_full - x, part(x) - x
    assert float(change_full.abs().mean()) > 1e-3
    # linear where the output ReLU does not clip the full change to silence
    open_ = (out_full > 0).numpy()
    assert open_.mean() > 0.95
    # both saved at float16 precision: the rounding is the only difference
    np.testing.assert_allclose(change_part.numpy()[open_], 0.4 * change_full.numpy()[open_],
                               atol=2e-3 * float(change_full.abs().max()))


def test_configs_written_before_the_texture_field_read_as_what_trained_them():
    older = TrainConfig().to_dict()
    del older["texture"], older["rigs"], older["render_texture"]
    assert TrainConfig.from_dict(older).texture == 1.0  # they saved the full change
    assert TrainConfig.from_dict(older).render_texture == 1.0  # and rendered it too
    assert TrainConfig.from_dict(older).rigs is False  # and played the content clean
    with pytest.raises(ParameterError, match="texture"):
        TrainConfig(texture=1.5)
    with pytest.raises(ParameterError, match="render_texture"):
        TrainConfig(render_texture=-0.1)


def test_banks_never_use_the_judges_widths_sizes_or_seeds():
    from stylepedal.effect.research.judge import JUDGES, RESERVED_SEEDS

    judge_widths = {j.width for j in JUDGES}
    judge_sizes = {j.filters for j in JUDGES}
    assert not judge_widths & set(BANK_WIDTHS) and not judge_sizes & set(BANK_FILTERS)
    assert BANK_SEED_LIMIT <= min(RESERVED_SEEDS)
    rng = np.random.default_rng(0)
    banks = [draw_bank(rng) for _ in range(500)]
    assert {b.kernel_size for b in banks} == set(BANK_WIDTHS)
    assert {b.n_filters for b in banks} == set(BANK_FILTERS)
    assert max(b.seed for b in banks) < BANK_SEED_LIMIT


@pytest.fixture
def prepared(monkeypatch):
    """Every ``(clip, gain_db)`` training prepares, in order."""
    calls = []
    real = train_mod._prepare

    def spy(clip, target, gain_db):
        calls.append((clip, gain_db))
        return real(clip, target, gain_db)

    monkeypatch.setattr(train_mod, "_prepare", spy)
    return calls


def test_content_is_played_at_augmented_levels(rng, prepared):
    cfg = _small(steps=1, procedural_clips=4, gain_db_range=(-24.0, 6.0))
    train_style([(_organ(2.0, rng), SR)], cfg, progress=False)
    augmented = [gain for _, gain in prepared[:4]]  # then the held-out clips, at 0 dB
    assert len(set(augmented)) == 4 and all(-24.0 <= g <= 6.0 for g in augmented)


def test_content_is_also_played_through_rigs(rng, prepared):
    from stylepedal.effect.model.corpus import through_rigs

    cfg = _small(procedural_clips=2)
    extra = [_organ(2.0, rng)]
    clips = train_mod._content_clips(cfg, extra)
    assert len(clips) == 6
    np.testing.assert_array_equal(clips[2], extra[0])
    for clean, rigged in zip(clips[:3], clips[3:], strict=True):
        assert not np.array_equal(clean, rigged)
    np.testing.assert_array_equal(np.stack(clips[3:]), np.stack(through_rigs(clips[:3], SR)))
    assert len(train_mod._content_clips(_small(procedural_clips=2, rigs=False), extra)) == 3
    # and training takes them all
    train_style([(_organ(2.0, rng), SR)], _small(steps=1, procedural_clips=2), progress=False)
    assert len(prepared) == 4 + 2  # the clips and their rigged takes, then the held-out clips


def test_the_trained_network_is_level_invariant(rng):
    """The network sees its input at a normalised level: the same guitar 20 dB quieter comes
    out 20 dB quieter with the same change (frames far above the noise floor)."""
    net, _ = train_style([(_organ(2.0, rng), SR)], _small(steps=6), progress=False)
    tf = StyleNetTransform.from_safetensors(net.to_safetensors())
    loud = np.abs(rng.normal(3.0, 1.0, (1, 80, 1030))).astype(np.float32) + 4.0
    quiet = np.log1p(np.expm1(loud) * 0.1).astype(np.float32)
    out_loud = tf(loud, tf.new_state(1)).astype(np.float64)
    out_quiet = tf(quiet, tf.new_state(1)).astype(np.float64)
    # compared where the network computes (log1p of magnitudes, float32), on the bins it does
    # not nearly close: such a bin is a difference of two numbers near 5, whose linear ratio
    # float32 cannot hold
    kept = out_loud > 1.0
    assert kept.mean() > 0.3
    np.testing.assert_allclose(out_quiet[kept], np.log1p(0.1 * np.expm1(out_loud))[kept], rtol=0,
                               atol=2e-5)


def test_the_content_weight_control_holds_the_content_change(rng):
    style = [(_organ(2.0, rng), SR)]
    _, loose = train_style(style, _small(steps=30, content_target=1.0), progress=False)
    _, tight = train_style(style, _small(steps=30, content_target=0.01), progress=False)
    _, fixed = train_style(style, _small(steps=30, content_target=0.0), progress=False)
    assert tight.content_weight > loose.content_weight
    assert fixed.content_weight == pytest.approx(fixed.config["alpha"])


def test_synthesis_twin_is_the_engines_overlap_add(rng):
    cfg = StftConfig.for_rate(SR)
    spec = (rng.normal(size=(2, 20, cfg.n_bins)) + 1j * rng.normal(size=(2, 20, cfg.n_bins)))
    ours = synthesize(torch.from_numpy(spec.astype(np.complex64))).numpy()
    engine = istft(spec.astype(np.complex64), cfg, delayed=True)
    lead = cfg.hop_length - 1
    n = engine.shape[-1] - lead
    np.testing.assert_allclose(ours[:, :n], engine[:, lead:], atol=1e-5)


def test_content_is_coloured_as_the_settled_pedal_colours_it(rng):
    # From its first second the training content has the colour a render gives it (the stage
    # has learnt the clip), not the weaker colour of a stage that has heard nothing yet.
    from stylepedal.effect.engine.effect import StyleTransfer
    from stylepedal.effect.engine.stft import analyze
    from stylepedal.effect.model.corpus import make_corpus

    clip = make_corpus(1, 4.0, SR, seed=3)[0].astype(np.float32)
    target = colour_target([_organ(2.0, rng)])
    cold = StyleTransfer(colour_mod._ColourOnly(target))(clip, SR)
    settled = colour_mod.coloured(clip, target)

    def distance(audio: np.ndarray) -> float:  # first second's spectrum to the target, in nepers
        power = (np.expm1(analyze(audio[:SR], SR).astype(np.float64)) ** 2).mean(0)
        power = power / power.sum()
        loud = target > target.max() * 1e-3
        return float(np.mean(np.abs(np.log(power[loud] + 1e-12) - np.log(target[loud]))))

    assert distance(settled) < distance(cold) - 0.5


def test_colour_target_is_the_styles_long_term_spectrum(rng):
    t = np.arange(SR) / SR
    low = np.sin(2 * np.pi * 300 * t).astype(np.float32)
    high = np.sin(2 * np.pi * 3000 * t).astype(np.float32)
    both = colour_target([low, high])
    assert both.sum() == pytest.approx(1.0)
    peaks = np.sort(np.argsort(both)[-2:])
    assert list(peaks) == [round(300 / (300 / 28)), round(3000 / (300 / 28))]


def test_prepare_style_resamples_and_mixes_to_mono(rng):
    stereo = np.stack([_organ(1.0, rng, 44100), _organ(1.0, rng, 44100)])
    mono = prepare_style(stereo, 44100)
    assert mono.shape == (SR,) and mono.dtype == np.float32


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda rng: np.zeros(SR * 2, np.float32), "silent"),
        (lambda rng: np.full(SR * 2, 1e-6, np.float32), "silent"),
        (
            lambda rng: np.where(np.arange(SR) == 100, np.nan, _organ(1.0, rng)).astype(np.float32),
            "NaN",
        ),
        (lambda rng: np.zeros((2, 2, 10), np.float32), "ndim"),
        (lambda rng: np.arange(SR, dtype=np.int16), "dtype"),
    ],
    ids=["silence", "below-90dBFS", "nan", "3d", "int"],
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
        ({"content_target": -0.1}, "content_target"),
        ({"segment_frames": 20}, "segment_frames"),
        ({"gain_db_range": (6.0, -24.0)}, "gain_db_range"),
        ({"procedural_clips": 0, "use_guitars": False}, "no content"),
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


_CLI_FAST = ["--steps", "2", "--threads", "1"]


@pytest.mark.slow
def test_cli_trains_stores_and_reuses_the_cached_model(tmp_path, rng, capsys, _isolated_store):
    from stylepedal.host.cli import main
    from stylepedal.presets.store import Store

    wav = _write_wav(tmp_path / "organ.wav", _organ(2.0, rng, 44100), 44100)
    assert main(["train", wav, "--name", "Test Organ", *_CLI_FAST]) == 0
    assert "trained 'Test Organ'" in capsys.readouterr().out
    store = Store(_isolated_store)
    preset = store.get("test organ")
    assert preset.styles[0].file == "organ.wav"
    assert preset.training["texture"] == TrainConfig().texture
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
    organ = _write_wav(tmp_path / "organ.wav", _organ(2.0, rng), SR)
    assert main(["train", organ, "--name", "Too Much", "--texture", "1.5", *_CLI_FAST]) == 2
    assert "texture=1.5" in capsys.readouterr().err
    assert not any(p.is_file() for p in _isolated_store.rglob("*"))
