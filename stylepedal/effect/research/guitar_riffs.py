"""Realistic guitar without downloads: MIDI riffs rendered by fluidsynth, split train / eval.

Riffs (single-note lines, strummed and stabbed chords, arpeggios, sustained melodies, with
varied velocities) are written here as note events, saved as MIDI with mido and rendered by
``fluidsynth`` from a General MIDI soundfont with one of the GM guitar programs (0-based: 24
nylon, 25 steel, 26 jazz, 27 clean, 28 muted, 29 overdrive, 30 distortion). Reverb and chorus
are off, as on a guitar's direct signal. Each clip is trimmed to a fixed length, faded out and
scaled to a peak level between -30 and -6 dBFS.

The split is strict: the *eval* clips use other riffs, other programs and another soundfont
than the *train* clips (:data:`TRAIN_RIFFS` / :data:`EVAL_RIFFS`, :data:`TRAIN_PROGRAMS` /
:data:`EVAL_PROGRAMS`, FluidR3_GM / TimGM6mb), so a model trained on the train split and judged
on the eval split has seen neither the eval notes nor the eval instruments' samples. The train
clips ship with the package (``scripts/render_guitar_corpus.py`` renders them; loaded by
:func:`stylepedal.effect.model.guitars.load_guitar_corpus`); the quality benchmark renders the
eval clips at run time.

Every clip is a pure function of its :class:`GuitarClip` (and the installed soundfont and
fluidsynth), so either split can be regenerated anywhere with ``apt-get install fluidsynth
fluid-soundfont-gm timgm6mb-soundfont``.

Examples
--------
>>> [c.name for c in EVAL_CLIPS][:2]
['eval/bm-arpeggio/jazz', 'eval/jazz-comp/jazz']
>>> check_split()
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ParameterError, StylepedalError

__all__ = [
    "EVAL_CLIPS",
    "EVAL_PROGRAMS",
    "EVAL_RIFFS",
    "EVAL_SOUNDFONT",
    "PROGRAM_NAMES",
    "SAMPLE_RATE",
    "SOUNDFONT_DIR",
    "TRAIN_CLIPS",
    "TRAIN_PROGRAMS",
    "TRAIN_RIFFS",
    "TRAIN_SOUNDFONT",
    "GuitarClip",
    "Riff",
    "check_split",
    "finish",
    "get_riff",
    "render_clip",
    "render_midi",
    "split_description",
    "write_midi",
]

SAMPLE_RATE = 22050
# Where Debian's fluid-soundfont-gm and timgm6mb-soundfont put their files; the environment
# variable STYLEPEDAL_SOUNDFONT_DIR points elsewhere.
SOUNDFONT_DIR = Path("/usr/share/sounds/sf2")
TRAIN_SOUNDFONT = "FluidR3_GM.sf2"
EVAL_SOUNDFONT = "TimGM6mb.sf2"
# fluidsynth master gain: loud enough to stay far above its noise, low enough not to clip.
FLUIDSYNTH_GAIN = 0.6
TICKS_PER_BEAT = 480
FADE_SECONDS = 0.02
TRAIN_SECONDS = 6.0
EVAL_SECONDS = 8.0

PROGRAM_NAMES = {
    24: "nylon",
    25: "steel",
    26: "jazz",
    27: "clean",
    28: "muted",
    29: "overdrive",
    30: "distortion",
}
TRAIN_PROGRAMS: tuple[int, ...] = (24, 25, 27, 29)
EVAL_PROGRAMS: tuple[int, ...] = (26, 28, 30)

# One event: (MIDI pitches, start beat, length in beats, velocity, strum in ms); a negative
# strum plays the chord from the highest string down (an up-stroke).
Event = tuple[tuple[int, ...], float, float, int, float]


@dataclass(frozen=True)
class Riff:
    """A guitar part: note events over ``beats`` beats at ``bpm``, looped to fill a clip."""

    name: str
    kind: str
    bpm: float
    beats: float
    events: tuple[Event, ...]


def _line(
    notes: Sequence[tuple[int, float]], velocities: Sequence[int], legato: float
) -> tuple[Event, ...]:
    """A monophonic line of ``(pitch, beats)`` with cycling velocities; pitch 0 is a rest."""
    out, t = [], 0.0
    for i, (pitch, beats) in enumerate(notes):
        if pitch:
            out.append(((pitch,), t, beats * legato, velocities[i % len(velocities)], 0.0))
        t += beats
    return tuple(out)


def _arpeggio(
    chords: Sequence[Sequence[int]], order: Sequence[int], step: float, ring: float, vel: int
) -> tuple[Event, ...]:
    """Each chord picked note by note in ``order`` (indices into the chord), notes ringing."""
    out, t = [], 0.0
    for chord in chords:
        for k, idx in enumerate(order):
            accent = 12 if k == 0 else (-8 if k % 2 else 0)
            out.append(((chord[idx],), t, ring, vel + accent, 0.0))
            t += step
    return tuple(out)


def _strums(pattern: Sequence[tuple[Sequence[int], float, float, int, float]]) -> tuple[Event, ...]:
    """Chord events ``(chord, start, length, velocity, strum ms)`` as given."""
    return tuple((tuple(c), s, d, v, ms) for c, s, d, v, ms in pattern)


def _strum_bar(
    chord: Sequence[int], bar: int, rhythm: Sequence[tuple[float, float, int]]
) -> list[tuple[Sequence[int], float, float, int, float]]:
    """One 4-beat bar of ``(beat, length, velocity)`` strokes; off-beats are up-strokes."""
    return [
        (chord, bar * 4 + beat, length, vel, 18.0 if beat == int(beat) else -12.0)
        for beat, length, vel in rhythm
    ]


# -- train riffs (FluidR3_GM; programs 24, 25, 27, 29) ---------------------------------------

_G = (43, 47, 50, 55, 59, 67)
_C = (48, 52, 55, 60, 64)
_D = (50, 57, 62, 66)
_AM = (45, 52, 57, 60, 64)
_F = (41, 48, 53, 57, 60, 65)
_E9 = (40, 44, 50, 54, 59)
_STRUM_8THS = ((0, 0.9, 100), (1, 0.45, 85), (1.5, 0.45, 70), (2.5, 0.45, 75), (3, 0.9, 95))

# fmt: off
TRAIN_RIFFS: tuple[Riff, ...] = (
    Riff("em-pentatonic-riff", "single-note riff", 104, 4, _line(
        [(40, 0.25), (43, 0.25), (45, 0.5), (47, 0.25), (50, 0.25), (52, 0.5), (50, 0.25),
         (47, 0.25), (45, 0.25), (43, 0.25), (40, 0.5), (0, 0.5)],
        (110, 80, 95, 70), 0.85)),
    Riff("g-c-d-strum", "strummed open chords", 96, 16, _strums(
        _strum_bar(_G, 0, _STRUM_8THS) + _strum_bar(_C, 1, _STRUM_8THS)
        + _strum_bar(_D, 2, _STRUM_8THS) + _strum_bar(_G, 3, ((0, 3.8, 105),)))),
    Riff("am-f-c-g-arpeggio", "fingerpicked arpeggio", 88, 16, _arpeggio(
        [_AM, _F, _C, _G], (0, 2, 3, 4, 3, 2, 1, 2), step=0.5, ring=1.5, vel=78)),
    Riff("e-power-chords", "power chords, eighths", 132, 8, _strums(
        [((40, 47, 52), i * 0.5, 0.4, 112 if i % 4 == 0 else 88, 6.0) for i in range(8)]
        + [((43, 50, 55), 4 + i * 0.5, 0.4, 100, 6.0) for i in range(4)]
        + [((45, 52, 57), 6 + i * 0.5, 0.4, 96, 6.0) for i in range(4)])),
    Riff("a-boogie-shuffle", "blues shuffle", 112, 8, _strums(
        [((45, 52), float(b), 0.3, 100 if b % 2 == 0 else 88, 4.0) for b in range(8)]
        + [((45, 54), b + 2 / 3, 0.25, 76, 4.0) for b in range(8)])),
    Riff("d-major-melody", "sustained single-note melody", 76, 16, _line(
        [(62, 1), (66, 1), (69, 1.5), (71, 0.5), (69, 2), (66, 1), (64, 1), (62, 1.5),
         (64, 0.5), (66, 3), (0, 1), (57, 1), (62, 1)],
        (90, 70, 100, 60, 85), 0.97)),
    Riff("e9-funk-stabs", "chord stabs, syncopated", 100, 4, _strums(
        [(_E9, 0.0, 0.2, 110, 8.0), (_E9, 0.75, 0.15, 80, -6.0), (_E9, 1.5, 0.2, 100, 8.0),
         (_E9, 2.25, 0.15, 70, -6.0), (_E9, 2.5, 0.2, 95, 8.0), (_E9, 3.5, 0.2, 85, -6.0)])),
    Riff("c-travis-picking", "Travis picking", 92, 8, tuple(
        ev
        for bar, (bass1, bass2, top) in enumerate(((48, 55, (64, 60)), (43, 50, (62, 59))))
        for ev in (
            ((bass1,), bar * 4 + 0.0, 1.0, 95, 0.0), ((top[0],), bar * 4 + 0.5, 0.8, 70, 0.0),
            ((bass2,), bar * 4 + 1.0, 1.0, 85, 0.0), ((top[1],), bar * 4 + 1.5, 0.8, 65, 0.0),
            ((bass1,), bar * 4 + 2.0, 1.0, 90, 0.0), ((top[0],), bar * 4 + 2.5, 0.8, 72, 0.0),
            ((bass2,), bar * 4 + 3.0, 1.0, 82, 0.0),
            ((top[1], top[0]), bar * 4 + 3.5, 0.8, 60, 5.0),
        ))),
)
# fmt: on

# -- eval riffs (TimGM6mb; programs 26, 28, 30) ----------------------------------------------

_BM = (47, 54, 59, 62, 66)
_G_EVAL = (43, 50, 55, 59, 62)
_D_EVAL = (50, 57, 62, 66, 69)
_A_EVAL = (45, 52, 57, 61, 64)
_FSM = (42, 49, 54, 57, 61, 66)
_DM7 = (50, 57, 60, 65)
_G7 = (43, 53, 59, 62)
_CMAJ7 = (48, 55, 59, 64)
_A7 = (45, 55, 61, 64)

# fmt: off
EVAL_RIFFS: tuple[Riff, ...] = (
    Riff("bm-arpeggio", "fingerpicked arpeggio", 84, 16, _arpeggio(
        [_BM, _G_EVAL, _D_EVAL, _A_EVAL], (0, 3, 2, 4, 1, 3, 2, 4), step=0.5, ring=1.2,
        vel=74)),
    Riff("jazz-comp", "jazz comping, ii-V-I", 120, 16, _strums(
        [(_DM7, 0.0, 1.4, 90, 10.0), (_DM7, 2.5, 0.4, 70, 8.0), (_G7, 4.0, 1.4, 92, 10.0),
         (_G7, 6.5, 0.4, 66, 8.0), (_CMAJ7, 8.0, 2.8, 95, 14.0), (_CMAJ7, 11.5, 0.4, 64, 8.0),
         (_A7, 12.0, 1.0, 100, 10.0), (_A7, 13.5, 1.8, 78, -10.0)])),
    Riff("fsm-6-8-strum", "strummed chords in 6/8", 138, 12, _strums(
        [(c, bar * 3 + b, length, v, ms)
         for bar, c in enumerate((_FSM, _D_EVAL, _A_EVAL, _FSM))
         for b, length, v, ms in ((0, 1.4, 105, 20.0), (1.5, 0.4, 70, -14.0),
                                  (2, 0.9, 85, 16.0))])),
    Riff("drop-d-riff", "low single-note riff with chugs", 118, 8, _line(
        [(38, 0.25), (38, 0.25), (50, 0.5), (38, 0.25), (38, 0.25), (48, 0.5), (38, 0.25),
         (38, 0.25), (46, 0.25), (45, 0.25), (43, 0.5), (41, 0.5), (38, 0.5), (0, 0.25),
         (40, 0.25), (41, 0.5), (43, 0.5), (45, 1.0)],
        (112, 72, 100, 68, 90), 0.7)),
    Riff("am-lead", "fast lead line, high register", 126, 8, _line(
        [(76, 0.25), (79, 0.25), (81, 0.5), (84, 0.25), (81, 0.25), (79, 0.5), (76, 0.25),
         (74, 0.25), (72, 0.5), (69, 1.0), (72, 0.25), (74, 0.25), (76, 0.5), (77, 0.5),
         (76, 0.25), (74, 0.25), (72, 0.5), (69, 1.5)],
        (104, 86, 118, 80), 0.9)),
)
# fmt: on


@dataclass(frozen=True)
class GuitarClip:
    """Everything that defines one rendered guitar clip (its metadata)."""

    name: str
    split: str
    riff: str
    kind: str
    program: int
    program_name: str
    soundfont: str
    peak_dbfs: float
    seconds: float

    def metadata(self) -> dict[str, Any]:
        """The spec as a JSON-able dict."""
        return asdict(self)


def get_riff(name: str) -> Riff:
    """The riff called ``name`` (train or eval).

    Examples
    --------
    >>> get_riff("jazz-comp").bpm
    120
    """
    for riff in TRAIN_RIFFS + EVAL_RIFFS:
        if riff.name == name:
            return riff
    names = ", ".join(r.name for r in TRAIN_RIFFS + EVAL_RIFFS)
    raise ParameterError(f"riff={name!r} is unknown: allowed is one of {names}")


def _clip(split: str, riff: str, program: int, peak_dbfs: float, seconds: float) -> GuitarClip:
    soundfont = TRAIN_SOUNDFONT if split == "train" else EVAL_SOUNDFONT
    return GuitarClip(
        name=f"{split}/{riff}/{PROGRAM_NAMES[program]}",
        split=split,
        riff=riff,
        kind=get_riff(riff).kind,
        program=program,
        program_name=PROGRAM_NAMES[program],
        soundfont=soundfont,
        peak_dbfs=peak_dbfs,
        seconds=seconds,
    )


# The two train programs of each train riff (0-based GM): each program plays four riffs and
# every pair of programs occurs, so the 16 shipped clips hold all 8 riffs and all 4 programs.
_TRAIN_PROGRAM_PAIRS = {
    "em-pentatonic-riff": (27, 29),
    "g-c-d-strum": (24, 25),
    "am-f-c-g-arpeggio": (24, 27),
    "e-power-chords": (25, 29),
    "a-boogie-shuffle": (27, 29),
    "d-major-melody": (24, 29),
    "e9-funk-stabs": (25, 27),
    "c-travis-picking": (24, 25),
}


def _train_clips() -> tuple[GuitarClip, ...]:
    """Every train riff with its two programs; peaks spread over -30..-6 dBFS by a
    golden-ratio sequence, so no two clips share a level."""
    out: list[GuitarClip] = []
    for riff in TRAIN_RIFFS:
        for program in _TRAIN_PROGRAM_PAIRS[riff.name]:
            peak = round(-6.0 - 24.0 * ((len(out) * 0.6180339887) % 1.0), 1)
            out.append(_clip("train", riff.name, program, peak, TRAIN_SECONDS))
    return tuple(out)


TRAIN_CLIPS: tuple[GuitarClip, ...] = _train_clips()
# Every eval riff and program appears; levels span the whole -30..-6 dBFS range.
EVAL_CLIPS: tuple[GuitarClip, ...] = tuple(
    _clip("eval", riff, program, peak, EVAL_SECONDS)
    for riff, program, peak in (
        ("bm-arpeggio", 26, -12.0),
        ("jazz-comp", 26, -24.0),
        ("fsm-6-8-strum", 28, -9.0),
        ("drop-d-riff", 28, -30.0),
        ("drop-d-riff", 30, -6.0),
        ("am-lead", 30, -18.0),
    )
)


def check_split() -> None:
    """Raise :class:`~stylepedal.errors.StylepedalError` unless train and eval share no riff,
    program or soundfont, and every riff name is unique."""
    train_riffs = {r.name for r in TRAIN_RIFFS}
    eval_riffs = {r.name for r in EVAL_RIFFS}
    if len(train_riffs | eval_riffs) != len(TRAIN_RIFFS) + len(EVAL_RIFFS):
        raise StylepedalError("riff names must be unique across the train and eval riffs")
    problems = []
    for clip in TRAIN_CLIPS:
        if clip.riff not in train_riffs or clip.program not in TRAIN_PROGRAMS:
            problems.append(clip.name)
    for clip in EVAL_CLIPS:
        if clip.riff not in eval_riffs or clip.program not in EVAL_PROGRAMS:
            problems.append(clip.name)
    if set(TRAIN_PROGRAMS) & set(EVAL_PROGRAMS) or TRAIN_SOUNDFONT == EVAL_SOUNDFONT:
        problems.append("programs or soundfonts")
    if problems:
        raise StylepedalError(f"train and eval splits overlap: {', '.join(problems)}")


def write_midi(
    events: Sequence[Event],
    bpm: float,
    program: int,
    path: str | os.PathLike[str],
    *,
    loop_beats: float = 0.0,
    seconds: float = 0.0,
) -> Path:
    """Write events as a type-0 MIDI file on channel 0 with ``program`` (0-based GM).

    With ``loop_beats`` > 0 the events repeat every ``loop_beats`` beats until ``seconds``.
    Strummed chords get onsets staggered by their strum time per string.

    Examples
    --------
    >>> import tempfile, os
    >>> riff = get_riff("am-lead")
    >>> p = write_midi(riff.events, riff.bpm, 30, os.path.join(tempfile.mkdtemp(), "a.mid"))
    >>> p.suffix
    '.mid'
    """
    import mido

    from ..._atomic import atomic_output

    sec_per_beat = 60.0 / bpm
    repeats = 1
    if loop_beats > 0:
        repeats = max(1, math.ceil(seconds / (loop_beats * sec_per_beat)))
    notes: list[tuple[int, int, int, int]] = []  # (tick, on, pitch, velocity)
    for rep in range(repeats):
        for pitches, start, length, velocity, strum_ms in events:
            ordered = sorted(pitches, reverse=strum_ms < 0)
            for k, pitch in enumerate(ordered):
                onset = (rep * loop_beats + start) + k * abs(strum_ms) / 1000.0 / sec_per_beat
                on = round(onset * TICKS_PER_BEAT)
                off = max(on + 1, round((rep * loop_beats + start + length) * TICKS_PER_BEAT))
                vel = int(min(127, max(1, velocity - 3 * k)))
                notes.append((on, 1, pitch, vel))
                notes.append((off, 0, pitch, 0))
    notes.sort()  # note-offs before note-ons at one tick: a re-struck note sounds again
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    track.append(mido.Message("program_change", program=program, time=0))
    now = 0
    for tick, is_on, pitch, vel in notes:
        kind = "note_on" if is_on else "note_off"
        track.append(mido.Message(kind, note=pitch, velocity=vel, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=TICKS_PER_BEAT))
    mid = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    mid.tracks.append(track)
    target = Path(path)
    with atomic_output(target) as tmp:
        mid.save(str(tmp))
    return target


def _soundfont_path(soundfont: str) -> Path:
    folder = Path(os.environ.get("STYLEPEDAL_SOUNDFONT_DIR") or SOUNDFONT_DIR)
    path = folder / soundfont
    if not path.is_file():
        raise StylepedalError(
            f"soundfont {str(path)!r} is missing: apt-get install fluid-soundfont-gm"
            " timgm6mb-soundfont (or set STYLEPEDAL_SOUNDFONT_DIR)"
        )
    return path


def render_midi(
    midi_path: str | os.PathLike[str],
    soundfont: str,
    *,
    sample_rate: int = SAMPLE_RATE,
    dry: bool = True,
) -> np.ndarray:
    """Render a MIDI file with fluidsynth; mono float64 at ``sample_rate``.

    ``dry`` turns fluidsynth's reverb and chorus off (a direct guitar signal).

    Raises
    ------
    StylepedalError
        if fluidsynth or the soundfont is missing, or fluidsynth fails.
    """
    from ...audio_io import read_audio

    if shutil.which("fluidsynth") is None:
        raise StylepedalError("fluidsynth is not installed: apt-get install fluidsynth")
    sf2 = _soundfont_path(soundfont)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = ["fluidsynth", "-ni", "-q", "-g", str(FLUIDSYNTH_GAIN), "-r", str(sample_rate)]
        if dry:
            cmd += ["-R", "0", "-C", "0"]
        cmd += ["-T", "wav", "-O", "float", "-F", str(wav), str(sf2), str(midi_path)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StylepedalError(f"fluidsynth failed ({done.returncode}): {done.stderr.strip()}")
        data, rate = read_audio(wav, name="fluidsynth output")
    if rate != sample_rate:
        raise StylepedalError(f"fluidsynth wrote {rate} Hz, expected {sample_rate}")
    # averaged in float64, so a clip's samples do not depend on the channel layout's rounding
    return np.asarray(data, dtype=np.float64).mean(axis=0)


def finish(
    audio: np.ndarray, seconds: float, sample_rate: int, peak_dbfs: float, *, fade_seconds: float
) -> np.ndarray:
    """Trim or zero-pad to ``seconds``, fade the end out, scale the peak to ``peak_dbfs``.

    Returns float32.

    Examples
    --------
    >>> y = finish(np.ones(100), 0.01, 8000, -6.0, fade_seconds=0.002)
    >>> y.shape, round(float(20 * np.log10(np.abs(y).max())), 3)
    ((80,), -6.0)
    """
    n = int(round(seconds * sample_rate))
    out = np.zeros(n)
    out[: min(n, audio.size)] = audio[:n]
    fade = int(fade_seconds * sample_rate)
    if fade > 0:
        out[-fade:] *= np.linspace(1.0, 0.0, fade)
    peak = float(np.abs(out).max())
    if peak <= 0.0:
        raise StylepedalError("the rendered clip is silent")
    return (out * (10.0 ** (peak_dbfs / 20.0) / peak)).astype(np.float32)


def render_clip(clip: GuitarClip, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Render one clip with fluidsynth: mono float32 at ``sample_rate``, ``clip.seconds`` long.

    Examples
    --------
    >>> audio = render_clip(EVAL_CLIPS[0])  # doctest: +SKIP
    """
    riff = get_riff(clip.riff)
    with tempfile.TemporaryDirectory() as tmp:
        mid = write_midi(
            riff.events, riff.bpm, clip.program, Path(tmp) / "clip.mid",
            loop_beats=riff.beats, seconds=clip.seconds,
        )
        audio = render_midi(mid, clip.soundfont, sample_rate=sample_rate)
    return finish(audio, clip.seconds, sample_rate, clip.peak_dbfs, fade_seconds=FADE_SECONDS)


def split_description() -> dict[str, Any]:
    """The data split as a JSON-able dict, for self-documenting reports."""
    check_split()
    return {
        "train": {
            "soundfont": TRAIN_SOUNDFONT,
            "programs": {p: PROGRAM_NAMES[p] for p in TRAIN_PROGRAMS},
            "riffs": [r.name for r in TRAIN_RIFFS],
            "clips": len(TRAIN_CLIPS),
            "shipped": "stylepedal/effect/model/data/guitars (load_guitar_corpus)",
        },
        "eval": {
            "soundfont": EVAL_SOUNDFONT,
            "programs": {p: PROGRAM_NAMES[p] for p in EVAL_PROGRAMS},
            "riffs": [r.name for r in EVAL_RIFFS],
            "clips": len(EVAL_CLIPS),
        },
        "rendering": (
            f"mido MIDI -> fluidsynth -g {FLUIDSYNTH_GAIN}, reverb and chorus off, "
            f"{SAMPLE_RATE} Hz mono; trimmed, {FADE_SECONDS * 1000:.0f} ms fade-out, peak "
            "-30..-6 dBFS"
        ),
        "disjoint": "train and eval share no riff, no GM program and no soundfont",
    }
