"""How each item of a :class:`~stylepedal.host.chain.Chain` is run: stylepedal effects as they
are, pedalboard plugins pre-rolled and, when they return short, FIFO-fed in fixed blocks.

pedalboard facts behind this (each measured with pedalboard 0.9):

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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ParameterError
from .plugins import reported_latency

__all__ = ["FIXED_BLOCK", "MAX_BLOCK", "Fifo", "EffectStage", "PluginStage", "in_pieces",
           "make_stage"]

MAX_BLOCK = 8192  # pedalboard's own default buffer size: the pre-roll and the largest call
FIXED_BLOCK = 64  # block size for plugins that return fewer samples than they get
# pedalboard 0.9's GSMFullRateCompressor outputs near-silence (-60 dB) when streamed in blocks
# shorter than about 1024 samples (measured at 48 kHz): feed it blocks of the size it works at.
_FIXED_BLOCK_FOR = {"GSMFullRateCompressor": 4096}
_MEASURE_LEVEL = 0.01  # measurement signal: quiet noise (a codec might treat silence apart)
_MEASURE_AFTER_S = 1.0  # keep counting this long after a plugin's first output
_MEASURE_MAX_S = 20.0  # a plugin that returns nothing for this long is refused


class Fifo:
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


class EffectStage:
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


def in_pieces(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """``run`` over ``x`` cut into :data:`MAX_BLOCK` pieces along the last axis, as
    :meth:`Chain.process` cuts a block: the same calls, so the same output."""
    n = x.shape[-1]
    if n <= MAX_BLOCK:
        return run(x)
    return np.concatenate([run(x[..., i : i + MAX_BLOCK]) for i in range(0, n, MAX_BLOCK)], -1)


class PluginStage:
    """A pedalboard plugin, pre-rolled; FIFO-fed in fixed blocks if it returns short."""

    def __init__(self, plugin: Any) -> None:
        self.item = plugin
        self._shortfall: dict[int, int] = {}  # sample rate -> measured start-up shortfall
        self._reported: dict[int, int] = {}  # sample rate -> latency the plugin reports
        self.underruns = 0
        self.fixed_block = _FIXED_BLOCK_FOR.get(type(plugin).__name__, FIXED_BLOCK)

    # ---- measurement
    def shortfall(self, sample_rate: int) -> int:
        """Largest number of samples the plugin lags behind its input, measured once per rate."""
        if sample_rate not in self._shortfall:
            short = self._measure(sample_rate)
            self._reported[sample_rate] = reported_latency(self.item)  # set once prepared
            self._shortfall[sample_rate] = short
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
        """The stage's delay: the wait for a fixed block on top of the withheld samples, and
        whatever latency the plugin reports beyond what it withholds (pedalboard's plugin
        files withhold it all; a plugin that returns its delayed output whole, none)."""
        short = self.shortfall(sample_rate)
        unwithheld = max(0, self._reported[sample_rate] - short)
        return (0 if short == 0 else short + self.fixed_block - 1) + unwithheld

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
        self.inq = Fifo(channels, 2 * g)
        self.outq = Fifo(channels, 4 * (short + g))
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


def make_stage(item: Any) -> EffectStage | PluginStage:
    import pedalboard

    from .plugins import is_plugin_like

    if isinstance(item, pedalboard.Plugin) or (
        is_plugin_like(item) and not callable(getattr(item, "latency_samples", None))
    ):
        return PluginStage(item)
    if callable(getattr(item, "process", None)) and callable(
        getattr(item, "latency_samples", None)
    ):
        return EffectStage(item)
    raise ParameterError(
        f"chain item {item!r} is neither a pedalboard plugin nor an effect with "
        "process(audio, sample_rate, *, reset) and latency_samples(sample_rate)"
    )


