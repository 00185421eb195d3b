"""Run the audio math on one thread per call, as audio hosts do.

numpy's OpenBLAS (and torch's OpenMP pool and MKL, where torch is loaded) each start one thread
per core and keep them spinning after every call. On the engine's block-sized work (a few frames
of 4480 points, a small network) the pools fight each other for the cores instead of helping
(``benchmarks/host.py``). ``stylepedal render`` and ``stylepedal live`` therefore run inside
:func:`single_threaded_math`; ``stylepedal render --jobs N`` uses several cores for several
files, one process each.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

__all__ = ["single_threaded_math"]


@contextlib.contextmanager
def single_threaded_math() -> Iterator[None]:
    """Limit BLAS and OpenMP pools (and torch's intra-op pool, if torch is loaded: playing a
    preset does not load it) to one thread; restore them on exit."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(before)
