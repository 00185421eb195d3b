"""The real FFT pair of the engine: scipy's pocketfft, on the calling thread.

One backend for every call, live and offline, so playing a preset needs no torch (torch's MKL
FFT was faster on offline batches; ``benchmarks/host.py`` measures the render).
"""

from __future__ import annotations

import numpy as np
import scipy.fft

__all__ = ["irfft", "rfft"]

def _load_pocketfft() -> object | None:
    """scipy's pocketfft binding, called without the ~10 Python calls of ``scipy.fft``'s
    dispatch (argument checks, uarray backend lookup) that wrap it.

    Those calls cost little when hot, but in a live callback the interpreter's caches are cold
    and each costs microseconds (``benchmarks/live_frame.py``). The binding is private to
    scipy, so it is used only if it is there and gives ``scipy.fft``'s own result bit for bit
    on a probe; else the public functions are used (same result, slower).
    """
    try:
        from scipy.fft._pocketfft import pypocketfft as binding  # type: ignore[attr-defined]

        probe = np.sin(np.arange(2 * 30, dtype=np.float32)).reshape(2, 30)
        spec = binding.r2c(probe, (-1,), True, 0, None, 1)
        back = binding.c2r(spec, (-1,), 30, False, 2, None, 1)
        if np.array_equal(spec, scipy.fft.rfft(probe, axis=-1)) and np.array_equal(
            back, scipy.fft.irfft(spec, n=30, axis=-1)
        ):
            return binding
    except Exception:  # noqa: BLE001 - any change in scipy's internals: use the public API
        pass
    return None


_POCKETFFT = _load_pocketfft()
_REAL = (np.dtype(np.float32), np.dtype(np.float64))
_COMPLEX = (np.dtype(np.complex64), np.dtype(np.complex128))


def rfft(frames: np.ndarray) -> np.ndarray:
    """Real FFT over the last axis (complex64 for float32 input)."""
    if _POCKETFFT is not None and frames.ndim and frames.dtype in _REAL and frames.shape[-1]:
        return _POCKETFFT.r2c(frames, (-1,), True, 0, None, 1)  # type: ignore[attr-defined]
    return scipy.fft.rfft(frames, axis=-1, workers=1)


def irfft(spec: np.ndarray, n: int) -> np.ndarray:
    """Inverse of :func:`rfft` to ``n`` samples."""
    if (
        _POCKETFFT is not None
        and spec.ndim
        and spec.dtype in _COMPLEX
        and spec.shape[-1] == n // 2 + 1 > 1
    ):
        return _POCKETFFT.c2r(spec, (-1,), n, False, 2, None, 1)  # type: ignore[attr-defined]
    return scipy.fft.irfft(spec, n=n, axis=-1, workers=1)
