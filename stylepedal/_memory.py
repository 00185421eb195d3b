"""Keep the allocator from handing freed block buffers back to the kernel (glibc only).

The engine's offline path allocates a few arrays of 0.3-3 MB per block (windowed frames, their
spectra). glibc serves blocks that large with ``mmap`` and trims freed heap memory back to the
kernel, so the same pages are faulted in again on every block: a third of a render's wall time
went to minor page faults, and its speed varied 2x from run to run (``benchmarks/host.py``).
Raising glibc's mmap and trim thresholds keeps those pages in the process. In the live path it
keeps page faults, which can stall for longer than a block, out of the audio callback.

This changes a process-wide setting, so the library never does it on import: the two heavy entry
points, :func:`stylepedal.host.render.render_file` and :func:`stylepedal.host.live.run_live`,
call :func:`keep_freed_memory` (once; later calls do nothing). The cost is that memory freed
after a peak stays with the process (it is reused by the next blocks).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["keep_freed_memory"]

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum for 64-bit processes
TRIM_THRESHOLD = 512 * 1024 * 1024

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Raise glibc's mmap/trim thresholds so per-block buffers are reused, not re-faulted.

    Returns True when the setting is in effect (glibc on Linux), False elsewhere (other C
    libraries manage this themselves). Idempotent.
    """
    global _done
    if _done is not None:
        return _done
    _done = False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs: no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _done
