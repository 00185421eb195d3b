"""benchmarks/texture.py: its command line runs, and its validation never meets its training."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.helpers import benchmark_help

ROOT = Path(__file__).resolve().parents[1]


def test_help_runs():
    usage = benchmark_help("texture.py")
    for flag in ("--styles", "--amounts", "--fit-amounts", "--cache", "--json-out", "--as-live",
                 "--extra-styles"):
        assert flag in usage


def test_validation_clips_are_held_out_of_training(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import texture

    from stylepedal.effect.model.guitars import load_guitar_corpus

    train, clips = texture._validation_clips()
    corpus = load_guitar_corpus(texture.SAMPLE_RATE)
    held = [a for a, meta in corpus if meta["riff"] in texture.HELD_RIFFS]
    assert held and len(train) + len(held) == len(corpus)
    for audio, _ in train:  # no held riff among the training content
        assert not any(a.shape == audio.shape and np.array_equal(a, audio) for a in held)
    names = [name for name, _ in clips]
    rigged = [x for name, x in clips if " + " in name]
    assert len(rigged) == len(held) * len(texture.RIGS)
    assert sum("procedural" in n for n in names) == 2
    # a rig really changes the guitar, and keeps its peak
    dry = dict(clips)[names[0]]
    wet = dict(clips)[f"{names[0]} + drive"]
    assert not np.allclose(wet, dry, atol=1e-3)
    assert np.abs(wet).max() == np.float32(np.abs(dry).max())


def test_validation_styles_are_not_the_evals(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import _quality_styles as styles_mod
    import texture

    ours, evals = texture.VALIDATION_STYLES, styles_mod.EXTRA_STYLES
    assert len({s.name for s in ours}) == len(ours)
    assert not {s.program for s in ours} & {s.program for s in evals}
    assert not {s.name for s in ours} & {s.name for s in evals}
    assert not {s.events for s in ours} & {s.events for s in evals}
