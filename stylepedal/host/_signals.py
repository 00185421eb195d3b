"""Termination signals that clean up like Ctrl-C, and worker processes that die with their
parent (and stop with it).

SIGTERM and SIGHUP end a Python process without running a single ``finally`` block, so a
render stopped by one left its hidden temporary file behind, and its worker processes went
on alone. :func:`terminate_as_interrupt` turns them into :class:`Terminated`, a
``KeyboardInterrupt``: every cleanup written for Ctrl-C runs for them too. A worker calls
:func:`die_with_parent` so that it is told (SIGTERM) when its parent dies, whatever killed it,
and checks :func:`parent_alive` before it hands anything on. A process pool's workers are set
up by :func:`start_worker`, run their jobs in :func:`worker_job`, and are stopped at once by
:func:`stop_pool`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

__all__ = [
    "TERMINATING",
    "Terminated",
    "die_with_parent",
    "parent_alive",
    "start_worker",
    "stop_if_orphaned",
    "stop_pool",
    "terminate_as_interrupt",
    "worker_job",
]

# The signals that ask a process to end (SIGHUP: its terminal went away); not on Windows.
TERMINATING: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_WATCH_SECONDS = 0.5  # where the kernel cannot signal a parent's death, how often to look

_parent_pid: int | None = None  # this process is a worker of that process
# A pool worker's job: none (a termination signal ends the process at once), running (the
# first stop unwinds it) or unwinding (its cleanup runs to the end; later stops wait for it).
_IDLE, _RUNNING, _UNWINDING = 0, 1, 2
_job = _IDLE


class Terminated(KeyboardInterrupt):
    """Raised in the main thread for SIGTERM or SIGHUP (see :func:`terminate_as_interrupt`).

    A ``KeyboardInterrupt``, so that every cleanup that runs for Ctrl-C runs for it too;
    ``signum`` is the signal's number (the shell's exit status for it is ``128 + signum``).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    def __str__(self) -> str:
        return f"terminated by {signal.Signals(self.signum).name}"


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated` (a KeyboardInterrupt)
    in the main thread; the previous handlers come back after it. Outside the main thread,
    where Python cannot set handlers, the block runs unchanged.

    Examples
    --------
    >>> import os, signal
    >>> try:
    ...     with terminate_as_interrupt():
    ...         os.kill(os.getpid(), signal.SIGTERM)
    ...         for _ in range(10**6):
    ...             pass
    ... except Terminated as exc:
    ...     print(exc)
    terminated by SIGTERM
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.getsignal(s) for s in TERMINATING}
    raised = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal raised
        if not raised:  # a second signal would interrupt the cleanup the first started
            raised = True
            raise Terminated(signum)

    for s in TERMINATING:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, previous in before.items():
            signal.signal(s, previous)


def die_with_parent(parent_pid: int, signum: int = signal.SIGTERM) -> None:
    """In a worker process: receive ``signum`` as soon as process ``parent_pid`` (this
    process's parent) dies, and at once if it already has.

    Linux delivers it from the kernel (``prctl(PR_SET_PDEATHSIG)``); elsewhere a daemon thread
    looks every half second. Afterwards :func:`parent_alive` tells whether the parent lives.
    """
    global _parent_pid
    _parent_pid = int(parent_pid)
    if not _kernel_signals_parent_death(signum):
        threading.Thread(
            target=_watch_parent, args=(signum,), name="stylepedal-parent-watch", daemon=True
        ).start()
    if not parent_alive():  # it died before the kernel was asked to tell us
        os.kill(os.getpid(), signum)


def parent_alive() -> bool:
    """False in a worker (:func:`die_with_parent`) whose parent has died; True elsewhere.

    A dead parent's children pass to another process, so the parent id changes.
    """
    return _parent_pid is None or os.getppid() == _parent_pid


def _kernel_signals_parent_death(signum: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)) == 0
    except (OSError, AttributeError):  # pragma: no cover - no prctl in this libc
        return False


def _watch_parent(signum: int) -> None:  # pragma: no cover - where prctl is missing
    while parent_alive():
        time.sleep(_WATCH_SECONDS)
    os.kill(os.getpid(), signum)


# -- process pools -------------------------------------------------------------------------------
def start_worker(parent_pid: int) -> None:
    """A pool worker's set-up (``initializer=start_worker, initargs=(os.getpid(),)``): Ctrl-C
    is the parent's, which stops its workers itself; SIGTERM and SIGHUP, which the parent's
    death sends too, unwind a running :func:`worker_job` (its cleanup runs) and else end the
    process at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for s in TERMINATING:
        signal.signal(s, _on_termination)
    die_with_parent(parent_pid)


def _on_termination(signum: int, frame: FrameType | None) -> None:
    global _job
    if _job == _RUNNING:
        _job = _UNWINDING
        raise Terminated(signum)
    if _job == _IDLE:
        os._exit(128 + signum)
    # unwinding already: a second stop (the parent's death signal after the job's own check,
    # or the pool's SIGTERM) must not cut the cleanup short; the pool kills a stuck worker


def stop_if_orphaned() -> None:
    """In a :func:`worker_job`: unwind it as a termination signal does, if the parent has
    died (:func:`parent_alive`); the job calls this between its steps. Nothing once the job
    is unwinding already."""
    if not parent_alive() and _job == _RUNNING:
        _on_termination(signal.SIGTERM, None)


@contextlib.contextmanager
def worker_job() -> Iterator[None]:
    """A pool worker's job: the first termination signal in it (or :func:`stop_if_orphaned`)
    unwinds it (``finally`` blocks run, temporary files go) and later ones wait for that;
    then the process ends, so that the pool hands it nothing more."""
    global _job
    _job = _RUNNING
    try:
        yield
    except Terminated as exc:
        os._exit(128 + exc.signum)
    finally:
        _job = _IDLE


def stop_pool(pool: Any) -> None:
    """Stop a ``concurrent.futures.ProcessPoolExecutor``'s workers now: SIGTERM (each cleans
    up its job, see :func:`worker_job`), then wait for them; one that does not stop is
    killed."""
    # the pool's processes (pid -> Process): before Python 3.14 no public call stops them
    procs = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)  # shutdown() forgets it
    for proc in procs:
        with contextlib.suppress(OSError):
            proc.terminate()
    for proc in procs:
        proc.join(timeout=10)
        if proc.is_alive():  # pragma: no cover - a worker stuck in native code
            proc.kill()
            proc.join()
    pool.shutdown(wait=False, cancel_futures=True)
    # With the workers gone the pool's manager thread ends at once; wait for it (bounded), or
    # the interpreter's exit hook may wake it through a pipe it is closing (Python 3.11's
    # concurrent.futures does not lock the two): a traceback at exit.
    if manager is not None:
        manager.join(timeout=10)
