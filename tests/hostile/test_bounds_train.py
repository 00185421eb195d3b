"""A long style file trains in bounded memory: read and used as evenly spread excerpts."""

from __future__ import annotations

import tracemalloc

import numpy as np
import torch

from stylepedal.effect.model.excerpts import (
    STYLE_EXCERPT_SECONDS,
    STYLE_MAX_SECONDS,
    read_style,
    style_excerpts,
)
from stylepedal.effect.model.train import TrainConfig, colour_target, prepare_style, train_style

RATE = 8000
LONG_SECONDS = 20 * 60


def _long_style(path, seconds: float = LONG_SECONDS, rate: int = RATE):
    """A real 16-bit WAV (through pedalboard.io) whose pitch rises over its length, so that
    each excerpt is told apart by its content."""
    from pedalboard.io import AudioFile

    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * (100 * t + 300 * t**2 / (2 * seconds))
    x = (0.3 * np.sin(phase)).astype(np.float32)
    with AudioFile(str(path), "w", samplerate=rate, num_channels=2, bit_depth=16) as f:
        f.write(np.stack([x, 0.5 * x]))
    return path


def test_a_long_style_file_is_read_as_its_excerpts_in_bounded_memory(tmp_path):
    path = _long_style(tmp_path / "long.wav")
    tracemalloc.start()
    try:
        clips = read_style(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole_bytes = 4 * 2 * LONG_SECONDS * RATE  # the file as float32, as it was read before
    assert peak < whole_bytes / 10, (peak, whole_bytes)
    spans = style_excerpts(LONG_SECONDS * RATE, RATE)
    assert len(clips) == len(spans) == int(STYLE_MAX_SECONDS // STYLE_EXCERPT_SECONDS)
    from pedalboard.io import AudioFile

    with AudioFile(str(path)) as f:
        whole = f.read(f.frames).mean(axis=0)
    for (audio, rate), (start, n) in zip(clips, spans, strict=True):
        assert rate == RATE and n == STYLE_EXCERPT_SECONDS * RATE
        np.testing.assert_array_equal(audio, whole[start : start + n].astype(np.float32))
    assert spans[0][0] == 0 and spans[-1][0] + spans[-1][1] == LONG_SECONDS * RATE


def test_a_short_style_file_is_read_whole(tmp_path):
    path = _long_style(tmp_path / "short.wav", seconds=STYLE_MAX_SECONDS)
    (audio, rate), = read_style(path)
    assert rate == RATE and audio.shape == (STYLE_MAX_SECONDS * RATE,)


def test_training_on_a_long_array_uses_its_excerpts(tmp_path):
    torch.set_num_threads(1)
    rate = 22050
    t = np.arange(int(2 * STYLE_MAX_SECONDS * rate)) / rate
    long = (0.3 * np.sin(2 * np.pi * (200 + 2 * t) * t)).astype(np.float32)
    config = TrainConfig(steps=1, batch_size=1, segment_frames=80, procedural_clips=1,
                         corpus_seconds=2.0, use_guitars=False, channels=8, dilations=(1,))
    net, _ = train_style([(long, rate)], config, progress=False)
    spans = style_excerpts(long.size, rate)
    excerpts = [prepare_style(long[s : s + n], rate) for s, n in spans]
    expected = colour_target(excerpts)
    assert not np.allclose(expected, colour_target([prepare_style(long, rate)]))
    np.testing.assert_allclose(net.colour_target.numpy(), expected, rtol=1e-6, atol=1e-12)


def test_a_long_content_file_is_read_as_its_excerpts(tmp_path, monkeypatch):
    from stylepedal.effect.model import train as model_train
    from stylepedal.presets.store import Store
    from stylepedal.presets.train import train_preset

    style = _long_style(tmp_path / "style.wav", seconds=5)
    content = _long_style(tmp_path / "content.wav")
    seen = {}

    def capture(styles, config, *, content_clips=None, progress=True):
        seen["content"] = content_clips
        raise KeyboardInterrupt  # the clips are what this test is about, not the training

    monkeypatch.setattr(model_train, "train_style", capture)
    try:
        train_preset("Long DI", [style], content_paths=[content], store=Store(tmp_path / "home"),
                     progress=False)
    except KeyboardInterrupt:
        pass
    clips = seen["content"]
    assert [(a.size, r) for a, r in clips] == [(n, RATE) for _, n in
                                               style_excerpts(LONG_SECONDS * RATE, RATE)]
