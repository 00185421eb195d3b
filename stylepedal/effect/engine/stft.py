"""The analysis grid and the low-delay STFT pair every stylepedal model is trained and run on.

Why this design
---------------
*One model for every sample rate.* The bin spacing is fixed at ``GRID_HZ = 300/28 = 10.714 Hz``
(``n_fft = sample_rate * 28 / 300``: 4116 at 44.1 kHz, 4480 at 48 kHz, 2058 at 22.05 kHz) and
the model's frame rate at one frame per ~5.333 ms (256 samples at 48 kHz). The model sees only
the 1030 bins from 0 to
11025 Hz (the band of the seeds' 22.05 kHz spectrograms) as ``log1p(1024 |X| / sum(w))`` frames,
which for a Hann-2048 window is exactly the seeds' ``log1p(|STFT|)``. The rate must be a multiple
of 75 Hz (so ``n_fft`` is an integer) and at least 22050 Hz (so the model band exists).

*Fine frequency resolution at pedal latency.* A symmetric window of 4480 samples would cost
~93 ms of delay. Like low-delay speech enhancement (Mauler & Martin 2011; Wang et al. 2022) the
analysis window is asymmetric: a long sqrt-Hann rise and a short sqrt-Hann fall of ``M`` samples,
and the synthesis window is non-zero only on the last ``2M`` samples, with
``analysis * synthesis = Hann(2M)``, which overlap-adds to a constant at the hop. Only the last
``2M`` samples of each frame reach the output, so the delay is ``2M - 1`` samples. The hop is
``M`` (Hann(2M) overlap-adds to a constant at 50 % overlap):

============== ========== ============= ===================== ===================
latency_mode   hop (48k)  model stride  latency at 48 kHz     latency at 44.1 kHz
============== ========== ============= ===================== ===================
``"default"``  256        1             511 samples, 10.6 ms  471 samples, 10.7 ms
``"low"``      128        2             255 samples, 5.3 ms   235 samples, 5.3 ms
============== ========== ============= ===================== ===================

*Cost.* The hop is as long as the latency allows: every frame costs two 4480-point FFTs and
one network step whatever the hop, so the 5.333 ms hop costs half of what a 2.667 ms hop did
(live and offline). In ``"low"`` mode the STFT runs at half that hop but the model keeps its
frame rate: it sees every second frame (``model_stride = 2``), and the frame in between gets the
log-domain change (per bin) that the model made to the model frame before it.

Framing convention: frame ``k`` (0-based) covers input samples ``[(k+1)*hop - n_fft,
(k+1)*hop)``, zeros before the start. The reconstruction of frame ``k``'s oldest hop is complete
once frame ``k`` is computed and is emitted at output position ``(k+1)*hop - 1``, which is why the
latency is ``2M - 1`` and not ``2M``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from ..._validate import check_choice, check_sample_rate
from ...errors import ParameterError
from .constants import (
    FEATURE_SCALE,
    LATENCY_MODES,
    MAX_LOGMAG,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    MODEL_BINS,
    MODEL_HOP_SECONDS,
)
from .fft import irfft, rfft

__all__ = [
    "StftConfig",
    "analyze",
    "frames",
    "from_logmag",
    "istft",
    "latency_samples",
    "stft",
    "supported_sample_rate",
    "to_logmag",
]

_MODEL_STRIDE = {"default": 1, "low": 2}  # STFT hops per model frame
_SYNTH_HOPS = 2  # synthesis window 2M = two hops


@dataclass(frozen=True, eq=False)
class StftConfig:
    """Everything that defines the STFT pair at one sample rate and latency mode.

    Use :meth:`for_rate`; instances are cached and shared, treat the arrays as read-only.
    """

    sample_rate: int
    latency_mode: str
    n_fft: int
    hop_length: int
    synth_length: int
    model_stride: int  # STFT frames per model frame: 1, or 2 in "low" mode
    analysis_window: np.ndarray = field(repr=False)
    synthesis_window: np.ndarray = field(repr=False)  # the last `synth_length` samples only
    window_sum: float = field(repr=False)
    analysis_window32: np.ndarray = field(repr=False)  # float32 copies for the engine's path
    synthesis_window32: np.ndarray = field(repr=False)
    # float32 factors of the engine's path, derived from window_sum once: linear magnitude to
    # the model feature's log1p argument, back, and a frame's peak magnitude to its level
    feature_scale32: np.float32 = field(repr=False)  # FEATURE_SCALE / window_sum
    magnitude_scale32: np.float32 = field(repr=False)  # window_sum / FEATURE_SCALE
    level_scale32: np.float32 = field(repr=False)  # 2 / window_sum (a full-scale sine: 1)

    @property
    def n_bins(self) -> int:
        """Bins of this rate's real FFT (``n_fft // 2 + 1``)."""
        return self.n_fft // 2 + 1

    @property
    def model_bins(self) -> int:
        return MODEL_BINS

    @property
    def latency_samples(self) -> int:
        """Delay from input to output in samples (``synth_length - 1``)."""
        return self.synth_length - 1

    @property
    def overlap(self) -> int:
        """Synthesis frames overlapping each output sample (``synth_length / hop_length``)."""
        return self.synth_length // self.hop_length

    @property
    def ola_gain(self) -> float:
        """Sum of the overlapped ``Hann(2M)`` windows, which the synthesis divides by."""
        return self.overlap / 2.0

    @staticmethod
    def for_rate(sample_rate: int, latency_mode: str = "default") -> StftConfig:
        """Return the (cached) configuration for ``sample_rate`` and ``latency_mode``.

        Raises
        ------
        ParameterError
            if the rate is below 22050 Hz, above 384 kHz, or not a multiple of 75 Hz.

        Examples
        --------
        >>> cfg = StftConfig.for_rate(48000)
        >>> cfg.n_fft, cfg.hop_length, cfg.latency_samples, cfg.model_stride
        (4480, 256, 511, 1)
        >>> low = StftConfig.for_rate(48000, "low")
        >>> low.hop_length, low.latency_samples, low.model_stride
        (128, 255, 2)
        """
        sample_rate = check_sample_rate(sample_rate)
        latency_mode = check_choice(latency_mode, "latency_mode", LATENCY_MODES)
        return _config(sample_rate, latency_mode)


def supported_sample_rate(sample_rate: int) -> bool:
    """Whether the engine runs at ``sample_rate``: a multiple of 75 Hz from 22050 to 384000 Hz.

    Examples
    --------
    >>> supported_sample_rate(44100), supported_sample_rate(32000)
    (True, False)
    """
    return MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE and sample_rate % 75 == 0


def _check_rate(sample_rate: int) -> None:
    if not supported_sample_rate(sample_rate):
        raise ParameterError(
            f"sample_rate={sample_rate} is not supported: it must be a multiple of 75 Hz between "
            f"{MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz (e.g. 22050, 44100, 48000, 88200, 96000, "
            "176400, 192000), so that the 10.714 Hz analysis grid fits the rate exactly; "
            "resample other rates first"
        )


@functools.lru_cache(maxsize=32)
def _config(sample_rate: int, latency_mode: str) -> StftConfig:
    _check_rate(sample_rate)
    n_fft = sample_rate * 28 // 300
    stride = _MODEL_STRIDE[latency_mode]
    model_hop = 2 * int(round(sample_rate * MODEL_HOP_SECONDS / 2))  # even: "low" halves it
    hop = model_hop // stride
    synth = _SYNTH_HOPS * hop
    half = synth // 2
    rise = n_fft - half  # samples of the slow rise, up to the window's peak
    n = np.arange(n_fft, dtype=np.float64)
    analysis = np.empty(n_fft)
    analysis[:rise] = np.sin(np.pi * n[:rise] / (2.0 * rise))
    analysis[rise:] = np.sin(np.pi * (n[rise:] - (n_fft - synth)) / synth)
    hann = np.sin(np.pi * np.arange(synth) / synth) ** 2  # periodic Hann(2M)
    tail = analysis[n_fft - synth :]
    synthesis = np.divide(hann, tail, out=np.zeros(synth), where=tail > 0)
    analysis32 = analysis.astype(np.float32)
    synthesis32 = synthesis.astype(np.float32)
    for array in (analysis, synthesis, analysis32, synthesis32):
        array.setflags(write=False)
    window_sum = float(analysis.sum())
    return StftConfig(
        sample_rate=sample_rate,
        latency_mode=latency_mode,
        n_fft=n_fft,
        hop_length=hop,
        synth_length=synth,
        model_stride=stride,
        analysis_window=analysis,
        synthesis_window=synthesis,
        window_sum=window_sum,
        analysis_window32=analysis32,
        synthesis_window32=synthesis32,
        feature_scale32=np.float32(FEATURE_SCALE / window_sum),
        magnitude_scale32=np.float32(window_sum / FEATURE_SCALE),
        level_scale32=np.float32(2.0 / window_sum),
    )


def latency_samples(sample_rate: int, latency_mode: str = "default") -> int:
    """Input-to-output delay of the engine in samples.

    Examples
    --------
    >>> latency_samples(48000), latency_samples(48000, "low")
    (511, 255)
    """
    return StftConfig.for_rate(sample_rate, latency_mode).latency_samples


def frames(buffer: np.ndarray, config: StftConfig, n_frames: int) -> np.ndarray:
    """Windowed frames of ``buffer`` (``(..., samples)``): ``(..., n_frames, n_fft)``.

    Frame ``k`` is ``buffer[..., k*hop : k*hop + n_fft]`` times the analysis window; float32
    buffers stay float32 (the engine's path), anything else is float64.
    """
    window = config.analysis_window32 if buffer.dtype == np.float32 else config.analysis_window
    if n_frames == 1:  # the live case: one hop per block, skip the strided view
        return buffer[..., np.newaxis, : config.n_fft] * window
    if buffer.shape[-1] < (n_frames - 1) * config.hop_length + config.n_fft:
        raise ParameterError(
            f"buffer of {buffer.shape[-1]} samples is too short for {n_frames} frames"
        )
    step = buffer.strides[-1]
    view = np.lib.stride_tricks.as_strided(
        buffer,
        shape=(*buffer.shape[:-1], n_frames, config.n_fft),
        strides=(*buffer.strides[:-1], config.hop_length * step, step),
        writeable=False,
    )
    return view * window


def stft(audio: np.ndarray, config: StftConfig) -> np.ndarray:
    """Complex STFT of ``audio`` (``(..., samples)``) with the engine's framing.

    Returns ``(..., frames, n_bins)`` with ``frames = samples // hop``; frame ``k`` ends at
    sample ``(k+1)*hop`` and zeros stand before the start, exactly as in streaming. float32
    audio gives complex64 (the engine's precision), anything else complex128.
    """
    audio = np.asarray(audio)
    if audio.dtype != np.float32:
        audio = audio.astype(np.float64)
    n_frames = audio.shape[-1] // config.hop_length
    pad = [(0, 0)] * (audio.ndim - 1) + [(config.n_fft - config.hop_length, 0)]
    padded = np.pad(audio, pad)
    return rfft(frames(padded, config, n_frames))


def overlap_add(
    tails: np.ndarray, pending: np.ndarray, config: StftConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Overlap-add synthesis-windowed frame tails.

    Parameters
    ----------
    tails : ``(..., n_frames, synth_length)`` the last ``synth_length`` samples of each inverse
        FFT frame, already multiplied by the synthesis window.
    pending : ``(..., overlap - 1, hop)`` partial sums carried from earlier frames.

    Returns
    -------
    (out, pending) : ``(..., n_frames * hop)`` finished samples and the new partial sums.
    """
    hop, r = config.hop_length, config.overlap
    n = tails.shape[-2]
    lead = tails.shape[:-2]
    if n == 1:  # the live case, without the general path's scratch buffer
        tail = tails[..., 0, :]
        out = (pending[..., 0, :] + tail[..., :hop]) / config.ola_gain
        nxt = np.empty_like(pending)
        nxt[..., :-1, :] = pending[..., 1:, :] + tail[..., hop : (r - 1) * hop].reshape(
            *lead, r - 2, hop
        )
        nxt[..., -1, :] = tail[..., (r - 1) * hop :]
        return out, nxt
    segs = tails.reshape(*lead, n, r, hop)
    acc = np.zeros((*lead, n + r - 1, hop), dtype=tails.dtype)
    acc[..., : r - 1, :] = pending
    for j in range(r):
        acc[..., j : j + n, :] += segs[..., :, j, :]
    out = acc[..., :n, :].reshape(*lead, n * hop) / config.ola_gain
    return out, acc[..., n:, :].copy()


def istft(spec: np.ndarray, config: StftConfig, *, delayed: bool = False) -> np.ndarray:
    """Inverse of :func:`stft` with the engine's synthesis (offline).

    Returns ``(..., frames * hop)`` samples. With ``delayed=False`` the output is aligned with
    the original signal (the engine's latency removed; the last ``latency`` samples, which need
    frames after the end, are zero); with ``delayed=True`` it is exactly what the streaming
    engine emits for the same frames.
    """
    n_frames = spec.shape[-2]
    time = irfft(spec, config.n_fft)[..., -config.synth_length :]
    window = config.synthesis_window32 if time.dtype == np.float32 else config.synthesis_window
    tails = time * window
    pending = np.zeros((*spec.shape[:-2], config.overlap - 1, config.hop_length), tails.dtype)
    out, _ = overlap_add(tails, pending, config)
    # `out` sample i is the reconstruction of input sample i + hop - synth; the stream emits
    # it at position i + hop - 1.
    lead = config.hop_length - 1
    total = n_frames * config.hop_length
    full = np.zeros((*spec.shape[:-2], total + config.synth_length), dtype=out.dtype)
    start = lead if delayed else lead - config.latency_samples
    # place out[i] at index start + i, clipped to [0, total)
    lo = max(0, -start)
    full[..., start + lo : start + out.shape[-1]] = out[..., lo:]
    return full[..., :total]


def to_logmag(mag: np.ndarray, config: StftConfig) -> np.ndarray:
    """Model feature of a linear magnitude spectrum: ``log1p(1024 |X| / sum(w))`` on bins
    ``0..1029``, float32."""
    scale = FEATURE_SCALE / config.window_sum
    return np.log1p(mag[..., :MODEL_BINS] * scale).astype(np.float32, copy=False)


def from_logmag(logmag: np.ndarray, config: StftConfig) -> np.ndarray:
    """Linear magnitude of the model bins from the model feature (inverse of :func:`to_logmag`),
    float32."""
    scale = config.magnitude_scale32
    # a model output below 0 means "no energy"
    x = np.maximum(logmag, np.float32(0.0), dtype=np.float32, order="C")  # a new C-order array
    np.minimum(x, np.float32(MAX_LOGMAG), out=x)
    np.expm1(x, out=x)
    x *= scale
    return x


def analyze(audio: np.ndarray, sample_rate: int, *, latency_mode: str = "default") -> np.ndarray:
    """Log-magnitude model frames of a mono signal, exactly as the engine's model sees them.

    Parameters
    ----------
    audio : np.ndarray
        ``(samples,)`` float signal.
    sample_rate : int
        A supported rate (see :class:`StftConfig`).
    latency_mode : str
        ``"default"`` or ``"low"`` (changes the analysis window's short fall).

    Returns
    -------
    np.ndarray
        float32 ``(frames, 1030)``, one frame per model hop (5.333 ms):
        ``frames = len(audio) // (hop_length * model_stride)``.

    Examples
    --------
    >>> x = np.zeros(22050, dtype=np.float32)
    >>> analyze(x, 22050).shape
    (186, 1030)
    """
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ParameterError(f"audio.ndim={audio.ndim} must be 1 (a mono signal) for analyze()")
    config = StftConfig.for_rate(sample_rate, latency_mode)
    spec = stft(audio.astype(np.float32, copy=False), config)
    if config.model_stride > 1:  # the frames the model sees in "low" mode
        spec = spec[config.model_stride - 1 :: config.model_stride]
    return to_logmag(np.abs(spec), config)
