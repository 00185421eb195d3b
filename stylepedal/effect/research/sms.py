"""Sinusoids plus residual (SMS, Serra's Spectral Modeling Synthesis; the hordiales paper).

The signal is split into at most ``max_sinusoids`` slowly varying sinusoids (partials) and a
residual, ``residual = input - sinusoids``, kept separately:

- **analysis**: a zero-phase Blackman-Harris STFT; spectral peaks above ``threshold_db`` (dB
  of sinusoid amplitude, re full scale) are refined by parabolic interpolation of the dB
  magnitude (frequency, amplitude) and linear interpolation of the phase; the strongest
  ``max_sinusoids`` peaks of each frame are linked into tracks (a peak continues the track
  whose last frequency is nearest, within ``freq_dev_hz + freq_dev_ratio * f``); tracks shorter
  than ``min_track_frames`` are dropped. The result is an array ``(max_sinusoids, frames, 3)``
  of (frequency in Hz, **linear** amplitude (peak value of ``a cos``; 0 = no sinusoid in this
  slot), phase in radians at the frame centre) — the paper's ``[MaxSinusoids, Frames, 3]``.
  Linear amplitude is stored so that 0 marks an empty slot; ``20 log10(a)`` gives dBFS.
- **synthesis**: additive oscillators, amplitude interpolated linearly and phase by
  McAulay-Quatieri cubic interpolation between frame centres (matching both the measured
  frequencies and phases), so with measured phases the sinusoids are resynthesised sample by
  sample; births fade in and deaths fade out over one hop.

When it helps
-------------
The paper fed the Ulyanov network "only the sinusoidal part of the SMS processing" and got
"more defined results, in particular with 16 to 32 sinusoids instead of the initial 150": the
transfer concentrates on the partials and the noise, which "only added defects", is kept out
of the optimisation. Use it for tonal, monophonic or sparse material (a lead line, a bell, a
sustained chord); for noisy or percussive styles the residual carries most of the sound and
the STFT does better.

The optimiser's ``(channels, frames)`` view (``view=``)
-------------------------------------------------------
- ``"spectrum"`` (default): ``log1p`` STFT magnitude (Hann, ~93 ms, same hop as the tracks)
  of the *resynthesised sinusoids only*, on the same scale as the seeds' ``log1p(|STFT|)``.
  This is the paper's better-performing variant (Figure 3's network on the sinusoidal part):
  the Gram features keep their meaning (bins are frequencies). :meth:`synthesize` picks the
  ``max_sinusoids`` strongest peaks of each optimised frame again, tracks them and runs the
  oscillators (phases integrated from the frequencies), so the result is again a clean sum of
  at most ``max_sinusoids`` partials, plus the residual.
- ``"tracks"``: the track array itself, ``2 * max_sinusoids`` channels: rows ``0..S-1`` are
  ``log1p(512 * amplitude)``, rows ``S..2S-1`` the frequency in kHz (0 = empty slot); the
  phase is left out (it follows from the frequencies). This is the paper's literal
  ``[MaxSinusoids, Frames, 3]`` input, which it found gave results "close to white noise"
  (slot order carries no meaning for a convolution); kept for experiments.

The residual (``residual=``) is, at synthesis: ``"pass"`` added back unchanged (the default;
it comes from ``reference=`` (the content audio) or, in a plain round trip, from the analysed
clip), ``"drop"`` left out (the paper's "descartó el ruido"), or ``"stochastic"`` processed
into noise with the residual's smoothed spectral envelope and random phase (Serra's
stochastic model), which removes the content's exact transients and phase detail.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..._validate import (
    check_choice,
    check_non_negative_int,
    check_positive_int,
    check_sample_rate,
)
from ...errors import ParameterError
from .represent import SINE_SCALE, check_rep, mono_audio

__all__ = [
    "RESIDUAL_MODES",
    "SMS_VIEWS",
    "SmsAnalysis",
    "SmsRepresentation",
    "additive_synthesis",
]

log = logging.getLogger(__name__)

SMS_VIEWS: tuple[str, ...] = ("spectrum", "tracks")
RESIDUAL_MODES: tuple[str, ...] = ("pass", "drop", "stochastic")

_TINY = 1e-12


@dataclass(frozen=True)
class SmsAnalysis:
    """The result of :meth:`SmsRepresentation.decompose`.

    Attributes
    ----------
    tracks : np.ndarray
        float64 ``(max_sinusoids, frames, 3)``: frequency (Hz), linear amplitude, phase (rad)
        at frame centres ``k * hop_length``; amplitude 0 marks an empty slot.
    sines : np.ndarray
        float32 ``(length,)``: the sinusoids resynthesised with their measured phases.
    residual : np.ndarray
        float32 ``(length,)``: ``input - sines``.
    sample_rate, hop_length : int
    """

    tracks: np.ndarray
    sines: np.ndarray
    residual: np.ndarray
    sample_rate: int
    hop_length: int


def _mq_segment_params(
    w0: np.ndarray, w1: np.ndarray, p0: np.ndarray, p1: np.ndarray, hop: int
) -> tuple[np.ndarray, np.ndarray]:
    """McAulay-Quatieri cubic phase coefficients (alpha, beta) for one hop (rad/sample)."""
    t = float(hop)
    m = np.round(((p0 + w0 * t - p1) + (w1 - w0) * t / 2.0) / (2.0 * np.pi))
    d = p1 - p0 - w0 * t + 2.0 * np.pi * m
    alpha = 3.0 / t**2 * d - (w1 - w0) / t
    beta = -2.0 / t**3 * d + (w1 - w0) / t**2
    return alpha, beta


def additive_synthesis(
    tracks: np.ndarray,
    sample_rate: int,
    *,
    hop_length: int,
    length: int,
    chunk_frames: int = 64,
) -> np.ndarray:
    """Sum of oscillators from a ``(S, frames, 3)`` track array (frequency, amplitude, phase).

    Frame ``k`` is centred at sample ``k * hop_length``. Between frame centres the amplitude is
    interpolated linearly and the phase by McAulay-Quatieri cubic interpolation (it matches
    frequency and phase at both ends); a track born at frame ``k`` fades in over the hop before
    it, one that ends fades out over the hop after it. After the last frame the oscillators
    keep their last frequency and amplitude up to ``length``.

    Examples
    --------
    >>> tr = np.zeros((1, 5, 3)); tr[0, :, 0] = 441.0; tr[0, :, 1] = 0.5
    >>> y = additive_synthesis(tr, 44100, hop_length=100, length=500)
    >>> bool(np.allclose(y, 0.5 * np.cos(2 * np.pi * 441.0 * np.arange(500) / 44100)))
    True
    """
    sr = check_sample_rate(sample_rate)
    hop = check_positive_int(hop_length, "hop_length")
    if tracks.ndim != 3 or tracks.shape[2] != 3:
        raise ParameterError(f"tracks shape={tracks.shape} must be (sinusoids, frames, 3)")
    n_frames = tracks.shape[1]
    out = np.zeros(max(length, 0), dtype=np.float64)
    if n_frames == 0 or length <= 0:
        return out.astype(np.float32)
    nyq = sr / 2.0
    f = tracks[:, :, 0].astype(np.float64)
    a = tracks[:, :, 1].astype(np.float64)
    valid = (a > 0) & (f > 0) & (f < nyq)
    a = np.where(valid, a, 0.0)
    w = 2.0 * np.pi * np.where(valid, f, 0.0) / sr
    p = tracks[:, :, 2].astype(np.float64)
    n = np.arange(hop, dtype=np.float64)
    t = float(hop)
    for k0 in range(0, n_frames - 1, chunk_frames):
        k1 = min(k0 + chunk_frames, n_frames - 1)
        a0, a1 = a[:, k0:k1], a[:, k0 + 1 : k1 + 1]
        w0, w1 = w[:, k0:k1].copy(), w[:, k0 + 1 : k1 + 1].copy()
        p0, p1 = p[:, k0:k1].copy(), p[:, k0 + 1 : k1 + 1].copy()
        born = (a0 == 0) & (a1 > 0)
        dying = (a0 > 0) & (a1 == 0)
        # A birth keeps the new track's frequency and runs its phase backwards; a death keeps
        # the old frequency and runs forwards: the cubic then degenerates to a straight line.
        w0 = np.where(born, w1, w0)
        p0 = np.where(born, p1 - w1 * t, p0)
        w1 = np.where(dying, w0, w1)
        p1 = np.where(dying, p0 + w0 * t, p1)
        alpha, beta = _mq_segment_params(w0, w1, p0, p1, hop)
        theta = p0[..., None] + w0[..., None] * n + alpha[..., None] * n**2 + beta[..., None] * n**3
        amp = a0[..., None] + (a1 - a0)[..., None] * (n / t)
        seg = np.sum(amp * np.cos(theta), axis=0).reshape(-1)
        start = k0 * hop
        stop = min(start + seg.shape[0], length)
        if stop > start:
            out[start:stop] += seg[: stop - start]
    # Tail: hold the last frame's oscillators until the end of the signal.
    start = (n_frames - 1) * hop
    if start < length:
        m = np.arange(length - start, dtype=np.float64)
        last = a[:, -1] > 0
        if last.any():
            out[start:] += np.sum(
                a[last, -1, None] * np.cos(p[last, -1, None] + w[last, -1, None] * m), axis=0
            )
    return out.astype(np.float32)


def _check_threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value < 0:
        raise ParameterError(f"threshold_db={value!r} must be a negative number of dBFS")
    return float(value)


class SmsRepresentation:
    """Sinusoids-plus-residual representation (see the module docs for when it helps).

    Parameters
    ----------
    max_sinusoids : int
        Most sinusoids per frame (the paper: 16-32 worked best). Default 24.
    view : {"spectrum", "tracks"}
        What :meth:`analyze` hands the optimiser (module docs).
    residual : {"pass", "drop", "stochastic"}
        What :meth:`synthesize` does with the residual (module docs).
    threshold_db : float
        Peaks whose sinusoid amplitude is below this (dBFS) are ignored.
    win_length, n_fft, hop_length : int, optional
        Analysis window (odd; default ~93 ms), FFT size (default twice the window's power of
        two, for interpolation accuracy) and hop (default 512 at 22.05 kHz, ~23 ms).
    freq_dev_hz, freq_dev_ratio : float
        A peak continues a track if their frequencies differ by at most
        ``freq_dev_hz + freq_dev_ratio * f``.
    min_track_frames : int
        Tracks shorter than this many frames are dropped (spurious peaks).
    seed : int
        Seed of the resynthesis' start phases and stochastic residual.

    Examples
    --------
    >>> sr = 22050
    >>> t = np.arange(sr) / sr
    >>> y = (0.3 * np.cos(2 * np.pi * 440.0 * t)).astype(np.float32)
    >>> sms = SmsRepresentation(max_sinusoids=16)
    >>> an = sms.decompose(y, sr)
    >>> an.tracks.shape
    (16, 44, 3)
    >>> round(float(an.tracks[0, 20, 0]), 1), round(float(an.tracks[0, 20, 1]), 2)
    (440.0, 0.3)
    >>> sms.analyze(y, sr).shape
    (1025, 44)
    """

    name = "sms"

    def __init__(
        self,
        *,
        max_sinusoids: int = 24,
        view: str = "spectrum",
        residual: str = "pass",
        threshold_db: float = -80.0,
        win_length: int | None = None,
        n_fft: int | None = None,
        hop_length: int | None = None,
        freq_dev_hz: float = 20.0,
        freq_dev_ratio: float = 0.01,
        min_track_frames: int = 3,
        seed: int = 0,
    ) -> None:
        self.seed = check_non_negative_int(seed, "seed")
        if (
            isinstance(max_sinusoids, bool)
            or not isinstance(max_sinusoids, (int, np.integer))
            or not 1 <= max_sinusoids <= 1024
        ):
            raise ParameterError(
                f"max_sinusoids={max_sinusoids!r} must be an integer in [1, 1024]"
                " (the paper found 16-32 best)"
            )
        self.max_sinusoids = int(max_sinusoids)
        self.view = check_choice(view, "view", SMS_VIEWS)
        self.residual = check_choice(residual, "residual", RESIDUAL_MODES)
        self.threshold_db = _check_threshold(threshold_db)
        self.win_length = (
            None if win_length is None else check_positive_int(win_length, "win_length")
        )
        if self.win_length is not None and self.win_length < 3:
            raise ParameterError(f"win_length={win_length} must be at least 3 samples")
        self.n_fft = None if n_fft is None else check_positive_int(n_fft, "n_fft")
        self.hop_length = (
            None if hop_length is None else check_positive_int(hop_length, "hop_length")
        )
        for name, value in (("freq_dev_hz", freq_dev_hz), ("freq_dev_ratio", freq_dev_ratio)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ParameterError(f"{name}={value!r} must be a number >= 0")
        self.freq_dev_hz = float(freq_dev_hz)
        self.freq_dev_ratio = float(freq_dev_ratio)
        self.min_track_frames = check_positive_int(min_track_frames, "min_track_frames")
        # Residuals of recently analysed clips, keyed by a hash of the view array, so that a
        # plain round trip analyze -> synthesize puts the right residual back.
        self._residuals: OrderedDict[str, np.ndarray] = OrderedDict()

    def __repr__(self) -> str:
        return (
            f"SmsRepresentation(max_sinusoids={self.max_sinusoids}, view={self.view!r}, "
            f"residual={self.residual!r}, threshold_db={self.threshold_db})"
        )

    # -- geometry ---------------------------------------------------------------------------
    def params(self, sample_rate: int) -> dict[str, int]:
        """``win_length``, ``n_fft``, ``hop_length`` and ``view_n_fft`` at ``sample_rate``."""
        sr = check_sample_rate(sample_rate)
        view_n_fft = int(2 ** round(math.log2(0.0929 * sr)))
        win = self.win_length or (view_n_fft - 1)
        if win % 2 == 0:
            win -= 1  # odd, so the zero-phase window has a centre sample
        n_fft = self.n_fft or 2 * int(2 ** math.ceil(math.log2(win)))
        if n_fft < win:
            raise ParameterError(f"n_fft={n_fft} must be at least win_length={win}")
        hop = self.hop_length or view_n_fft // 4
        return {"win_length": win, "n_fft": n_fft, "hop_length": hop, "view_n_fft": view_n_fft}

    def n_channels(self, sample_rate: int) -> int:
        """Channels of :meth:`analyze`'s view at ``sample_rate``."""
        if self.view == "tracks":
            return 2 * self.max_sinusoids
        return self.params(sample_rate)["view_n_fft"] // 2 + 1

    # -- analysis ---------------------------------------------------------------------------
    def _zero_phase_spectra(self, y: np.ndarray, p: dict[str, int]) -> np.ndarray:
        """Complex spectra of zero-phase Blackman-Harris frames centred at k * hop."""
        from scipy.signal import get_window

        win, n_fft, hop = p["win_length"], p["n_fft"], p["hop_length"]
        h = win // 2
        window = get_window("blackmanharris", win, fftbins=False)
        window = window / window.sum()  # so 2|X| of a*cos at its peak is a
        n_frames = 1 + y.shape[0] // hop
        padded = np.pad(y.astype(np.float64), (h, h + hop))
        idx = np.arange(n_frames)[:, None] * hop + np.arange(win)[None, :]
        frames = padded[idx] * window
        buf = np.zeros((n_frames, n_fft))
        buf[:, : h + 1] = frames[:, h:]
        buf[:, n_fft - h :] = frames[:, :h]
        return np.fft.rfft(buf, axis=1)

    def _pick_peaks(
        self, amp_db: np.ndarray, phase: np.ndarray | None, bin_hz: float
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per frame: (freq_hz, amplitude, phase) of the strongest interpolated peaks."""
        s = self.max_sinusoids
        left, mid, right = amp_db[:, :-2], amp_db[:, 1:-1], amp_db[:, 2:]
        is_peak = (mid > left) & (mid >= right) & (mid > self.threshold_db)
        out = []
        for k in range(amp_db.shape[0]):
            ks = np.flatnonzero(is_peak[k])
            if ks.size > s:
                ks = ks[np.argsort(mid[k, ks])[::-1][:s]]
            lv, mv, rv = left[k, ks], mid[k, ks], right[k, ks]
            denom = lv - 2.0 * mv + rv
            offset = np.where(denom < 0, 0.5 * (lv - rv) / np.where(denom < 0, denom, -1.0), 0.0)
            peak_db = mv - 0.25 * (lv - rv) * offset
            b = ks + 1  # index in the full spectrum
            freq = (b + offset) * bin_hz
            amp = 10.0 ** (peak_db / 20.0)
            if phase is None:
                ph = np.zeros_like(freq)
            else:
                # Zero-phase frames: the phase is flat across the main lobe; interpolate
                # towards the neighbour on the side of the true peak.
                nb = np.where(offset >= 0, b + 1, b - 1)
                d = np.angle(np.exp(1j * (phase[k, nb] - phase[k, b])))
                ph = phase[k, b] + np.abs(offset) * d
            order = np.argsort(amp)[::-1]
            out.append((freq[order], amp[order], ph[order]))
        return out

    def _track(self, peaks: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
        """Link per-frame peaks into at most ``max_sinusoids`` tracks: ``(S, frames, 3)``."""
        s = self.max_sinusoids
        n_frames = len(peaks)
        tracks = np.zeros((s, n_frames, 3))
        prev_f = np.zeros(s)
        prev_active = np.zeros(s, dtype=bool)
        for k, (pf, pa, pp) in enumerate(peaks):
            active = np.zeros(s, dtype=bool)
            taken = np.zeros(pf.shape[0], dtype=bool)
            for i in range(pf.shape[0]):  # strongest peaks claim their continuation first
                cand = prev_active & ~active
                if not cand.any():
                    break
                dist = np.where(cand, np.abs(prev_f - pf[i]), np.inf)
                j = int(np.argmin(dist))
                if dist[j] <= self.freq_dev_hz + self.freq_dev_ratio * pf[i]:
                    tracks[j, k] = (pf[i], pa[i], pp[i])
                    active[j] = True
                    taken[i] = True
            free = [int(v) for v in np.flatnonzero(~prev_active & ~active)]
            for i_new in np.flatnonzero(~taken):
                if not free:
                    break
                j = free.pop(0)
                tracks[j, k] = (pf[i_new], pa[i_new], pp[i_new])
                active[j] = True
            prev_f = np.where(active, tracks[:, k, 0], 0.0)
            prev_active = active
        return self._clean(tracks)

    def _clean(self, tracks: np.ndarray) -> np.ndarray:
        """Zero the track segments shorter than ``min_track_frames``."""
        if self.min_track_frames <= 1:
            return tracks
        active = tracks[:, :, 1] > 0
        for j in range(tracks.shape[0]):
            edges = np.diff(np.concatenate(([0], active[j].astype(np.int8), [0])))
            starts = np.flatnonzero(edges == 1)
            stops = np.flatnonzero(edges == -1)
            for a, b in zip(starts, stops, strict=True):
                if b - a < self.min_track_frames:
                    tracks[j, a:b] = 0.0
        return tracks

    def decompose(self, audio: np.ndarray, sample_rate: int) -> SmsAnalysis:
        """Sinusoidal analysis: tracks ``(max_sinusoids, frames, 3)``, sines and residual.

        Examples
        --------
        >>> y = np.zeros(4410, dtype=np.float32)
        >>> an = SmsRepresentation(max_sinusoids=8).decompose(y, 22050)
        >>> an.tracks.shape, float(np.abs(an.residual).max())
        ((8, 9, 3), 0.0)
        """
        sr = check_sample_rate(sample_rate)
        y = mono_audio(audio, nonfinite="zero")
        p = self.params(sr)
        spec = self._zero_phase_spectra(y, p)
        amp_db = 20.0 * np.log10(2.0 * np.abs(spec) + _TINY)
        peaks = self._pick_peaks(amp_db, np.angle(spec), sr / p["n_fft"])
        tracks = self._track(peaks)
        sines = additive_synthesis(tracks, sr, hop_length=p["hop_length"], length=y.shape[0])
        residual = (y.astype(np.float64) - sines).astype(np.float32)
        return SmsAnalysis(tracks, sines, residual, sr, p["hop_length"])

    def tracks_from_spectrum(self, rep: np.ndarray, sample_rate: int) -> np.ndarray:
        """Peaks of a ``"spectrum"`` view, tracked: ``(S, frames, 3)``, phases integrated."""
        sr = check_sample_rate(sample_rate)
        p = self.params(sr)
        x = check_rep(rep, p["view_n_fft"] // 2 + 1, nonfinite="zero")
        amp = np.expm1(x) / SINE_SCALE  # the view's scale makes a sinusoid's peak read a
        amp_db = 20.0 * np.log10(amp.T + _TINY)
        peaks = self._pick_peaks(amp_db, None, sr / p["view_n_fft"])
        return _integrate_phases(self._track(peaks), sr, p["hop_length"])

    def tracks_from_view(self, rep: np.ndarray, sample_rate: int) -> np.ndarray:
        """Tracks ``(S, frames, 3)`` from either view (phases integrated)."""
        sr = check_sample_rate(sample_rate)
        if self.view == "spectrum":
            return self.tracks_from_spectrum(rep, sr)
        s = self.max_sinusoids
        x = check_rep(rep, 2 * s, nonfinite="zero")
        amp = np.expm1(x[:s]) / SINE_SCALE
        freq = x[s:] * 1000.0
        amp = np.where((amp >= 10.0 ** (self.threshold_db / 20.0)) & (freq > 0), amp, 0.0)
        tracks = np.zeros((s, x.shape[1], 3))
        tracks[:, :, 0] = np.where(amp > 0, freq, 0.0)
        tracks[:, :, 1] = amp
        tracks = self._clean(tracks)
        return _integrate_phases(tracks, sr, self.params(sr)["hop_length"])

    def _view(self, tracks: np.ndarray, sines: np.ndarray, sample_rate: int) -> np.ndarray:
        if self.view == "tracks":
            s = self.max_sinusoids
            out = np.zeros((2 * s, tracks.shape[1]))
            out[:s] = np.log1p(SINE_SCALE * tracks[:, :, 1])
            out[s:] = np.where(tracks[:, :, 1] > 0, tracks[:, :, 0] / 1000.0, 0.0)
            return out.astype(np.float32)
        import librosa

        p = self.params(sample_rate)
        n_fft = p["view_n_fft"]
        mag = np.abs(librosa.stft(sines, n_fft=n_fft, hop_length=p["hop_length"]))
        # Hann window sum is n_fft / 2; a*cos peaks at a * n_fft / 4: scale that to 512 a.
        return np.log1p(mag * (SINE_SCALE * 4.0 / n_fft)).astype(np.float32)

    # -- the Representation protocol --------------------------------------------------------
    def analyze(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """The optimiser's view ``(channels, frames)`` float32 (module docs).

        The clip's residual is remembered (for the last few clips) so that
        ``synthesize(analyze(y))`` without a reference puts it back.
        """
        an = self.decompose(audio, sample_rate)
        view = self._view(an.tracks, an.sines, an.sample_rate)
        key = hashlib.sha1(view.tobytes()).hexdigest()
        self._residuals[key] = an.residual
        while len(self._residuals) > 4:
            self._residuals.popitem(last=False)
        return view

    def residual_of(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """``audio - sinusoids(audio)``: the part the sinusoidal model leaves out."""
        return self.decompose(audio, sample_rate).residual

    def synthesize(
        self,
        rep: np.ndarray,
        sample_rate: int,
        *,
        n_iter: int = 32,
        reference: np.ndarray | None = None,
        seed: int | None = None,
    ) -> np.ndarray:
        """Oscillators from the view, plus the residual as ``residual=`` says.

        Parameters
        ----------
        rep : np.ndarray
            A view as returned by :meth:`analyze` (or optimised).
        n_iter : int
            Unused (no Griffin-Lim: the oscillators' phases follow their frequencies);
            accepted for the Representation protocol.
        reference : np.ndarray, optional
            The content audio. Its residual is the one passed through or processed, and its
            length is the output's. Without it, the residual of the clip this exact array
            was analysed from is used; if there is none (an optimised array and no
            reference, e.g. texture synthesis), no residual is added.
        seed : int, optional
            Seed of the births' start phases and of the stochastic residual's phases
            (default: the constructor's).
        """
        sr = check_sample_rate(sample_rate)
        check_non_negative_int(n_iter, "n_iter")
        seed = self.seed if seed is None else check_non_negative_int(seed, "seed")
        p = self.params(sr)
        hop = p["hop_length"]
        tracks = self.tracks_from_view(rep, sr)
        tracks = _randomize_birth_phases(tracks, seed)
        ref = None
        if reference is not None:
            ref = mono_audio(reference, name="reference", nonfinite="zero")
        residual: np.ndarray | None = None
        if self.residual != "drop":
            if ref is not None:
                residual = self.residual_of(ref, sr)
            else:
                key = hashlib.sha1(np.ascontiguousarray(rep, dtype=np.float32).tobytes())
                residual = self._residuals.get(key.hexdigest())
                if residual is None:
                    log.info("sms: no reference audio given, so no residual is added")
        if ref is not None:
            length = ref.shape[0]
        elif residual is not None:
            length = residual.shape[0]
        else:
            length = tracks.shape[1] * hop
        y = additive_synthesis(tracks, sr, hop_length=hop, length=length)
        if residual is not None:
            if self.residual == "stochastic":
                residual = _stochastic(residual, p["view_n_fft"], hop, seed)
            y = y + residual[: y.shape[0]]
        return np.nan_to_num(y.astype(np.float32))


def _integrate_phases(tracks: np.ndarray, sample_rate: int, hop: int) -> np.ndarray:
    """Fill the phases of tracks from their frequencies (trapezoidal integration)."""
    w = 2.0 * np.pi * tracks[:, :, 0] / sample_rate
    active = tracks[:, :, 1] > 0
    ph = np.zeros(tracks.shape[:2])
    for k in range(1, tracks.shape[1]):
        cont = active[:, k - 1] & active[:, k]
        ph[:, k] = np.where(cont, ph[:, k - 1] + 0.5 * (w[:, k - 1] + w[:, k]) * hop, 0.0)
    out = tracks.copy()
    out[:, :, 2] = np.angle(np.exp(1j * ph))
    return out


def _randomize_birth_phases(tracks: np.ndarray, seed: int) -> np.ndarray:
    """Give every track a seeded random start phase (all-zero starts would align partials
    into a click at every common onset)."""
    rng = np.random.default_rng(seed)
    active = tracks[:, :, 1] > 0
    births = active & ~np.concatenate([np.zeros((active.shape[0], 1), bool), active[:, :-1]], 1)
    # Offset per run: cumulative run id per slot, one random phase per run.
    run_id = np.cumsum(births, axis=1)
    offsets = rng.uniform(-np.pi, np.pi, size=(tracks.shape[0], tracks.shape[1] + 1))
    shift = np.take_along_axis(offsets, run_id, axis=1)
    out = tracks.copy()
    out[:, :, 2] = np.where(active, np.angle(np.exp(1j * (tracks[:, :, 2] + shift))), 0.0)
    return out


def _stochastic(residual: np.ndarray, n_fft: int, hop: int, seed: int) -> np.ndarray:
    """Serra's stochastic model: noise with the residual's smoothed spectral envelope.

    The power spectrum is smoothed over 9 bins, given random phases and inverted; random
    phases add incoherently in the overlap-add, so the result is scaled to the residual's
    energy.
    """
    import librosa
    from scipy.ndimage import uniform_filter1d

    power = np.abs(librosa.stft(residual, n_fft=n_fft, hop_length=hop)) ** 2
    # the running mean of non-negative powers can round to a tiny negative: clip before sqrt
    env = np.sqrt(np.maximum(uniform_filter1d(power, size=9, axis=0, mode="nearest"), 0.0))
    rng = np.random.default_rng(seed)
    phase = np.exp(2j * np.pi * rng.random(env.shape))
    y = librosa.istft(env * phase, hop_length=hop, n_fft=n_fft, length=residual.shape[0])
    target = float(np.sum(residual.astype(np.float64) ** 2))
    got = float(np.sum(np.asarray(y, dtype=np.float64) ** 2))
    if got > 0:
        y = y * np.sqrt(target / got)
    return np.asarray(y, dtype=np.float32)
