"""A style's colour: the long-term spectra the engine's colour stage EQs toward.

* :func:`colour_target`, measured through the engine's low-delay analysis: what the streaming
  colour stage (the live pedal, ``render --as-live``) compares the input with as it plays;
* :func:`style_power`, measured through a Hann window: a render's hindsight colour, which
  knows the whole input (:mod:`stylepedal.effect.engine.colour`);
* :func:`coloured`: content through the streaming stage, as the network is trained on it.

Every function takes mono 22050 Hz clips (:func:`~stylepedal.effect.model.train.prepare_style`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..engine.constants import MODEL_BINS, SEEDS_ACTIVE_DB

__all__ = ["colour_target", "coloured", "style_power"]


def colour_target(styles: Sequence[np.ndarray]) -> np.ndarray:
    """The style's long-term power per model bin (``(MODEL_BINS,)``, summing to 1): the mean
    over every clip's frames within 40 dB of that clip's loudest, clips weighted by length.

    Examples
    --------
    >>> t = np.arange(22050) / 22050
    >>> target = colour_target([np.sin(2 * np.pi * 440 * t).astype(np.float32)])
    >>> target.shape, int(np.argmax(target)) == round(440 / (300 / 28))
    ((1030,), True)
    """
    from ..engine.stft import analyze
    from .train import TRAIN_SAMPLE_RATE

    total = np.zeros(MODEL_BINS)
    for audio in styles:
        power = np.expm1(analyze(audio, TRAIN_SAMPLE_RATE).astype(np.float64)) ** 2
        energy = power.sum(axis=1)
        active = energy >= energy.max() * 10.0 ** (-SEEDS_ACTIVE_DB / 10.0)
        total += power[active].sum(axis=0)
    return total / max(total.sum(), 1e-300)


def style_power(styles: Sequence[np.ndarray]) -> np.ndarray:
    """The style's long-term power per model bin through a Hann window, every frame of every
    clip pooled (``(MODEL_BINS,)``, summing to 1): the target of a render's hindsight colour,
    measured as the render measures its input
    (:func:`~stylepedal.effect.engine.longterm.long_term_power`).

    Examples
    --------
    >>> t = np.arange(22050) / 22050
    >>> p = style_power([np.sin(2 * np.pi * 440 * t).astype(np.float32)])
    >>> p.shape, int(np.argmax(p)) == round(440 / (300 / 28))
    ((1030,), True)
    """
    from ..engine.longterm import long_term_power
    from .train import TRAIN_SAMPLE_RATE

    return long_term_power(list(styles), TRAIN_SAMPLE_RATE)


class _ColourOnly:
    """The identity transform with a colour target: the engine's colour stage alone."""

    model_bins = MODEL_BINS

    def __init__(self, target: np.ndarray) -> None:
        self.colour_target = target

    def new_state(self, channels: int) -> None:
        return None

    def __call__(self, frames: np.ndarray, state: Any) -> np.ndarray:
        return frames


def coloured(audio: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``audio`` (mono, 22050 Hz) through the engine's streaming colour stage toward
    ``target``, aligned with the input (the engine's latency removed), the stage having learnt
    the whole clip first: the colour the live pedal settles to as it plays. The network learns
    its change on top of that settled colour, not a cold start's."""
    from ..engine.effect import StyleTransfer
    from .train import TRAIN_SAMPLE_RATE

    fx = StyleTransfer(_ColourOnly(target))
    fx.learn_input(audio, TRAIN_SAMPLE_RATE)
    return np.asarray(fx(audio, TRAIN_SAMPLE_RATE), dtype=np.float32)  # one shot: aligned
