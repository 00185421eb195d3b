"""An independent judge of audio style transfer: random-feature Gram distance and content kept.

The judge shares nothing with what a stylepedal model is trained against (not
:mod:`stylepedal.effect.model.gram`, not the engine's analysis grid, not the training filters):
a model judged by the features it was optimised on can score well by fitting those particular
random filters rather than the style. It keeps the seeds' *representation* (that is what a
style is defined on) and replaces everything else.

Representation
    Mono audio at 22050 Hz, ``log1p(|STFT|)`` with ``n_fft=2048``, ``hop_length=512`` and a Hann
    window (``librosa.stft``), frequency bins as channels: the seeds' (Ulyanov's) spectrogram.
Level
    Every signal is scaled so that its RMS over *active* frames (frames within
    :data:`ACTIVE_RANGE_DB` of its loudest frame) is :data:`TARGET_RMS`. ``log1p`` is not
    scale-invariant, so without this a plain gain change would move the Gram; active-frame RMS
    (rather than whole-clip RMS) keeps silence gaps from setting the level, and needs no
    loudness filter whose weighting would itself depend on timbre.
Judges
    Several random 1-D convolutions over time (He-initialised, ReLU, no bias), with widths,
    sizes and seeds that no training run uses (:data:`JUDGES`; seeds from
    :data:`RESERVED_SEEDS`). The weights come from the raw output of numpy's PCG64 bit
    generator (whose stream numpy guarantees) through a Box-Muller transform, so they are the
    same on every machine and numpy version.
Style score
    ``G = F F^T / frames`` per judge; ``d(a, b) = ||G_a - G_b||_F / ||G_b||_F``; the ratio
    ``d(output, style) / d(content, style)`` is 1 when the output is no closer to the style
    than the dry input and 0 when it has the style's Gram. The summary is the geometric mean
    over judges. A style of several clips has the frame-weighted mean of their Grams (the Gram
    of all their feature frames together).
Content score
    The mean of (a) the Pearson correlation of the onset-strength envelopes of output and
    content (the best over lags up to :data:`ONSET_MAX_LAG_FRAMES` frames) and (b) the
    framewise Pearson correlation of their CQT chromagrams over the content's active frames: a
    player must keep *when* notes start and *which* notes sound, while the timbre is exactly
    what the effect may change.

Examples
--------
>>> import numpy as np
>>> sr = 22050
>>> t = np.arange(3 * sr) / sr
>>> content = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
>>> style = (0.1 * np.sign(np.sin(2 * np.pi * 330 * t))).astype(np.float32)
>>> result = judge(4.0 * content, content, style, sr)
>>> result["ratio"], round(result["content"], 6)
(1.0, 1.0)
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..._random import random_weights
from ..._validate import as_audio_2d, check_positive_int, check_sample_rate
from ...errors import ParameterError
from ..engine.constants import SEEDS_ACTIVE_DB, SEEDS_RMS

__all__ = [
    "ACTIVE_RANGE_DB",
    "ANALYSIS_RATE",
    "HOP_LENGTH",
    "JUDGES",
    "N_FFT",
    "ONSET_MAX_LAG_FRAMES",
    "RESERVED_SEEDS",
    "TARGET_RMS",
    "VALIDATION_JUDGES",
    "VALIDATION_SEEDS",
    "Analysis",
    "Judge",
    "JudgeSpec",
    "content_score",
    "describe",
    "judge",
    "normalise_level",
    "random_weights",
]

ANALYSIS_RATE = 22050
N_FFT = 2048
HOP_LENGTH = 512
# Every signal is scaled to this RMS over its active frames: -20 dBFS, the level of the recorded
# music the seeds analysed (log1p is not scale-invariant, so the level sets its compression).
TARGET_RMS = SEEDS_RMS
# Frames within this range of the loudest frame count as active (relative, so gain-blind).
ACTIVE_RANGE_DB = SEEDS_ACTIVE_DB
# Below this whole-signal peak a signal is treated as silent (it has no level to normalise).
SILENCE_PEAK = 1e-6
# Onset envelopes may be offset by up to this many frames (46 ms) and still count as in time:
# latency is measured elsewhere, and phase reconstruction smears onsets by a frame or two.
ONSET_MAX_LAG_FRAMES = 2
# Seeds the judges draw from; training code must never use a seed in this range.
RESERVED_SEEDS = range(1_000_000, 1_001_000)
# Seeds of the validation judges, which choose training settings on train-split material: apart
# from the eval judges', so a setting chosen with them is still judged by nets it never met.
VALIDATION_SEEDS = range(2_000_000, 2_001_000)

StyleAudio = np.ndarray | Sequence[np.ndarray]


@dataclass(frozen=True)
class JudgeSpec:
    """One random-feature judge.

    Parameters
    ----------
    name : str
        Short label used in reports.
    seed : int
        Seed of the weights; must lie in :data:`RESERVED_SEEDS` (an eval judge) or
        :data:`VALIDATION_SEEDS` (a validation judge).
    width : int
        Kernel width in STFT frames (at 23.2 ms per frame).
    filters : int
        Filters per layer.
    layers : int
        Stacked conv + ReLU layers; the Gram is taken of the last layer.

    Examples
    --------
    >>> JudgeSpec("tiny", seed=1_000_003, width=3, filters=8).min_frames
    3
    """

    name: str
    seed: int
    width: int
    filters: int
    layers: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or (
            self.seed not in RESERVED_SEEDS and self.seed not in VALIDATION_SEEDS
        ):
            raise ParameterError(
                f"seed={self.seed!r} is not a judge seed: allowed is an integer in"
                f" [{RESERVED_SEEDS.start}, {RESERVED_SEEDS.stop - 1}] (RESERVED_SEEDS) or in"
                f" [{VALIDATION_SEEDS.start}, {VALIDATION_SEEDS.stop - 1}] (VALIDATION_SEEDS)"
            )
        for key in ("width", "filters", "layers"):
            check_positive_int(getattr(self, key), key)

    @property
    def min_frames(self) -> int:
        """Fewest STFT frames a signal needs for at least one feature frame."""
        return self.layers * (self.width - 1) + 1


# Training uses width 11 with 512 or 4096 filters and seed 0 (stylepedal.effect.model.gram):
# the judges differ in seed always and in width or size wherever they can.
JUDGES: tuple[JudgeSpec, ...] = (
    JudgeSpec("w3x1024", seed=1_000_003, width=3, filters=1024),
    JudgeSpec("w11x256", seed=1_000_004, width=11, filters=256),
    JudgeSpec("w11x1024", seed=1_000_005, width=11, filters=1024),
    JudgeSpec("w25x256", seed=1_000_006, width=25, filters=256),
    JudgeSpec("w5x256x2", seed=1_000_007, width=5, filters=256, layers=2),
)
# The validation judges: other seeds, and widths and sizes neither the eval judges nor the
# training banks use.
VALIDATION_JUDGES: tuple[JudgeSpec, ...] = (
    JudgeSpec("v6x640", seed=2_000_001, width=6, filters=640),
    JudgeSpec("v15x320", seed=2_000_002, width=15, filters=320),
    JudgeSpec("v21x320", seed=2_000_003, width=21, filters=320),
)


def _to_analysis_rate(audio: np.ndarray, sample_rate: int, name: str) -> np.ndarray:
    """Mono float64 at :data:`ANALYSIS_RATE`, checked."""
    x32, layout = as_audio_2d(audio, name=name)
    # float64 from the caller's samples, not the float32 copy: a float64 input keeps its bits
    x = np.asarray(audio, dtype=np.float64)
    x = x.T if layout == "channels_last" else x
    x = x.mean(axis=0) if x.ndim == 2 else x
    if x.size == 0:
        raise ParameterError(f"{name} is empty (0 samples): allowed is audio with samples")
    if not np.isfinite(x).all():
        raise ParameterError(f"{name} holds NaN or Inf samples: allowed is finite audio")
    if sample_rate != ANALYSIS_RATE:
        import librosa

        x = librosa.resample(x, orig_sr=sample_rate, target_sr=ANALYSIS_RATE)
    return x


def _frame_rms(x: np.ndarray) -> np.ndarray:
    import librosa

    return librosa.feature.rms(y=x, frame_length=N_FFT, hop_length=HOP_LENGTH)[0]


def _active(frame_rms: np.ndarray) -> np.ndarray:
    top = float(frame_rms.max())
    if top <= 0.0:
        return np.zeros(frame_rms.shape, dtype=bool)
    return frame_rms >= top * 10.0 ** (-ACTIVE_RANGE_DB / 20.0)


def normalise_level(
    audio: np.ndarray,
    sample_rate: int = ANALYSIS_RATE,
    *,
    target_rms: float | None = TARGET_RMS,
    name: str = "audio",
) -> np.ndarray:
    """Mono float64 audio at 22050 Hz scaled to ``target_rms`` over its active frames.

    ``target_rms=None`` leaves the level alone (only mixes to mono and resamples). A signal
    whose peak is below :data:`SILENCE_PEAK` is returned as zeros.

    Examples
    --------
    >>> x = np.sin(np.arange(22050) * 0.1)
    >>> bool(np.allclose(normalise_level(x), normalise_level(0.01 * x)))
    True
    """
    x = _to_analysis_rate(audio, check_sample_rate(sample_rate), name)
    if float(np.abs(x).max()) < SILENCE_PEAK:
        return np.zeros_like(x)
    if target_rms is None:
        return x
    rms = _frame_rms(x)
    level = math.sqrt(float(np.mean(rms[_active(rms)] ** 2)))
    return x * (target_rms / level)


@dataclass(frozen=True)
class Analysis:
    """What the judge keeps of one signal (or of a style's clips together).

    Attributes
    ----------
    grams : dict of str to np.ndarray
        Per judge, ``F F^T / frames`` (float64, filters x filters).
    frames : dict of str to int
        Per judge, the feature frames the Gram averages over.
    onset : np.ndarray
        Onset-strength envelope, one value per STFT frame.
    chroma : np.ndarray
        CQT chromagram, ``(12, frames)``.
    active : np.ndarray
        bool per STFT frame: within :data:`ACTIVE_RANGE_DB` of the loudest frame.
    """

    grams: dict[str, np.ndarray]
    frames: dict[str, int]
    onset: np.ndarray
    chroma: np.ndarray
    active: np.ndarray


def _chroma(x: np.ndarray) -> np.ndarray:
    import warnings

    import librosa

    with warnings.catch_warnings():
        # the CQT's low octaves want more samples than a short clip has; the chroma is fine
        warnings.filterwarnings("ignore", message="n_fft=.* is too large", category=UserWarning)
        return librosa.feature.chroma_cqt(y=x, sr=ANALYSIS_RATE, hop_length=HOP_LENGTH)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / den if den > 0.0 else 0.0


def content_score(output: Analysis, content: Analysis) -> dict[str, float]:
    """Onset-envelope and chroma agreement of two analysed signals, and their mean.

    Parameters
    ----------
    output, content : Analysis
        From :meth:`Judge.analyse`; ``output`` is the effect applied to ``content``.

    Returns
    -------
    dict
        ``{"onset": r, "chroma": r, "content": mean}``; 1.0 for identical signals.

    Examples
    --------
    >>> jd = Judge((JudgeSpec("tiny", seed=1_000_003, width=3, filters=8),))
    >>> a = jd.analyse(np.sin(np.arange(22050) * 0.2), 22050)
    >>> round(content_score(a, a)["content"], 6)
    1.0
    """
    n = min(output.onset.size, content.onset.size)
    a_on, b_on = output.onset[:n], content.onset[:n]
    onset = max(
        _pearson(a_on[lag:], b_on[: n - lag]) if lag >= 0 else _pearson(a_on[:lag], b_on[-lag:])
        for lag in range(-ONSET_MAX_LAG_FRAMES, ONSET_MAX_LAG_FRAMES + 1)
    )
    m = min(output.chroma.shape[1], content.chroma.shape[1])
    a = output.chroma[:, :m] - output.chroma[:, :m].mean(axis=0)
    b = content.chroma[:, :m] - content.chroma[:, :m].mean(axis=0)
    num = (a * b).sum(axis=0)
    den = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    per_frame = np.divide(num, den, out=np.zeros(m), where=den > 0)
    active = content.active[:m]
    chroma = float(per_frame[active].mean()) if active.any() else 0.0
    return {"onset": onset, "chroma": chroma, "content": 0.5 * (onset + chroma)}


class Judge:
    """The judge, with the analyses of recently seen signals cached by content hash.

    Style and content signals are analysed once and reused for every output judged against
    them.

    Parameters
    ----------
    specs : sequence of JudgeSpec
        The random-feature judges (default :data:`JUDGES`).
    target_rms : float or None
        Level every signal is scaled to (:func:`normalise_level`); None judges raw levels,
        which only diagnostics should do.
    cache_size : int
        Signals whose analysis is kept (least recently used are dropped).

    Examples
    --------
    >>> jd = Judge((JudgeSpec("tiny", seed=1_000_003, width=3, filters=8),))
    >>> x = np.sin(np.arange(22050) * 0.1).astype(np.float32)
    >>> r = jd(x, x, [x[:11025], x[11025:]], 22050)
    >>> r["ratio"], round(r["content"], 6)
    (1.0, 1.0)
    """

    def __init__(
        self,
        specs: Sequence[JudgeSpec] = JUDGES,
        *,
        target_rms: float | None = TARGET_RMS,
        cache_size: int = 48,
    ) -> None:
        self.specs = tuple(specs)
        if not self.specs or len({s.name for s in self.specs}) != len(self.specs):
            raise ParameterError(
                f"specs={[s.name for s in self.specs]} is not allowed: pass at least one"
                " JudgeSpec, with unique names"
            )
        self.target_rms = target_rms
        bins = N_FFT // 2 + 1
        # The judges' conv weights, per judge and layer: (filters, in_channels, width) float32.
        self.weights: dict[str, tuple[np.ndarray, ...]] = {}
        for spec in self.specs:
            layers, in_ch = [], bins
            for layer in range(spec.layers):
                shape = (spec.filters, in_ch, spec.width)
                layers.append(random_weights(spec.seed, shape, in_ch * spec.width, layer=layer))
                in_ch = spec.filters
            self.weights[spec.name] = tuple(layers)
        self._cache: OrderedDict[str, Analysis] = OrderedDict()
        self._cache_size = check_positive_int(cache_size, "cache_size")

    def _grams(self, logmag: np.ndarray, name: str) -> tuple[dict[str, np.ndarray], dict]:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(logmag, dtype=np.float32))[None]
        grams, frames = {}, {}
        with torch.no_grad():
            for spec in self.specs:
                if logmag.shape[1] < spec.min_frames:
                    seconds = ((spec.min_frames - 1) * HOP_LENGTH + 1) / ANALYSIS_RATE
                    raise ParameterError(
                        f"{name} is too short for judge {spec.name}: {logmag.shape[1]} frames,"
                        f" allowed is at least {spec.min_frames} (about {seconds:.2f} s)"
                    )
                f = x
                for w in self.weights[spec.name]:
                    f = torch.relu(torch.nn.functional.conv1d(f, torch.from_numpy(w)))
                feats = f[0].double()
                grams[spec.name] = (feats @ feats.T / feats.shape[1]).numpy()
                frames[spec.name] = int(feats.shape[1])
        return grams, frames

    def analyse(self, audio: np.ndarray, sample_rate: int, *, name: str = "audio") -> Analysis:
        """Grams, onset envelope, chromagram and active frames of one signal (cached).

        Raises
        ------
        ParameterError
            for audio that is not float, empty, not finite, or too short for a judge.
        """
        import librosa

        arr = np.ascontiguousarray(audio)
        tag = str((arr.shape, arr.dtype.str, sample_rate)).encode()
        key = hashlib.sha256(arr.tobytes() + tag).hexdigest()
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        x = normalise_level(arr, sample_rate, target_rms=self.target_rms, name=name)
        spec = np.abs(librosa.stft(x, n_fft=N_FFT, hop_length=HOP_LENGTH, window="hann"))
        grams, frames = self._grams(np.log1p(spec), name)
        analysis = Analysis(
            grams=grams,
            frames=frames,
            onset=librosa.onset.onset_strength(y=x, sr=ANALYSIS_RATE, hop_length=HOP_LENGTH),
            chroma=_chroma(x),
            active=_active(_frame_rms(x)),
        )
        self._cache[key] = analysis
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return analysis

    def analyse_style(self, style: StyleAudio, sample_rate: int) -> Analysis:
        """One analysis of a style given as one clip or several (each level-normalised alone).

        Several clips get the frame-weighted mean of their Grams, the Gram of all their
        feature frames together; their onsets, chromagrams and active frames are concatenated.
        """
        clips = [style] if isinstance(style, np.ndarray) else list(style)
        if not clips:
            raise ParameterError("style=[] is not allowed: pass at least one style clip")
        parts = [
            self.analyse(c, sample_rate, name=f"style[{i}]" if len(clips) > 1 else "style")
            for i, c in enumerate(clips)
        ]
        if len(parts) == 1:
            return parts[0]
        frames = {s.name: sum(p.frames[s.name] for p in parts) for s in self.specs}
        grams: dict[str, np.ndarray] = {
            s.name: np.sum([p.grams[s.name] * p.frames[s.name] for p in parts], axis=0)
            / frames[s.name]
            for s in self.specs
        }
        return Analysis(
            grams=grams,
            frames=frames,
            onset=np.concatenate([p.onset for p in parts]),
            chroma=np.concatenate([p.chroma for p in parts], axis=1),
            active=np.concatenate([p.active for p in parts]),
        )

    def distances(self, a: Analysis, b: Analysis) -> dict[str, float]:
        """``||G_a - G_b||_F / ||G_b||_F`` per judge."""
        out = {}
        for spec in self.specs:
            ga, gb = a.grams[spec.name], b.grams[spec.name]
            norm = float(np.linalg.norm(gb))
            out[spec.name] = float(np.linalg.norm(ga - gb)) / norm if norm > 0 else math.inf
        return out

    def __call__(
        self,
        output: np.ndarray,
        content: np.ndarray,
        style: StyleAudio,
        sample_rate: int,
        *,
        style_rate: int | None = None,
    ) -> dict[str, Any]:
        """Judge ``output`` (made from ``content``) against ``style``; see :func:`judge`."""
        sample_rate = check_sample_rate(sample_rate)
        style_rate = sample_rate if style_rate is None else check_sample_rate(style_rate)
        out_a = self.analyse(output, sample_rate, name="output")
        content_a = self.analyse(content, sample_rate, name="content")
        style_a = self.analyse_style(style, style_rate)
        d_out = self.distances(out_a, style_a)
        d_content = self.distances(content_a, style_a)
        ratios = {
            name: d_out[name] / d_content[name] if d_content[name] > 0 else math.nan
            for name in d_out
        }
        finite = [r for r in ratios.values() if math.isfinite(r) and r > 0]
        if len(finite) == len(ratios):
            summary = math.exp(sum(math.log(r) for r in finite) / len(finite))
        else:  # a zero ratio (the style itself) makes the geometric mean 0
            summary = 0.0 if any(r == 0 for r in ratios.values()) else math.nan
        return {
            "ratio": summary,
            "ratios": ratios,
            "distance": d_out,
            "distance_dry": d_content,
            **content_score(out_a, content_a),
        }


_DEFAULT: Judge | None = None


def judge(
    output: np.ndarray, content: np.ndarray, style: StyleAudio, sample_rate: int
) -> dict[str, Any]:
    """Style ratio and content score of ``output``, with the default judges.

    Parameters
    ----------
    output, content : np.ndarray
        Mono (or ``(channels, samples)``) float audio at ``sample_rate``; ``output`` is the
        effect applied to ``content`` and time-aligned with it.
    style : np.ndarray or sequence of np.ndarray
        One style clip, or several that together define the style; any length.
    sample_rate : int
        Rate of all the signals (resampled to 22050 Hz for the analysis).

    Returns
    -------
    dict
        ``ratio`` (geometric mean over judges of ``d(output, style) / d(content, style)``),
        ``ratios`` (per judge), ``distance`` and ``distance_dry`` (per-judge ``d`` of the output
        and of the content), ``onset`` and ``chroma`` (the two content correlations) and
        ``content`` (their mean).

    Examples
    --------
    >>> x = np.sin(np.arange(44100) * 0.05).astype(np.float32)
    >>> judge(x, x, x ** 3, 22050)["ratio"]  # doctest: +SKIP
    1.0
    """
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Judge()
    return _DEFAULT(output, content, style, sample_rate)


def describe(specs: Sequence[JudgeSpec] = JUDGES) -> dict[str, Any]:
    """A JSON-able description of the judge, for reports that document themselves.

    Examples
    --------
    >>> describe()["reserved_seeds"]
    [1000000, 1001000]
    """
    return {
        "representation": (
            f"mono {ANALYSIS_RATE} Hz, log1p(|STFT|), n_fft {N_FFT}, hop {HOP_LENGTH}, Hann;"
            " frequency bins as channels"
        ),
        "level": (
            f"each signal scaled to RMS {TARGET_RMS} over frames within {ACTIVE_RANGE_DB:g} dB"
            " of its loudest frame"
        ),
        "judges": [asdict(s) for s in specs],
        "reserved_seeds": [RESERVED_SEEDS.start, RESERVED_SEEDS.stop],
        "style_ratio": (
            "||G_out - G_style||_F / ||G_content - G_style||_F per judge, G = F F^T / frames of"
            " He-init random conv + ReLU features; summary = geometric mean over judges;"
            " 1 = no closer than the dry input, 0 = the style's Gram; several style clips:"
            " frame-weighted mean of their Grams"
        ),
        "content_score": (
            "mean of the Pearson r of onset-strength envelopes (best lag within"
            f" +-{ONSET_MAX_LAG_FRAMES} frames) and the framewise Pearson r of CQT chromagrams"
            " over the content's active frames; dry = 1"
        ),
    }
