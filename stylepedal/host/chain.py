"""One ordered chain of pedalboard plugins and stylepedal effects, streamed or offline.

A :class:`pedalboard.Pedalboard` cannot hold Python objects, so :class:`Chain` runs pedalboard
plugins and stylepedal effects (anything with ``process(audio, sample_rate, *, reset=...)`` and
``latency_samples(sample_rate)``) side by side. Every call returns exactly as many samples as it
was given, delayed by :meth:`Chain.latency_samples`; any partition of the input gives the same
output, and :meth:`Chain.process_offline` is the same signal with the latency trimmed.

How pedalboard plugins are made partition-invariant (each fact measured with pedalboard 0.9):

* With ``reset=False`` a plugin is re-prepared (its state cleared) whenever a block is *longer*
  than any before it. Each stream therefore starts every plugin with one pre-roll block of
  :data:`MAX_BLOCK` zeros, whose output is discarded, and never hands it a longer block.
* Some plugins return fewer samples than they were given while they fill internal buffers
  (Resample, BrickwallLimiter, MP3Compressor, GSMFullRateCompressor, PitchShift). Those are
  found by counting the samples a plugin returns during a measurement run at the stream's rate
  (once per rate); they are then fed in fixed blocks of :data:`FIXED_BLOCK` samples (the codecs'
  output depends on call boundaries otherwise) and read through a FIFO preloaded with enough
  zeros that it never runs dry. Their latency is the measured shortfall plus the wait for a
  full fixed block. (GSMFullRateCompressor gets 4096-sample blocks: with short ones pedalboard's
  codec returns near-silence.) A plugin that returns only zeros when streamed (pedalboard
  0.9's PitchShift does) is refused with :class:`~stylepedal.errors.ParameterError`.
* A multi-channel stream can run each channel of a stylepedal effect but the first in a forked
  worker process (``start(..., channel_workers=True)``, which ``render`` uses on a machine with
  more than one core): the effect treats channels independently and every process gets the same
  blocks, so the output is the same, bit for bit, at the same latency. :meth:`Chain.stream`
  (what ``render`` runs) also pipelines the chain over the processes: the stages after the
  last stylepedal effect run in its channel-1 worker a block behind, while this process
  computes channel 0 of the next block.
* pedalboard reads a ``(2, 1)`` stereo block as two mono frames and refuses ``(2, 2)``, so a
  multi-channel chain collects at least ``channels + 1`` frames before it processes anything:
  ``channels`` samples more latency (none for mono).
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .._validate import (
    as_audio_2d,
    check_positive_int,
    check_sample_rate,
    restore_layout,
)
from ..effect.engine.effect import finite_or_zeroed
from ..errors import ParameterError

__all__ = ["Chain", "FIXED_BLOCK", "MAX_BLOCK"]

log = logging.getLogger(__name__)

MAX_BLOCK = 8192  # pedalboard's own default buffer size: the pre-roll and the largest call
FIXED_BLOCK = 64  # block size for plugins that return fewer samples than they get
# pedalboard 0.9's GSMFullRateCompressor outputs near-silence (-60 dB) when streamed in blocks
# shorter than about 1024 samples (measured at 48 kHz): feed it blocks of the size it works at.
_FIXED_BLOCK_FOR = {"GSMFullRateCompressor": 4096}
# Frames per block of a pipelined stream (Chain.stream); render_file's default chunk is as
# long. The two processes meet twice per block, and at each meeting the one ahead waits. A
# 4-minute stereo render through Compressor -> preset -> Reverb (render_file on the track of
# benchmarks/host.py, interleaved runs) took 3.07-3.30 s (73-78x) with blocks of 16384
# frames, 2.20-3.02 s (80-109x) with 65536; this process waited 0.34-0.39 s, then 0.05-0.24 s.
# The sockets' buffers are widened to hold a block (_widen), so that a send does not wait for
# the reader either: 0.13-0.25 s of sending, then 0.02-0.03 s.
_PIPE_FRAMES = 8 * MAX_BLOCK
_MEASURE_LEVEL = 0.01  # measurement signal: quiet noise (a codec might treat silence apart)
_MEASURE_AFTER_S = 1.0  # keep counting this long after a plugin's first output
_MEASURE_MAX_S = 20.0  # a plugin that returns nothing for this long is refused


class _Fifo:
    """A (channels, n) float32 first-in first-out buffer that grows only when it must."""

    __slots__ = ("buf", "lo", "hi")

    def __init__(self, channels: int, capacity: int) -> None:
        self.buf = np.zeros((channels, max(16, capacity)), dtype=np.float32)
        self.lo = 0
        self.hi = 0

    def __len__(self) -> int:
        return self.hi - self.lo

    def push_zeros(self, n: int) -> None:
        self._room(n)
        self.buf[:, self.hi : self.hi + n] = 0.0
        self.hi += n

    def push(self, x: np.ndarray) -> None:
        n = x.shape[1]
        self._room(n)
        self.buf[:, self.hi : self.hi + n] = x
        self.hi += n

    def pop(self, n: int) -> tuple[np.ndarray, int]:
        """Return the oldest ``n`` frames (a copy) and how many were missing (zero-filled)."""
        have = min(n, len(self))
        out = np.empty((self.buf.shape[0], n), dtype=np.float32)
        out[:, :have] = self.buf[:, self.lo : self.lo + have]
        out[:, have:] = 0.0
        self.lo += have
        if self.lo == self.hi:
            self.lo = self.hi = 0
        return out, n - have

    def _room(self, n: int) -> None:
        size = len(self)
        if self.hi + n <= self.buf.shape[1]:
            return
        if size + n > self.buf.shape[1]:
            grown = np.zeros((self.buf.shape[0], 2 * (size + n)), dtype=np.float32)
            grown[:, :size] = self.buf[:, self.lo : self.hi]
            self.buf = grown
        else:
            self.buf[:, :size] = self.buf[:, self.lo : self.hi]
        self.lo, self.hi = 0, size


def _as_channels_first(y: Any, channels: int) -> np.ndarray:
    """pedalboard returns an empty block as shape (0, 0): give it the stream's channel count."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 2 or y.shape[0] != channels:
        if y.size == 0:
            return np.zeros((channels, 0), dtype=np.float32)
        raise RuntimeError(f"plugin returned shape {y.shape} for {channels} channels")
    return y


class _EffectStage:
    """A stylepedal effect: returns as many samples as it gets, delayed by its latency."""

    def __init__(self, effect: Any) -> None:
        self.item = effect

    def latency(self, sample_rate: int, channels: int) -> int:
        return int(self.item.latency_samples(sample_rate))

    def start(self, sample_rate: int, channels: int) -> None:
        self.item.reset()
        self.sample_rate = sample_rate

    def process(self, x: np.ndarray) -> np.ndarray:
        y = self.item.process(x, self.sample_rate, reset=False)
        if y.shape != x.shape:
            raise RuntimeError(
                f"{self.item!r} returned shape {y.shape} for input {x.shape}: an effect in a "
                "Chain must return as many samples as it gets"
            )
        return y


def _in_pieces(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """``run`` over ``x`` cut into :data:`MAX_BLOCK` pieces along the last axis, as
    :meth:`Chain.process` cuts a block: the same calls, so the same output."""
    n = x.shape[-1]
    if n <= MAX_BLOCK:
        return run(x)
    return np.concatenate([run(x[..., i : i + MAX_BLOCK]) for i in range(0, n, MAX_BLOCK)], -1)


_DRAIN = b"\x00"  # "send the block you hold" (no float32 block is 1 byte long)


def _socket_bytes(channels: int) -> int:
    """The socket buffer a pipelined stream of ``channels`` asks for: two whole blocks (the
    largest message is one, with its underrun counts)."""
    return 2 * 4 * channels * _PIPE_FRAMES + 65536


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
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops us
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
                y = _in_pieces(run, np.frombuffer(msg, dtype=np.float32))
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

        out = np.ascontiguousarray(_in_pieces(run, block), np.float32)
        counts = np.array([getattr(s, "underruns", 0) for s in post], dtype=np.int64)
        return out.tobytes() + counts.tobytes()
    except Exception as exc:
        return _error_reply(f"{where}{type(exc).__name__}: {exc}")


class _ChannelWorkerStage:
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
                args=(self.item, self.sample_rate, child, post, [*self._conns, parent]),
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
        y[0] = _in_pieces(lambda p: self.item.process(p, self.sample_rate, reset=False), x[0])
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


class _PluginStage:
    """A pedalboard plugin, pre-rolled; FIFO-fed in fixed blocks if it returns short."""

    def __init__(self, plugin: Any) -> None:
        self.item = plugin
        self._shortfall: dict[int, int] = {}  # sample rate -> measured start-up shortfall
        self.underruns = 0
        self.fixed_block = _FIXED_BLOCK_FOR.get(type(plugin).__name__, FIXED_BLOCK)

    # ---- measurement
    def shortfall(self, sample_rate: int) -> int:
        """Largest number of samples the plugin lags behind its input, measured once per rate."""
        if sample_rate not in self._shortfall:
            self._shortfall[sample_rate] = self._measure(sample_rate)
        return self._shortfall[sample_rate]

    def _measure(self, sample_rate: int) -> int:
        p = self.item
        rng = np.random.default_rng(0)
        p.reset()
        discard = MAX_BLOCK - _as_channels_first(
            p.process(np.zeros((1, MAX_BLOCK), np.float32), sample_rate, reset=False), 1
        ).shape[1]
        fed = got = worst = 0
        peak = 0.0
        first_output_at = None
        g = self.fixed_block
        block = (_MEASURE_LEVEL * rng.standard_normal((1, g))).astype(np.float32)
        limit = int(_MEASURE_MAX_S * sample_rate)
        after = int(_MEASURE_AFTER_S * sample_rate)
        while fed < limit:
            y = _as_channels_first(p.process(block, sample_rate, reset=False), 1)
            n = y.shape[1]
            fed += g
            k = min(discard, n)
            if n > k:
                peak = max(peak, float(np.abs(y[:, k:]).max()))
            discard -= k
            got += n - k
            worst = max(worst, fed - got)
            if got and first_output_at is None:
                first_output_at = fed
            if first_output_at is not None and fed >= first_output_at + after:
                break
        p.reset()
        if first_output_at is None:
            raise ParameterError(
                f"{type(p).__name__} returned no audio for {_MEASURE_MAX_S:g} s at "
                f"sample_rate={sample_rate}: it cannot be used in a chain at this rate"
            )
        if worst and peak == 0.0:
            # pedalboard 0.9's PitchShift streams only zeros with reset=False: refuse it
            # rather than render silence.
            raise ParameterError(
                f"{type(p).__name__} returns only silence when streamed at "
                f"sample_rate={sample_rate} (a pedalboard limitation): it cannot be used in a "
                "chain; apply it to the file offline with pedalboard instead"
            )
        return worst

    def latency(self, sample_rate: int, channels: int) -> int:
        short = self.shortfall(sample_rate)
        return 0 if short == 0 else short + self.fixed_block - 1

    # ---- streaming
    def start(self, sample_rate: int, channels: int) -> None:
        short = self.shortfall(sample_rate)
        self.sample_rate = sample_rate
        self.channels = channels
        self.fixed = short > 0
        p = self.item
        p.reset()
        y = _as_channels_first(
            p.process(np.zeros((channels, MAX_BLOCK), np.float32), sample_rate, reset=False),
            channels,
        )
        self.discard = MAX_BLOCK - y.shape[1]
        g = self.fixed_block
        self.inq = _Fifo(channels, 2 * g)
        self.outq = _Fifo(channels, 4 * (short + g))
        if self.fixed:
            self.outq.push_zeros(short + g - 1)

    def _run(self, x: np.ndarray) -> None:
        y = _as_channels_first(self.item.process(x, self.sample_rate, reset=False), self.channels)
        if self.discard:
            k = min(self.discard, y.shape[1])
            self.discard -= k
            y = y[:, k:]
        self.outq.push(y)

    def process(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[1]
        if not self.fixed:
            y = _as_channels_first(
                self.item.process(x, self.sample_rate, reset=False), self.channels
            )
            if y.shape[1] == n and not self.discard and not len(self.outq):
                return y  # the usual case: a plugin that keeps pace, nothing buffered
            if self.discard:
                k = min(self.discard, y.shape[1])
                self.discard -= k
                y = y[:, k:]
            self.outq.push(y)
        else:
            self.inq.push(x)
            while len(self.inq) >= self.fixed_block:
                block, _ = self.inq.pop(self.fixed_block)
                self._run(block)
        out, missing = self.outq.pop(n)
        if missing:
            # Never expected (the preload covers the measured shortfall); count, do not raise.
            self.underruns += 1
        return out


def _make_stage(item: Any) -> _EffectStage | _PluginStage:
    import pedalboard

    if isinstance(item, pedalboard.Plugin):
        return _PluginStage(item)
    if callable(getattr(item, "process", None)) and callable(
        getattr(item, "latency_samples", None)
    ):
        return _EffectStage(item)
    raise ParameterError(
        f"chain item {item!r} is neither a pedalboard plugin nor an effect with "
        "process(audio, sample_rate, *, reset) and latency_samples(sample_rate)"
    )


class Chain:
    """An ordered chain of pedalboard plugins and stylepedal effects.

    Parameters
    ----------
    items : iterable
        pedalboard plugins (``pedalboard.Compressor(...)``, from :func:`~stylepedal.host.spec.
        parse_spec`, ...) and stylepedal effects (:class:`~stylepedal.effect.StyleTransfer`),
        applied in order. Effects are owned by the chain while it streams: do not process them
        elsewhere at the same time.

    Examples
    --------
    >>> import numpy as np, pedalboard
    >>> from stylepedal.effect import StyleTransfer
    >>> chain = Chain([pedalboard.Gain(gain_db=-6), StyleTransfer.identity()])
    >>> x = np.zeros(4800, dtype=np.float32); x[0] = 1.0
    >>> y = chain.process(x, 48000, reset=True)          # streaming: delayed by the latency
    >>> int(np.argmax(np.abs(y))) == chain.latency_samples(48000)
    True
    >>> z = chain.process_offline(x, 48000)              # offline: latency trimmed
    >>> int(np.argmax(np.abs(z)))
    0
    """

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self._stages = [_make_stage(item) for item in items]
        self._stream: tuple[int, int] | None = None  # (sample_rate, channels) when running
        self._inq: _Fifo | None = None
        self._outq: _Fifo | None = None
        self._active: list[Any] = list(self._stages)  # the running stream's stages

    # ------------------------------------------------------------------ container protocol
    @property
    def items(self) -> tuple[Any, ...]:
        """The plugins and effects, in processing order."""
        return tuple(stage.item for stage in self._stages)

    def __len__(self) -> int:
        return len(self._stages)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __getitem__(self, index: int) -> Any:
        return self._stages[index].item

    def __repr__(self) -> str:
        return f"Chain([{', '.join(repr(i) for i in self.items)}])"

    @property
    def underruns(self) -> int:
        """Times a short-returning plugin's FIFO ran dry (zero-filled); 0 unless a plugin's
        start-up lag grew beyond what was measured."""
        return sum(getattr(s, "underruns", 0) for s in self._stages)

    # ------------------------------------------------------------------ latency
    @staticmethod
    def _layout_slack(channels: int) -> int:
        return channels if channels > 1 else 0

    def latency_samples(self, sample_rate: int, *, channels: int = 1) -> int:
        """Delay of the streamed output behind the input, in samples.

        The sum of the effects' latencies, the measured start-up shortfall of pedalboard plugins
        that return fewer samples than they get (plus the wait for a fixed block), and, with more
        than one channel, ``channels`` samples of layout slack. Measuring a plugin the first time
        at a rate runs it on a short test signal, which restarts a running stream.

        Examples
        --------
        >>> from stylepedal.effect import StyleTransfer
        >>> Chain([StyleTransfer.identity()]).latency_samples(48000)
        511
        >>> Chain([StyleTransfer.identity()]).latency_samples(48000, channels=2)
        513
        >>> Chain().latency_samples(44100)
        0
        """
        sr = check_sample_rate(sample_rate)
        channels = check_positive_int(channels, "channels")
        if not self._stages:
            return 0
        for stage in self._stages:
            if isinstance(stage, _PluginStage) and sr not in stage._shortfall:
                self._stream = None  # measuring disturbs the plugin: restart on next block
        return self._layout_slack(channels) + sum(s.latency(sr, channels) for s in self._stages)

    def _stages_for(self, channels: int, channel_workers: bool, pipelined: bool) -> list[Any]:
        """The stages of a stream: with channel workers (more than one channel) each stylepedal
        effect runs its channels but the first in worker processes; ``pipelined`` also hands
        the stages after the last of them to its channel-1 worker (see :meth:`stream`)."""
        if not channel_workers or channels < 2:
            return list(self._stages)
        from ..effect.engine.effect import StyleTransfer

        stages: list[Any] = [
            _ChannelWorkerStage(s.item)
            if isinstance(s, _EffectStage) and isinstance(s.item, StyleTransfer)
            else s
            for s in self._stages
        ]
        workers = [i for i, s in enumerate(stages) if isinstance(s, _ChannelWorkerStage)]
        if pipelined and workers and workers[-1] + 1 < len(stages):
            stages[workers[-1]].post = stages[workers[-1] + 1 :]
        return stages

    @property
    def _pipe(self) -> _ChannelWorkerStage | None:
        """The running stream's stage whose worker runs the rest of the chain, if any."""
        for stage in self._active:
            if isinstance(stage, _ChannelWorkerStage) and stage.post:
                return stage
        return None

    # ------------------------------------------------------------------ streaming
    def reset(self) -> None:
        """End the current stream; the next :meth:`process` starts a new one."""
        self._stream = None
        self._close_workers()

    def _close_workers(self) -> None:
        for stage in self._active:
            if isinstance(stage, _ChannelWorkerStage):
                stage.close()
        self._active = list(self._stages)

    def start(self, sample_rate: int, channels: int, *, channel_workers: bool = False) -> None:
        """Start a new stream now (measure, pre-roll): do this off the audio thread.

        :meth:`process` starts a stream by itself when needed; a live host calls this first so
        that the audio callback only ever continues a prepared stream.

        ``channel_workers=True`` (for offline rendering: each block waits for the workers) runs
        the channels but the first of each stylepedal effect of a multi-channel stream in
        forked worker processes, one per channel, which :meth:`reset` stops. The output and the
        latency are the same, bit for bit.
        """
        self._start(sample_rate, channels, channel_workers, pipelined=False)

    def _start(
        self, sample_rate: int, channels: int, channel_workers: bool, pipelined: bool
    ) -> None:
        sr = check_sample_rate(sample_rate)
        channels = check_positive_int(channels, "channels")
        if not isinstance(channel_workers, bool):
            raise ParameterError(f"channel_workers={channel_workers!r} must be True or False")
        self._close_workers()
        stages = self._stages_for(channels, channel_workers, pipelined)
        for stage in stages:
            stage.latency(sr, channels)  # measure before any pre-roll
        for stage in stages:
            stage.start(sr, channels)
        self._active = stages  # from here on reset() stops the workers
        for stage in stages:
            if isinstance(stage, _ChannelWorkerStage):
                stage.spawn()  # after every stage started: the workers fork their state
        slack = self._layout_slack(channels) if self._stages else 0
        self._inq = _Fifo(channels, 4 * (channels + 1))
        self._outq = _Fifo(channels, 4 * (slack + 1))
        self._outq.push_zeros(slack)
        finite_or_zeroed(np.zeros((channels, 1), dtype=np.float32))  # its kernel, compiled now
        self._stream = (sr, channels)

    def _to_2d(self, audio: Any, sample_rate: Any, reset: bool) -> tuple[np.ndarray, str]:
        stream = self._stream
        # A running stream fixes the channel count, so a (3, 2) block of 3 channels is read as
        # such (as_audio_2d alone would take it for 3 frames of stereo).
        if (
            not reset
            and stream is not None
            and isinstance(audio, np.ndarray)
            and audio.ndim == 2
            and audio.shape[0] == stream[1]
            and audio.dtype in (np.float32, np.float64)
        ):
            return np.ascontiguousarray(audio, dtype=np.float32), "channels_first"
        return as_audio_2d(audio)

    def process(self, audio: np.ndarray, sample_rate: int, *, reset: bool = False) -> np.ndarray:
        """Stream one block through the chain: as many samples out as in, delayed.

        Parameters
        ----------
        audio : np.ndarray
            float32 ``(frames,)`` or ``(channels, frames)`` (pedalboard's layout). While a
            stream runs, a 2-D block whose first axis is its channel count is channels-first.
            NaN/Inf samples are treated as 0.
        sample_rate : int
        reset : bool
            False (default): continue the running stream (a new one starts if none runs or the
            rate or channel count changed). True: start a new stream with this block.

        Returns
        -------
        np.ndarray
            float32, same layout as ``audio``, delayed by :meth:`latency_samples`.
        """
        x, layout = self._to_2d(audio, sample_rate, reset)
        channels, n = x.shape
        stream = self._stream
        if reset or stream is None or stream[1] != channels or stream[0] != sample_rate:
            self.start(sample_rate, channels)
        x = finite_or_zeroed(x)
        if not self._stages:
            return restore_layout(x.copy(), layout)
        inq, outq = self._inq, self._outq
        assert inq is not None and outq is not None  # set by start()
        if channels == 1 and not len(outq):
            y = self._run(x)  # mono: no layout slack, no queues
        else:
            inq.push(x)
            if len(inq) > channels:
                block, _ = inq.pop(len(inq))
                outq.push(self._run(block))
            y, _ = outq.pop(n)
        return restore_layout(y, layout)

    __call__ = process

    def _run(self, x: np.ndarray) -> np.ndarray:
        # pedalboard re-prepares (forgets its state) on a block longer than the pre-roll.
        return _in_pieces(self._run_piece, x)

    def _run_piece(self, x: np.ndarray) -> np.ndarray:
        for stage in self._active:
            x = stage.process(x)
        return x

    def stream(
        self,
        blocks: Iterable[np.ndarray],
        sample_rate: int,
        *,
        channels: int | None = None,
        channel_workers: bool = False,
    ) -> Iterator[np.ndarray]:
        """Stream ``blocks`` through a new stream of the chain and yield the output.

        ``channels`` fixes the stream's channel count, so that a 2-D block is read as
        ``(channels, frames)`` however short it is (default: the first block's count, as
        :func:`as_audio_2d` reads it). Every block must have that many channels.

        The yielded arrays, concatenated, are what :meth:`process` returns for the same blocks
        concatenated: as many samples, delayed by :meth:`latency_samples` (append that many
        zeros to flush the tail). The stream ends (:meth:`reset`) when the generator is
        exhausted or closed; close it (``contextlib.closing``) if you stop early.

        ``channel_workers=True`` (more than one channel) runs each stylepedal effect's
        channels but the first in worker processes as :meth:`start` does, and pipelines the
        chain for offline rendering: the stages after the last stylepedal effect run in its
        channel-1 worker, a block of ``8 * MAX_BLOCK`` frames behind, while this process goes
        on with the next block. The output is the same, bit for bit; it comes in blocks of
        that size, in the layout of the first block. Do not :meth:`process` with this chain
        while the generator runs.

        Examples
        --------
        >>> import numpy as np, pedalboard
        >>> chain = Chain([pedalboard.Gain(gain_db=-6.0206)])
        >>> out = chain.stream((np.ones((2, 100), np.float32) for _ in range(3)), 44100)
        >>> y = np.concatenate(list(out), axis=1)
        >>> y.shape, bool(np.allclose(y, 0.5, atol=1e-5))
        ((2, 300), True)
        """
        it = iter(blocks)
        first = next(it, None)
        if first is None:
            return
        if channels is None:
            channels = as_audio_2d(first)[0].shape[0]
        try:
            self._start(sample_rate, channels, channel_workers, pipelined=True)
            _, layout = self._to_2d(first, sample_rate, False)
            pipe = self._pipe
            blocks_all = itertools.chain([first], it)
            if pipe is None:  # nothing to pipeline: block by block
                for block in blocks_all:
                    self._block_2d(block)
                    yield self.process(block, sample_rate)
                return
            yield from self._pipelined(blocks_all, pipe, layout)
        finally:
            self.reset()

    def _block_2d(self, block: Any) -> np.ndarray:
        """A block of the running stream as ``(channels, frames)``; a block with another
        channel count is an error (:meth:`process` would start a new stream)."""
        assert self._stream is not None
        sample_rate, channels = self._stream
        x, _ = self._to_2d(block, sample_rate, False)
        if x.shape[0] != channels:
            raise ParameterError(
                f"block of {x.shape[0]} channels in a stream of {channels}: every block "
                "must have the stream's channel count"
            )
        return x

    def _pipelined(
        self, blocks: Iterator[np.ndarray], pipe: _ChannelWorkerStage, layout: str
    ) -> Iterator[np.ndarray]:
        """:meth:`stream`'s pipelined loop: this process runs the stages up to ``pipe`` on
        block k and gets block k-1 back from ``pipe``'s worker, which meanwhile runs the rest
        of the chain on it. Every stage sees the pieces :meth:`process` would cut."""
        assert self._stream is not None and self._inq is not None and self._outq is not None
        sample_rate, channels = self._stream
        inq, outq = self._inq, self._outq
        ahead = self._active[: self._active.index(pipe)]
        owed = 0  # samples read but not yet yielded

        def run_ahead(x: np.ndarray) -> np.ndarray:
            for stage in ahead:
                x = stage.process(x)
            return x

        def ready(done: np.ndarray | None) -> np.ndarray | None:
            nonlocal owed
            if done is not None:
                outq.push(done)
            y, _ = outq.pop(min(len(outq), owed))
            owed -= y.shape[1]
            return restore_layout(y, layout) if y.shape[1] else None

        for block in blocks:
            x = self._block_2d(block)
            inq.push(finite_or_zeroed(x))
            owed += x.shape[1]
            if len(inq) > channels:
                whole, _ = inq.pop(len(inq))
                for i in range(0, whole.shape[1], _PIPE_FRAMES):
                    piece = whole[:, i : i + _PIPE_FRAMES]
                    y = ready(pipe.submit(_in_pieces(run_ahead, piece)))
                    if y is not None:
                        yield y
        y = ready(pipe.drain())
        if y is not None:
            yield y

    # ------------------------------------------------------------------ offline
    def process_offline(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """The whole signal at once: a new stream, the tail flushed, the latency trimmed.

        Equal to streaming the same input in any partition and dropping the first
        :meth:`latency_samples` samples of the output (after flushing with as many zeros).

        Examples
        --------
        >>> import numpy as np, pedalboard
        >>> chain = Chain([pedalboard.Gain(gain_db=-6.0206)])
        >>> x = np.ones(1000, dtype=np.float32)
        >>> bool(np.allclose(chain.process_offline(x, 44100), 0.5, atol=1e-5))
        True
        """
        x, layout = as_audio_2d(audio)
        channels, n = x.shape
        latency = self.latency_samples(sample_rate, channels=channels)
        self.start(sample_rate, channels)
        head = self.process(x, sample_rate)
        tail = self.process(np.zeros((channels, latency), np.float32), sample_rate)
        self.reset()
        y = np.concatenate((head, tail), axis=1)[:, latency : latency + n]
        return restore_layout(np.ascontiguousarray(y), layout)
