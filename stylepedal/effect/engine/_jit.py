"""One line to the user while numba compiles the kernels, which happens once per machine.

The first run spends some seconds compiling (``stylepedal render`` seems to hang otherwise);
later runs load the kernels from numba's on-disk cache and say nothing.
"""

from __future__ import annotations

import functools
import logging
import pickle
from collections.abc import Iterable
from typing import Any

__all__ = ["COMPILE_NOTICE", "notice_if_compiling"]

log = logging.getLogger("stylepedal.effect.engine")

COMPILE_NOTICE = "compiling audio kernels (first run only, up to half a minute)..."
_told: list[bool] = []


def notice_if_compiling(functions: Iterable[Any]) -> bool:
    """Log :data:`COMPILE_NOTICE` (once per process) if numba's cache holds no compiled code
    for one of ``functions`` (numba dispatchers made with ``cache=True``); return whether it
    is compiling."""
    cold = any(_cache_is_cold(f) for f in functions)
    if cold and not _told:
        _told.append(True)
        log.info(COMPILE_NOTICE)
    return cold


@functools.cache
def _cache_is_cold(function: Any) -> bool:
    """True if numba will compile ``function`` rather than load it: its cache index is
    missing, or stale for the current source (numba then reads it as empty)."""
    if function.signatures:  # compiled or loaded in this process already
        return False
    try:
        return not function._cache._cache_file._load_index()
    except (AttributeError, OSError, EOFError, ValueError, pickle.UnpicklingError):
        # another numba's internals, or a damaged index: numba copes, and we say nothing
        return False
