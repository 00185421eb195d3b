"""Analysis/synthesis representations the Gram-loss optimiser works on.

A representation turns mono audio into a non-negative float32 array ``(channels, frames)``
(channels are what the random convolution sees as input channels: frequency bins for a
spectrogram) and back. The optimiser (:mod:`stylepedal.effect.research.optimize`) and the metrics
(:mod:`stylepedal.effect.research.metrics`) only see these arrays.

Registered names:

``"stft"``
    The seeds' exact pipeline (Ulyanov's notebook): audio at 22.05 kHz, ``librosa.stft`` with
    ``n_fft=2048``, ``hop_length=512``, Hann window, centred frames; feature ``log1p(|X|)``,
    1025 bins. Synthesis: ``librosa.griffinlim`` on ``expm1(rep)``.
``"engine"``
    The streaming engine's analysis grid (``stylepedal.effect.engine.stft.analyze``, 1030
    model bins, hop ~5.33 ms); synthesis by Griffin-Lim over the engine's STFT
    (:func:`stylepedal.effect.research.reconstruction.griffin_lim`).
``"cqt"``, ``"mel"``, ``"sms"``
    Provided by their own modules and imported only when asked for.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..._validate import check_non_negative_int, check_sample_rate, sanitize
from ...errors import ParameterError

__all__ = [
    "REPRESENTATIONS",
    "EngineRepresentation",
    "Representation",
    "StftRepresentation",
    "SINE_SCALE",
    "check_rep",
    "get_representation",
    "mono_audio",
    "representation_from_options",
]


# The cqt, mel and sms views are calibrated so that a sinusoid of amplitude a reads
# log1p(SINE_SCALE * a) at its bin (the seeds' STFT scale for a Hann-2048 window).
SINE_SCALE = 512.0


@runtime_checkable
class Representation(Protocol):
    """What the optimiser needs from an analysis/synthesis pair.

    ``analyze`` returns float32 ``(channels, frames)``, values >= 0; ``synthesize`` inverts it
    (estimating a phase where the representation has none) and returns float32 mono audio at
    ``sample_rate``.
    """

    name: str

    def analyze(self, audio: np.ndarray, sample_rate: int) -> np.ndarray: ...

    def synthesize(
        self,
        rep: np.ndarray,
        sample_rate: int,
        *,
        n_iter: int = 100,
        reference: np.ndarray | None = None,
    ) -> np.ndarray: ...


def mono_audio(audio: Any, *, name: str = "audio", nonfinite: str = "raise") -> np.ndarray:
    """Validate 1-D float audio and return it as contiguous float32.

    ``nonfinite="raise"`` refuses NaN/Inf samples; ``"zero"`` reads them as 0 (and refuses an
    empty signal), as the cqt, mel and sms representations do.

    Raises
    ------
    ParameterError
        if ``audio`` is not a 1-D float array, or holds NaN/Inf with ``nonfinite="raise"``.

    Examples
    --------
    >>> mono_audio(np.zeros(4)).dtype
    dtype('float32')
    """
    if not isinstance(audio, np.ndarray):
        raise ParameterError(f"{name} must be a 1-D numpy array, got {type(audio).__name__}")
    if audio.ndim != 1:
        raise ParameterError(f"{name}.ndim={audio.ndim} is not supported: pass mono (frames,)")
    if not np.issubdtype(audio.dtype, np.floating):
        raise ParameterError(f"{name}.dtype={audio.dtype} is not supported: pass float samples")
    if nonfinite == "zero":
        if audio.size == 0:
            raise ParameterError(f"{name} is empty: pass at least one frame of samples")
        return sanitize(np.ascontiguousarray(audio, dtype=np.float32))
    if not np.isfinite(audio).all():
        bad = int((~np.isfinite(audio)).sum())
        raise ParameterError(f"{name} holds {bad} NaN/Inf samples: only finite samples allowed")
    return np.ascontiguousarray(audio, dtype=np.float32)


def check_rep(
    rep: Any, n_channels: int | None = None, *, name: str = "rep", nonfinite: str = "raise"
) -> np.ndarray:
    """Validate a ``(channels, frames)`` representation array; return it as float64.

    ``nonfinite="raise"`` refuses NaN/Inf; ``"zero"`` reads them (and negative values) as 0 and
    refuses an array of no frames.
    """
    if not isinstance(rep, np.ndarray) or rep.ndim != 2:
        shape = getattr(rep, "shape", None)
        raise ParameterError(f"{name} shape={shape} must be a 2-D array (channels, frames)")
    if n_channels is not None and rep.shape[0] != n_channels:
        raise ParameterError(
            f"{name} has {rep.shape[0]} channels: this representation has {n_channels}"
        )
    if nonfinite == "zero":
        if rep.shape[1] < 1:
            raise ParameterError(f"{name} has 0 frames: pass at least one frame")
        out = np.nan_to_num(np.asarray(rep, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        return np.maximum(out, 0.0)
    if not np.isfinite(rep).all():
        raise ParameterError(f"{name} holds NaN/Inf values: only finite values allowed")
    return np.asarray(rep, dtype=np.float64)


class StftRepresentation:
    """The seeds' log1p-magnitude STFT at 22.05 kHz (Ulyanov's notebook).

    Audio at another rate is resampled to ``analysis_rate`` with ``librosa.resample`` before
    analysis, and the synthesised audio is resampled back to the rate asked for.

    Parameters
    ----------
    n_fft : int
        FFT size (2048: 1025 bins).
    hop_length : int
        Hop in samples at ``analysis_rate`` (512: ~43 frames/s, 430 frames per 10 s).
    analysis_rate : int
        Rate the analysis runs at (22050, like ``librosa.load``'s default in the seeds).
    seed : int
        Seed of Griffin-Lim's random initial phase (deterministic synthesis).

    Examples
    --------
    >>> rep = StftRepresentation()
    >>> x = rep.analyze(np.zeros(22050, dtype=np.float32), 22050)
    >>> x.shape
    (1025, 44)
    """

    name = "stft"

    def __init__(
        self,
        *,
        n_fft: int = 2048,
        hop_length: int = 512,
        analysis_rate: int = 22050,
        seed: int = 0,
    ) -> None:
        for key, value in (("n_fft", n_fft), ("hop_length", hop_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"{key}={value!r} must be a positive integer")
        if hop_length > n_fft:
            raise ParameterError(f"hop_length={hop_length} must be <= n_fft={n_fft}")
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.analysis_rate = check_sample_rate(analysis_rate, name="analysis_rate")
        self.seed = seed

    @property
    def n_channels(self) -> int:
        return self.n_fft // 2 + 1

    def _to_analysis_rate(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        if sample_rate == self.analysis_rate:
            return audio
        import librosa

        return librosa.resample(audio, orig_sr=sample_rate, target_sr=self.analysis_rate)

    def analyze(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """``log1p(|librosa.stft(audio)|)`` as float32 ``(1025, frames)``."""
        import librosa

        audio = mono_audio(audio)
        sample_rate = check_sample_rate(sample_rate)
        x = self._to_analysis_rate(audio, sample_rate)
        spec = librosa.stft(x, n_fft=self.n_fft, hop_length=self.hop_length)
        # librosa returns a Fortran-ordered view; the optimiser wants C order.
        return np.ascontiguousarray(np.log1p(np.abs(spec)), dtype=np.float32)

    def synthesize(
        self,
        rep: np.ndarray,
        sample_rate: int,
        *,
        n_iter: int = 100,
        reference: np.ndarray | None = None,
    ) -> np.ndarray:
        """Griffin-Lim (``librosa.griffinlim``) of ``expm1(rep)``.

        ``reference`` (mono audio at ``sample_rate``) only sets the output length; without it
        the length is what the frame count implies.
        """
        import librosa

        rep = check_rep(rep, self.n_channels)
        n_iter = check_non_negative_int(n_iter, "n_iter")
        sample_rate = check_sample_rate(sample_rate)
        mag = np.expm1(np.maximum(rep, 0.0))
        length = None
        if reference is not None and sample_rate == self.analysis_rate:
            length = len(reference)
        audio = librosa.griffinlim(
            mag,
            n_iter=n_iter,
            hop_length=self.hop_length,
            n_fft=self.n_fft,
            length=length,
            random_state=np.random.default_rng(self.seed),
        )
        if sample_rate != self.analysis_rate:
            audio = librosa.resample(audio, orig_sr=self.analysis_rate, target_sr=sample_rate)
        if reference is not None:
            n = len(reference)
            audio = np.pad(audio, (0, max(0, n - len(audio))))[:n]
        return np.asarray(audio, dtype=np.float32)


class EngineRepresentation:
    """The streaming engine's log-magnitude grid (``stylepedal.effect.engine.stft``).

    Analysis is ``stylepedal.effect.engine.stft.analyze`` (transposed to ``(1030, frames)``);
    synthesis converts back to linear magnitude with ``from_logmag`` and estimates the phase
    with :func:`~stylepedal.effect.research.reconstruction.griffin_lim` over the engine's own
    STFT pair.

    Parameters
    ----------
    latency_mode : str
        ``"default"`` or ``"low"`` (the engine's window pair).
    seed : int
        Seed of Griffin-Lim's random initial phase.
    """

    name = "engine"

    def __init__(self, *, latency_mode: str = "default", seed: int = 0) -> None:
        self.latency_mode = latency_mode
        self.seed = seed

    def analyze(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        from ..engine.stft import analyze

        audio = mono_audio(audio)
        frames = analyze(audio, check_sample_rate(sample_rate), latency_mode=self.latency_mode)
        return np.ascontiguousarray(np.asarray(frames, dtype=np.float32).T)

    def synthesize(
        self,
        rep: np.ndarray,
        sample_rate: int,
        *,
        n_iter: int = 100,
        reference: np.ndarray | None = None,
    ) -> np.ndarray:
        from ..engine.stft import StftConfig, from_logmag
        from .reconstruction import griffin_lim

        n_iter = check_non_negative_int(n_iter, "n_iter")
        config = StftConfig.for_rate(check_sample_rate(sample_rate), self.latency_mode)
        if config.model_stride > 1:
            # "low" mode's frames are the model's (every second STFT hop): resynthesise them at
            # the model hop, which the default mode's STFT has.
            config = StftConfig.for_rate(config.sample_rate, "default")
        rep = check_rep(rep, config.model_bins)
        mag = np.zeros((rep.shape[1], config.n_bins))
        # Bins above the model band (> 11025 Hz at high rates) stay silent: the optimiser only
        # shapes the model bins.
        mag[:, : config.model_bins] = from_logmag(rep.T, config)
        audio = np.asarray(griffin_lim(mag, config, n_iter=n_iter, seed=self.seed), np.float32)
        if reference is not None:
            n = len(reference)
            audio = np.pad(audio, (0, max(0, n - len(audio))))[:n]
        return audio


# name -> class or "module:Class" (imported only when asked for, so missing extras cost nothing)
_REGISTRY: dict[str, Any] = {
    "stft": StftRepresentation,
    "engine": EngineRepresentation,
    "cqt": "stylepedal.effect.research.cqt:CqtRepresentation",
    "mel": "stylepedal.effect.research.mel:MelRepresentation",
    "sms": "stylepedal.effect.research.sms:SmsRepresentation",
}
REPRESENTATIONS: tuple[str, ...] = tuple(_REGISTRY)


def get_representation(name: str, **kwargs: Any) -> Representation:
    """Build the representation registered under ``name``.

    Parameters
    ----------
    name : str
        One of :data:`REPRESENTATIONS` (``"stft"``, ``"engine"``, ``"cqt"``, ``"mel"``,
        ``"sms"``).
    **kwargs
        Keyword settings of that representation's constructor.

    Raises
    ------
    ParameterError
        for an unknown name, or a registered one whose module is not in this build.

    Examples
    --------
    >>> get_representation("stft").name
    'stft'
    """
    choices = ", ".join(repr(c) for c in REPRESENTATIONS)
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ParameterError(f"representation={name!r} is not supported: choose one of {choices}")
    target = _REGISTRY[name]
    if isinstance(target, str):
        module_name, class_name = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            raise ParameterError(
                f"representation={name!r} is not available in this build ({module_name} is"
                f" missing): choose one of {choices}"
            ) from exc
        target = getattr(module, class_name)
    if name == "engine":
        _require_engine()
    rep = target(**kwargs)
    return rep  # type: ignore[no-any-return]


def representation_from_options(name: str, options: dict[str, Any], *, seed: int = 0) -> Any:
    """``get_representation(name, seed=seed, **options)``, with unknown keys named clearly.

    The accepted keys are the keyword arguments of the representation class's constructor
    (found with :func:`inspect.signature`); an option ``seed`` overrides ``seed``.

    Raises
    ------
    ParameterError
        for a key the representation does not accept, listing the ones it does.

    Examples
    --------
    >>> representation_from_options("stft", {"n_fft": 1024}).n_fft
    1024
    >>> representation_from_options("stft", {"bins": 3})
    Traceback (most recent call last):
    ...
    stylepedal.errors.ParameterError: --rep-option bins is not a setting of representation \
'stft' (StftRepresentation): accepted keys are n_fft, hop_length, analysis_rate, seed
    """
    import inspect

    if options:
        # the class is resolved through get_representation (a default instance is cheap):
        # the registry maps names to classes and lazily imported modules
        cls = type(get_representation(name, seed=seed))
        params = inspect.signature(cls).parameters.values()
        accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        accepted = [
            p.name
            for p in params
            if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ]
        unknown = [key for key in options if key not in accepted]
        if unknown and not accepts_any:
            raise ParameterError(
                f"--rep-option {', '.join(unknown)} is not a setting of representation "
                f"{name!r} ({cls.__name__}): accepted keys are {', '.join(accepted)}"
            )
    return get_representation(name, **{"seed": seed, **options})


def _require_engine() -> None:
    for module_name in ("stylepedal.effect.engine.stft", "stylepedal.effect.engine.phase"):
        try:
            importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            raise ParameterError(
                f"representation='engine' is not available in this build ({module_name} is"
                " missing): use 'stft'"
            ) from exc
