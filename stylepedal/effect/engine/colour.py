"""The colour stage: a slowly adapting minimum-phase EQ that gives the input a style's long-term
spectrum, at the analysis grid's fine resolution and without adding latency.

Why a filter and not STFT gains: the low-delay synthesis keeps only the last ``2M`` samples of
each frame (10.7 ms), so per-bin gains on the STFT are smeared to ~100 Hz; a style's long-term
spectrum has detail at the grid's 10.7 Hz (``benchmarks/quality.py`` measures the difference).
A causal FIR of ~85 ms realises that detail, and a minimum-phase one delays nothing.

The gain per bin is ``(style power / input power) ** (style / 2)``, the input's power being its
long-term average so far (exponential, bias-corrected, only over frames above the gate; taken
from the input itself, not the coloured signal, whose leakage around a boosted bin the
division by the gain would amplify into a runaway),
smoothed across frequency while little has been heard; clamped to +-``MAX_GAIN_DB`` and scaled
so the coloured signal is as loud as the input. Every ``UPDATE_FRAMES`` model frames the filter
is redesigned (cepstral minimum phase on a grid twice the analysis size) and the stream switches
to it ``DESIGN_HOPS`` hops after the statistics it follows: the design's three steps (the
gains, the cepstrum, the response) run in blocks that complete no hop, or one a hop, so no block
of a live stream carries all of them. Between updates it runs as a uniformly partitioned
convolution, one STFT hop per block.
Below the effect's gate the input passes uncoloured (a noise floor keeps its level and colour).
Everything is frame-indexed, so any partition of the input gives the same output.

*Hindsight.* A render knows its whole input (:meth:`StyleTransfer.learn_input`), so its colour
need not be estimated as it goes: when the model carries the style's sharp long-term spectrum
(``style_power``), the stream's filter is fixed at the static EQ-match's per-bin gain
(:func:`~stylepedal.effect.engine.longterm.match_log_gain`, the baseline of
:mod:`stylepedal.effect.research.eq`) between the whole input's and the style's long-term
spectra, both measured through a Hann window on the model grid
(:func:`~stylepedal.effect.engine.longterm.hann_spectra`), whose low leakage keeps the valleys
between harmonics that the low-delay analysis window fills. It is linear phase
(:func:`linear_phase`), as the EQ-match's zero-phase STFT gains are: a minimum-phase filter
with such deep notches smears the onsets of notes forward (``benchmarks/texture.py`` measures
the cost in notes kept); the render pays half the filter's length in delay for it, 70 ms
(``StyleTransfer.latency_samples`` says so, the render trims it). Below the gate the input
passes uncoloured, as late as the filter. A model that carries its style's Grams adds a render's
Gram fit to that gain (:meth:`Colour.fitted_gain`, :mod:`stylepedal.effect.model.gramfit`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .constants import MODEL_BINS
from .fft import irfft, rfft
from .longterm import InputProfile, frame_stats, match_log_gain, unit_spectrum
from .stft import StftConfig

__all__ = [
    "Colour", "ColourState", "DESIGN_HOPS", "HINDSIGHT_TAPS", "IR_SECONDS", "MAX_GAIN_DB",
    "MAX_HINDSIGHT_DB", "Redesign", "UPDATE_FRAMES", "linear_phase", "minimum_phase",
]

IR_SECONDS = 0.085  # the filter's length: ~12 Hz resolution, the grid's order
MAX_GAIN_DB = 24.0
UPDATE_FRAMES = 16  # model frames between two filter designs (85 ms)
DESIGN_HOPS = 3  # hops from a design's statistics to its filter: one for each of its steps
MEMORY_SECONDS = 20.0  # time constant of the input's long-term average
EARLY_SECONDS = 2.0  # heard material after which the input spectrum is used unsmoothed
_SMOOTH_OCTAVES = 1.0 / 3.0
_FLOOR = 1e-6  # input power floor relative to its peak bin: silent bins get a bounded gain
# The hindsight filter's bound, wider than any gain the EQ-match's floors give (its notches
# are what keeps the content's own colour out): only a guard for the design's cepstrum.
MAX_HINDSIGHT_DB = 120.0
# The hindsight filter's length in analysis sizes (its delay is half of it: 70 ms): longer
# resolves the style's harmonics more sharply and smears onsets more (benchmarks/texture.py).
HINDSIGHT_TAPS = 1.5


@dataclass
class ColourState:
    """What the colour stage carries across blocks, per channel."""

    power: np.ndarray  # (channels, MODEL_BINS) float64 weighted sum of input power
    weight: np.ndarray  # (channels,) float64 sum of the weights
    log_gain: np.ndarray  # (channels, MODEL_BINS) float32 the gain in effect (natural log)
    parts: np.ndarray  # (channels, P, B + 1) complex64 the filter's partition spectra
    fdl: np.ndarray  # (channels, P, B + 1) complex64 spectra of the last P input blocks (a ring)
    pair: np.ndarray  # (channels, 2B) float32 the last two input blocks
    history: np.ndarray  # (channels, n_fft - hop) float32 the input before the newest hops
    gate: np.ndarray  # (channels,) float32 how active the last hop was
    frames: int = 0  # STFT frames observed (the design schedule counts them)
    # a render's whole input's sharp long-term spectrum: the filter is then the hindsight one,
    # and, as it delays, so are the uncoloured input and the activity it is blended by
    hindsight: np.ndarray | None = None
    delayed: np.ndarray | None = None  # (channels, delay) float32 the input not yet passed
    late_active: np.ndarray | None = None  # (channels, delay in hops) activity not yet used
    designed: float | None = None  # the style amount the hindsight filter was designed for
    fitted: np.ndarray | None = None  # a render's Gram fit: a gain on top of the hindsight one
    draft: Redesign | None = None  # the adaptive filter's redesign under way


@dataclass
class Redesign:
    """A redesign of the adaptive filter under way: the statistics and style amount it follows
    (those of the hop ``at``), then each of its steps' results as the steps are done."""

    power: np.ndarray
    weight: np.ndarray
    strength: float
    at: int = 0
    log_gain: np.ndarray | None = None  # step 1: the gains
    spectrum: np.ndarray | None = None  # step 2: the folded cepstrum's spectrum
    parts: np.ndarray | None = None  # step 3: the minimum-phase response's partitions

    @property
    def steps_done(self) -> int:
        return sum(r is not None for r in (self.log_gain, self.spectrum, self.parts))


class Colour:
    """The colour stage toward ``target`` (a style's long-term power per model bin).

    Parameters
    ----------
    target : np.ndarray
        ``(MODEL_BINS,)`` non-negative long-term power spectrum of the style on the model grid
        (any scale: only its shape matters), as the low-delay analysis measures it.
    style_power : np.ndarray, optional
        The same through a Hann window
        (:func:`~stylepedal.effect.engine.longterm.long_term_power`): the hindsight filter's
        target, for streams that start from a learnt input (None: no hindsight).
    """

    def __init__(self, target: np.ndarray, style_power: np.ndarray | None = None) -> None:
        self.target = unit_spectrum(target, "colour target")
        self.style_power = (None if style_power is None
                            else unit_spectrum(style_power, "style_power"))

    @classmethod
    def of(cls, transform: object) -> Colour | None:
        """The colour stage a frame transform asks for (its ``colour_target``: a style's
        long-term power on the model bins, and its ``style_power`` if it has one), or None."""
        target = getattr(transform, "colour_target", None)
        if target is None:
            return None
        return cls(target, getattr(transform, "style_power", None))

    # -- state ----------------------------------------------------------------------------------
    def new_state(
        self,
        config: StftConfig,
        channels: int,
        *,
        profile: InputProfile | None = None,
        strength: float = 1.0,
        fitted: np.ndarray | None = None,
    ) -> ColourState:
        """A stream's state: the identity filter until something has been heard, or, with a
        ``profile`` learnt on this grid, the filter it calls for at ``strength``: the hindsight
        filter if this stage has a ``style_power`` (see the module; ``fitted``: a render's Gram
        fit, a log gain per model bin on top of it), else the adaptive one, the profile
        counting as one memory's worth of playing."""
        block = config.hop_length
        hindsight = self.hindsight_power(config, profile)
        parts = _n_parts(config) if hindsight is None else _hindsight_parts(config)
        flat = np.zeros((channels, parts, block + 1), dtype=np.complex64)
        flat[:, 0, :] = 1.0
        state = ColourState(
            power=np.zeros((channels, MODEL_BINS)),
            weight=np.zeros(channels),
            log_gain=np.zeros((channels, MODEL_BINS), dtype=np.float32),
            parts=flat,
            fdl=np.zeros((channels, parts, block + 1), dtype=np.complex64),
            pair=np.zeros((channels, 2 * block), dtype=np.float32),
            history=np.zeros((channels, config.n_fft - block), dtype=np.float32),
            gate=np.zeros(channels, dtype=np.float32),
        )
        if hindsight is not None:
            delay = self.delay_samples(config, profile)
            state.hindsight = hindsight
            state.fitted = fitted
            state.delayed = np.zeros((channels, delay), dtype=np.float32)
            state.late_active = np.zeros((channels, round(delay / block)), dtype=np.float32)
            self.design(state, config, strength)
        elif profile is not None and profile.weight > 0 and profile.fits(config):
            memory = 1.0 / (1.0 - _decay(config))  # the weight a long stream settles at
            scale = min(1.0, memory / profile.weight)
            state.power[:] = profile.power * scale
            state.weight[:] = profile.weight * scale
            self.design(state, config, strength)
        return state

    def hindsight_power(
        self, config: StftConfig, profile: InputProfile | None
    ) -> np.ndarray | None:
        """The whole input's sharp long-term spectrum if a stream on ``config`` that starts
        from ``profile`` colours with hindsight (this stage has a ``style_power`` and the
        profile was learnt on this grid), else None."""
        if self.style_power is None or profile is None or not profile.fits(config):
            return None
        return profile.long_term

    def delay_samples(self, config: StftConfig, profile: InputProfile | None) -> int:
        """The delay this stage adds to a stream on ``config`` that starts from ``profile``:
        the hindsight filter's (linear phase, half its length), else none."""
        return 0 if self.hindsight_power(config, profile) is None else _hindsight_taps(config) // 2

    # -- per hop -------------------------------------------------------------------------------
    @staticmethod
    def frames_to_update(state: ColourState, config: StftConfig) -> int:
        """STFT frames until the next filter design or the next one takes over (at least 1)."""
        if state.draft is not None:
            return state.draft.at + DESIGN_HOPS - state.frames
        every = UPDATE_FRAMES * config.model_stride
        return every - state.frames % every

    def run(
        self,
        x: np.ndarray,
        state: ColourState,
        config: StftConfig,
        floor_db: float,
        strength: float,
    ) -> np.ndarray:
        """Colour ``x`` (``(channels, k * hop)``, whole hops, no further than the next design:
        :meth:`frames_to_update`) and learn from it; returns float32 of the same shape.

        The input's frames go into its long-term spectrum, each weighted by how active it is
        (0 with its peak below ``floor_db`` dBFS, 1 from 20 dB above); each hop is filtered and
        passes coloured where the input is active, as it is where not (a noise floor keeps its
        colour and level), gliding from hop to hop; then the filter is redesigned if due."""
        from . import kernels

        hop = config.hop_length
        channels, n = x.shape
        k = n // hop
        buf = np.concatenate((state.history, x), axis=1)
        state.history = buf[:, k * hop :]
        active = frame_stats(buf, config, k, floor_db, _decay(config), state.power, state.weight)
        plain = x
        if state.delayed is not None and state.late_active is not None:
            # the hindsight filter delays: blend with the input and activity as late as it
            line = np.concatenate((state.delayed, x), axis=1)
            plain, state.delayed = line[:, :n], line[:, n:]
            late = np.concatenate((state.late_active, active), axis=1)
            active, state.late_active = late[:, :k], late[:, k:]
        out = np.empty((channels, n), dtype=np.float32)
        acc = np.empty((channels, hop + 1), dtype=np.complex64)
        n_parts = state.fdl.shape[1]
        for i in range(k):
            new = x[:, i * hop : (i + 1) * hop]
            state.pair[:, :hop] = state.pair[:, hop:]
            state.pair[:, hop:] = new
            kernels.colour_mac(rfft(state.pair), state.fdl, (state.frames + i) % n_parts,
                               state.parts, acc)
            kernels.colour_out(irfft(acc, 2 * hop), plain[:, i * hop : (i + 1) * hop],
                               state.gate, active[:, i], out[:, i * hop : (i + 1) * hop])
        every = UPDATE_FRAMES * config.model_stride
        before = state.frames
        state.frames += k
        draft = state.draft
        if draft is not None:
            if draft.steps_done < state.frames - draft.at:  # at least a step a hop
                self.work_ahead(state, config)
            if state.frames == draft.at + DESIGN_HOPS:
                self._take_over(state, config)
        elif state.frames // every != before // every:
            if state.hindsight is not None:
                self.design(state, config, strength)
            else:
                state.draft = Redesign(state.power.copy(), state.weight.copy(), strength,
                                       at=state.frames)
        return out

    def _take_over(self, state: ColourState, config: StftConfig) -> None:
        """Finish the redesign under way and switch the stream to its filter."""
        draft = state.draft
        assert draft is not None
        while draft.parts is None:
            self.work_ahead(state, config)
        assert draft.log_gain is not None
        state.log_gain, state.parts = draft.log_gain.astype(np.float32), draft.parts
        state.draft = None

    def work_ahead(self, state: ColourState, config: StftConfig) -> None:
        """The next step of the redesign under way, if one is left (what :meth:`design` does,
        in parts): for the blocks that complete no hop, so the ones that do carry less."""
        draft = state.draft
        if draft is None or draft.parts is not None:
            return
        if draft.log_gain is None:
            draft.log_gain = self.log_gains(draft.power, draft.weight, config, draft.strength)
        elif draft.spectrum is None:
            draft.spectrum = _folded_cepstrum(draft.log_gain, config)
        else:
            draft.parts = _partitions(_minimum_phase_response(draft.spectrum, config), config)

    def log_gains(
        self, power: np.ndarray, weight: np.ndarray, config: StftConfig, strength: float
    ) -> np.ndarray:
        """The gain per model bin (natural log, ``(channels, MODEL_BINS)``) for the input's
        long-term spectrum (``power`` over frames of total ``weight``) at ``strength``."""
        heard = weight * config.hop_length / config.sample_rate
        out = np.zeros((power.shape[0], MODEL_BINS))
        if strength == 0.0:
            return out  # the dry spectrum, exactly
        for c in range(power.shape[0]):
            if weight[c] <= 0:
                continue
            p = power[c] / weight[c]
            early = min(1.0, heard[c] / EARLY_SECONDS)
            if early < 1.0:
                p = early * p + (1.0 - early) * _smooth(p, config)
            p = np.maximum(p, p.max() * _FLOOR)
            p = p / p.sum()
            g = strength * 0.5 * (np.log(self.target) - np.log(p))
            # loudness: the coloured input's power equals the input's (the clamp moves it, so
            # the two alternate until both hold)
            g = np.clip(g, -_MAX_LOG, _MAX_LOG)
            for _ in range(_LOUDNESS_PASSES):
                shift = 0.5 * np.log(np.sum(p * np.exp(2.0 * g)))
                if abs(shift) < 1e-9:
                    break
                g = np.clip(g - shift, -_MAX_LOG, _MAX_LOG)
            out[c] = g
        return out

    def hindsight_log_gains(
        self, power: np.ndarray, strength: float, fitted: np.ndarray | None = None
    ) -> np.ndarray:
        """The hindsight gain per model bin (natural log, ``(MODEL_BINS,)``) for an input whose
        whole long-term spectrum is ``power``, at ``strength``: the EQ-match's gain law (and
        a Gram fit's ``fitted`` gain on top), bounded by ``MAX_HINDSIGHT_DB``, the coloured
        input as loud as the input."""
        assert self.style_power is not None
        if strength == 0.0 or power.max() <= 0:
            return np.zeros(MODEL_BINS)
        g = match_log_gain(self.style_power, power)
        if fitted is not None:
            g = g + fitted
        g = np.clip(strength * g, -_MAX_HINDSIGHT_LOG, _MAX_HINDSIGHT_LOG)
        p = power / power.sum()
        return g - 0.5 * np.log(np.sum(p * np.exp(2.0 * g)))

    def fitted_gain(
        self, profile: InputProfile, fit: Callable[[list[np.ndarray]], np.ndarray | None]
    ) -> np.ndarray | None:
        """A render's Gram fit: ``fit`` (a model's ``fit_log_gain``) of the learnt input's
        sample of sharp frames (``profile.sample``) through the hindsight gain, a log gain per
        model bin that brings its Gram closer to the style's; the hindsight filter adds it.
        Kept on the profile: once per learnt input and model."""
        assert profile.long_term is not None
        done = profile.fitted
        if done is None or done[0] != fit or done[1] != profile.frames:
            squared = np.exp(2.0 * self.hindsight_log_gains(profile.long_term, 1.0))
            squared = squared.astype(np.float32)
            pieces = [piece * squared for piece in profile.sample.pieces()]
            done = profile.fitted = (fit, profile.frames, fit(pieces))
        return done[2]

    def design(self, state: ColourState, config: StftConfig, strength: float) -> None:
        """Redesign every channel's filter from its current statistics (the hindsight ones,
        if the stream has them)."""
        if state.hindsight is not None:
            if state.designed == strength:
                return  # a fixed filter: only the style amount redesigns it
            state.designed = strength
            one = self.hindsight_log_gains(state.hindsight, strength, state.fitted)
            log_gain = np.broadcast_to(one, state.log_gain.shape)
            state.log_gain = log_gain.astype(np.float32)
            state.parts = _partitions(linear_phase(log_gain, config), config)
        else:  # the steps of a redesign under way in the stream, at once
            state.draft = Redesign(state.power, state.weight, strength)
            self._take_over(state, config)


_MAX_LOG = MAX_GAIN_DB / 20.0 * np.log(10.0)
_MAX_HINDSIGHT_LOG = MAX_HINDSIGHT_DB / 20.0 * np.log(10.0)
_LOUDNESS_PASSES = 8


def _decay(config: StftConfig) -> float:
    """The long-term average's decay per hop."""
    return float(np.exp(-config.hop_length / config.sample_rate / MEMORY_SECONDS))


def _n_parts(config: StftConfig) -> int:
    return int(np.ceil(IR_SECONDS * config.sample_rate / config.hop_length))


def _on_grid(log_gain: np.ndarray, config: StftConfig, n: int) -> np.ndarray:
    """``log_gain`` (``(channels, MODEL_BINS)``) interpolated onto the bins of an ``n``-point
    FFT at the stream's rate (the bins above the model band follow the top one)."""
    grid = np.arange(n // 2 + 1) * (config.sample_rate / n)
    model = np.arange(MODEL_BINS) * (config.sample_rate / config.n_fft)
    return np.stack([np.interp(grid, model, g) for g in log_gain])


def minimum_phase(log_gain: np.ndarray, config: StftConfig) -> np.ndarray:
    """The minimum-phase impulse response (``(channels, P * hop)``) whose magnitude is
    ``exp(log_gain)`` on the model bins (the bins above follow the top one), by the folded
    real cepstrum on a grid twice the analysis size (less cepstral aliasing)."""
    return _minimum_phase_response(_folded_cepstrum(log_gain, config), config)


def _folded_cepstrum(log_gain: np.ndarray, config: StftConfig) -> np.ndarray:
    """The spectrum of the causal (folded) real cepstrum of ``exp(log_gain)``: the log of the
    minimum-phase response's spectrum."""
    n = 2 * config.n_fft
    cepstrum = irfft(_on_grid(log_gain, config, n), n)
    folded = np.zeros_like(cepstrum)
    folded[:, 0] = cepstrum[:, 0]
    folded[:, 1 : n // 2] = 2.0 * cepstrum[:, 1 : n // 2]
    folded[:, n // 2] = cepstrum[:, n // 2]
    return rfft(folded)


def _minimum_phase_response(spectrum: np.ndarray, config: StftConfig) -> np.ndarray:
    """The impulse response from :func:`_folded_cepstrum`'s ``spectrum``, cut and tapered."""
    n = 2 * config.n_fft
    response = irfft(np.exp(spectrum), n)
    length = _n_parts(config) * config.hop_length
    ir = response[:, :length].copy()
    taper = length // 8  # the last eighth fades out: no cut at the end of the response
    ir[:, -taper:] *= np.cos(np.linspace(0.0, np.pi / 2.0, taper)) ** 2
    return ir


def _hindsight_taps(config: StftConfig) -> int:
    return 2 * int(round(HINDSIGHT_TAPS * config.n_fft / 2))


def _hindsight_parts(config: StftConfig) -> int:
    return -(-_hindsight_taps(config) // config.hop_length)


def linear_phase(log_gain: np.ndarray, config: StftConfig) -> np.ndarray:
    """The linear-phase impulse response (``(channels, P * hop)``, ``P`` hops covering
    ``HINDSIGHT_TAPS`` analysis sizes) whose magnitude is ``exp(log_gain)`` on the model bins
    (the bins above follow the top one), under a Hann window centred on its middle sample:
    its delay. The hindsight filter's: a symmetric response, as the EQ-match's zero-phase
    gains have, smears a note's onset both ways by half as much as a minimum-phase one with
    the same notches smears it forward."""
    n = _hindsight_taps(config)
    magnitude = np.exp(_on_grid(log_gain, config, n))
    ir = np.roll(irfft(magnitude, n), n // 2, axis=-1) * np.hanning(n + 1)[:-1]
    length = _hindsight_parts(config) * config.hop_length
    return np.pad(ir, ((0, 0), (0, length - n)))


def _partitions(ir: np.ndarray, config: StftConfig) -> np.ndarray:
    """Spectra (``(channels, P, B + 1)``) of the response cut into hop-long partitions."""
    block = config.hop_length
    channels, length = ir.shape
    parts = ir.reshape(channels, length // block, block)
    padded = np.concatenate((parts, np.zeros_like(parts)), axis=2)
    return rfft(padded.astype(np.float32)).astype(np.complex64)


def _smooth(power: np.ndarray, config: StftConfig) -> np.ndarray:
    """``power`` averaged over a band of ``_SMOOTH_OCTAVES`` around each bin (prefix sums)."""
    k = np.arange(MODEL_BINS)
    half = 2.0 ** (_SMOOTH_OCTAVES / 2.0)
    lo = np.clip(np.floor(k / half), 0, MODEL_BINS - 1).astype(int)
    hi = np.clip(np.ceil(k * half), 0, MODEL_BINS - 1).astype(int) + 1
    cs = np.concatenate(([0.0], np.cumsum(power)))
    return (cs[hi] - cs[lo]) / (hi - lo)
