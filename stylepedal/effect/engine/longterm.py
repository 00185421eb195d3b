"""Long-term spectra on the model grid: what the colour stage and a render's hindsight colour
measure and match.

- :func:`match_log_gain`: the one gain law of the static EQ-match
  (:mod:`stylepedal.effect.research.eq`) and the hindsight colour;
- :func:`hann_spectra`, :func:`sharp_frames`, :func:`long_term_power`: sharp (Hann-window)
  long-term spectra, a style's and a render's input's (the low-delay analysis window's leakage
  would fill the valleys between harmonics);
- :class:`InputProfile`, :func:`learnt`: the input's long-term spectrum learnt ahead of playing
  it (``StyleTransfer.learn_input``), from which a new stream's colour starts;
- :func:`unit_spectrum`: a long-term spectrum checked and scaled to 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import ParameterError
from .constants import MODEL_BINS
from .fft import rfft
from .stft import StftConfig

__all__ = [
    "EQ_FLOOR_DB", "FrameSample", "InputProfile", "clip_sharp_power", "hann_spectra", "learnt",
    "long_term_power", "match_log_gain", "frame_stats", "seeds_scale", "sharp_frames",
    "unit_spectrum",
]

# The static EQ-match's content floor (dB re its loudest bin): bins the content hardly has do
# not get an unbounded gain.
EQ_FLOOR_DB = -60.0


def match_log_gain(
    target: np.ndarray, power: np.ndarray, floor_db: float = EQ_FLOOR_DB
) -> np.ndarray:
    """The per-bin gain (natural log) that gives a long-term spectrum ``power`` the shape of
    ``target``: ``log sqrt(target / power)``, ``power`` first raised to ``floor_db`` below its
    loudest bin. The one gain law of the static EQ-match and the hindsight colour.

    Examples
    --------
    >>> g = match_log_gain(np.array([4.0, 1.0, 1.0]), np.array([1.0, 1.0, 0.0]))
    >>> np.round(np.exp(g), 3).tolist()
    [2.0, 1.0, 1000.0]
    """
    power = np.asarray(power, dtype=np.float64)
    floored = np.maximum(power, power.max() * 10.0 ** (floor_db / 10.0))
    with np.errstate(divide="ignore"):
        return 0.5 * (np.log(np.asarray(target, dtype=np.float64)) - np.log(floored))


def hann_spectra(buf: np.ndarray, config: StftConfig, frames: np.ndarray) -> Iterator[np.ndarray]:
    """The frames ``frames`` (indices; frame ``i`` of ``buf`` ``(channels, n)`` starts at
    ``i * hop``) through a Hann window of the analysis size, a batch at a time: their power
    per model bin, ``(channels, batch, MODEL_BINS)`` float64. The sharp spectrum: the low-delay
    analysis window's leakage would fill the valleys between harmonics."""
    from numpy.lib.stride_tricks import sliding_window_view

    n_fft, hop = config.n_fft, config.hop_length
    window = np.hanning(n_fft + 1)[:-1]  # periodic, as librosa's
    view = sliding_window_view(buf, n_fft, axis=-1)[:, ::hop]
    for start in range(0, len(frames), _HANN_BATCH):
        spec = rfft(view[:, frames[start : start + _HANN_BATCH]] * window)
        yield np.abs(spec[..., :MODEL_BINS]) ** 2


def seeds_scale(config: StftConfig) -> float:
    """The factor that puts a Hann frame's power on ``config`` at the seeds' scale (their
    ``|STFT|`` at ``n_fft=2048``, whatever this grid's analysis size)."""
    return (2048.0 / config.n_fft) ** 2


def sharp_frames(config: StftConfig, first: int, k: int) -> np.ndarray:
    """Which of the ``k`` frames from the stream's frame ``first`` on the sharp spectrum
    measures (their indices from 0): every frame a quarter of the analysis size apart, the
    usual Hann overlap (every hop would cost a render four times as much for nothing)."""
    step = max(1, config.n_fft // 4 // config.hop_length)
    return np.flatnonzero((first + np.arange(k)) % step == 0)


_HANN_BATCH = 256  # frames per FFT call: bounded memory for a long clip


# The frame sample a render's Gram fit reads: runs of this many sharp frames (2.7 s; the fit's
# features span up to 17), at most this many runs (16 s): its cost and memory stay bounded
# however long the input.
SAMPLE_RUN_FRAMES = 128
SAMPLE_MAX_RUNS = 6


@dataclass
class FrameSample:
    """Runs of consecutive frames spread evenly over a stream of any length: every
    ``stride``-th run is kept, and when more than :data:`SAMPLE_MAX_RUNS` are, every other one
    is dropped and the stride doubles (so the runs kept always start ``stride`` runs apart).

    Examples
    --------
    >>> sample = FrameSample()
    >>> sample.add(np.ones((130 * 100, 2), np.float32))
    >>> len(sample.runs), sample.stride, sample.runs[0].shape
    (4, 32, (128, 2))
    >>> [r.shape[0] for r in sample.pieces()][-1]
    128
    """

    runs: list[np.ndarray] = field(default_factory=list)
    filling: list[np.ndarray] = field(default_factory=list)  # the run under way's frames
    stride: int = 1
    done: int = 0  # runs completed, kept or not
    position: int = 0  # frames of the run under way so far, kept or not

    def add(self, frames: np.ndarray) -> None:
        """Append ``frames`` ``(k, bins)`` to the stream."""
        while frames.shape[0]:
            take = min(SAMPLE_RUN_FRAMES - self.position, frames.shape[0])
            if self.done % self.stride == 0:
                self.filling.append(np.array(frames[:take], dtype=np.float32))
            frames = frames[take:]
            self.position += take
            if self.position == SAMPLE_RUN_FRAMES:
                if self.filling:
                    self.runs.append(np.concatenate(self.filling))
                self.filling, self.position = [], 0
                self.done += 1
                if len(self.runs) > SAMPLE_MAX_RUNS:
                    self.runs = self.runs[::2]
                    self.stride *= 2

    def pieces(self) -> list[np.ndarray]:
        """The kept runs, and the run under way if it was to be kept (it may be shorter)."""
        tail = [np.concatenate(self.filling)] if self.filling else []
        return self.runs + tail


@dataclass
class InputProfile:
    """The input's long-term spectrum learnt ahead of playing it (an offline render knows the
    whole input), all channels pooled: a new stream's colour stage starts from it."""

    sample_rate: int
    hop_length: int
    power: np.ndarray  # (MODEL_BINS,) float64 sum of the frames' power, weighted by activity
    weight: float  # sum of the weights
    tail: np.ndarray  # (channels, n) float32 the samples a next chunk's frames start with
    sharp: np.ndarray  # (MODEL_BINS,) float64 sum of frames' power through a Hann window
    sharp_frames: int = 0  # frames (of all channels) in ``sharp``
    frames: int = 0  # frames learnt (per channel): where the next chunk's frames start
    # the sharp frames' power (channels' mean, at the seeds' scale), for a render's Gram fit
    sample: FrameSample = field(default_factory=FrameSample)
    # a render's Gram fit of it: (the model's fit, frames learnt then, the gain), see Colour
    fitted: tuple[Any, int, np.ndarray | None] | None = None

    @classmethod
    def empty(cls, config: StftConfig, channels: int) -> InputProfile:
        tail = np.zeros((channels, config.n_fft - config.hop_length), dtype=np.float32)
        return cls(config.sample_rate, config.hop_length, np.zeros(MODEL_BINS), 0.0, tail,
                   np.zeros(MODEL_BINS))

    def fits(self, config: StftConfig) -> bool:
        """Learnt on this grid (rate and hop)."""
        return (self.sample_rate, self.hop_length) == (config.sample_rate, config.hop_length)

    @property
    def seconds(self) -> float:
        """Active input learnt, in seconds per channel."""
        return self.weight / self.tail.shape[0] * self.hop_length / self.sample_rate

    def learn(
        self, x: np.ndarray, config: StftConfig, floor_db: float, *, sharp: bool = False
    ) -> None:
        """Add the frames ``x`` (``(channels, n)``, after the chunks before it) completes;
        with ``sharp``, to the sharp spectrum too (a hindsight colour's)."""
        hop = config.hop_length
        buf = np.concatenate((self.tail, x), axis=1)
        k = (buf.shape[1] - (config.n_fft - hop)) // hop
        if k > 0:
            channels = buf.shape[0]
            power, weight = np.zeros((channels, MODEL_BINS)), np.zeros(channels)
            frame_stats(buf, config, k, floor_db, 1.0, power, weight)
            self.power += power.sum(axis=0)
            self.weight += float(weight.sum())
            if sharp:
                picked = sharp_frames(config, self.frames, k)
                for power in hann_spectra(buf, config, picked):
                    self.sharp += power.sum(axis=(0, 1))
                    self.sample.add(power.mean(axis=0) * seeds_scale(config))
                self.sharp_frames += picked.size * channels
            self.frames += k
        self.tail = buf[:, max(k, 0) * hop :]

    @property
    def long_term(self) -> np.ndarray | None:
        """The mean power per model bin through a Hann window (every frame counts, as in
        the static EQ-match), or None before a frame is complete or if not learnt sharp."""
        return None if self.sharp_frames == 0 else self.sharp / self.sharp_frames


def long_term_power(clips: list[np.ndarray], sample_rate: int) -> np.ndarray:
    """The long-term power per model bin (``(MODEL_BINS,)``, summing to 1) of mono clips at
    ``sample_rate``, their frames pooled, through a Hann window (:func:`hann_spectra`): a
    style's sharp spectrum, measured as :class:`InputProfile` measures a render's input.

    Examples
    --------
    >>> t = np.arange(22050) / 22050
    >>> p = long_term_power([np.sin(2 * np.pi * 1500 * t).astype(np.float32)], 22050)
    >>> p.shape, int(np.argmax(p)) == round(1500 / (300 / 28))
    ((1030,), True)
    """
    powers = [clip_sharp_power(clip, sample_rate) for clip in clips]
    total = sum((p.sum(axis=0) for p in powers), np.zeros(MODEL_BINS))
    frames = sum(p.shape[0] for p in powers)
    if frames == 0 or total.sum() <= 0:
        raise ParameterError(
            f"clips of {[np.size(c) for c in clips]} samples hold no audible frame of "
            f"{StftConfig.for_rate(sample_rate).n_fft} samples: pass longer or louder audio"
        )
    return total / total.sum()


def clip_sharp_power(clip: np.ndarray, sample_rate: int) -> np.ndarray:
    """The sharp frames' power of a mono clip (``(frames, MODEL_BINS)`` float64; no frame if
    it is shorter than an analysis window), as :class:`InputProfile` measures its input."""
    config = StftConfig.for_rate(sample_rate)
    x = np.asarray(clip, dtype=np.float32)[np.newaxis]
    k = (x.shape[1] - config.n_fft) // config.hop_length + 1
    if k <= 0:
        return np.zeros((0, MODEL_BINS))
    picked = sharp_frames(config, 0, k)
    return np.concatenate([p[0] for p in hann_spectra(x, config, picked)])


def learnt(
    profile: InputProfile | None,
    x: np.ndarray,
    config: StftConfig,
    floor_db: float,
    *,
    sharp: bool = False,
) -> InputProfile:
    """``profile`` after learning ``x`` (``(channels, n)``; ``sharp``: the Hann spectrum
    too): a new one when there is none or it was learnt on another grid or with another
    channel count."""
    if profile is None or not profile.fits(config) or profile.tail.shape[0] != x.shape[0]:
        profile = InputProfile.empty(config, x.shape[0])
    profile.learn(x, config, floor_db, sharp=sharp)
    return profile


def unit_spectrum(power: np.ndarray, name: str) -> np.ndarray:
    """A model-grid long-term power spectrum, checked (errors name ``name``), to 1, floored."""
    power = np.asarray(power, dtype=np.float64)
    if power.shape != (MODEL_BINS,) or not np.all(np.isfinite(power)) or power.min() < 0:
        raise ParameterError(
            f"{name} of shape {power.shape} must be {MODEL_BINS} finite non-negative powers "
            "(a style's long-term spectrum on the model grid)"
        )
    return np.maximum(power / max(power.sum(), 1e-30), 1e-12)


def frame_stats(
    buf: np.ndarray,
    config: StftConfig,
    k: int,
    floor_db: float,
    decay: float,
    power: np.ndarray,
    weight: np.ndarray,
) -> np.ndarray:
    """The ``k`` frames ``buf`` holds into ``power`` and ``weight`` (``kernels.colour_stats``:
    each frame's power weighted by its activity, the sums decayed by ``decay`` a frame);
    returns each frame's activity ``(channels, k)``."""
    from . import kernels
    from .stft import frames as frames_of

    active = np.empty((buf.shape[0], k), dtype=np.float32)
    kernels.colour_stats(rfft(frames_of(buf, config, k)), config.level_scale32, floor_db,
                         decay, power, weight, active)
    return active
