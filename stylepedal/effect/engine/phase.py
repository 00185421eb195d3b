"""Phase for a modified magnitude: carried over from frame to frame while streaming, or offline.

Modes
-----
``"input"``
    The input frame's own phase. Exact reconstruction for an unmodified magnitude, no extra
    cost, and the natural choice when the style keeps the input's partials.
``"pghi"``
    Real-time phase-gradient heuristic integration (RTPGHI, Prusa & Holighaus 2017): the phase is
    *propagated from the previous output frame* along the phase gradient, which is estimated from
    the output magnitude alone (Gaussian-window relations between log-magnitude and phase
    derivatives). Use it when the style network invents partials the input does not have.
    The heap of the original is replaced by a vectorised equivalent: spectral peaks are integrated
    over time (trapezoid rule), every other bin over frequency from the peak of its region
    (regions split at the valley between peaks), which is what the heap does when one peak
    dominates each region. Cost ~20 numpy calls per frame, no Python loop over bins.

    Our analysis window is strongly asymmetric (low delay), so its spectrum is not the zero-phase
    lobe the Gaussian model assumes: across a partial's main lobe the true phase bends by up to
    ~2.8 rad, and a zero-phase lobe resynthesises the partial around the window's centroid instead
    of its recent end, which is the only part the synthesis keeps (measured: -6.4 dB on a pure
    tone). So each region also gets the window's own phase response at the partial's
    interpolated frequency, and peaks advance by that frequency; the Gaussian gradients still
    carry everything that is not a stable partial.
:func:`stylepedal.effect.research.reconstruction.griffin_lim` (offline, fast Griffin-Lim with
momentum) is the reference both are compared against in ``benchmarks/engine.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .stft import StftConfig

__all__ = ["PghiState", "PhaseGradient"]

_TOL = 1e-5  # bins more than 100 dB below the frame's peak are not worth integrating from
_LOBE_BINS = 24  # the window phase response is tabulated this many bins either side of a peak
# Weight of the Gaussian frequency-direction gradient (group delay from the magnitude's time
# derivative). The Gaussian model fits our asymmetric window poorly: on the engine benchmark's
# guitar signal, spectral convergence was -7.0 dB at weight 1, -7.9 dB at 0.5, -8.3 dB at 0.25.
_FGRAD_WEIGHT = 0.25


@dataclass
class PghiState:
    """What RTPGHI carries from one frame to the next, per channel."""

    phase: np.ndarray  # (channels, n_bins) window-centred phase of the previous output frame
    logmag: np.ndarray  # (channels, n_bins) natural log magnitude of the previous frame
    tgrad: np.ndarray  # (channels, n_bins) phase advance per hop estimated at that frame
    started: np.ndarray  # (channels,) bool


class PhaseGradient:
    """RTPGHI phase propagation for one STFT configuration.

    The Gaussian-window constant ``lambda`` (samples^2) is matched to the analysis window by its
    second moment: a Gaussian ``exp(-pi t^2 / lambda)`` has variance ``lambda / (2 pi)``, and the
    curvature of ``log|W|`` at a spectral peak, which sets the instantaneous-frequency correction,
    is ``-2 pi^2 Var(w)``.

    Examples
    --------
    >>> from stylepedal.effect.engine.stft import stft
    >>> cfg = StftConfig.for_rate(48000)
    >>> pg = PhaseGradient(cfg)
    >>> state = pg.new_state(1)
    >>> mag = np.abs(stft(np.random.default_rng(0).standard_normal(4800), cfg))
    >>> pg.frame(mag[None, 10], state).shape
    (1, 2241)
    """

    def __init__(self, config: StftConfig) -> None:
        self.config = config
        w = config.analysis_window
        t = np.arange(config.n_fft, dtype=np.float64)
        mean = float((w * t).sum() / w.sum())
        var = float((w * (t - mean) ** 2).sum() / w.sum())
        self.lam = 2.0 * np.pi * var
        self.centre = mean
        m = np.arange(config.n_bins, dtype=np.float64)
        a, big_m = float(config.hop_length), float(config.n_fft)
        self._t_ramp = 2.0 * np.pi * a * m / big_m  # advance of a stationary partial at bin m
        self._t_scale = a * big_m / self.lam / 2.0  # * (s[m+1] - s[m-1])
        self._f_scale = -_FGRAD_WEIGHT * self.lam / (a * big_m)  # * (s_n[m] - s_{n-1}[m])
        # window-centred phase -> phase of a DFT taken from the frame start
        self._to_dft = -2.0 * np.pi * m * mean / big_m
        # phase response of the centred window at fractional bin offsets (unwrapped table)
        self._lobe_step = 1.0 / 32.0
        fine = int(round(1.0 / self._lobe_step))
        k = np.arange(-_LOBE_BINS * fine, _LOBE_BINS * fine + 1)
        spectrum = np.fft.fft(w, n=fine * config.n_fft)[k]  # zero-padded: fractional bins
        centred = np.angle(spectrum) + 2.0 * np.pi * k * mean / (fine * big_m)
        self._lobe_phase = np.unwrap(centred)
        self._lobe_phase -= self._lobe_phase[k.size // 2]
        self._a_over_m = a / big_m
        self._bins = m

    def new_state(self, channels: int) -> PghiState:
        k = self.config.n_bins
        return PghiState(
            phase=np.zeros((channels, k)),
            logmag=np.zeros((channels, k)),
            tgrad=np.zeros((channels, k)),
            started=np.zeros(channels, dtype=bool),
        )

    def _lobe(self, offset: np.ndarray) -> np.ndarray:
        """Phase of the centred window spectrum at ``offset`` bins from a partial."""
        pos = np.rint((offset + _LOBE_BINS) / self._lobe_step).astype(np.intp)
        np.clip(pos, 0, self._lobe_phase.size - 1, out=pos)
        return self._lobe_phase[pos]  # 1/32-bin table: nearest entry

    def frame(self, mag: np.ndarray, state: PghiState) -> np.ndarray:
        """Phase (DFT convention) for one frame of magnitudes ``(channels, n_bins)``."""
        out = np.empty_like(mag)
        for c in range(mag.shape[0]):
            out[c] = self._one(mag[c], state, c)
        return out

    def _one(self, mag: np.ndarray, state: PghiState, c: int) -> np.ndarray:
        peak = float(mag.max())
        floor = max(peak * _TOL, 1e-12)
        s = np.log(np.maximum(mag, floor))
        ds = np.empty_like(s)
        ds[1:-1] = s[2:] - s[:-2]
        ds[0] = 2.0 * (s[1] - s[0])
        ds[-1] = 2.0 * (s[-1] - s[-2])
        tgrad = self._t_ramp + self._t_scale * ds
        above = mag > floor
        is_peak = np.zeros(s.shape, dtype=bool)
        is_peak[1:-1] = (s[1:-1] > s[:-2]) & (s[1:-1] >= s[2:]) & above[1:-1]
        peaks = np.flatnonzero(is_peak)
        if peaks.size:
            # interpolated frequency of each peak (parabola through log magnitudes), in bins
            left, mid, right = s[peaks - 1], s[peaks], s[peaks + 1]
            curve = left - 2.0 * mid + right
            shift = np.where(curve < 0, 0.5 * (left - right) / np.where(curve < 0, curve, -1), 0)
            freq = peaks + np.clip(shift, -0.5, 0.5)
            tgrad[peaks] = 2.0 * np.pi * self._a_over_m * freq
        if not state.started[c]:
            fgrad = np.zeros_like(s)
            base = np.zeros_like(s)
        else:
            fgrad = self._f_scale * (s - state.logmag[c])
            base = state.phase[c] + 0.5 * (state.tgrad[c] + tgrad)
        phase = base.copy()
        if peaks.size:
            # cumulative trapezoid of the frequency-direction gradient
            g = np.zeros_like(s)
            np.cumsum(0.5 * (fgrad[1:] + fgrad[:-1]), out=g[1:])
            # Between two consecutive peaks the log magnitude only falls, then only rises (any
            # bump above the floor is itself a peak), so the valley is the one bin where a
            # non-rising step is followed by a rising one. Each bin belongs to the peak of its
            # region; the valley bin itself goes with the left peak.
            valley = np.zeros(s.shape, dtype=bool)
            valley[1:-1] = (s[1:-1] < s[2:]) & (s[:-2] >= s[1:-1])
            valley[: peaks[0]] = False
            region = np.zeros(s.shape, dtype=np.intp)
            np.cumsum(valley[:-1], out=region[1:])
            np.minimum(region, peaks.size - 1, out=region)
            owner = peaks[region]
            offset = self._bins - freq[region]
            lobe = self._lobe(offset) - self._lobe(peaks - freq)[region]
            phase = base[owner] + g - g[owner] + lobe
        state.phase[c] = phase
        state.logmag[c] = s
        state.tgrad[c] = tgrad
        state.started[c] = True
        return phase + self._to_dft
