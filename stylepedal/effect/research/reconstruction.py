"""Offline phase reconstruction and how close a reconstruction comes (the yardsticks the
engine's streaming phase and the representations are measured with)."""

from __future__ import annotations

import math

import numpy as np

from ..engine.stft import StftConfig, istft, stft

__all__ = ["engine_convergence_db", "griffin_lim", "snr_db", "spectral_convergence_db"]


def spectral_convergence_db(reference_mag: np.ndarray, estimate_mag: np.ndarray) -> float:
    """Spectral convergence ``20 log10(||R - E||_F / ||R||_F)`` in dB (lower is better).

    Examples
    --------
    >>> m = np.ones((4, 5))
    >>> round(spectral_convergence_db(m, 0.9 * m), 1)
    -20.0
    """
    frames = min(reference_mag.shape[-1], estimate_mag.shape[-1])
    r = reference_mag[..., :frames]
    e = estimate_mag[..., :frames]
    num = float(np.linalg.norm(r - e))
    den = float(np.linalg.norm(r))
    return 20.0 * math.log10(max(num, 1e-12) / max(den, 1e-12))


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-noise ratio ``10 log10(sum r^2 / sum (r - e)^2)`` in dB (higher is better).

    Examples
    --------
    >>> r = np.ones(100)
    >>> round(snr_db(r, 0.9 * r), 1)
    20.0
    """
    n = min(reference.shape[-1], estimate.shape[-1])
    r = np.asarray(reference[..., :n], dtype=np.float64)
    e = np.asarray(estimate[..., :n], dtype=np.float64)
    err = float(np.sum((r - e) ** 2))
    return 10.0 * math.log10(max(float(np.sum(r**2)), 1e-30) / max(err, 1e-30))


def engine_convergence_db(
    target_mag: np.ndarray, signal: np.ndarray, config: StftConfig
) -> float:
    """:func:`spectral_convergence_db` of ``signal``'s engine STFT against ``target_mag``
    (``(frames, n_bins)``), in dB (lower is better).

    ``signal`` must be aligned with the signal ``target_mag`` describes (no engine delay).
    """
    got = np.abs(stft(signal, config))
    n = min(got.shape[-2], target_mag.shape[-2])
    # the last frames need samples after the end of the reconstruction: compare the rest
    keep = n - config.overlap
    return spectral_convergence_db(target_mag[..., :keep, :], got[..., :keep, :])


def griffin_lim(
    mag: np.ndarray,
    config: StftConfig,
    *,
    n_iter: int = 100,
    momentum: float = 0.99,
    seed: int = 0,
) -> np.ndarray:
    """Offline fast Griffin-Lim (Perraudin et al. 2013) over the engine's STFT pair.

    Parameters
    ----------
    mag : ``(frames, n_bins)`` target magnitude.
    n_iter, momentum, seed : iterations, acceleration (0 gives classic Griffin-Lim), random
        initial phase.

    Returns
    -------
    np.ndarray
        ``(frames * hop,)`` signal aligned with the signal the magnitude describes.
    """
    rng = np.random.default_rng(seed)
    angles = np.exp(2j * np.pi * rng.random(mag.shape))
    previous = np.zeros_like(angles)
    for _ in range(n_iter):
        signal = istft(mag * angles, config)
        rebuilt = stft(signal, config)
        accelerated = rebuilt - (momentum / (1.0 + momentum)) * previous
        previous = rebuilt
        angles = accelerated / np.maximum(np.abs(accelerated), 1e-16)
    return istft(mag * angles, config)
