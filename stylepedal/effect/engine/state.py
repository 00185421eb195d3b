"""What the streaming engine carries from one block to the next (``StyleTransfer.reset()``
replaces it): buffers, the transform's and the phase's state, and the parameter ramps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .colour import ColourState
from .constants import TINY32
from .phase import PghiState
from .stft import StftConfig

__all__ = ["EngineState", "Ramp", "SMOOTHING_SECONDS"]

SMOOTHING_SECONDS = 0.010  # parameter changes glide over 10 ms: no zipper noise, no clicks


class Ramp:
    """A parameter that glides linearly to its target over a fixed number of samples.

    Partition-invariant: the value at each sample depends only on how many samples have passed
    since the target changed, not on block boundaries.
    """

    __slots__ = ("value", "target", "start", "done", "length")

    def __init__(self, value: float) -> None:
        self.value = self.target = self.start = float(value)
        self.done = 0
        self.length = 1

    def set(self, target: float, length: int) -> None:
        if target != self.target:
            self.start, self.target = self.value, float(target)
            self.done, self.length = 0, max(1, int(length))

    def block(self, n: int) -> float | np.ndarray:
        if self.done >= self.length:
            return self.target
        pos = np.minimum(np.arange(self.done + 1, self.done + n + 1) / self.length, 1.0)
        values = self.start + (self.target - self.start) * pos
        self.done += n
        self.value = float(values[-1]) if n else self.value
        return values


@dataclass
class EngineState:
    """Everything that carries across blocks; ``StyleTransfer.reset()`` replaces it."""

    config: StftConfig
    channels: int
    inbuf: np.ndarray  # (channels, n_fft - hop + fill) input history (coloured, if colour)
    fill: int  # input samples since the last frame
    pending: np.ndarray  # (channels, overlap - 1, hop) overlap-add partial sums
    outq: np.ndarray  # (channels, n) finished wet samples not yet emitted
    dry: np.ndarray  # (channels, latency) dry delay line
    transform_state: Any
    pghi: PghiState | None  # created on first use: phase_mode="input" never pays for it
    ramps: dict[str, Ramp] = field(default_factory=dict)
    # model_stride > 1 ("low" mode): frames since the last model frame, and that frame's
    # log-domain change (model output - input), applied to the frames in between
    frame_phase: int = 0
    last_delta: np.ndarray | None = None
    # (parameter version, gain) once mix, gain and bypass have settled fully wet: the output
    # is then the wet signal times that gain until a parameter is set again
    steady: tuple[int, np.float32] | None = None
    # the colour stage: its state, and the input since the last frame not yet coloured
    colour: ColourState | None = None
    raw: np.ndarray | None = None
    style: float = 1.0  # the style amount in effect at the last frame (glides toward the set one)
    # the share of the model's change the style amount scales: the model's ``render_change``
    # when the colour stage has hindsight (a render that learnt its input), else 1
    change: float = 1.0

    def mix_out(
        self, wet: np.ndarray, dry: np.ndarray, params: int, mix: float, gain_db: float,
        bypass: bool, kernels: Any,
    ) -> np.ndarray:
        """The block's output from its ``wet`` and delayed ``dry`` signals, the mix, gain and
        bypass gliding to their set values (``params``: how many times any was set;
        ``kernels``: the compiled kernels, ready)."""
        steady = self.steady
        if steady is None or steady[0] != params:  # something set since: the ramps
            n = wet.shape[1]
            length = int(SMOOTHING_SECONDS * self.config.sample_rate)
            ramps = self.ramps
            ramps["mix"].set(mix, length)
            ramps["gain"].set(10.0 ** (gain_db / 20.0), length)
            ramps["active"].set(0.0 if bypass else 1.0, length)
            m, gain, active = (ramps[k].block(n) for k in ("mix", "gain", "active"))
            settled = isinstance(m, float) and isinstance(active, float) and m == active == 1.0
            if settled and isinstance(gain, float):
                # settled fully wet, the usual case: the output is the wet signal times the
                # gain until a parameter is set again, without the ramps' Python
                steady = self.steady = (params, np.float32(gain))
            else:
                self.steady = None
                if settled:
                    out = wet * gain  # the gain is gliding: an array
                else:
                    effected = gain * (dry + m * (wet - dry))
                    out = dry + active * (effected - dry)
                # a gliding ramp is float64: back to float32 first, the kernel's type
                out = out.astype(np.float32, copy=False)
                kernels.scale_flush(out, np.float32(1.0), TINY32, out)
                return out
        out = np.empty_like(wet)
        kernels.scale_flush(wet, steady[1], TINY32, out)  # one compiled pass: scale, flush, copy
        return out
