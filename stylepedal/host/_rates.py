"""Files at any sample rate: a rate the engine cannot run at is resampled at the boundary.

The engine runs at multiples of 75 Hz from 22050 to 384000 Hz, where its analysis grid fits
the rate exactly (:func:`~stylepedal.effect.engine.stft.supported_sample_rate`). A render reads
a file at another rate (32 kHz, 11.025 kHz, 8 kHz...) resampled to the nearest common rate
above it (:func:`processing_rate`, :class:`ResampledReader`), and writes the result back at
the file's own rate with exactly the input's length (:class:`RateRestorer`); both stream, so
memory stays flat for any length. Live, the device's rate is the stream's: a rate the engine
cannot run at is a :class:`~stylepedal.errors.DeviceError` that says which rates to set.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..effect.engine.constants import MAX_SAMPLE_RATE
from ..effect.engine.stft import supported_sample_rate
from ..errors import DeviceError

__all__ = [
    "COMMON_RATES",
    "RateRestorer",
    "ResampledReader",
    "at_processing_rate",
    "check_device_rate",
    "processing_rate",
    "resample",
]

# the rates a file is resampled to, the lowest first; the engine runs at each
COMMON_RATES: tuple[int, ...] = (22050, 44100, 48000, 88200, 96000, 176400, 192000, 352800,
                                 384000)


def processing_rate(sample_rate: int) -> int:
    """The rate a file at ``sample_rate`` is rendered at: its own if the engine runs at it,
    else the lowest of :data:`COMMON_RATES` above it (nothing of the file's band is lost),
    or the highest for a rate above them all.

    Examples
    --------
    >>> processing_rate(48000), processing_rate(32000), processing_rate(11025)
    (48000, 44100, 22050)
    >>> processing_rate(37800)  # a multiple of 75 Hz: the engine runs at it
    37800
    """
    if supported_sample_rate(sample_rate):
        return sample_rate
    return next((r for r in COMMON_RATES if r >= sample_rate), MAX_SAMPLE_RATE)


def at_processing_rate(reader: Any) -> Any:
    """An open :class:`pedalboard.io.ReadableAudioFile` as read at its
    :func:`processing_rate`: itself, or a :class:`ResampledReader` over it."""
    file_rate = int(round(reader.samplerate))
    rate = processing_rate(file_rate)
    if rate == file_rate and reader.samplerate == file_rate:
        return reader
    return ResampledReader(reader, rate)


def resample(audio: np.ndarray, from_rate: float, to_rate: float) -> np.ndarray:
    """``(channels, frames)`` float32 audio at another rate, aligned, in one call: the
    length is ``frames * to_rate / from_rate`` rounded.

    Examples
    --------
    >>> resample(np.zeros((1, 32000), np.float32), 32000, 44100).shape
    (1, 44100)
    """
    x = np.ascontiguousarray(audio, dtype=np.float32)
    if from_rate == to_rate:
        return x
    frames = int(round(x.shape[1] * to_rate / from_rate))
    out = RateRestorer(_Collect(), from_rate, to_rate, channels=x.shape[0], frames=frames)
    out.write(x)
    out.finish()
    return out.writer.audio(x.shape[0])


def _stream(from_rate: float, to_rate: float, channels: int) -> Any:
    # soxr (which librosa brings) streams aligned to the input sample, with no fractional
    # delay; pedalboard's StreamResampler shifts the signal by part of a sample
    import soxr

    return soxr.ResampleStream(float(from_rate), float(to_rate), int(channels),
                               dtype="float32", quality="HQ")


def _resample_chunk(stream: Any, audio: np.ndarray, *, last: bool) -> np.ndarray:
    """``(channels, frames)`` in, ``(channels, frames')`` out (soxr works frames-first)."""
    y = stream.resample_chunk(np.ascontiguousarray(audio.T, dtype=np.float32), last=last)
    return np.ascontiguousarray(np.asarray(y, dtype=np.float32).reshape(-1, audio.shape[0]).T)


class ResampledReader:
    """An open audio file read at another rate, chunk by chunk, with the read interface of
    :class:`pedalboard.io.ReadableAudioFile` that rendering uses (``read``, ``frames``,
    ``samplerate``, ``num_channels``, ``file_dtype``): exactly ``frames`` frames in all.

    Examples
    --------
    >>> import io
    >>> from pedalboard.io import AudioFile
    >>> buf = io.BytesIO()
    >>> with AudioFile(buf, "w", samplerate=32000, num_channels=2, format="wav") as f:
    ...     f.write(np.zeros((2, 32001), np.float32))
    >>> r = ResampledReader(AudioFile(io.BytesIO(buf.getvalue()), "r"), 44100)
    >>> r.frames, r.read(50000).shape
    (44101, (2, 44101))
    """

    def __init__(self, source: Any, sample_rate: int) -> None:
        self._source = source
        self.samplerate = float(sample_rate)
        self.num_channels = int(source.num_channels)
        self.file_dtype = source.file_dtype
        self._ratio = sample_rate / float(source.samplerate)
        self.frames = int(round(int(source.frames) * self._ratio))
        self._stream = _stream(source.samplerate, sample_rate, self.num_channels)
        self._held = np.zeros((self.num_channels, 0), np.float32)
        self._left = self.frames  # frames still to hand out
        self._ended = False
        self.source_frames_read = 0

    def read(self, frames: int) -> np.ndarray:
        """Up to ``frames`` frames, float32 ``(channels, n)``; ``n`` is 0 at the end."""
        frames = min(int(frames), self._left)
        while self._held.shape[1] < frames and not self._ended:
            want = max(1, int(np.ceil((frames - self._held.shape[1]) / self._ratio)))
            x = np.asarray(self._source.read(want), dtype=np.float32)
            self._ended = x.shape[-1] == 0
            self.source_frames_read += x.shape[-1] if x.ndim == 2 else 0
            if self._ended:
                x = np.zeros((self.num_channels, 0), np.float32)
            y = _resample_chunk(self._stream, x, last=self._ended)
            self._held = np.concatenate([self._held, y], axis=1)
        if self._held.shape[1] < frames:
            if self.source_frames_read < int(self._source.frames):
                # the file ended before its header said: hand out what it held, padding
                # nothing (a shortfall stays visible to whoever counts the frames)
                self._left = frames = self._held.shape[1]
            else:  # the resampler's rounding: silence after the end
                pad = frames - self._held.shape[1]
                self._held = np.pad(self._held, ((0, 0), (0, pad)))
        out, self._held = self._held[:, :frames], self._held[:, frames:]
        self._left -= frames
        return out


class _Collect:
    """A writer that keeps what it is given (for :func:`resample`)."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []

    def write(self, audio: np.ndarray) -> None:
        self.parts.append(audio)

    def audio(self, channels: int) -> np.ndarray:
        if not self.parts:
            return np.zeros((channels, 0), np.float32)
        return np.ascontiguousarray(np.concatenate(self.parts, axis=1))


class RateRestorer:
    """Writes audio rendered at ``from_rate`` into ``writer`` at ``to_rate``, exactly
    ``frames`` frames in all (call :meth:`finish` after the last block): the resampler's
    rounding is trimmed, or padded with silence, at the end.

    With equal rates every block goes to the writer unchanged.

    Examples
    --------
    >>> class Sink:
    ...     n = 0
    ...     def write(self, y): Sink.n += y.shape[1]
    >>> out = RateRestorer(Sink(), 44100, 32000, channels=1, frames=32001)
    >>> out.write(np.zeros((1, 44101), np.float32)); out.finish(); Sink.n
    32001
    """

    def __init__(self, writer: Any, from_rate: float, to_rate: float, *, channels: int,
                 frames: int) -> None:
        self.writer = writer
        self._left = int(frames)
        self._channels = int(channels)
        self._stream = None if from_rate == to_rate else _stream(from_rate, to_rate, channels)

    def write(self, audio: np.ndarray) -> None:
        """Write one block (float32 ``(channels, frames)`` at ``from_rate``)."""
        if self._stream is None:
            self.writer.write(audio)
            return
        self._put(_resample_chunk(self._stream, audio, last=False))

    def finish(self, *, short_by: int = 0) -> None:
        """Write what the resampler still holds, then silence up to ``frames`` (less
        ``short_by``: a file that ended early is not padded back to its header's length)."""
        if self._stream is None:
            return
        self._put(_resample_chunk(self._stream, np.zeros((self._channels, 0), np.float32),
                                  last=True))
        self._left -= max(int(short_by), 0)
        if self._left > 0:
            self.writer.write(np.zeros((self._channels, self._left), np.float32))
        self._left = 0

    def _put(self, audio: np.ndarray) -> None:
        audio = audio[:, : max(self._left, 0)]
        if audio.shape[1]:
            self.writer.write(audio)
            self._left -= audio.shape[1]


def check_device_rate(sample_rate: int, *, given: bool = False) -> int:
    """``sample_rate`` if the engine runs at it; else a :class:`DeviceError` that says which
    rates to set the audio device (or the JACK server) to.

    Examples
    --------
    >>> check_device_rate(48000)
    48000
    """
    if supported_sample_rate(sample_rate):
        return sample_rate
    common = ", ".join(str(r) for r in COMMON_RATES[:-2])
    what = (f"--sample-rate={sample_rate}" if given
            else f"the audio device runs at {sample_rate} Hz, which")
    raise DeviceError(
        f"{what} is not a rate stylepedal can play at live: set the audio device (or the JACK "
        f"server, e.g. `jackd -d alsa -r 48000`) to one of {common} Hz (any multiple of 75 Hz "
        f"from 22050 to {MAX_SAMPLE_RATE} Hz works), or pass --sample-rate. Files at other "
        "rates: `stylepedal render` resamples them"
    )
