"""The live host's output section: bypass, output gain and the level meters, after the chain.

Bypass plays the dry input delayed by the chain's latency (so switching it moves nothing in
time, as JUCE's DryWetMixer does for a mix) and crossfades over :data:`FADE_SECONDS`; the chain
keeps running underneath, so leaving bypass is seamless too. Output gain glides to a new value
over one block. Both run in the audio callback: no lock, no I/O, buffers allocated up front.

The meters hold the peak of the last :data:`METER_SECONDS`, in and out: the peak of each block
in a preallocated ring that other threads read (one float per block, written before the index
moves). The hold is longer than the gaps between a player's notes and a panel's refreshes, so a
reading between two clicks of a metronome still shows the clicks' level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

__all__ = ["FADE_SECONDS", "MAX_DELAY_SECONDS", "METER_SECONDS", "MasterSection", "peak_db"]

FADE_SECONDS = 0.010
METER_SECONDS = 0.5  # a peak meter's hold
MAX_DELAY_SECONDS = 1.0  # the longest chain latency the bypass path matches
METER_FLOOR_DB = -120.0


def peak_db(peak: float) -> float:
    """A linear peak as dBFS, floored at -120 (silence) and rounded to 0.1 dB.

    Examples
    --------
    >>> peak_db(1.0), peak_db(0.5), peak_db(0.0)
    (0.0, -6.0, -120.0)
    """
    if not math.isfinite(peak):
        return 0.0 if peak > 0 or math.isnan(peak) else METER_FLOOR_DB
    if peak <= 10 ** (METER_FLOOR_DB / 20):
        return METER_FLOOR_DB
    return round(max(METER_FLOOR_DB, 20.0 * math.log10(peak)), 1)


class MasterSection:
    """Bypass (latency-matched dry), output gain and peak meters for a stream.

    Parameters
    ----------
    sample_rate : int
    channels : int
        Channels of the input the dry path delays.
    blocksize : int
        The usual block (ramps for up to this many frames are precomputed).

    Examples
    --------
    >>> m = MasterSection(48000, 1, 64)
    >>> m.latency = 10
    >>> m.apply({"bypass": 1.0})
    >>> x = np.ones((1, 64), np.float32)
    >>> for _ in range(10):
    ...     y = m.process(x, np.zeros((1, 64), np.float32))
    >>> float(y.min()), m.bypassed
    (1.0, True)
    """

    def __init__(self, sample_rate: int, channels: int, blocksize: int) -> None:
        self.sample_rate = int(sample_rate)
        cap = int(MAX_DELAY_SECONDS * self.sample_rate) + 4 * int(blocksize)
        self._ring = np.zeros((channels, cap), np.float32)
        self._pos = 0
        self._latency = 0
        self._step = np.float32(1.0 / max(1, round(FADE_SECONDS * self.sample_rate)))
        self._idx = np.arange(1, int(blocksize) + 1, dtype=np.float32)
        self._wet = 1.0  # 1: the chain; 0: the delayed dry input
        self._wet_target = 1.0
        self._gain = 1.0
        self._gain_target = 1.0
        self.gain_db = 0.0
        blocks = max(1, math.ceil(METER_SECONDS * self.sample_rate / max(1, int(blocksize))))
        self.peaks = np.zeros((2, blocks), np.float32)  # [input, output] per block
        self.blocks = 0
        self.input_clips = 0  # blocks with a sample at or above full scale
        self.output_clips = 0

    @property
    def latency(self) -> int:
        """Samples the dry path is delayed by (the chain's latency)."""
        return self._latency

    @latency.setter
    def latency(self, samples: int) -> None:
        self._latency = max(0, min(int(samples), self._ring.shape[1] - 2 * len(self._idx)))

    @property
    def bypassed(self) -> bool:
        """True when bypass is on (the fade towards dry may still run)."""
        return self._wet_target == 0.0

    def apply(self, values: Mapping[str, float]) -> None:
        """Take new ``bypass`` and ``output_gain_db`` targets (missing keys: unchanged)."""
        if "bypass" in values:
            self._wet_target = 0.0 if values["bypass"] else 1.0
        if "output_gain_db" in values:
            self.gain_db = float(values["output_gain_db"])
            self._gain_target = 10.0 ** (self.gain_db / 20.0)

    def process(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Meter ``x`` (the input), apply bypass and gain to ``y`` (the chain's output, same
        frames; changed in place where possible) and meter the result."""
        n = x.shape[1]
        slot = self.blocks % self.peaks.shape[1]
        peak_in = float(np.max(np.abs(x))) if n else 0.0
        self.peaks[0, slot] = peak_in
        if peak_in >= 1.0:
            self.input_clips += 1
        dry = self._delay(x)
        idx = self._idx[:n] if n <= len(self._idx) else np.arange(1, n + 1, dtype=np.float32)
        if self._wet != self._wet_target:
            sign = 1.0 if self._wet_target > self._wet else -1.0
            ramp = np.clip(self._wet + sign * self._step * idx, 0.0, 1.0)
            y = dry + ramp * (y - dry)
            self._wet = float(ramp[-1]) if n else self._wet
        elif self._wet == 0.0:
            y = dry
        if self._gain != self._gain_target:
            g = self._gain + (self._gain_target - self._gain) * (idx / n)
            y = y * g
            self._gain = self._gain_target
        elif self._gain != 1.0:
            y = y * np.float32(self._gain)
        peak_out = float(np.max(np.abs(y))) if n else 0.0
        self.peaks[1, slot] = peak_out
        if peak_out >= 1.0:
            self.output_clips += 1
        self.blocks += 1
        return y

    def _delay(self, x: np.ndarray) -> np.ndarray:
        """Write ``x`` into the ring; return the block ``latency`` samples older."""
        ring, cap, n = self._ring, self._ring.shape[1], x.shape[1]
        c = min(ring.shape[0], x.shape[0])
        w = self._pos
        first = min(n, cap - w)
        ring[:c, w : w + first] = x[:c, :first]
        if first < n:
            ring[:c, : n - first] = x[:c, first:]
        self._pos = (w + n) % cap
        r = (w - self._latency) % cap
        if r + n <= cap:
            return ring[:, r : r + n].copy()
        return np.concatenate([ring[:, r:], ring[:, : r + n - cap]], axis=1)

    def meters(self) -> tuple[float, float]:
        """Input and output peak (linear) over the last :data:`METER_SECONDS`."""
        if self.blocks == 0:
            return 0.0, 0.0
        return float(self.peaks[0].max()), float(self.peaks[1].max())
