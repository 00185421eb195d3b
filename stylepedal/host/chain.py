"""One ordered chain of pedalboard plugins and stylepedal effects, streamed or offline.

A :class:`pedalboard.Pedalboard` cannot hold Python objects, so :class:`Chain` runs pedalboard
plugins and stylepedal effects (anything with ``process(audio, sample_rate, *, reset=...)`` and
``latency_samples(sample_rate)``) side by side. Like :class:`pedalboard.Pedalboard` it is a
mutable list of them, and ``chain(x, sr)`` is one shot: the whole buffer back, aligned with the
input (tail flushed, latency trimmed), nothing carried to the next call. Streaming is explicit:
``chain(x, sr, reset=False)`` or :meth:`Chain.stream` return exactly as many samples as they are
given, delayed by :meth:`Chain.latency_samples`, and any partition of the input gives the same
output.

* How each item is made partition-invariant (pre-roll, FIFOs for plugins that return short):
  :mod:`stylepedal.host._stages`.
* A multi-channel stream can run each channel of a stylepedal effect but the first in a forked
  worker process, and :meth:`Chain.stream` (what ``render`` runs) pipelines the stages after
  the last stylepedal effect into its channel-1 worker a block behind:
  :mod:`stylepedal.host._workers`. The output is the same, bit for bit.
* pedalboard reads a ``(2, 1)`` stereo block as two mono frames and refuses ``(2, 2)``, so a
  multi-channel chain collects at least ``channels + 1`` frames before it processes anything:
  ``channels`` samples more latency (none for mono).

:func:`build_chain` makes ``pre + [style effect] + post`` from effect specs, as the CLI does.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .._validate import (
    as_audio_2d,
    check_positive_int,
    check_sample_rate,
    restore_layout,
)
from ..effect.engine._process import Exclusive, run_chunked
from ..effect.engine.effect import finite_or_zeroed
from ..errors import ParameterError
from ._stages import FIXED_BLOCK, MAX_BLOCK, EffectStage, Fifo, PluginStage, in_pieces, make_stage
from ._workers import PIPE_FRAMES, ChannelWorkerStage, fork_available

__all__ = ["Chain", "FIXED_BLOCK", "MAX_BLOCK", "build_chain"]

log = logging.getLogger(__name__)


class Chain:
    """An ordered chain of pedalboard plugins and stylepedal effects.

    Parameters
    ----------
    items : iterable
        pedalboard plugins (``pedalboard.Compressor(...)``, plugin files from
        ``pedalboard.load_plugin``, from :func:`~stylepedal.host.spec.parse_spec`, ...) and
        stylepedal effects (:class:`~stylepedal.effect.StyleTransfer`), applied in order.
        Effects are owned by the chain while it streams: do not process them elsewhere at the
        same time.

    Examples
    --------
    >>> import numpy as np, pedalboard
    >>> from stylepedal.effect import StyleTransfer
    >>> chain = Chain([pedalboard.Gain(gain_db=-6), StyleTransfer.identity()])
    >>> chain.append(pedalboard.Reverb()); len(chain)
    3
    >>> x = np.zeros(4800, dtype=np.float32); x[100] = 1.0
    >>> int(np.argmax(np.abs(chain(x, 48000))))              # one shot: aligned
    100
    >>> y = chain(x, 48000, reset=False)                     # streaming: delayed
    >>> int(np.argmax(np.abs(y))) == 100 + chain.latency_samples(48000)
    True
    """

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self._stages = [make_stage(item) for item in items]
        self._stream: tuple[int, int] | None = None  # (sample_rate, channels) when running
        self._inq: Fifo | None = None
        self._outq: Fifo | None = None
        self._active: list[Any] = list(self._stages)  # the running stream's stages
        self._busy = Exclusive("Chain")

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

    # A change of the items ends a running stream: its stages and latency are no more.
    def __setitem__(self, index: int, item: Any) -> None:
        stage = make_stage(item)
        self.reset()
        self._stages[index] = stage
        self._active = list(self._stages)

    def __delitem__(self, index: int) -> None:
        self.reset()
        del self._stages[index]
        self._active = list(self._stages)

    def insert(self, index: int, item: Any) -> None:
        """Put ``item`` (a plugin or effect) before position ``index``, as ``list.insert``."""
        stage = make_stage(item)
        self.reset()
        self._stages.insert(index, stage)
        self._active = list(self._stages)

    def append(self, item: Any) -> None:
        """Add ``item`` (a plugin or effect) at the end of the chain."""
        self.insert(len(self._stages), item)

    def remove(self, item: Any) -> None:
        """Remove ``item`` (the object itself, as ``pedalboard.Pedalboard.remove``).

        Raises
        ------
        ValueError
            If ``item`` is not in the chain.
        """
        for i, stage in enumerate(self._stages):
            if stage.item is item:
                del self[i]
                return
        raise ValueError(f"{item!r} is not in the chain")

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
            if isinstance(stage, PluginStage) and sr not in stage._shortfall:
                self._stream = None  # measuring disturbs the plugin: restart on next block
        return self._layout_slack(channels) + sum(s.latency(sr, channels) for s in self._stages)

    def _stages_for(self, channels: int, channel_workers: bool, pipelined: bool) -> list[Any]:
        """The stages of a stream: with channel workers (more than one channel) each stylepedal
        effect runs its channels but the first in worker processes; ``pipelined`` also hands
        the stages after the last of them to its channel-1 worker (see :meth:`stream`)."""
        if not channel_workers or channels < 2 or not fork_available():
            return list(self._stages)
        from ..effect.engine.effect import StyleTransfer

        stages: list[Any] = [
            ChannelWorkerStage(s.item)
            if isinstance(s, EffectStage) and isinstance(s.item, StyleTransfer)
            else s
            for s in self._stages
        ]
        workers = [i for i, s in enumerate(stages) if isinstance(s, ChannelWorkerStage)]
        if pipelined and workers and workers[-1] + 1 < len(stages):
            stages[workers[-1]].post = stages[workers[-1] + 1 :]
        return stages

    @property
    def _pipe(self) -> ChannelWorkerStage | None:
        """The running stream's stage whose worker runs the rest of the chain, if any."""
        for stage in self._active:
            if isinstance(stage, ChannelWorkerStage) and stage.post:
                return stage
        return None

    # ------------------------------------------------------------------ streaming
    def reset(self) -> None:
        """End the current stream; the next :meth:`process` starts a new one."""
        self._stream = None
        self._close_workers()

    def _close_workers(self) -> None:
        for stage in self._active:
            if isinstance(stage, ChannelWorkerStage):
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
            if isinstance(stage, ChannelWorkerStage):
                stage.spawn()  # after every stage started: the workers fork their state
        slack = self._layout_slack(channels) if self._stages else 0
        self._inq = Fifo(channels, 4 * (channels + 1))
        self._outq = Fifo(channels, 4 * (slack + 1))
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

    def process(self, audio: np.ndarray, sample_rate: int, *, reset: bool = True) -> np.ndarray:
        """Process a whole signal (``reset=True``) or stream one block through the chain.

        Parameters
        ----------
        audio : np.ndarray
            float32 ``(frames,)`` or ``(channels, frames)`` (pedalboard's layout). While a
            stream runs, a 2-D block whose first axis is its channel count is channels-first.
            NaN/Inf samples are treated as 0.
        sample_rate : int
        reset : bool
            True (default): one shot, as :class:`pedalboard.Pedalboard`: a new stream, the tail
            flushed and :meth:`latency_samples` trimmed, so the output is aligned with
            ``audio``; nothing is carried to the next call. False: continue the running stream
            (a new one starts if none runs or the rate or channel count changed); the output
            is delayed by :meth:`latency_samples`.

        Returns
        -------
        np.ndarray
            float32, same layout and length as ``audio``.

        Raises
        ------
        BusyError
            If another thread is inside ``process`` of this chain (it never waits).
        """
        with self._busy:
            if reset:
                return self._one_shot(audio, sample_rate)
            return self._process(audio, sample_rate, False)

    __call__ = process

    def _process(self, audio: Any, sample_rate: int, reset: bool) -> np.ndarray:
        """One block of the stream, a new one first if ``reset`` or none fits the block."""
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

    def _one_shot(self, audio: Any, sample_rate: int) -> np.ndarray:
        """A new stream of ``audio`` and the latency's worth of zeros, the latency trimmed,
        and the stream ended."""
        x, layout = as_audio_2d(audio)
        channels, n = x.shape
        latency = self.latency_samples(sample_rate, channels=channels)
        try:
            self.start(sample_rate, channels)
            y = run_chunked(lambda c: self._process(c, sample_rate, False), x, MAX_BLOCK,
                            latency)
        finally:
            self.reset()
        return restore_layout(y, layout)

    def _run(self, x: np.ndarray) -> np.ndarray:
        # pedalboard re-prepares (forgets its state) on a block longer than the pre-roll.
        return in_pieces(self._run_piece, x)

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
        >>> y.shape, chain.latency_samples(44100, channels=2)  # stereo: 2 samples of slack
        ((2, 300), 2)
        >>> bool(np.allclose(y[:, 2:], 0.5, atol=1e-5))
        True
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
                    yield self.process(block, sample_rate, reset=False)
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
        self, blocks: Iterator[np.ndarray], pipe: ChannelWorkerStage, layout: str
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
                for i in range(0, whole.shape[1], PIPE_FRAMES):
                    piece = whole[:, i : i + PIPE_FRAMES]
                    y = ready(pipe.submit(in_pieces(run_ahead, piece)))
                    if y is not None:
                        yield y
        y = ready(pipe.drain())
        if y is not None:
            yield y

    # ------------------------------------------------------------------ offline
    def process_offline(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """The whole signal at once, aligned: the same as ``process(audio, sample_rate)``.

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
        return self.process(audio, sample_rate, reset=True)


def build_chain(
    preset: str | None,
    *,
    mix: float | None = None,
    pre: str = "",
    post: str = "",
    effect: Any = None,
    gate_db: float | None = None,
    style: float | None = None,
) -> Any:
    """The chain ``pre + [style effect] + post`` as the CLI builds it.

    Parameters
    ----------
    preset : str or None
        Preset name (user or factory) for :meth:`StyleTransfer.from_preset`; ignored when
        ``effect`` is given; None: no style effect.
    mix : float, optional
        Override the preset's dry/wet mix, [0, 1].
    pre, post : str
        Effect specs (:func:`~stylepedal.host.spec.parse_spec`) before and after the effect.
    effect : StyleTransfer, optional
        Use this effect instead of loading ``preset``.
    gate_db : float, optional
        Override the effect's gate level (dBFS), [-120, 0].
    style : float, optional
        Override the preset's style amount, [0, 1].

    Examples
    --------
    >>> from stylepedal.effect import StyleTransfer
    >>> chain = build_chain(None, pre="Gain(gain_db=-3)", post="Reverb()",
    ...                     effect=StyleTransfer.identity())
    >>> [type(i).__name__ for i in chain]
    ['Gain', 'StyleTransfer', 'Reverb']
    """
    from .spec import parse_spec

    before = parse_spec(pre or "")
    after = parse_spec(post or "")
    items: list[Any] = list(before)
    if effect is None and preset is not None:
        from ..presets.load import effect_from_preset

        effect = effect_from_preset(preset)
    if effect is not None:
        # each override through the effect's own setter: one check per parameter
        for name, value in (("mix", mix), ("gate_db", gate_db), ("style", style)):
            if value is not None:
                setattr(effect, name, value)
    if effect is not None:
        items.append(effect)
    items.extend(after)
    return Chain(items)
