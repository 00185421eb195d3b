"""Held-out content for the quality benchmark: the eval split of the fluidsynth guitars.

The riffs, programs and soundfonts live in :mod:`stylepedal.effect.research.guitar_riffs` (one
place for the script that renders the shipped train split and for this benchmark). Here the
*eval* clips (:data:`~stylepedal.effect.research.guitar_riffs.EVAL_CLIPS`: other riffs, GM
programs 26/28/30, TimGM6mb) are rendered at run time and kept in the benchmark's cache folder
(keyed by their spec), plus :data:`PROCEDURAL_CLIPS` clips of the package's procedural corpus
with seed :data:`PROCEDURAL_SEED`, which no training run draws.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stylepedal._atomic import atomic_output
from stylepedal.effect.research import guitar_riffs as riffs

SAMPLE_RATE = riffs.SAMPLE_RATE
# make_clip seeds of the procedural eval clips: make_corpus(seed=9001) clip i. Training uses
# corpus seeds 0 and 1.
PROCEDURAL_SEED = 9001
PROCEDURAL_CLIPS = 2
_PROCEDURAL_PEAKS_DBFS = (-15.0, -27.0)
# bump when the rendering of a clip changes (the cached renders are then redone)
_RENDER_VERSION = 1


@dataclass(frozen=True)
class Clip:
    """An eval content clip: mono float32 audio at ``sample_rate`` and its metadata."""

    name: str
    audio: np.ndarray
    sample_rate: int
    meta: dict[str, Any]
    sampled: bool  # a fluidsynth render of a sampled guitar (not a procedural clip)


def _procedural(index: int, seconds: float, peak_dbfs: float) -> np.ndarray:
    from stylepedal.effect.model.corpus import make_clip

    seed = PROCEDURAL_SEED * 100003 + index  # make_corpus(seed=PROCEDURAL_SEED)'s clip `index`
    audio = make_clip(seconds, SAMPLE_RATE, seed=seed).astype(np.float64)
    return riffs.finish(audio, seconds, SAMPLE_RATE, peak_dbfs, fade_seconds=riffs.FADE_SECONDS)


def _cached(folder: Path, meta: dict[str, Any], render: Any) -> np.ndarray:
    """``render()``, kept in ``folder`` under a hash of ``meta``.

    Stored as ``.npy``, which keeps every bit (a WAV round trip turns -0.0 into 0.0), so the
    optimiser's cache keys, which hash the content's bytes, stay valid across runs.
    """
    key = hashlib.sha256(
        json.dumps([_RENDER_VERSION, meta], sort_keys=True).encode()
    ).hexdigest()[:24]
    path = folder / f"{key}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    audio = render()
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, audio, allow_pickle=False)
    return audio


def eval_clips(cache_dir: Path, *, procedural: bool = True) -> list[Clip]:
    """The eval clips (sampled guitars first, then the procedural ones), cached as rendered."""
    riffs.check_split()
    folder = Path(cache_dir) / "content"
    out = []
    for spec in riffs.EVAL_CLIPS:
        meta = {**spec.metadata(), "source": "fluidsynth"}
        audio = _cached(folder, meta, lambda spec=spec: riffs.render_clip(spec, SAMPLE_RATE))
        out.append(Clip(spec.name, audio, SAMPLE_RATE, meta, sampled=True))
    if procedural:
        for i, peak in enumerate(_PROCEDURAL_PEAKS_DBFS[:PROCEDURAL_CLIPS]):
            meta = {
                "name": f"eval/procedural-{PROCEDURAL_SEED}-{i}",
                "split": "eval",
                "source": "stylepedal.effect.model.corpus",
                "riff": f"make_corpus(seed={PROCEDURAL_SEED})[{i}]",
                "kind": "Karplus-Strong notes, chords and strums",
                "peak_dbfs": peak,
                "seconds": riffs.EVAL_SECONDS,
            }
            audio = _cached(
                folder, meta, lambda i=i, p=peak: _procedural(i, riffs.EVAL_SECONDS, p)
            )
            out.append(Clip(meta["name"], audio, SAMPLE_RATE, meta, sampled=False))
    return out


def split_description() -> dict[str, Any]:
    """The data split as a JSON-able dict, procedural eval clips included."""
    out = riffs.split_description()
    out["eval"]["procedural"] = (
        f"make_corpus(seed={PROCEDURAL_SEED}), {PROCEDURAL_CLIPS} clips of"
        f" {riffs.EVAL_SECONDS:g} s (training draws corpus seeds 0 and 1)"
    )
    out["eval"]["clips"] += PROCEDURAL_CLIPS
    return out
