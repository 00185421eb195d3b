"""Long style (and content) recordings in bounded memory: training hears evenly spread
excerpts of them.

A style's statistics (its long-term spectrum and the Gram matrices of its features) are
averages: a minute of a recording, spread over all of it, gives them as well as an hour does,
while every second of style costs memory in the spectrograms and time at every training step.
The rule: a style file of at most :data:`STYLE_MAX_SECONDS` is used whole; a longer one as
``STYLE_MAX_SECONDS / STYLE_EXCERPT_SECONDS`` excerpts of :data:`STYLE_EXCERPT_SECONDS`, the
first at its start, the last at its end, the others evenly between (silent excerpts are left
out). :func:`read_style` reads only those excerpts from the file; ``train_style`` applies the
same rule to audio passed as arrays.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..._validate import check_audible, check_sample_rate
from ...errors import AudioFileError, ParameterError

__all__ = [
    "STYLE_EXCERPT_SECONDS",
    "STYLE_MAX_SECONDS",
    "excerpt_array",
    "read_style",
    "style_excerpts",
]

log = logging.getLogger(__name__)

STYLE_MAX_SECONDS = 60.0
STYLE_EXCERPT_SECONDS = 5.0


def style_excerpts(frames: int, sample_rate: int) -> list[tuple[int, int]]:
    """The ``(start, frames)`` spans of a style of ``frames`` samples that training uses.

    Examples
    --------
    >>> style_excerpts(44100 * 30, 44100)
    [(0, 1323000)]
    >>> spans = style_excerpts(44100 * 600, 44100)
    >>> len(spans), spans[0], spans[-1][0] + spans[-1][1] == 44100 * 600
    (12, (0, 220500), True)
    """
    sample_rate = check_sample_rate(sample_rate)
    if frames <= STYLE_MAX_SECONDS * sample_rate:
        return [(0, int(frames))]
    count = int(STYLE_MAX_SECONDS // STYLE_EXCERPT_SECONDS)
    length = int(round(STYLE_EXCERPT_SECONDS * sample_rate))
    last = frames - length
    return [(int(round(i * last / (count - 1))), length) for i in range(count)]


def read_style(
    path: str | os.PathLike[str], *, name: str = "style"
) -> list[tuple[np.ndarray, int]]:
    """A style file as training uses it (a content file too, ``name="content"``): mono
    ``(audio, sample_rate)`` clips, the whole file if it is short, else its excerpts
    (:func:`style_excerpts`), read one at a time.

    Raises
    ------
    AudioFileError
        for a missing, unsupported or undecodable file.
    ParameterError
        for NaN/Inf samples, or a long file whose every excerpt is silent.
    """
    from ...audio_io import open_audio, read_audio

    p = Path(path)
    with open_audio(p, name=name) as f:
        rate = int(round(f.samplerate))
        frames = int(f.frames)
        spans = style_excerpts(frames, rate)
        clips = []
        for start, n in spans if len(spans) > 1 else ():
            try:
                f.seek(start)
                x = np.asarray(f.read(n), dtype=np.float32)
            except (OSError, ValueError, RuntimeError) as exc:
                raise AudioFileError(
                    f"{name} file {str(p)!r} cannot be read as audio (corrupt or "
                    f"unsupported): {exc}"
                ) from exc
            x = np.ascontiguousarray(x.mean(axis=0), dtype=np.float32)
            if not np.isfinite(x).all():
                raise ParameterError(
                    f"{name} file {str(p)!r} holds NaN/Inf samples: repair or re-export it"
                )
            if _audible(x):
                clips.append((x, rate))
    if len(spans) == 1:
        return [read_audio(p, mono=True, name=name)]
    if not clips:
        raise ParameterError(f"{name} file {str(p)!r} is silent in every excerpt training uses")
    log.info(
        "%s %s lasts %.0f s: training uses %d excerpts of %g s spread over it (at most %g s "
        "of a file)", name, p.name, frames / rate, len(clips), STYLE_EXCERPT_SECONDS,
        STYLE_MAX_SECONDS,
    )
    return clips


def _audible(audio: np.ndarray) -> bool:
    try:
        check_audible(audio, "excerpt")
    except ParameterError:
        return False
    return True


def excerpt_array(audio: np.ndarray, sample_rate: int) -> list[np.ndarray]:
    """The excerpts of a style given as an array (samples on its longer axis, as
    ``prepare_style`` reads it); the array itself if it is short. Silent excerpts are left
    out, unless all are."""
    audio = np.asarray(audio)
    axis = 0 if audio.ndim == 1 or audio.shape[0] > audio.shape[1] else 1
    spans = style_excerpts(audio.shape[axis], sample_rate)
    if len(spans) == 1:
        return [audio]
    log.info("a style of %.0f s: training uses %d excerpts of %g s spread over it (at most "
             "%g s of a recording)", audio.shape[axis] / sample_rate, len(spans),
             STYLE_EXCERPT_SECONDS, STYLE_MAX_SECONDS)
    parts = [np.take(audio, np.arange(s, s + n), axis=axis) for s, n in spans]
    # a non-finite excerpt stays, for prepare_style to refuse
    kept = [x for x in parts if not np.isfinite(x).all() or _audible(x)]
    return kept or parts
