"""The ``StyleTransfer`` effect: the streaming engine with a style model in its transform slot.

Signal path per channel, per hop (5.333 ms; 2.667 ms in ``latency_mode="low"``)::

    input -> asymmetric analysis window -> rFFT -> |X| -> log1p model frame (1030 bins)
          -> transform (style network) -> linear magnitude -> silence gate
          -> phase (input phase, or RTPGHI carried from the previous output frame)
          -> irFFT -> synthesis window (last 2M samples) -> overlap-add -> wet
    output = gain * (mix * wet + (1 - mix) * dry delayed by the same latency)

``process(x, sr)`` behaves like a pedalboard plugin: the whole buffer back, aligned with the input.
``process(x, sr, reset=False)`` streams like a pedal: as many samples as the input, delayed by
``latency_samples(sample_rate)``; any partition of the input into blocks gives the same output.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..._validate import (
    as_audio_2d,
    check_bool,
    check_choice,
    check_positive_int,
    check_range,
    check_sample_rate,
    restore_layout,
)
from ..._validate import sanitize as _sanitize
from ...errors import ParameterError
from ._process import DEFAULT_BUFFER_SIZE, Exclusive, run_chunked
from .colour import Colour
from .constants import (
    CEILING,
    GAIN_DB_RANGE,
    GATE_DB_RANGE,
    GATE_DEFAULT_DB,
    GATE_RANGE_DB,
    LATENCY_MODES,
    MAX_HIGH_GAIN,
    MIX_RANGE,
    MODEL_BINS,
    PHASE_MODES,
    STYLE_RANGE,
    TOP_BAND,
)
from .fft import irfft, rfft
from .longterm import InputProfile, learnt
from .phase import PhaseGradient
from .state import EngineState, Ramp
from .stft import StftConfig, frames
from .transforms import FrameTransform, IdentityTransform, strided_transform

__all__ = ["StyleTransfer", "EngineState", "finite_or_zeroed"]

@functools.cache
def _kernels() -> Any:
    """The compiled kernels, ready (numba is imported here, on first use, not with the
    package)."""
    from .kernels import ready

    return ready()


def finite_or_zeroed(x: np.ndarray) -> np.ndarray:
    """``x`` (2-D float32, C order) itself if every sample is finite, else a copy with NaN and
    +-Inf replaced by 0: the check is one compiled call (the live path's cost)."""
    if _kernels().all_finite(x):
        return x
    return _sanitize(x)


class StyleTransfer:
    """Neural style transfer as a pedalboard-style effect.

    Parameters
    ----------
    transform : FrameTransform, optional
        The per-frame model (a trained style network's ``as_transform()``); identity if None.
    mix : float
        Dry/wet in [0, 1]; the dry path is delayed by the same latency as the wet one.
    output_gain_db : float
        Output level in dB, [-60, 24].
    latency_mode : {"default", "low"}
        ``"default"``: 10.6 ms (511 samples at 48 kHz); ``"low"``: 5.3 ms (255 samples).
    phase_mode : {"input", "pghi"}
        Phase of the output frames, see :mod:`stylepedal.effect.engine.phase`.
    gate_db : float
        Input level (dBFS) above which the style is fully applied; 20 dB below it the wet path
        follows the input's own magnitude, so no style texture drones over the noise floor.
    bypass : bool
        Output the dry signal (still delayed, so toggling keeps time alignment).

    Examples
    --------
    >>> fx = StyleTransfer.identity()
    >>> x = np.zeros(4800, dtype=np.float32); x[100] = 1.0
    >>> int(np.argmax(np.abs(fx(x, 48000))))                    # one shot: aligned
    100
    >>> int(np.argmax(np.abs(fx(x, 48000, reset=False))))       # streamed: delayed
    611
    """

    def __init__(
        self,
        transform: FrameTransform | None = None,
        *,
        mix: float = 1.0,
        output_gain_db: float = 0.0,
        latency_mode: str = "default",
        phase_mode: str = "input",
        bypass: bool = False,
        gate_db: float = GATE_DEFAULT_DB,
        style: float = 1.0,
        name: str = "identity",
    ) -> None:
        self._transform = self._check_transform(
            transform if transform is not None else IdentityTransform()
        )
        self.name = name
        self._params = 0  # counts changes of mix, output_gain_db and bypass
        self._state: EngineState | None = None
        self._pghi: PhaseGradient | None = None
        self._latency_mode, self._phase_mode = LATENCY_MODES[0], PHASE_MODES[0]
        self._colour = Colour.of(self._transform)
        self._profile: InputProfile | None = None
        self._busy = Exclusive("StyleTransfer")
        # every value goes through its property's setter: one check per parameter
        self.style = style
        self.latency_mode = latency_mode
        self.phase_mode = phase_mode
        self.mix = mix
        self.output_gain_db = output_gain_db
        self.gate_db = gate_db
        self.bypass = bypass
        _kernels()  # compiled now, not in a stream's first block

    # ---------------------------------------------------------------- construction helpers
    @classmethod
    def identity(cls, **kwargs: Any) -> StyleTransfer:
        """The engine with the identity transform: output == input delayed (for tests)."""
        return cls(IdentityTransform(), **kwargs)

    @classmethod
    def from_preset(cls, preset: Any, **overrides: Any) -> StyleTransfer:
        """Build the effect from a preset name or :class:`~stylepedal.presets.format.Preset`.

        The model is loaded from the store's verified cache (factory presets ship theirs);
        keyword arguments override the preset's effect parameters.
        """
        from ...presets.load import effect_from_preset

        effect: StyleTransfer = effect_from_preset(preset, **overrides)
        return effect

    # ---------------------------------------------------------------- parameters
    @staticmethod
    def _check_transform(value: Any) -> FrameTransform:
        """The one check of what may sit in the slot (constructor and setter alike)."""
        if (
            getattr(value, "model_bins", None) != MODEL_BINS
            or not callable(value)
            or not callable(getattr(value, "new_state", None))
        ):
            raise ParameterError(
                f"transform={value!r} must be a FrameTransform taking {MODEL_BINS}-bin frames"
                " (model_bins, new_state(channels), __call__(frames, state))"
            )
        return value  # type: ignore[no-any-return]

    @property
    def mix(self) -> float:
        """Dry/wet balance in [0, 1] (1 = fully wet)."""
        return self._mix

    @mix.setter
    def mix(self, value: float) -> None:
        self._mix = check_range(value, "mix", *MIX_RANGE)
        self._params += 1

    @property
    def style(self) -> float:
        """How much of the style, in [0, 1]: 0 is the dry spectrum, 1 the full style (the
        model's change of each frame, and the colour stage's EQ, scaled in the log domain;
        with hindsight colour the model's change is its ``render_change`` share of that).
        Changes glide over two frames (10 ms); the colour stage follows at its next design."""
        return self._style

    @style.setter
    def style(self, value: float) -> None:
        self._style = check_range(value, "style", *STYLE_RANGE)

    @property
    def output_gain_db(self) -> float:
        """Output gain in dB, [-60, 24]."""
        return self._gain_db

    @output_gain_db.setter
    def output_gain_db(self, value: float) -> None:
        self._gain_db = check_range(value, "output_gain_db", *GAIN_DB_RANGE)
        self._params += 1

    @property
    def gate_db(self) -> float:
        """Input level (dBFS, frame peak) above which the style is fully applied, [-120, 0].

        20 dB below it the wet path is the input's own magnitude, so a style never drones
        over the noise floor when the player stops; -120 lets the style play over near-silence.
        """
        return self._gate_db

    @gate_db.setter
    def gate_db(self, value: float) -> None:
        self._gate_db = check_range(value, "gate_db", *GATE_DB_RANGE)

    @property
    def bypass(self) -> bool:
        """True: output the dry signal, delayed by the same latency."""
        return self._bypass

    @bypass.setter
    def bypass(self, value: bool) -> None:
        self._bypass = check_bool(value, "bypass")
        self._params += 1

    @property
    def latency_mode(self) -> str:
        """``"default"`` (10.6 ms) or ``"low"`` (5.3 ms); changing it resets the stream."""
        return self._latency_mode

    @latency_mode.setter
    def latency_mode(self, value: str) -> None:
        value = check_choice(value, "latency_mode", LATENCY_MODES)
        if value != self._latency_mode:
            self._latency_mode = value
            self._state = None

    @property
    def phase_mode(self) -> str:
        """``"input"`` or ``"pghi"``; switching mid-stream restarts the phase integration."""
        return self._phase_mode

    @phase_mode.setter
    def phase_mode(self, value: str) -> None:
        value = check_choice(value, "phase_mode", PHASE_MODES)
        if value != self._phase_mode:
            self._phase_mode = value
            if self._state is not None:
                self._state.pghi = None

    @property
    def transform(self) -> FrameTransform:
        return self._transform

    @transform.setter
    def transform(self, value: FrameTransform) -> None:
        self._transform = self._check_transform(value)
        colour, self._colour = self._colour, Colour.of(self._transform)
        if self._state is not None:
            self._state.transform_state = value.new_state(self._state.channels)
            if colour is not None or self._colour is not None:
                self._state = None  # a colour stage starts from what it has heard

    def latency_samples(self, sample_rate: int) -> int:
        """Delay of the output behind the input at ``sample_rate``, in samples: the latency
        mode's, and 70 ms more once a model with a render's hindsight colour has learnt its
        input (:meth:`learn_input`): the linear-phase filter's delay, which a render trims.

        Examples
        --------
        >>> StyleTransfer.identity().latency_samples(48000)
        511
        >>> StyleTransfer.identity(latency_mode="low").latency_samples(44100)
        235
        """
        return self._latency(StftConfig.for_rate(sample_rate, self._latency_mode))

    def tail_samples(self, sample_rate: int) -> int:
        """Samples of output after the input stops before the wet path is silent again
        (:meth:`latency_samples` plus one analysis window): what an offline render must
        flush."""
        cfg = StftConfig.for_rate(sample_rate, self._latency_mode)
        return self._latency(cfg) + cfg.n_fft

    def _latency(self, config: StftConfig) -> int:
        """The stream's latency on ``config``: the grid's, plus a render's hindsight filter's."""
        delay = 0 if self._colour is None else self._colour.delay_samples(config, self._profile)
        return config.latency_samples + delay

    # ---------------------------------------------------------------- processing
    def reset(self) -> None:
        """Forget everything carried across blocks (the next block starts a new stream).
        A learnt input (:meth:`learn_input`) stays."""
        self._state = None

    def learn_input(self, audio: np.ndarray, sample_rate: float) -> None:
        """Learn the input's long-term spectrum from ``audio`` before playing it (offline,
        as ``stylepedal render`` does): new streams at this rate and latency mode start with
        its colour, not flat: with a model that has a ``style_power``, the hindsight colour
        and its ``render_change`` (:mod:`~stylepedal.effect.engine.colour`). Chunks learn as
        the whole; another rate, latency mode or channel count starts over;
        :meth:`forget_input` undoes it; no colour stage, nothing to learn."""
        config = StftConfig.for_rate(check_sample_rate(sample_rate), self._latency_mode)
        x = finite_or_zeroed(as_audio_2d(audio)[0])
        if self._colour is not None:
            self._profile = learnt(self._profile, x, config, self._gate_db - GATE_RANGE_DB,
                                   sharp=self._colour.style_power is not None)

    def fit_to_style(self, sample_rate: float) -> bool:
        """Run a render's Gram fit (:meth:`Colour.fitted_gain`) for streams at ``sample_rate``
        now, not at the first stream after :meth:`learn_input`, as a render does before its
        channels' processes start; returns whether there was a fit."""
        config = StftConfig.for_rate(check_sample_rate(sample_rate), self._latency_mode)
        return self._gram_fit(config) is not None

    def _gram_fit(self, config: StftConfig) -> np.ndarray | None:
        """The Gram fit's gain for a stream on ``config`` (None: no hindsight colour there, or
        a model without the style's Grams)."""
        colour, profile = self._colour, self._profile
        fit = getattr(self._transform, "fit_log_gain", None)
        if colour is None or fit is None or colour.hindsight_power(config, profile) is None:
            return None
        assert profile is not None
        return colour.fitted_gain(profile, fit)

    def forget_input(self) -> None:
        """Drop what :meth:`learn_input` learnt: new streams start flat again."""
        self._profile = None

    @property
    def learns_input(self) -> bool:
        """Whether :meth:`learn_input` has anything to learn for (a colour stage)."""
        return self._colour is not None

    @property
    def learned_input_seconds(self) -> float:
        """Active input :meth:`learn_input` has learnt, in seconds per channel."""
        return 0.0 if self._profile is None else self._profile.seconds

    def _pghi_for(self, config: StftConfig) -> PhaseGradient:
        if self._pghi is None or self._pghi.config is not config:
            self._pghi = PhaseGradient(config)
        return self._pghi

    def _new_state(self, config: StftConfig, channels: int) -> EngineState:
        hop = config.hop_length
        ramps = {
            "mix": Ramp(self._mix),
            "gain": Ramp(10.0 ** (self._gain_db / 20.0)),
            "active": Ramp(0.0 if self._bypass else 1.0),
        }
        colour = None if self._colour is None else self._colour.new_state(
            config, channels, profile=self._profile, strength=self._style,
            fitted=self._gram_fit(config),
        )
        latency = self._latency(config)  # longer: the hindsight colour, and its share of change
        hindsight = latency > config.latency_samples
        change = float(getattr(self._transform, "render_change", 1.0)) if hindsight else 1.0
        return EngineState(
            config=config,
            channels=channels,
            inbuf=np.zeros((channels, config.n_fft - hop), dtype=np.float32),
            fill=0,
            pending=np.zeros((channels, config.overlap - 1, hop), dtype=np.float32),
            outq=np.zeros((channels, hop - 1), dtype=np.float32),
            dry=np.zeros((channels, latency), dtype=np.float32),
            transform_state=self._transform.new_state(channels),
            pghi=None,
            ramps=ramps,
            last_delta=(np.zeros((channels, MODEL_BINS), dtype=np.float32)
                        if config.model_stride > 1 else None),
            colour=colour,
            raw=None if self._colour is None else np.zeros((channels, 0), dtype=np.float32),
            style=self._style * change,
            change=change,
        )

    def process(
        self,
        audio: np.ndarray,
        sample_rate: float,
        *,
        buffer_size: int | None = None,
        reset: bool = True,
    ) -> np.ndarray:
        """Process a whole signal (``reset=True``) or the next block of a stream.

        Parameters
        ----------
        audio : np.ndarray
            float32 ``(frames,)`` or ``(channels, frames)``; channels are processed independently.
            NaN and Inf samples are treated as zero.
        sample_rate : float
            A supported rate (multiple of 75 Hz, 22050..384000).
        buffer_size : int, optional
            Largest chunk processed at once (default 8192, as pedalboard): bounds the memory
            of a long buffer; the output is the same within float rounding.
        reset : bool
            True (default): one shot, as pedalboard's plugins: a new stream, the tail flushed
            and the latency trimmed, so the output is aligned with ``audio``; nothing is
            carried to the next call. False: continue the stream, as a live host does block
            after block; the output is delayed by :meth:`latency_samples`. A change of rate or
            channel count starts a new stream.

        Returns
        -------
        np.ndarray
            float32, same shape and layout as ``audio``.

        Raises
        ------
        BusyError
            If another thread is inside ``process`` of this effect: one effect plays one
            stream; it never waits (no lock in the audio path), so give each thread its own.
        """
        with self._busy:
            st = self._state
            if st is not None and not reset and sample_rate == st.config.sample_rate:
                config = st.config  # the live fast path: same stream, nothing to look up
            else:
                config = StftConfig.for_rate(check_sample_rate(sample_rate), self._latency_mode)
            x, layout = as_audio_2d(audio)
            size = DEFAULT_BUFFER_SIZE
            if buffer_size is not None:
                size = check_positive_int(buffer_size, "buffer_size")
            if reset or st is None or st.config is not config or st.channels != x.shape[0]:
                st = self._state = self._new_state(config, x.shape[0])
            x = finite_or_zeroed(x)
            if not reset and x.shape[1] <= size:
                out = self._block(x, st)
            else:
                flush = self._latency(config) if reset else 0
                out = run_chunked(lambda c: self._block(c, st), x, size, flush)
            if reset:
                self._state = None  # one shot: the next call starts afresh whatever it asks
            return restore_layout(out.astype(np.float32, copy=False), layout)  # out is fresh

    __call__ = process

    def _block(self, x: np.ndarray, st: EngineState) -> np.ndarray:
        cfg = st.config
        hop = cfg.hop_length
        b = x.shape[1]
        if st.colour is None:
            buf = np.concatenate((st.inbuf, x), axis=1)
            total = st.fill + b
            n_frames = total // hop
            if n_frames:
                self._frames_out(buf, n_frames, st)
            st.inbuf = buf[:, n_frames * hop :]
            st.fill = total - n_frames * hop
        else:
            self._coloured_frames_out(x, st)
        wet = st.outq[:, :b]
        st.outq = st.outq[:, b:]
        line = np.concatenate((st.dry, x), axis=1)
        dry = line[:, :b]
        st.dry = line[:, b:]
        return st.mix_out(wet, dry, self._params, self._mix, self._gain_db, self._bypass,
                          _kernels())

    def _coloured_frames_out(self, x: np.ndarray, st: EngineState) -> None:
        """The frames ``x`` completes, through the colour stage first: whole hops are coloured
        as they complete, in runs that end where the filter is redesigned or takes over (the
        same frames, however the input is cut); a block that completes none works ahead."""
        assert self._colour is not None and st.colour is not None and st.raw is not None
        cfg = st.config
        hop = cfg.hop_length
        raw = np.concatenate((st.raw, x), axis=1)
        n_frames = raw.shape[1] // hop
        if n_frames == 0:
            self._colour.work_ahead(st.colour, cfg)
        done = 0
        while done < n_frames:
            k = min(n_frames - done, self._colour.frames_to_update(st.colour, cfg))
            coloured = self._colour.run(raw[:, done * hop : (done + k) * hop], st.colour, cfg,
                                        self._gate_db - GATE_RANGE_DB, self._style)
            buf = np.concatenate((st.inbuf, coloured), axis=1)
            self._frames_out(buf, k, st)
            st.inbuf = buf[:, k * hop :]
            done += k
        st.raw = raw[:, n_frames * hop :]

    def _frames_out(self, buf: np.ndarray, n_frames: int, st: EngineState) -> None:
        """Analyse ``n_frames`` frames of ``buf``, run the model, synthesise and queue their
        output."""
        cfg = st.config
        hop = cfg.hop_length
        spec = rfft(frames(buf, cfg, n_frames))
        if self._phase_mode == "input" and type(self._transform) is IdentityTransform:
            # nothing to change: the resynthesis is the analysis (exact, and cheaper)
            out_spec = spec
        elif self._phase_mode == "input":
            self._wet_band(spec, st, apply=True)
            out_spec = spec
        else:
            wet_mag = self._wet_magnitude(spec, st)
            pg = self._pghi_for(cfg)
            if st.pghi is None:
                st.pghi = pg.new_state(st.channels)
            phase = np.empty_like(wet_mag)
            for f in range(n_frames):
                phase[:, f] = pg.frame(wet_mag[:, f], st.pghi)
            out_spec = (wet_mag * np.exp(1j * phase)).astype(np.complex64)
        seg = np.empty((st.channels, n_frames * hop), dtype=np.float32)
        _kernels().overlap_add_tails(
            irfft(out_spec, cfg.n_fft), cfg.synthesis_window32, st.pending, cfg.ola_gain, seg
        )
        st.outq = np.concatenate((st.outq, seg), axis=1)

    def _wet_band(
        self, spec: np.ndarray, st: EngineState, *, apply: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """The wet magnitude of the model band of ``spec`` (the input's complex frames) and the
        gain ``(channels, frames)`` that continues it above the band: the output/input ratio
        of the band's top bins, at most 16. The one wet-magnitude path
        of both phase modes; with ``apply``, ``spec`` itself becomes the wet spectrum (input
        phase), in place.

        Two compiled passes around the model (:meth:`_wet_model`): the live path's frame,
        where every numpy call costs a cold-cache trip. The magnitudes are exact
        (rounded once from float64), where ``np.abs`` may be an ulp off. Gate: where the input
        is more than GATE_RANGE_DB below gate_db the wet magnitude is the input's own, so a
        model that would invent sound from nothing stays silent."""
        cfg = st.config
        kernels = _kernels()
        shape = (*spec.shape[:2], MODEL_BINS)
        mag = np.empty(shape, dtype=np.float32)
        feats = np.empty(shape, dtype=np.float32)
        kernels.band_magnitudes(spec, cfg.feature_scale32, mag, feats)
        wet = self._wet_model(feats, st)
        ratio = np.empty(shape[:2], dtype=np.float32)
        args = (
            mag, wet, cfg.magnitude_scale32, CEILING, cfg.level_scale32,
            self._gate_db - GATE_RANGE_DB, GATE_RANGE_DB, TOP_BAND, MAX_HIGH_GAIN, ratio,
        )  # fmt: skip
        if apply:
            kernels.wet_gains(spec, *args)
        else:
            kernels.wet_magnitudes(*args)
        return wet, ratio

    def _wet_magnitude(self, spec: np.ndarray, st: EngineState) -> np.ndarray:
        """The wet magnitude of every bin of ``spec`` (for the PGHI phase)."""
        band, ratio = self._wet_band(spec, st, apply=False)
        wet = np.abs(spec)
        wet[..., :MODEL_BINS] = band
        wet[..., MODEL_BINS:] *= ratio[..., np.newaxis]
        return wet

    def _wet_model(self, linear: np.ndarray, st: EngineState) -> np.ndarray:
        """The model's output for the linear model magnitudes ``linear`` (which it may
        overwrite), linear: straight from a transform's ``linear`` when nothing is blended in
        the log domain (the live default: two log and exp passes fewer), else via :meth:`_model`."""
        direct = getattr(self._transform, "linear", None)
        blended = not st.style == self._style * st.change == 1.0
        if direct is None or blended or st.config.model_stride != 1:
            np.log1p(linear, out=linear)
            return np.expm1(self._model(linear, st), dtype=np.float32, order="C")
        return self._checked_shape(direct(linear, st.transform_state), linear)

    def _model(self, feats: np.ndarray, st: EngineState) -> np.ndarray:
        """The transform's output for the model frames ``feats``, at the model's frame rate,
        scaled toward the input by the style amount."""
        if st.config.model_stride == 1:
            out = self._run_transform(feats, st)
        else:
            out = strided_transform(lambda f: self._run_transform(f, st), feats, st)
        target = self._style * st.change
        if st.style == target == 1.0:
            return out
        # the style glides to the set value over two frames: no step in the gains
        n = feats.shape[1]
        steps = np.minimum(0.5 * np.arange(1, n + 1), abs(target - st.style))
        style = (st.style + np.sign(target - st.style) * steps).astype(np.float32)
        st.style = float(style[-1])
        return feats + style[np.newaxis, :, np.newaxis] * (out - feats)

    def _run_transform(self, feats: np.ndarray, st: EngineState) -> np.ndarray:
        return self._checked_shape(self._transform(feats, st.transform_state), feats)

    @staticmethod
    def _checked_shape(out: Any, feats: np.ndarray) -> np.ndarray:
        out = np.asarray(out, dtype=np.float32, order="C")
        if out.shape != feats.shape:
            raise ParameterError(f"transform returned shape {out.shape}, expected {feats.shape}")
        return out

    def __repr__(self) -> str:
        return (
            f"<StyleTransfer name={self.name!r} mix={self._mix} output_gain_db={self._gain_db}"
            f" latency_mode={self._latency_mode!r} phase_mode={self._phase_mode!r}"
            f" gate_db={self._gate_db}"
            f" bypass={self._bypass}>"
        )
