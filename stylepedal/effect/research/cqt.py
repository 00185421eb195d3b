"""Constant-Q representation (seed 004's ``neural_style_audio_cqt`` notebook).

A constant-Q transform has geometrically spaced bins (``bins_per_octave`` per octave from
``fmin_hz``), so every octave gets the same number of channels. For the Gram loss this means
bass notes and harmonics of low strings are resolved as finely as treble ones, and a style's
*pitch pattern* (intervals, chords) shifts as a translation along the bins instead of being
stretched, as it is on a linear STFT grid.

When it helps
-------------
Tonal material with low notes (guitar, bass, piano), where the STFT's 10.7 Hz bins lump the
low harmonics together; a ``"time"`` or ``"2d"`` orientation on CQT treats transpositions
alike. It is coarser than the STFT in the treble (noise, cymbals), and its phase
reconstruction (Griffin-Lim on the CQT) is slower and less exact than the STFT's: use the
STFT for percussive or noisy styles.

Reconstruction limits (librosa's ``icqt``, which ``griffinlim_cqt`` calls every iteration):
the hop must not exceed the shortest filter (else the top octaves are lost: with the seeds'
hop of 512 and 12 bins/octave the round trip's spectral convergence is about -1 dB instead of
-13 dB), and the top octave below Nyquist makes the inverse unstable. So by default the bins
stop an octave below Nyquist (5.5 kHz at 22.05 kHz: above a guitar amp's useful band) and the
hop is the largest power of two not longer than the shortest filter. Even with the true phase,
``icqt`` is only approximate (SNR ~5-7 dB on a plucked string, the figures librosa's own PR
#852 reports), so the CQT path is lossier than the STFT's.

The feature is ``log1p(gain_k * |CQT_k|)`` with a per-bin gain chosen so that a sinusoid of
amplitude ``a`` reads ``log1p(512 a)``: the same range as the seeds' ``log1p(|STFT|)`` with a
Hann-2048 window, so the optimiser's settings carry over.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..._validate import (
    check_non_negative_int,
    check_positive_float,
    check_positive_int,
    check_sample_rate,
)
from ...errors import ParameterError
from .represent import SINE_SCALE, check_rep, mono_audio

__all__ = ["CqtRepresentation"]

# A sinusoid of amplitude a maps to this linear value before log1p (the seeds' STFT scale:
# |STFT| of a Hann-2048 frame of a*cos is a * sum(window) / 2 = 512 a).
class CqtRepresentation:
    """log1p constant-Q magnitude, reconstructed with ``librosa.griffinlim_cqt``.

    Parameters
    ----------
    bins_per_octave : int
        Bins per octave (12 = semitones; 24 or 36 resolve vibrato and detuning).
    fmin_hz : float
        Centre of the lowest bin (default C1, 32.7 Hz: below a guitar's low E, 82.4 Hz).
    n_bins : int, optional
        Number of bins; default: as many as fit below a quarter of the sample rate (an
        octave below Nyquist). An explicit value may go up to Nyquist.
    hop_length : int, optional
        Hop in samples; default: the largest power of two (at most 512, the seeds' hop) not
        longer than the shortest CQT filter, so librosa's inverse can reconstruct the top bins.
    seed : int
        Seed of Griffin-Lim's random initial phase (deterministic synthesis).

    Examples
    --------
    >>> rep = CqtRepresentation(bins_per_octave=12)
    >>> y = np.cos(2 * np.pi * 220.0 * np.arange(22050) / 22050).astype(np.float32)
    >>> x = rep.analyze(y, 22050)
    >>> x.shape, x.dtype
    ((88, 345), dtype('float32'))
    >>> rep.synthesize(x, 22050, n_iter=4, reference=y).shape
    (22050,)
    """

    name = "cqt"

    def __init__(
        self,
        *,
        bins_per_octave: int = 24,
        fmin_hz: float = 32.70319566257483,
        n_bins: int | None = None,
        hop_length: int | None = None,
        seed: int = 0,
    ) -> None:
        self.seed = check_non_negative_int(seed, "seed")
        self.bins_per_octave = check_positive_int(bins_per_octave, "bins_per_octave")
        self.fmin_hz = check_positive_float(fmin_hz, "fmin_hz")
        self.n_bins = None if n_bins is None else check_positive_int(n_bins, "n_bins")
        self.hop_length = (
            None if hop_length is None else check_positive_int(hop_length, "hop_length")
        )

    def __repr__(self) -> str:
        return (
            f"CqtRepresentation(bins_per_octave={self.bins_per_octave}, "
            f"fmin_hz={self.fmin_hz:.3f}, n_bins={self.n_bins}, hop_length={self.hop_length})"
        )

    # -- geometry ---------------------------------------------------------------------------
    def _edge_factor(self) -> float:
        """Upper band edge of a CQT filter relative to its centre (librosa's Nyquist check)."""
        import librosa

        q = 1.0 / (2.0 ** (1.0 / self.bins_per_octave) - 1.0)
        return 1.0 + 0.5 * float(librosa.filters.window_bandwidth("hann")) / q

    def n_bins_for(self, sample_rate: int) -> int:
        """Number of bins at ``sample_rate`` (given, or all that fit below Nyquist)."""
        sr = check_sample_rate(sample_rate)
        nyquist = sr / 2.0
        edge = self._edge_factor()
        if self.fmin_hz * edge >= nyquist:
            raise ParameterError(
                f"fmin_hz={self.fmin_hz} is too high for sample_rate={sr}: the lowest bin must"
                f" lie below {nyquist / edge:.1f} Hz"
            )
        fit = int(math.floor(self.bins_per_octave * math.log2(nyquist / (edge * self.fmin_hz))))
        if self.n_bins is None:
            # Default: stop an octave below Nyquist, where librosa's icqt stays stable.
            default = fit - self.bins_per_octave
            if default < 2:
                raise ParameterError(
                    f"fmin_hz={self.fmin_hz} is too high for sample_rate={sr}: the default bins"
                    f" stop an octave below Nyquist ({nyquist / 2:.0f} Hz), so fmin_hz must be"
                    f" at most {nyquist / 2 / edge / 2 ** (1 / self.bins_per_octave):.1f} Hz;"
                    " or give n_bins"
                )
            return default
        if self.n_bins < 2:
            raise ParameterError(f"n_bins={self.n_bins} must be at least 2")
        if self.n_bins > fit:
            raise ParameterError(
                f"n_bins={self.n_bins} reaches above the Nyquist frequency at sample_rate={sr}:"
                f" at most {fit} bins fit from fmin_hz={self.fmin_hz:.2f} with"
                f" bins_per_octave={self.bins_per_octave}"
            )
        return self.n_bins

    def frequencies_hz(self, sample_rate: int) -> np.ndarray:
        """Centre frequency of each bin."""
        import librosa

        return np.asarray(
            librosa.cqt_frequencies(
                n_bins=self.n_bins_for(sample_rate),
                fmin=self.fmin_hz,
                bins_per_octave=self.bins_per_octave,
            )
        )

    def _gain(self, sample_rate: int) -> np.ndarray:
        """Per-bin gain so that a sinusoid of amplitude a reads SINE_SCALE * a.

        librosa's scaled CQT (scale=True) gives a sinusoid of amplitude a a magnitude of
        ``a * sqrt(L_k) / 2`` for a filter of length L_k (checked in the tests).
        """
        import librosa

        freqs = self.frequencies_hz(sample_rate)
        lengths, _ = librosa.filters.wavelet_lengths(freqs=freqs, sr=sample_rate, window="hann")
        return SINE_SCALE / (0.5 * np.sqrt(np.asarray(lengths, dtype=np.float64)))

    def hop_length_for(self, sample_rate: int) -> int:
        """Hop in samples at ``sample_rate`` (given, or derived from the shortest filter)."""
        import librosa

        if self.hop_length is not None:
            return self.hop_length
        freqs = self.frequencies_hz(sample_rate)
        lengths, _ = librosa.filters.wavelet_lengths(
            freqs=freqs[-2:] if freqs.size > 1 else freqs * [1.0, 2.0 ** (1 / 12)],
            sr=sample_rate,
            window="hann",
        )
        shortest = float(np.min(lengths))
        return int(min(512, 2 ** max(0, int(math.floor(math.log2(shortest))))))

    def _kwargs(self, sample_rate: int) -> dict[str, Any]:
        return {
            "sr": sample_rate,
            "hop_length": self.hop_length_for(sample_rate),
            "fmin": self.fmin_hz,
            "bins_per_octave": self.bins_per_octave,
        }

    # -- the Representation protocol --------------------------------------------------------
    def complex_cqt(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """The complex CQT ``(n_bins, frames)`` (librosa.cqt, scale=True)."""
        import librosa

        sr = check_sample_rate(sample_rate)
        y = mono_audio(audio, nonfinite="zero")
        n_bins = self.n_bins_for(sr)
        try:
            return np.asarray(librosa.cqt(y, n_bins=n_bins, **self._kwargs(sr)))
        except librosa.util.exceptions.ParameterError as exc:
            raise ParameterError(f"CQT of this signal failed: {exc}") from exc

    def analyze(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """``log1p(gain * |CQT|)``, float32 ``(n_bins, frames)``, frames = 1 + len // hop.

        Examples
        --------
        >>> y = np.zeros(22050, dtype=np.float32)
        >>> CqtRepresentation().analyze(y, 22050).shape
        (176, 173)
        """
        sr = check_sample_rate(sample_rate)
        mag = np.abs(self.complex_cqt(audio, sr))
        return np.log1p(self._gain(sr)[:, None] * mag).astype(np.float32)

    def to_magnitude(self, rep: np.ndarray, sample_rate: int) -> np.ndarray:
        """Undo :meth:`analyze`'s log and gain: linear CQT magnitude (librosa's scale)."""
        sr = check_sample_rate(sample_rate)
        gain = self._gain(sr)
        x = check_rep(rep, gain.shape[0], nonfinite="zero")
        return np.expm1(x) / gain[:, None]

    def synthesize(
        self,
        rep: np.ndarray,
        sample_rate: int,
        *,
        n_iter: int = 32,
        reference: np.ndarray | None = None,
        seed: int | None = None,
    ) -> np.ndarray:
        """Audio from a log-CQT with Griffin-Lim (``librosa.griffinlim_cqt``).

        Parameters
        ----------
        rep : np.ndarray
            ``(n_bins, frames)`` as returned by :meth:`analyze` (or optimised).
        n_iter : int
            Griffin-Lim iterations.
        reference : np.ndarray, optional
            The content audio: only its length is used (the output is cut/padded to it).
        seed : int, optional
            Seed of Griffin-Lim's random initial phase (default: the constructor's).
        """
        import librosa

        sr = check_sample_rate(sample_rate)
        n_iter = check_non_negative_int(n_iter, "n_iter")
        seed = self.seed if seed is None else check_non_negative_int(seed, "seed")
        mag = self.to_magnitude(rep, sr)
        length = None
        if reference is not None:
            length = mono_audio(reference, name="reference", nonfinite="zero").shape[0]
        y = librosa.griffinlim_cqt(
            mag.astype(np.float32),
            n_iter=n_iter,
            random_state=seed,
            length=length,
            **self._kwargs(sr),
        )
        return np.nan_to_num(np.asarray(y, dtype=np.float32))

    def synthesize_with_phase(
        self, rep: np.ndarray, sample_rate: int, *, reference: np.ndarray
    ) -> np.ndarray:
        """Audio from a log-CQT magnitude with the *reference's* CQT phase (``librosa.icqt``).

        This is the phase-kept round trip: ``synthesize_with_phase(analyze(y), sr,
        reference=y)`` measures how exactly the CQT itself inverts (an SNR), apart from phase
        retrieval.
        """
        import librosa

        sr = check_sample_rate(sample_rate)
        ref = mono_audio(reference, name="reference", nonfinite="zero")
        mag = self.to_magnitude(rep, sr)
        phase = np.angle(self.complex_cqt(ref, sr))
        frames = min(mag.shape[1], phase.shape[1])
        spec = mag[:, :frames] * np.exp(1j * phase[:, :frames])
        y = librosa.icqt(spec, length=ref.shape[0], **self._kwargs(sr))
        return np.nan_to_num(np.asarray(y, dtype=np.float32))
