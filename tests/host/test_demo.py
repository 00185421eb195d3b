"""The README's first command: `stylepedal demo` on a factory preset, through the real CLI."""

from __future__ import annotations

import json

import matplotlib.image
import numpy as np
import pytest
from pedalboard.io import AudioFile

from stylepedal.host.cli import main
from stylepedal.presets.store import Store


def factory_names() -> list[str]:
    return [e.preset.name for e in Store().list() if e.source == "factory"]


def test_factory_bank_has_at_least_eight_presets():
    assert len(factory_names()) >= 8


def test_demo_writes_wav_and_png(tmp_path, capsys):
    if "Organ" not in factory_names():
        pytest.fail("the factory bank has no Organ preset: run scripts/build_factory_bank.py")
    code = main(["demo", "--preset", "organ", "--out-dir", str(tmp_path), "--seconds", "2"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with AudioFile(summary["input"]) as f:
        source = f.read(f.frames)
        rate = f.samplerate
    with AudioFile(summary["output"]) as f:
        rendered = f.read(f.frames)
        assert f.samplerate == rate
    assert rendered.shape == source.shape == (1, 2 * 48000)
    assert np.all(np.isfinite(rendered)) and np.abs(rendered).max() > 0.01
    # the preset changed the sound: not the input, and not the input delayed
    assert np.abs(rendered - source).max() > 0.01
    image = matplotlib.image.imread(summary["figure"])
    assert image.shape[0] >= 300 and image.shape[1] >= 1000  # three panels side by side


def test_demo_unknown_preset_is_a_clear_error(tmp_path, capsys):
    assert main(["demo", "--preset", "no such sound", "--out-dir", str(tmp_path)]) == 2
    assert "no such sound" in capsys.readouterr().err.lower()
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "name", ["Organ", "Strings", "Choir", "Sax", "Flute", "Brass", "Vibes", "Synth Lead", "Fuzz"]
)
def test_render_cli_works_with_every_factory_preset(name, tmp_path, rng):
    source = tmp_path / "in.wav"
    x = rng.uniform(-0.3, 0.3, (2, 44100 // 2)).astype(np.float32)
    with AudioFile(str(source), "w", samplerate=44100, num_channels=2) as f:
        f.write(x)
    out = tmp_path / "out.flac"
    assert main(["render", str(source), str(out), "--preset", name, "--no-progress"]) == 0
    with AudioFile(str(out)) as f:
        y = f.read(f.frames)
        assert f.samplerate == 44100
    assert y.shape == x.shape and np.all(np.isfinite(y))
    assert np.abs(y).max() > 1e-3


def _shape_db(y: np.ndarray) -> np.ndarray:
    """The spectral shape (dB, mean removed) of ``y``'s second half, 100 Hz-8 kHz at 48 kHz."""
    half = y[0, y.shape[1] // 2 :]
    seg = half[: len(half) // 2048 * 2048].reshape(-1, 2048) * np.hanning(2048)
    p = np.mean(np.abs(np.fft.rfft(seg, axis=1)) ** 2, axis=0)[5:342]
    db = 10 * np.log10(p + 1e-30)
    return db - db.mean()


def test_render_gate_db_option_is_checked_and_applied(tmp_path, rng):
    source = tmp_path / "in.wav"
    x = (10 ** (-90 / 20) * rng.standard_normal((1, 48000))).astype(np.float32)
    with AudioFile(str(source), "w", samplerate=48000, num_channels=1) as f:
        f.write(x)
    change = {}
    for gate in ("-70", "-120"):
        out = tmp_path / f"out{gate}.wav"
        args = ["render", str(source), str(out), "--preset", "Organ", "--gate-db", gate]
        assert main([*args, "--no-progress"]) == 0
        with AudioFile(str(out)) as f:
            change[gate] = float(np.mean(np.abs(_shape_db(f.read(f.frames)) - _shape_db(x))))
    # a -90 dB floor under a -70 dB gate passes uncoloured; under a -120 dB gate it is styled
    assert change["-70"] < 1.0 < 3.0 < change["-120"]
    bad = ["render", str(source), str(tmp_path / "bad.wav"), "--preset", "Organ"]
    assert main([*bad, "--gate-db", "6", "--no-progress"]) == 2
    assert not (tmp_path / "bad.wav").exists()


def test_demo_takes_pre_and_post_and_refuses_a_missing_plugin_before_writing(tmp_path, capsys):
    missing = tmp_path / "Amp.vst3"
    out = tmp_path / "out"
    assert main(["demo", "--out-dir", str(out), "--pre", f"plugin:{missing}"]) == 2
    assert str(missing) in capsys.readouterr().err and not out.exists()
    code = main(["demo", "--out-dir", str(out), "--seconds", "1", "--post", "Gain(gain_db=-60)"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with AudioFile(summary["output"]) as f:
        assert np.abs(f.read(f.frames)).max() < 0.01  # the post effect was in the chain
