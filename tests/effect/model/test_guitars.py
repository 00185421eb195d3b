"""The shipped guitar corpus: it loads, it is the train split only, its levels are spread."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stylepedal.effect.model import guitars
from stylepedal.effect.model.guitars import guitar_corpus_dir, load_guitar_corpus
from stylepedal.effect.research import guitar_riffs as riffs
from stylepedal.errors import AudioFileError
from tests.tolerances import PCM16_ROUND_TRIP_ATOL

MAX_BYTES = 3_000_000


@pytest.fixture(scope="module")
def corpus():
    return load_guitar_corpus()


def test_the_corpus_loads(corpus):
    assert len(corpus) == len(riffs.TRAIN_CLIPS)
    for audio, meta in corpus:
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert audio.size == int(round(meta["seconds"] * riffs.SAMPLE_RATE))
        assert np.isfinite(audio).all() and np.abs(audio).max() > 0


def test_it_is_the_train_split_only(corpus):
    metas = [meta for _, meta in corpus]
    eval_riffs = {r.name for r in riffs.EVAL_RIFFS}
    assert {m["soundfont"] for m in metas} == {riffs.TRAIN_SOUNDFONT}
    assert not {m["riff"] for m in metas} & eval_riffs
    assert not {m["program"] for m in metas} & set(riffs.EVAL_PROGRAMS)
    assert riffs.EVAL_SOUNDFONT not in {m["soundfont"] for m in metas}
    # every train riff and program is there, and the files are what the script renders
    assert {m["riff"] for m in metas} == {r.name for r in riffs.TRAIN_RIFFS}
    assert {m["program"] for m in metas} == set(riffs.TRAIN_PROGRAMS)
    assert [(m["riff"], m["program"], m["seconds"]) for m in metas] == [
        (c.riff, c.program, c.seconds) for c in riffs.TRAIN_CLIPS
    ]
    manifest = json.loads(guitar_corpus_dir().joinpath("manifest.json").read_text())
    assert manifest["split"] == "train"


def test_peaks_are_spread_over_minus_30_to_minus_6_dbfs(corpus):
    peaks = np.array([float(np.abs(audio).max()) for audio, _ in corpus])
    low, high = 10 ** (-30 / 20), 10 ** (-6 / 20)
    assert (peaks >= low - PCM16_ROUND_TRIP_ATOL).all()
    assert (peaks <= high + PCM16_ROUND_TRIP_ATOL).all()
    db = np.sort(20 * np.log10(peaks))
    # the whole range is used, with no two clips at one level
    assert db[0] < -27 and db[-1] > -9 and np.diff(db).min() > 0.1
    # the manifest's level (to 0.01 dB) is the file's, up to 16-bit rounding
    for (_, meta), peak in zip(corpus, peaks, strict=True):
        stated = 10 ** (meta["peak_dbfs"] / 20)
        assert abs(peak - stated) <= PCM16_ROUND_TRIP_ATOL + stated * (10 ** (0.005 / 20) - 1)


def test_size_and_licence():
    folder = Path(str(guitar_corpus_dir()))
    assert sum(p.stat().st_size for p in folder.iterdir()) < MAX_BYTES
    assert "MIT" in (folder / "LICENSE.txt").read_text()


def test_resampled_load():
    audio, meta = load_guitar_corpus(44100)[0]
    assert audio.size == int(round(meta["seconds"] * 44100))


def test_a_missing_folder_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(guitars, "guitar_corpus_dir", lambda: tmp_path / "nope")
    with pytest.raises(AudioFileError, match="render_guitar_corpus"):
        load_guitar_corpus()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text('{"format_version": 99, "clips": []}')
    monkeypatch.setattr(guitars, "guitar_corpus_dir", lambda: tmp_path / "bad")
    with pytest.raises(AudioFileError, match="format_version=99"):
        load_guitar_corpus()
