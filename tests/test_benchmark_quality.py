"""benchmarks/quality.py: its command line runs, and it counts the issue's criteria right."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import benchmark_help

ROOT = Path(__file__).resolve().parents[1]


def test_help_runs():
    usage = benchmark_help("quality.py")
    for flag in ("--quick", "--optimiser-pairs", "--retrain-factory", "--json-out",
                 "--markdown", "--cache-dir", "--as-live", "--learn-other-take"):
        assert flag in usage


def _pair(content, style, net, eq, opt=None, *, sampled=True, factory=True):
    systems = {"network": {"ratio": net[0], "content": net[1]},
               "eq": {"ratio": eq[0], "content": eq[1]}}
    if opt is not None:
        systems["optimiser"] = {"ratio": opt[0], "content": opt[1]}
    return {"content": content, "style": style, "sampled": sampled, "factory": factory,
            "systems": systems}


def test_criteria(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from quality import criteria

    pairs = [
        _pair("g1", "organ", (0.5, 0.9), (0.6, 0.9)),
        _pair("g2", "organ", (0.6, 0.66), (0.7, 0.95)),  # content 0.66 < min(0.7, 0.9)
        _pair("g3", "organ", (0.6, 0.8), (0.7, 0.9), sampled=False),  # not a sampled guitar
        _pair("g1", "cello", (0.9, 0.9), (0.6, 0.9), (0.3, 0.5), factory=False),
    ]
    c = criteria(pairs)
    one = c["network_at_least_as_stylised_as_eq"]
    assert (one["pairs_passing"], one["pairs"], one["pass"]) == (2, 4, False)
    # g2 keeps too little content, cello/g1 is less stylised; the optimiser (0.3, 0.5) on
    # cello/g1 is more stylised than the EQ but keeps too little
    assert one["failing"] == {"ratio_only": 1, "content_only": 1, "both": 0}
    assert one["optimiser_on_its_pairs"] == {
        "pairs_passing": 0, "pairs": 1,
        "failing": {"ratio_only": 0, "content_only": 1, "both": 0},
    }
    two = c["mean_ratio_within_factor_of_better_baseline"]
    assert two["better_baseline_mean_ratio"] == round((0.6 + 0.7 + 0.7 + 0.3) / 4, 4)
    assert two["network_mean_ratio"] == round((0.5 + 0.6 + 0.6 + 0.9) / 4, 4)
    assert two["pass"] is True  # 0.65 <= 1.25 x 0.575
    three = c["every_factory_preset_on_two_guitars"]
    # organ passes on g1 (beats EQ, content 0.9) and g2 (content 0.66 >= 0.65); g3 is procedural
    assert three["guitars_passing"] == {"organ": ["g1", "g2"]}
    assert three["pass"] is True
    pairs[1]["systems"]["network"]["content"] = 0.6
    assert criteria(pairs)["every_factory_preset_on_two_guitars"]["pass"] is False


def test_other_takes_are_the_same_guitar_playing_another_riff(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import numpy as np
    import pytest
    from _quality_content import Clip
    from quality import other_takes

    def clip(name, riff, program=None):
        meta = {"riff": riff} if program is None else {"riff": riff, "program": program}
        return Clip(name, np.full(4, len(name), np.float32), 22050, meta, program is not None)

    clips = [clip("a/jazz", "a", 26), clip("b/jazz", "b", 26), clip("a/muted", "a", 28),
             clip("c/muted", "c", 28), clip("d/muted", "d", 28), clip("p0", "p0"),
             clip("p1", "p1")]
    takes = other_takes(clips)
    audio = {c.name: c.audio for c in clips}
    expected = {"a/jazz": "b/jazz", "b/jazz": "a/jazz", "a/muted": "c/muted",
                "c/muted": "d/muted", "d/muted": "a/muted", "p0": "p1", "p1": "p0"}
    assert set(takes) == set(expected)
    for name, other in expected.items():
        assert takes[name] is audio[other]
    with pytest.raises(RuntimeError, match="no other take"):
        other_takes(clips[:3])
