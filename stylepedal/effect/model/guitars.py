"""The shipped guitar corpus: sampled-guitar clips of the train split, for training content.

``data/guitars/`` holds mono 22050 Hz FLAC clips rendered by fluidsynth from the FluidR3_GM
soundfont (MIT, see ``data/guitars/LICENSE.txt``) with ``scripts/render_guitar_corpus.py``:
the train riffs and GM programs of :mod:`stylepedal.effect.research.guitar_riffs` only, so
the quality benchmark's eval guitars (other riffs, programs and soundfont) stay unseen. Each
clip's metadata is in ``manifest.json``.

Examples
--------
>>> clips = load_guitar_corpus()
>>> audio, meta = clips[0]
>>> audio.dtype, meta["soundfont"]
(dtype('float32'), 'FluidR3_GM.sf2')
"""

from __future__ import annotations

import json
from importlib import resources
from importlib.abc import Traversable
from typing import Any

import numpy as np

from ..._validate import check_sample_rate
from ...errors import AudioFileError

__all__ = ["CORPUS_SAMPLE_RATE", "MANIFEST_FORMAT_VERSION", "guitar_corpus_dir",
           "load_guitar_corpus"]

CORPUS_SAMPLE_RATE = 22050
MANIFEST_FORMAT_VERSION = 1
_MANIFEST = "manifest.json"


def guitar_corpus_dir() -> Traversable:
    """The packaged corpus folder (read-only; works from a wheel or a source tree)."""
    return resources.files("stylepedal.effect.model").joinpath("data").joinpath("guitars")


def load_guitar_corpus(sample_rate: int = CORPUS_SAMPLE_RATE) -> list[tuple[np.ndarray, dict]]:
    """Every shipped guitar clip with its metadata.

    Parameters
    ----------
    sample_rate : int
        Rate to return the clips at (resampled from 22050 Hz if it differs).

    Returns
    -------
    list of (np.ndarray, dict)
        Mono float32 audio and the clip's manifest entry (``file``, ``riff``, ``kind``,
        ``program``, ``program_name``, ``soundfont``, ``peak_dbfs``, ``seconds``), in manifest
        order.

    Raises
    ------
    AudioFileError
        if the data folder, its manifest or a clip is missing or unreadable.
    ParameterError
        for a bad ``sample_rate``.

    Examples
    --------
    >>> clips = load_guitar_corpus(44100)
    >>> len(clips[0][0]) == int(44100 * clips[0][1]["seconds"])
    True
    """
    from ...audio_io import read_audio

    sample_rate = check_sample_rate(sample_rate)
    manifest = _manifest()
    folder = guitar_corpus_dir()
    out = []
    for entry in manifest["clips"]:
        with resources.as_file(folder.joinpath(entry["file"])) as path:
            audio, _ = read_audio(path, sample_rate=sample_rate, mono=True, name="guitar clip")
        out.append((audio, dict(entry)))
    return out


def _manifest() -> dict[str, Any]:
    """The corpus manifest, checked for the fields every clip needs."""
    path = guitar_corpus_dir().joinpath(_MANIFEST)
    if not path.is_file():
        raise AudioFileError(
            f"the shipped guitar corpus is missing ({path}): reinstall stylepedal, or in a"
            " source tree run python scripts/render_guitar_corpus.py"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AudioFileError(f"the guitar corpus manifest {path} is unreadable: {exc}") from exc
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version != MANIFEST_FORMAT_VERSION or not isinstance(manifest.get("clips"), list):
        raise AudioFileError(
            f"the guitar corpus manifest {path} has format_version={version!r}: allowed is"
            f" {MANIFEST_FORMAT_VERSION} with a list of clips"
        )
    return manifest
