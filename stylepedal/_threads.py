"""Run the audio math on one thread per call, as audio hosts do.

numpy's OpenBLAS, torch's OpenMP pool and MKL each start one thread per core and keep them
spinning after every call. On the engine's block-sized work (a few frames of 4480 points, a
96-channel network) the pools fight each other for the cores instead of helping: a 4-minute
stereo render measured 13.7x real time with the libraries' default threads and 52-58x with one
thread each (2-core machine). ``stylepedal render`` and ``stylepedal live`` therefore run inside
:func:`single_threaded_math`; ``stylepedal render --jobs N`` uses several cores for several
files, one process each.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["single_threaded_math"]


@contextlib.contextmanager
def single_threaded_math() -> Iterator[None]:
    """Limit BLAS, OpenMP and torch's intra-op pool to one thread; restore them on exit."""
    # torch first: threadpoolctl limits only the libraries loaded when it is entered, and the
    # engine imports torch lazily (its FFT on offline batches), which would otherwise bring an
    # unpinned OpenMP pool into the render. torch is a dependency of the package anyway.
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    with threadpool_limits(limits=1):
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)
