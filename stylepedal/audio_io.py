"""Audio files in and out: one reader and one (atomic) writer for the whole package.

Both go through :class:`pedalboard.io.AudioFile` (wav, flac, ogg, mp3, aiff; the format follows
the extension). Reading gives float32 ``(channels, frames)`` (or ``(frames,)`` with
``mono=True``), optionally resampled with ``librosa.resample`` and cropped; a missing, corrupt or
unsupported file is an :class:`~stylepedal.errors.AudioFileError` naming the file, NaN/Inf
samples a :class:`~stylepedal.errors.ParameterError`. A FIFO, device or folder is refused
without being opened, and a file whose container holds fewer frames than its header claims
(truncated, or a lying header) is an :class:`~stylepedal.errors.AudioFileError` saying both
numbers, before anything is decoded. Writing goes through
:func:`stylepedal._atomic.atomic_output`: the temporary file is read back and checked (frames,
channels, rate) before it replaces the target, so the target is the complete new file or
untouched.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_output, check_output_target, check_regular_file
from ._audio_headers import frames_present
from ._validate import as_audio_2d, check_range, check_sample_rate
from .errors import AudioFileError, ParameterError

__all__ = [
    "FORMATS",
    "bit_depth_for",
    "check_output_path",
    "check_writable",
    "open_audio",
    "read_audio",
    "verify_written",
    "write_audio",
]

FORMATS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
log = logging.getLogger(__name__)

# Formats with an integer/float sample resolution to choose; ogg and mp3 are lossy codecs.
_BIT_DEPTH_FORMATS = (".wav", ".flac", ".aiff", ".aif")
# What the MP3 encoder (LAME) can hold: mono or stereo at the MPEG sample rates.
MP3_MAX_CHANNELS = 2
MP3_SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def _check_format(path: Path, what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise AudioFileError(
            f"{what} {str(path)!r} has an unsupported format {path.suffix or '(none)'!r}: "
            f"use an extension such as .wav (allowed are {', '.join(FORMATS)})"
        )
    return suffix


def check_output_path(
    path: str | os.PathLike[str],
    *,
    name: str = "output",
    inputs: Sequence[str | os.PathLike[str]] = (),
    overwrite: bool | None = None,
    option: str = "--overwrite",
) -> Path:
    """Check that ``path`` can take an audio file (a known extension, an existing folder)
    before any slow work produces what goes in it.

    With ``inputs``, ``path`` must not be one of them (through links and other spellings
    too); with ``overwrite=False`` it must not exist (the error names ``option``, how to
    replace it; see :func:`stylepedal._atomic.check_output_target`).

    Raises
    ------
    AudioFileError
        for an unsupported extension, a missing folder, an input as output, or an existing
        file without ``overwrite``.

    Examples
    --------
    >>> check_output_path("out.flac").name
    'out.flac'
    """
    p = Path(path)
    _check_format(p, f"{name} file")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise AudioFileError(f"output folder {str(folder)!r} does not exist")
    if inputs or overwrite is not None:
        check_output_target(p, inputs, overwrite=True if overwrite is None else overwrite,
                            error=AudioFileError, option=option)
    return p


def bit_depth_for(suffix: str, source_dtype: str = "float32") -> int:
    """The sample resolution that keeps a ``source_dtype`` signal's where the format can hold
    it: 16 bits for 8/16-bit sources, 32-bit float in WAV, else 24 bits.

    Examples
    --------
    >>> bit_depth_for(".wav"), bit_depth_for(".flac"), bit_depth_for(".wav", "int16")
    (32, 24, 16)
    """
    if source_dtype in ("int8", "uint8", "int16"):
        return 16
    if suffix.lower() == ".wav" and source_dtype.startswith("float"):
        return 32
    return 24


def open_audio(path: str | os.PathLike[str], *, name: str = "input") -> Any:
    """Open an audio file for (streaming) reading, with clear errors.

    Parameters
    ----------
    path : path-like
        A wav, flac, ogg, mp3 or aiff file.
    name : str
        What the file is, for error messages (``"input"``, ``"style"``).

    Returns
    -------
    pedalboard.io.ReadableAudioFile
        Open; use it as a context manager (``with open_audio(p) as f: f.read(n)``).

    Raises
    ------
    AudioFileError
        if the file is missing, has an unsupported extension, or cannot be decoded.

    Examples
    --------
    >>> import tempfile, os
    >>> p = write_audio(os.path.join(tempfile.mkdtemp(), "a.wav"), np.zeros(8, np.float32), 8000)
    >>> with open_audio(p) as f:
    ...     f.num_channels, f.frames
    (1, 8)
    """
    from pedalboard.io import AudioFile

    p = check_regular_file(path, what=f"{name} file", error=AudioFileError)
    _check_format(p, f"{name} file")
    try:
        f = AudioFile(str(p))
    except (OSError, ValueError, RuntimeError) as exc:
        raise AudioFileError(
            f"{name} file {str(p)!r} cannot be read as audio (corrupt or unsupported): {exc}"
        ) from exc
    if f.num_channels < 1 or f.samplerate <= 0:
        f.close()
        raise AudioFileError(f"{name} file {str(p)!r} has no audio channels")
    claimed = int(f.frames)
    present = frames_present(p, claimed)
    if present is not None and present < claimed:
        f.close()
        raise AudioFileError(
            f"{name} file {str(p)!r} is truncated or damaged: its header claims {claimed} "
            f"frames but the file holds data for {present}; re-export or repair it"
        )
    return f


def check_writable(path: str | os.PathLike[str], sample_rate: int, channels: int) -> None:
    """Refuse, before any work, audio that the output format cannot hold (MP3: at most two
    channels, at an MPEG sample rate).

    Raises
    ------
    AudioFileError
        naming the file, what it would get and what the format allows.

    Examples
    --------
    >>> check_writable("out.mp3", 44100, 2)
    >>> try:
    ...     check_writable("out.mp3", 96000, 2)
    ... except AudioFileError as exc:
    ...     print(str(exc)[:43])
    output 'out.mp3' cannot hold 96000 Hz audio
    """
    p = Path(path)
    if p.suffix.lower() != ".mp3":
        return
    if channels > MP3_MAX_CHANNELS:
        raise AudioFileError(
            f"output {str(p)!r} cannot hold {channels} channels: MP3 allows at most "
            f"{MP3_MAX_CHANNELS}; write .wav or .flac instead"
        )
    if sample_rate not in MP3_SAMPLE_RATES:
        raise AudioFileError(
            f"output {str(p)!r} cannot hold {sample_rate} Hz audio: MP3 allows "
            f"{', '.join(map(str, MP3_SAMPLE_RATES))} Hz; write .wav or .flac instead"
        )


def verify_written(
    path: str | os.PathLike[str],
    *,
    frames: int,
    channels: int,
    sample_rate: int,
    target: str | os.PathLike[str] | None = None,
) -> None:
    """Read back a just-written audio file and check it holds what was written.

    Lossless formats must hold exactly ``frames``; MP3 and Ogg at least as many (their
    codecs pad the last block). The container is checked too, so a file cut short by a full
    disk, whose header still claims every frame, is caught.

    Raises
    ------
    AudioFileError
        naming ``target`` (default ``path``), what was meant and what was found.
    """
    from pedalboard.io import AudioFile

    shown = str(target if target is not None else path)
    try:
        with AudioFile(str(path)) as f:
            got_frames, got_channels = int(f.frames), int(f.num_channels)
            got_rate = int(round(f.samplerate))
    except (OSError, ValueError, RuntimeError) as exc:
        raise AudioFileError(
            f"cannot write {shown!r}: the written file does not read back ({exc}; disk "
            "full?); the old file, if any, is unchanged"
        ) from exc
    present = frames_present(path, got_frames)
    if present is not None:  # the header is written last: it may claim what is not there
        got_frames = min(got_frames, present)
    lossy = Path(path).suffix.lower() in (".mp3", ".ogg")
    short = got_frames < frames if lossy else got_frames != frames
    if short or got_channels != channels or got_rate != sample_rate:
        raise AudioFileError(
            f"cannot write {shown!r}: wrote {frames} frames, {channels} channels at "
            f"{sample_rate} Hz but the file holds {got_frames} frames, {got_channels} "
            f"channels at {got_rate} Hz (disk full?); the old file, if any, is unchanged"
        )


def read_audio(
    path: str | os.PathLike[str],
    *,
    sample_rate: int | None = None,
    mono: bool = False,
    seconds: float | None = None,
    name: str = "audio",
) -> tuple[np.ndarray, int]:
    """Read an audio file as float32, optionally as mono, resampled and cropped.

    Parameters
    ----------
    path : path-like
        A wav, flac, ogg, mp3 or aiff file.
    sample_rate : int or None
        Rate to return, resampling with ``librosa.resample`` if the file's differs
        (None: the file's own rate).
    mono : bool
        Average the channels and return ``(frames,)``; otherwise ``(channels, frames)``.
    seconds : float or None
        Keep only the first ``seconds`` (None: the whole file).
    name : str
        What the file is, for error messages (``"style"``, ``"content"``).

    Returns
    -------
    (np.ndarray, int)
        The audio and its sample rate.

    Raises
    ------
    AudioFileError
        if the file is missing, unsupported, cannot be decoded or holds no samples.
    ParameterError
        if it holds NaN/Inf samples, or for a bad ``sample_rate``/``seconds``.

    Examples
    --------
    >>> import tempfile, os
    >>> p = write_audio(os.path.join(tempfile.mkdtemp(), "a.wav"),
    ...                 np.zeros((2, 800), np.float32), 8000)
    >>> read_audio(p)[0].shape, read_audio(p, mono=True, sample_rate=4000)[0].shape
    ((2, 800), (400,))
    """
    if sample_rate is not None:
        sample_rate = check_sample_rate(sample_rate)
    if seconds is not None:
        seconds = check_range(seconds, "seconds", 1e-3, 24 * 3600.0)
    p = Path(path)
    with open_audio(p, name=name) as f:
        file_rate = int(round(f.samplerate))
        n = int(f.frames)
        if seconds is not None:
            n = min(n, int(math.ceil(seconds * f.samplerate)))
        if n <= 0:  # pedalboard's read(0) means "everything", and refuses it
            raise AudioFileError(f"{name} file {str(p)!r} holds no samples")
        try:
            audio = f.read(n)
        except (OSError, ValueError, RuntimeError) as exc:
            raise AudioFileError(
                f"{name} file {str(p)!r} cannot be read as audio (corrupt or unsupported): {exc}"
            ) from exc
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2 or audio.shape[-1] == 0:
        raise AudioFileError(f"{name} file {str(p)!r} holds no samples")
    if not np.isfinite(audio).all():
        bad = int((~np.isfinite(audio)).sum())
        raise ParameterError(
            f"{name} file {str(p)!r} holds {bad} NaN/Inf samples: repair or re-export it"
        )
    if mono:
        audio = audio.mean(axis=0)
    rate = file_rate
    if sample_rate is not None and sample_rate != file_rate:
        import librosa

        audio = librosa.resample(audio, orig_sr=file_rate, target_sr=sample_rate)
        rate = sample_rate
    if seconds is not None:
        audio = audio[..., : int(round(seconds * rate))]
    return np.ascontiguousarray(audio, dtype=np.float32), rate


def write_audio(
    path: str | os.PathLike[str],
    audio: np.ndarray,
    sample_rate: int,
    *,
    overwrite: bool = True,
    bit_depth: int | None = None,
    scale_to_fit: bool = False,
    name: str = "output",
) -> Path:
    """Write audio atomically with ``pedalboard.io.AudioFile``; the format follows the extension.

    Parameters
    ----------
    path : path-like
        ``.wav``, ``.flac``, ``.ogg``, ``.mp3``, ``.aiff`` or ``.aif``; its folder must exist.
    audio : np.ndarray
        float ``(frames,)`` or ``(channels, frames)`` (pedalboard layout), finite.
    sample_rate : int
        Sample rate in Hz.
    overwrite : bool
        With False, an existing ``path`` is an :class:`AudioFileError` (and untouched).
    bit_depth : int or None
        Sample resolution for wav/flac/aiff (32 is float, WAV only); None: pedalboard's
        default (16-bit). Ignored for ogg and mp3.
    scale_to_fit : bool
        Scale a signal whose peak is above 1.0 down to a 0.99 peak, so that integer formats
        do not clip it (the optimiser's output can exceed full scale).
    name : str
        What the file is, for error messages.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    AudioFileError
        for a missing folder, an unsupported extension, an existing file without
        ``overwrite``, or a failed write.
    ParameterError
        for NaN/Inf samples or a bad ``sample_rate``.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> write_audio(os.path.join(d, "a.flac"), np.zeros(100, np.float32), 8000).name
    'a.flac'
    """
    from pedalboard.io import AudioFile

    p = Path(path)
    sample_rate = check_sample_rate(sample_rate)
    data, _ = as_audio_2d(audio)
    if not np.isfinite(data).all():
        raise ParameterError(f"audio to write to {str(p)!r} holds NaN/Inf samples")
    check_output_path(p, name=name)
    suffix = p.suffix.lower()
    peak = float(np.abs(data).max()) if scale_to_fit and data.size else 0.0
    if peak > 1.0:
        log.info("output peak %.2f > 1: scaled to 0.99 to avoid clipping", peak)
        data = data * np.float32(0.99 / peak)
    kwargs: dict[str, Any] = {}
    if bit_depth is not None and suffix in _BIT_DEPTH_FORMATS:
        kwargs["bit_depth"] = bit_depth
    check_writable(p, sample_rate, data.shape[0])

    def verify(tmp: Path) -> None:
        verify_written(tmp, frames=data.shape[1], channels=data.shape[0],
                       sample_rate=sample_rate, target=p)

    with atomic_output(p, overwrite=overwrite, error=AudioFileError, verify=verify) as tmp:
        try:
            with AudioFile(str(tmp), "w", sample_rate, num_channels=data.shape[0], **kwargs) as f:
                f.write(data)
        except (OSError, ValueError, RuntimeError) as exc:
            raise AudioFileError(f"cannot write {name} file {str(p)!r}: {exc}") from exc
    return p
