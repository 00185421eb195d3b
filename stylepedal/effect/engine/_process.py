"""How :meth:`StyleTransfer.process` runs a call: one thread at a time, a long buffer in
bounded chunks, and the one-shot mode's flush and trim.

* A one-shot call (``reset=True``) streams the buffer and then ``latency`` zeros, and drops
  the first ``latency`` output samples: the output is aligned with the input and as long, as
  pedalboard's plugins return it.
* Every call runs in chunks of at most ``buffer_size`` samples written into one preallocated
  output, so the memory a call needs grows with the output, not with the analysis frames of the
  whole buffer at once. Any partition gives the same output (the engine's contract), so
  chunking changes nothing but the memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ...errors import BusyError

__all__ = ["DEFAULT_BUFFER_SIZE", "Exclusive", "run_chunked"]

DEFAULT_BUFFER_SIZE = 8192  # pedalboard's default: the largest block one step of a call runs


class Exclusive:
    """A guard that one thread at a time may hold; a second one gets :class:`BusyError` at
    once instead of waiting (the audio path never blocks on a lock).

    Examples
    --------
    >>> guard = Exclusive("fx")
    >>> with guard:
    ...     pass
    """

    __slots__ = ("_lock", "_what")

    def __init__(self, what: str) -> None:
        self._lock = threading.Lock()
        self._what = what

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            raise BusyError(
                f"{self._what} is already processing in another thread: one object processes "
                "one stream at a time; give each thread its own (or serialise the calls)"
            )

    def __exit__(self, *exc: Any) -> None:
        self._lock.release()

    def __reduce__(self) -> tuple[Any, ...]:
        # a copy (pickle, deepcopy) gets a fresh, free guard: a lock cannot be copied
        return (Exclusive, (self._what,))


def run_chunked(
    block: Callable[[np.ndarray], np.ndarray], x: np.ndarray, buffer_size: int, flush: int
) -> np.ndarray:
    """``block`` over ``x`` (``(channels, n)`` float32) in chunks of at most ``buffer_size``
    samples, followed by ``flush`` zeros; the output is ``(channels, n)``: what ``block``
    returned, without its first ``flush`` samples (``flush=0``: the stream as it comes).

    Examples
    --------
    >>> delay = lambda c: np.concatenate([np.zeros((1, 1), np.float32), c[:, :-1]], 1)
    >>> x = np.arange(1, 6, dtype=np.float32)[np.newaxis]
    >>> run_chunked(delay, x, 2, 0)  # one sample of delay, with its state lost at each chunk
    array([[0., 1., 0., 3., 0.]], dtype=float32)
    """
    channels, n = x.shape
    out = np.empty((channels, n), dtype=np.float32)
    total = n + flush
    for start in range(0, total, buffer_size):
        stop = min(start + buffer_size, total)
        if stop <= n:
            chunk = x[:, start:stop]
        else:
            chunk = np.zeros((channels, stop - start), dtype=np.float32)
            if start < n:
                chunk[:, : n - start] = x[:, start:n]
        y = block(chunk)
        keep = max(start, flush)  # the first output sample of this chunk that is kept
        if stop > keep:
            out[:, keep - flush : stop - flush] = y[:, keep - start :]
    return out
