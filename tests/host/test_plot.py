"""plot: side-by-side labelled spectrograms written as a real PNG."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from stylepedal.audio_io import write_audio
from stylepedal.errors import AudioFileError, ParameterError
from stylepedal.host.cli import main as cli_main
from stylepedal.host.plot import make_figure, save_figure
from tests.signals import pluck

SR = 22050


@pytest.fixture
def three(rng):
    content = pluck(SR, 2.0, 110.0)
    style = (0.2 * rng.standard_normal(SR * 2)).astype(np.float32)
    result = pluck(SR, 2.0, 330.0, seed=5)
    return [("Content", content, SR), ("Style", style, SR), ("Result", result, SR)]


def _panel_columns(img: np.ndarray) -> list[tuple[int, int]]:
    """Column ranges of the image where spectrogram pixels (not white background) dominate."""
    rgb = img[..., :3]
    coloured = (np.abs(rgb - 1.0).sum(axis=2) > 0.3).mean(axis=0) > 0.5
    edges = np.diff(np.concatenate(([0], coloured.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(a, b) for a, b in zip(starts, stops, strict=True) if b - a > 50]


def test_three_labelled_panels_in_a_real_png(tmp_path, three):
    path = save_figure(tmp_path / "fig.png", three, title="content / style / result")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = imread(path)
    assert img.shape[:2] == (400, 1500)  # 500 x 400 px per panel at 100 dpi
    panels = _panel_columns(img)
    assert len(panels) == 3, panels  # three separate spectrogram images side by side
    # the pure plucks and the noise look different: the panels are not copies
    a, b, c = (img[50:350, s:e, :3] for s, e in panels)
    width = min(x.shape[1] for x in (a, b, c))
    assert np.abs(a[:, :width] - b[:, :width]).mean() > 0.02
    fig = make_figure(three, title="t")
    assert [ax.get_title() for ax in fig.axes[:3]] == ["Content", "Style", "Result"]
    assert fig.axes[0].get_yscale() == "symlog"  # librosa's log-frequency axis
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]


def test_any_number_of_panels_and_rates(tmp_path):
    panels = [("a", pluck(SR, 1.0), SR), ("b", pluck(44100, 0.5), 44100)]
    img = imread(save_figure(tmp_path / "two.png", panels, dpi=50))
    assert img.shape[:2] == (200, 500)
    stereo = np.stack([pluck(SR, 1.0), pluck(SR, 1.0, 220)])
    img = imread(save_figure(tmp_path / "one.png", [("stereo", stereo, SR)]))
    assert img.shape[:2] == (400, 500)


def test_bad_input(tmp_path, three):
    with pytest.raises(ParameterError, match="non-empty"):
        save_figure(tmp_path / "f.png", [])
    with pytest.raises(ParameterError, match=r"panels\[0\] must be a \(label, audio"):
        save_figure(tmp_path / "f.png", [("only a label",)])  # type: ignore[list-item]
    with pytest.raises(ParameterError, match="must end in .png"):
        save_figure(tmp_path / "f.jpg", three)
    with pytest.raises(ParameterError, match="sample_rate"):
        save_figure(tmp_path / "f.png", [("x", pluck(SR, 1.0), 0)])
    with pytest.raises(AudioFileError, match="folder"):
        save_figure(tmp_path / "missing" / "f.png", three)
    assert list(tmp_path.iterdir()) == []


def test_cli_plot(tmp_path, three, capsys):
    for (_label, audio, sr), name in zip(three, ("c.wav", "s.flac", "o.wav"), strict=True):
        write_audio(tmp_path / name, audio, sr)
    out = tmp_path / "figure.png"
    code = cli_main(
        ["plot", "--content", str(tmp_path / "c.wav"), "--style", str(tmp_path / "s.flac"),
         "--output", str(tmp_path / "o.wav"), str(out)]
    )  # fmt: skip
    assert code == 0 and "wrote" in capsys.readouterr().out
    assert imread(out).shape[:2] == (400, 1500)
    code = cli_main(
        ["plot", "--content", str(tmp_path / "nope.wav"), "--style", str(tmp_path / "s.flac"),
         "--output", str(tmp_path / "o.wav"), str(tmp_path / "other.png")]
    )  # fmt: skip
    assert code == 2 and "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "other.png").exists()


def test_figure_permissions_follow_the_umask(tmp_path, three):
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = save_figure(tmp_path / "fig.png", three[:1], dpi=20)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # like a plain open(), not 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]
