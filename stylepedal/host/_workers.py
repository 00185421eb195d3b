"""Channel workers: each channel but the first of a stylepedal effect in a forked process,
and the pipelined offline stream that runs the rest of the chain a block behind
(:meth:`stylepedal.host.chain.Chain.stream`).

The effect treats channels independently and every process gets the same blocks, so the output
is the same, bit for bit, at the same latency. Fork, not spawn: the workers start in
milliseconds with the loaded model and the math libraries already pinned to one thread. Where
fork is missing or unsafe (:func:`fork_available`), a stream runs every channel in this one
process instead, with the same output.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._signals import TERMINATING, die_with_parent
from ._stages import MAX_BLOCK, in_pieces

__all__ = ["NO_FORK_ENV", "PIPE_FRAMES", "ChannelWorkerStage", "fork_available"]

# Set to 1 to run every channel in one process, as where fork is missing.
NO_FORK_ENV = "STYLEPEDAL_NO_FORK"

# Frames per block of a pipelined stream (Chain.stream); render_file's default chunk is as
# long. The two processes meet twice per block and the one ahead waits at each meeting: long
# blocks wait less (benchmarks/host.py). The sockets' buffers are widened to hold a block
# (_widen), so that a send does not wait for the reader either.
PIPE_FRAMES = 8 * MAX_BLOCK

_DRAIN = b"\x00"  # "send the block you hold" (no float32 block is 1 byte long)


def fork_available() -> bool:
    """Whether channel workers may be forked here: the OS forks, is not macOS (whose system
    libraries may crash in a forked child of a process that used them), and
    ``$STYLEPEDAL_NO_FORK`` is unset or 0.

    Examples
    --------
    >>> isinstance(fork_available(), bool)
    True
    """
    if os.environ.get(NO_FORK_ENV, "").strip() not in ("", "0"):
        return False
    return sys.platform != "darwin" and "fork" in multiprocessing.get_all_start_methods()


def _socket_bytes(channels: int) -> int:
    """The socket buffer a pipelined stream of ``channels`` asks for: two whole blocks (the
    largest message is one, with its underrun counts)."""
    return 2 * 4 * channels * PIPE_FRAMES + 65536


def _widen(conn: Any, size: int) -> None:
    """Ask for ``size`` bytes of send and receive buffer on this end of a socket pair (best
    effort: the kernel caps it at ``net.core.wmem_max``; the protocol does not depend on it,
    only how long a send waits)."""
    try:
        sock = socket.socket(fileno=os.dup(conn.fileno()))
    except (OSError, ValueError):  # pragma: no cover - not a socket
        return
    with sock:
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, size)
            except OSError:  # pragma: no cover - refused: keep the default
                pass


def _error_reply(text: str) -> bytes:
    """A worker's error message, padded to a length that is not a multiple of 4: every
    block reply (float32 samples, int64 counts) is one, so neither is taken for the other."""
    data = text[:1000].encode()
    return data + b" " * ((1 - len(data)) % 4)


def _channel_worker(
    effect: Any,
    sample_rate: int,
    conn: Any,
    post: Sequence[Any] = (),
    inherited: Sequence[Any] = (),
    parent_pid: int | None = None,
) -> None:
    """A forked process running ``effect`` on one channel: blocks in, blocks out, until an
    empty message (or the parent's end of the pipe closes).

    With ``post`` stages (the pipelined offline stream, see :meth:`Chain.stream`) each block is
    followed by a second message, the other channels' outputs of the effect; the worker puts
    its channel among them and runs ``post`` on the whole block. It sends that (followed by
    the post stages' FIFO underrun counts, int64 each) only after it has computed its channel
    of the next block, or on a :data:`_DRAIN` message: so it never sends while the parent
    may be sending to it, and no pipe size can deadlock the two.
    """
    # Ctrl-C and SIGTERM/SIGHUP are the parent's to handle: it stops us through the pipe.
    # Should it die without doing so, so do we (we hold no file).
    for s in (signal.SIGINT, *TERMINATING):
        signal.signal(s, signal.SIG_IGN)
    if parent_pid is not None:
        die_with_parent(parent_pid, signal.SIGKILL)
    for other in inherited:
        other.close()
    effect.reset()
    held: bytes | None = None  # the post stages' output of the block before, or an error

    def run(x: np.ndarray) -> np.ndarray:
        y = np.ascontiguousarray(effect.process(x, sample_rate, reset=False), np.float32)
        if y.shape != x.shape:
            raise RuntimeError(f"returned shape {y.shape} for input {x.shape}")
        return y

    try:
        while True:
            msg = conn.recv_bytes()
            if not msg:
                break
            if msg == _DRAIN:
                if held is not None:
                    conn.send_bytes(held)
                    held = None
                continue
            error = y = None
            try:
                y = in_pieces(run, np.frombuffer(msg, dtype=np.float32))
            except Exception as exc:  # reported to the parent, which raises it
                error = _error_reply(f"{type(exc).__name__}: {exc}")
            if not post:
                conn.send_bytes(error if y is None else y)
                continue
            if held is not None:
                conn.send_bytes(held)
                held = None
            rest = conn.recv_bytes()
            if not rest:
                break  # the parent stopped between the two messages
            held = error if y is None else _post_block(post, rest, y)
    except (EOFError, OSError):
        pass
    finally:
        conn.close()


def _post_block(post: Sequence[Any], rest: bytes, y: np.ndarray) -> bytes:
    """The worker's half of a pipelined block: its channel ``y`` put among the other
    channels' outputs ``rest``, through the ``post`` stages; or the error, as text."""
    where = ""
    try:
        others = np.frombuffer(rest, dtype=np.float32).reshape(-1, y.size)
        block = np.concatenate((others[:1], y[np.newaxis], others[1:]))

        def run(x: np.ndarray) -> np.ndarray:
            nonlocal where
            for stage in post:
                where = f"{stage.item!r}: "
                x = stage.process(x)
            return x

        out = np.ascontiguousarray(in_pieces(run, block), np.float32)
        counts = np.array([getattr(s, "underruns", 0) for s in post], dtype=np.int64)
        return out.tobytes() + counts.tobytes()
    except Exception as exc:
        return _error_reply(f"{where}{type(exc).__name__}: {exc}")


class ChannelWorkerStage:
    """A channel-independent stylepedal effect, each channel but the first in a forked worker.

    Every block's other channels go to the workers, this process computes the first channel
    meanwhile, then collects theirs: the same blocks as in one process, so the same output, bit
    for bit, at the same latency.

    With ``post`` stages (set before :meth:`spawn`) the worker of channel 1 also runs the
    stages that follow this effect in the chain, one block behind: :meth:`submit` a block and
    get the chain's output of the block before, :meth:`drain` the last (see
    :meth:`Chain.stream`).
    """

    def __init__(self, effect: Any) -> None:
        self.item = effect
        self.post: list[Any] = []
        self._procs: list[Any] = []
        self._conns: list[Any] = []
        self._held: int | None = None  # frames of the block the channel-1 worker holds

    def latency(self, sample_rate: int, channels: int) -> int:
        return int(self.item.latency_samples(sample_rate))

    def start(self, sample_rate: int, channels: int) -> None:
        self.close()
        self.item.reset()
        self.sample_rate = sample_rate
        self.channels = channels

    def spawn(self) -> None:
        """Fork the workers, once this and the ``post`` stages have started: they start at
        once with this process's state (model loaded, libraries imported and pinned, plugins
        pre-rolled); nothing is pickled."""
        ctx = multiprocessing.get_context("fork")
        for c in range(1, self.channels):
            parent, child = ctx.Pipe()
            for conn in (parent, child):
                _widen(conn, _socket_bytes(self.channels))
            post = self.post if c == 1 else ()
            # the child closes the parent's ends it inherits (this pipe's and its siblings'):
            # else closing them here would not end a worker blocked in a send
            proc = ctx.Process(
                target=_channel_worker,
                args=(self.item, self.sample_rate, child, post, [*self._conns, parent],
                      os.getpid()),
                daemon=True,
            )
            proc.start()
            child.close()
            self._procs.append(proc)
            self._conns.append(parent)

    def _check_running(self, x: np.ndarray) -> None:
        if len(self._conns) != x.shape[0] - 1:
            raise RuntimeError(
                f"{self.item!r}: the channel workers were stopped by an earlier error; "
                "restart the stream (reset=True)"
            )

    def process(self, x: np.ndarray) -> np.ndarray:
        self._check_running(x)
        try:
            return self._effect_outputs(x)
        except BaseException:
            self.close()  # a pipe may hold an unread block: never read it as the next one
            raise

    def _effect_outputs(self, x: np.ndarray, skip: int | None = None) -> np.ndarray:
        """Send the other channels to the workers, compute the first, collect the others but
        channel ``skip``'s (which that worker keeps)."""
        for c, conn in enumerate(self._conns, start=1):
            conn.send_bytes(x[c])
        y = np.empty_like(x)
        y[0] = in_pieces(lambda p: self.item.process(p, self.sample_rate, reset=False), x[0])
        for c in range(1, x.shape[0]):
            if c != skip:
                y[c] = np.frombuffer(self._receive(c, 4 * x.shape[1]), dtype=np.float32)
        return y

    def _receive(self, c: int, size: int) -> bytes:
        try:
            msg = self._conns[c - 1].recv_bytes()
        except (EOFError, OSError) as exc:
            raise RuntimeError(f"{self.item!r}: channel worker {c} died") from exc
        if len(msg) % 4:
            raise RuntimeError(
                f"{self.item!r} failed in channel worker {c}: "
                f"{msg.decode(errors='replace').rstrip()}"
            )
        if len(msg) != size:
            raise RuntimeError(
                f"{self.item!r}: channel worker {c} sent {len(msg)} bytes, expected {size}"
            )
        return msg

    def submit(self, x: np.ndarray) -> np.ndarray | None:
        """Start a block through the effect and the ``post`` stages (pipelined mode); return
        the chain's output of the block before (None for the first block).

        Both processes stay busy: the channel-1 worker computes its channel of this block
        while this process computes channel 0, then sends the block before (which it ran
        through the ``post`` stages while this process handed on the block before that and
        prepared this one), then gets this block's other channels.
        """
        self._check_running(x)
        try:
            y = self._effect_outputs(x, skip=1)
            done = self._take() if self._held is not None else None
            self._conns[0].send_bytes(np.delete(y, 1, axis=0))
            self._held = x.shape[1]
            return done
        except BaseException:
            self.close()
            raise

    def drain(self) -> np.ndarray | None:
        """The chain's output of the last submitted block (pipelined mode), if any."""
        if self._held is None:
            return None
        try:
            self._conns[0].send_bytes(_DRAIN)
            return self._take()
        except BaseException:
            self.close()
            raise

    def _take(self) -> np.ndarray:
        assert self._held is not None
        n, self._held = self._held, None
        counts = 8 * len(self.post)
        msg = self._receive(1, 4 * self.channels * n + counts)
        runs_dry_counts = np.frombuffer(msg[-counts:], dtype=np.int64)
        for stage, runs_dry in zip(self.post, runs_dry_counts, strict=True):
            if hasattr(stage, "underruns"):  # this process's copy shows the worker's count
                stage.underruns = int(runs_dry)
        return np.frombuffer(msg[:-counts], dtype=np.float32).reshape(self.channels, n)

    def close(self) -> None:
        """Stop the workers (each finishes its block first); idempotent."""
        for conn in self._conns:
            try:
                conn.send_bytes(b"")
            except (OSError, ValueError):
                pass
            conn.close()  # a worker blocked sending to us gets an error and stops
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():  # pragma: no cover - a worker stuck in a block
                proc.kill()
                proc.join()
        self._procs, self._conns = [], []
        self._held = None


