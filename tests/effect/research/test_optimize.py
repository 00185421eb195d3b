"""The seeds' per-input optimiser, the representations and the optimize/texture CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from stylepedal.audio_io import read_audio
from stylepedal.effect.model.gram import (
    FeatureConfig,
    GramFeatures,
    content_loss,
    gram,
    style_gram,
    style_loss,
)
from stylepedal.effect.research.optimize import INITS, OPTIMIZERS, optimize_logmag
from stylepedal.effect.research.represent import (
    REPRESENTATIONS,
    Representation,
    StftRepresentation,
    get_representation,
)
from stylepedal.errors import ParameterError
from stylepedal.host.cli import main as cli_main
from tests.signals import pluck

SMALL = FeatureConfig(n_filters=16, kernel_size=3, seed=0)
SR = 22050


@pytest.fixture
def specs(rng):
    """Small log1p-magnitude-like arrays: content (24 bins x 30 frames), style (24 x 40)."""
    content = rng.gamma(1.0, 0.5, (24, 30)).astype(np.float32)
    style = (rng.gamma(2.0, 0.8, (24, 40)) * np.linspace(1.5, 0.2, 24)[:, None]).astype(np.float32)
    return content, style


def _losses_by_hand(x, content, style, cfg):
    feats = GramFeatures(x.shape[0], cfg)
    with torch.no_grad():
        fx = feats(torch.from_numpy(x)[None])
        gs = [gram(f) for f in feats(torch.from_numpy(style)[None])]
        s = style_loss(fx, gs).item()
        c = None
        if content is not None:
            c = content_loss(fx, feats(torch.from_numpy(content)[None])).item()
    return s, c


# -- the optimiser ----------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("init", INITS)
def test_optimiser_lowers_the_loss(specs, optimizer, init):
    content, style = specs
    lr = 0.05 if optimizer == "adam" else None
    r = optimize_logmag(
        content,
        style,
        features=SMALL,
        init=init,
        optimizer=optimizer,
        iterations=15,
        learning_rate=lr,
    )
    assert r.iterations == len(r.losses) > 0
    assert r.losses[-1] < r.initial_loss
    assert r.logmag.shape == content.shape and r.logmag.dtype == np.float32
    assert (r.logmag >= 0).all()
    # the reported losses are the losses of the returned array, as gram.py defines them
    s, c = _losses_by_hand(r.logmag, content, style, SMALL)
    assert r.style_loss == pytest.approx(s, rel=1e-4)
    assert r.content_loss == pytest.approx(c, rel=1e-4)
    assert r.losses[-1] == pytest.approx(s + 1e-2 * c, rel=1e-4)


def test_lbfgs_reaches_a_much_lower_style_loss(specs):
    content, style = specs
    r = optimize_logmag(content, style, features=SMALL, iterations=40)
    s0, _ = _losses_by_hand(content, content, style, SMALL)
    assert r.style_loss < 0.1 * s0
    # the loss never goes up between L-BFGS iterations (strong-Wolfe sufficient decrease)
    assert all(b <= a * (1 + 1e-6) for a, b in zip(r.losses, r.losses[1:], strict=False))


def test_deterministic_for_a_seed(specs):
    content, style = specs
    kw = {"features": SMALL, "init": "noise", "iterations": 8}
    a = optimize_logmag(content, style, seed=3, **kw)
    b = optimize_logmag(content, style, seed=3, **kw)
    c = optimize_logmag(content, style, seed=4, **kw)
    np.testing.assert_array_equal(a.logmag, b.logmag)
    assert a.losses == b.losses
    assert not np.array_equal(a.logmag, c.logmag)


def test_style_only_from_content_is_alpha_zero(specs):
    content, style = specs
    r = optimize_logmag(content, style, features=SMALL, alpha=0.0, init="content", iterations=10)
    assert r.content_loss is not None and r.content_loss > 0  # reported, not weighted
    assert r.losses[-1] == pytest.approx(r.style_loss, rel=1e-6)


def test_texture_synthesis_without_content(specs):
    _, style = specs
    r = optimize_logmag(
        None, style, features=SMALL, alpha=0.0, init="noise", n_frames=25, iterations=15
    )
    assert r.logmag.shape == (24, 25)
    assert r.content_loss is None
    assert r.losses[-1] < r.initial_loss
    s, _ = _losses_by_hand(r.logmag, None, style, SMALL)
    assert r.style_loss == pytest.approx(s, rel=1e-4)


def test_several_styles_average_frame_weighted(specs):
    _, style = specs
    feats = GramFeatures(24, SMALL)
    a, b = style[:, :12], style[:, 12:]
    avg = style_gram([a, b], feats)[0][0]
    with torch.no_grad():
        fa, fb = (
            feats(torch.from_numpy(a.copy())[None])[0],
            feats(torch.from_numpy(b.copy())[None])[0],
        )
    # == the Gram of both files' features concatenated in time
    expected = gram(torch.cat([fa, fb], dim=2))
    assert torch.allclose(avg, expected, rtol=1e-5, atol=1e-6)
    # weighted by frames, not a plain mean of the two Grams
    assert not torch.allclose(avg, (gram(fa) + gram(fb)) / 2, rtol=1e-3)


def test_bound_regulariser_pulls_values_under_the_bound(rng):
    # values in {0, 1}: the bound is [0, 1]; noise init puts some bins above 1
    content = rng.integers(0, 2, (24, 30)).astype(np.float32)
    style = rng.integers(0, 2, (24, 40)).astype(np.float32)

    def excess(x):
        return float((np.maximum(x - 1.0, 0.0) ** 2).sum())

    kw = {"features": SMALL, "init": "noise", "iterations": 30}
    start = optimize_logmag(content, style, **{**kw, "iterations": 0})
    free = optimize_logmag(content, style, bound_weight=0.0, **kw)
    bound = optimize_logmag(content, style, bound_weight=10.0, **kw)
    assert excess(start.logmag) > 0 and excess(free.logmag) > 0
    assert excess(bound.logmag) < 0.01 * excess(free.logmag)
    # the reported penalty is weight * squared excursion above the bound
    assert bound.bound_loss == pytest.approx(10.0 * excess(bound.logmag), rel=1e-4)
    assert free.bound_loss == 0.0


def test_callback_and_progress(specs, capsys):
    content, style = specs
    seen = []
    r = optimize_logmag(
        content,
        style,
        features=SMALL,
        optimizer="adam",
        iterations=5,
        progress=True,
        callback=lambda i, loss: seen.append((i, loss)),
    )
    assert [i for i, _ in seen] == [1, 2, 3, 4, 5]
    assert seen[-1][1] == pytest.approx(r.losses[-1], rel=1e-6)
    assert "optimize (adam)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"content": "nan"}, "NaN"),
        ({"content": "negative"}, "negative"),
        ({"content": "bins"}, "bins"),
        ({"style": "silent"}, "silent"),
        ({"style": "short"}, "too short"),
        ({"style": "1d"}, "2-D"),
        ({"init": "zeros"}, "init"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"iterations": -1}, "iterations"),
        ({"alpha": -0.1}, "alpha"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"bound_weight": -1.0}, "bound_weight"),
    ],
)
def test_bad_input_is_a_parameter_error(specs, change, match):
    content, style = specs
    kwargs = {"features": SMALL, "iterations": 1}
    for key, value in change.items():
        if key == "content":
            content = content.copy()
            if value == "nan":
                content[0, 0] = np.nan
            elif value == "negative":
                content[0, 0] = -1.0
            else:
                content = content[:20]
        elif key == "style":
            style = {
                "silent": np.zeros_like(style),
                "short": style[:, :2],
                "1d": style[0],
            }[value]
        else:
            kwargs[key] = value
    with pytest.raises(ParameterError, match=match):
        optimize_logmag(content, style, **kwargs)


def test_texture_needs_frames_and_no_content_weight(specs):
    _, style = specs
    with pytest.raises(ParameterError, match="alpha=0"):
        optimize_logmag(None, style, features=SMALL, init="noise", n_frames=20)
    with pytest.raises(ParameterError, match="n_frames"):
        optimize_logmag(None, style, features=SMALL, alpha=0.0, init="noise")
    with pytest.raises(ParameterError, match="init"):
        optimize_logmag(None, style, features=SMALL, alpha=0.0, n_frames=20)


# -- representations --------------------------------------------------------------------------


def test_registry_lists_choices_for_unknown_names():
    assert set(REPRESENTATIONS) >= {"stft", "engine", "cqt", "mel", "sms"}
    with pytest.raises(ParameterError) as err:
        get_representation("wavelet")
    for name in ("stft", "engine", "cqt", "mel", "sms"):
        assert repr(name) in str(err.value)


def test_stft_is_the_seeds_pipeline():
    import librosa

    audio = pluck(SR, 1.0, 196.0)
    rep = get_representation("stft")
    assert isinstance(rep, Representation) and rep.name == "stft"
    spec = rep.analyze(audio, SR)
    expected = np.log1p(np.abs(librosa.stft(audio, n_fft=2048, hop_length=512)))
    assert spec.shape == (1025, 1 + len(audio) // 512) and spec.dtype == np.float32
    np.testing.assert_allclose(spec, expected, rtol=1e-5, atol=1e-6)
    y = rep.synthesize(spec, SR, n_iter=4, reference=audio)
    assert y.shape == audio.shape and y.dtype == np.float32 and np.isfinite(y).all()
    # Griffin-Lim's random phase is seeded: synthesis is repeatable
    np.testing.assert_array_equal(y, rep.synthesize(spec, SR, n_iter=4, reference=audio))


def test_stft_resamples_other_rates():
    audio = pluck(44100, 0.5, 110.0)
    rep = StftRepresentation()
    spec = rep.analyze(audio, 44100)
    assert spec.shape[0] == 1025 and spec.shape[1] == 1 + (len(audio) // 2) // 512
    y = rep.synthesize(spec, 44100, n_iter=2, reference=audio)
    assert y.shape == audio.shape


def test_engine_representation_uses_the_engine_grid():
    from stylepedal.effect.engine.stft import analyze

    audio = pluck(SR, 0.5, 110.0)
    rep = get_representation("engine")
    spec = rep.analyze(audio, SR)
    np.testing.assert_array_equal(spec, analyze(audio, SR).T)
    y = rep.synthesize(spec, SR, n_iter=2, reference=audio)
    assert y.shape == audio.shape and np.isfinite(y).all()


def test_representation_rejects_nan_audio():
    audio = pluck(SR, 0.2)
    audio[10] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        get_representation("stft").analyze(audio, SR)


# -- audio files and the CLI -------------------------------------------------------------------


def _write(path: Path, audio: np.ndarray, sample_rate: int = SR) -> Path:
    from pedalboard.io import AudioFile

    # float WAV keeps NaN samples (for the NaN tests); FLAC is integer-only
    bit_depth = 32 if path.suffix == ".wav" else 24
    with AudioFile(str(path), "w", sample_rate, 1, bit_depth=bit_depth) as f:
        f.write(audio.reshape(1, -1).astype(np.float32))
    return path


def _saw(seconds: float, sample_rate: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    x = sum(2.0 * ((t * f) % 1.0) - 1.0 for f in (220.0, 221.3, 330.0))
    return (0.2 * x).astype(np.float32)


@pytest.fixture
def wavs(tmp_path):
    return {
        "content": _write(tmp_path / "content.wav", pluck(SR, 1.0, 110.0)),
        "style": _write(tmp_path / "style.wav", _saw(1.0)),
        "style2": _write(tmp_path / "style2.flac", _saw(0.7)),
    }


FAST = ["--filters", "16", "--iterations", "3", "--griffin-lim-iters", "2"]


def test_cli_optimize_end_to_end(wavs, tmp_path):
    out = tmp_path / "out.wav"
    code = cli_main(
        [
            "optimize",
            str(wavs["content"]),
            str(wavs["style"]),
            str(wavs["style2"]),
            str(out),
            *FAST,
            "--seed",
            "1",
        ]
    )
    assert code == 0
    audio, sr = read_audio(out, mono=True)
    assert sr == SR and len(audio) == SR and np.isfinite(audio).all()
    assert np.abs(audio).max() > 1e-3


@pytest.mark.parametrize(
    "option",
    [
        ["--style-only"],
        ["--optimizer", "adam", "--init", "noise"],
        ["--representation", "engine", "--bound-weight", "1e-3"],
    ],
)
def test_cli_optimize_variants(wavs, tmp_path, option):
    out = tmp_path / "out.flac"
    argv = [
        "optimize",
        str(wavs["content"]),
        str(wavs["style"]),
        str(out),
        *FAST,
        *option,
        "--seconds",
        "0.5",
    ]
    assert cli_main(argv) == 0
    audio, _ = read_audio(out, mono=True)
    assert len(audio) == SR // 2


def test_cli_texture(wavs, tmp_path):
    out = tmp_path / "texture.wav"
    assert cli_main(["texture", str(wavs["style"]), str(out), "--seconds", "0.75", *FAST]) == 0
    audio, _ = read_audio(out, mono=True)
    assert len(audio) == round(0.75 * SR) and np.abs(audio).max() > 1e-3


@pytest.mark.parametrize(
    "case",
    ["silent", "quiet", "short", "unreadable", "nan", "missing", "extension", "too_few_paths"],
)
def test_cli_errors_leave_nothing_at_out(wavs, tmp_path, case, capsys):
    style = wavs["style"]
    out = tmp_path / "out.wav"
    if case == "silent":
        style = _write(tmp_path / "silent.wav", np.zeros(SR, np.float32))
    elif case == "quiet":
        style = _write(tmp_path / "quiet.wav", _saw(1.0) * 1e-5)  # about -96 dBFS
    elif case == "short":
        style = _write(tmp_path / "short.wav", _saw(0.1))  # 5 frames < kernel 11
    elif case == "unreadable":
        style = tmp_path / "junk.wav"
        style.write_bytes(b"\x00" * 100)
    elif case == "nan":
        bad = _saw(1.0)
        bad[5] = np.nan
        style = _write(tmp_path / "nan.wav", bad)
    elif case == "missing":
        style = tmp_path / "nope.wav"
    elif case == "extension":
        out = tmp_path / "out.txt"
    argv = [
        "optimize",
        str(wavs["content"]),
        str(style),
        str(out),
        "--filters",
        "16",
        "--iterations",
        "2",
        "--griffin-lim-iters",
        "1",
    ]
    if case == "too_few_paths":
        argv = ["optimize", str(wavs["content"]), str(out)]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_cli_error_keeps_an_existing_output(wavs, tmp_path):
    out = _write(tmp_path / "out.wav", _saw(0.2))
    before = out.read_bytes()
    silent = _write(tmp_path / "silent.wav", np.zeros(SR, np.float32))
    assert cli_main(["optimize", str(wavs["content"]), str(silent), str(out), *FAST]) == 2
    assert out.read_bytes() == before


def test_cli_messages_name_the_problem(wavs, tmp_path, capsys):
    short = _write(tmp_path / "short.wav", _saw(0.1))
    cli_main(["optimize", str(wavs["content"]), str(short), str(tmp_path / "o.wav"), *FAST])
    err = capsys.readouterr().err
    assert "too short" in err and "kernel_size=11" in err and "short.wav" in err


# -- --orientation and --rep-option -----------------------------------------------------------


def test_parse_rep_options_literals():
    from stylepedal.host.cli.research import parse_rep_options

    got = parse_rep_options(
        ["n_fft=1024", "fmin_hz=55.5", "flag=TRUE", "off=false", "n_bins=none",
         "mode=fast", 'text="512"', "neg=-3", "sci=1e-3"]
    )  # fmt: skip
    assert got == {
        "n_fft": 1024, "fmin_hz": 55.5, "flag": True, "off": False, "n_bins": None,
        "mode": "fast", "text": "512", "neg": -3, "sci": 1e-3,
    }  # fmt: skip
    assert type(got["n_fft"]) is int and type(got["fmin_hz"]) is float
    assert parse_rep_options(["expr=__import__('os').getcwd()"]) == {
        "expr": "__import__('os').getcwd()"  # a string, never evaluated
    }
    with pytest.raises(ParameterError, match="must be KEY=VALUE"):
        parse_rep_options(["n_fft"])
    with pytest.raises(ParameterError, match="must be KEY=VALUE"):
        parse_rep_options(["2x=1"])
    with pytest.raises(ParameterError, match="n_fft is given twice"):
        parse_rep_options(["n_fft=512", "n_fft=1024"])


def test_representation_from_options_passes_and_checks_keys():
    import inspect

    from stylepedal.effect.research.represent import representation_from_options

    rep = representation_from_options("stft", {"n_fft": 512, "hop_length": 128}, seed=3)
    assert (rep.n_fft, rep.hop_length, rep.seed) == (512, 128, 3)
    assert representation_from_options("stft", {"seed": 9}, seed=3).seed == 9
    cqt = representation_from_options("cqt", {"bins_per_octave": 12})
    accepted = list(inspect.signature(type(cqt)).parameters)
    with pytest.raises(ParameterError) as info:
        representation_from_options("cqt", {"n_fft": 512})
    message = str(info.value)
    assert "n_fft is not a setting of representation 'cqt' (CqtRepresentation)" in message
    assert message.endswith("accepted keys are " + ", ".join(accepted))
    # a known key with a bad value is the representation's own ParameterError
    with pytest.raises(ParameterError, match="hop_length=0 must be a positive integer"):
        representation_from_options("stft", {"hop_length": 0})


def test_cli_rep_option_and_orientation_reach_the_optimiser(wavs, tmp_path, monkeypatch):
    import stylepedal.effect.research.optimize as optimize_module

    seen = {}
    real = optimize_module.optimize_logmag

    def spy(content, styles, **kwargs):
        seen["bins"] = content.shape[0]
        seen["frames"] = content.shape[1]
        seen["orientation"] = kwargs["features"].orientation
        return real(content, styles, **kwargs)

    monkeypatch.setattr(optimize_module, "optimize_logmag", spy)
    out = tmp_path / "out.wav"
    argv = ["optimize", str(wavs["content"]), str(wavs["style"]), str(out), *FAST,
            "--seconds", "0.5", "--kernel-size", "3", "--orientation", "2d",
            "--rep-option", "n_fft=512", "--rep-option", "hop_length=128"]  # fmt: skip
    assert cli_main(argv) == 0
    assert seen["bins"] == 512 // 2 + 1 and seen["orientation"] == "2d"
    assert seen["frames"] == 1 + (SR // 2) // 128  # centred frames at hop 128
    audio, sr = read_audio(out, mono=True)
    assert sr == SR and len(audio) == SR // 2 and np.isfinite(audio).all()


def test_cli_texture_orientation_time(wavs, tmp_path, capsys):
    out = tmp_path / "texture.wav"
    argv = ["texture", str(wavs["style"]), str(out), *FAST,
            "--orientation", "time", "--kernel-size", "3"]  # fmt: skip
    # frames are the conv's channels: a texture as long as the 1 s style works ...
    assert cli_main([*argv, "--seconds", "1.0"]) == 0
    audio, _ = read_audio(out, mono=True)
    assert len(audio) == SR and np.isfinite(audio).all()
    # ... and another length is the orientation's clear error (the default freq allows it)
    out.unlink()
    assert cli_main([*argv, "--seconds", "0.5"]) == 2
    assert "orientation='time'" in capsys.readouterr().err
    assert not out.exists()


def test_cli_unknown_rep_option_lists_accepted_keys(wavs, tmp_path, capsys):
    out = tmp_path / "out.wav"
    argv = ["optimize", str(wavs["content"]), str(wavs["style"]), str(out), *FAST,
            "--rep-option", "window=hann"]  # fmt: skip
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert "window is not a setting of representation 'stft'" in err
    assert "n_fft, hop_length, analysis_rate, seed" in err
    assert not out.exists()
