"""The seeds' per-input optimiser: optimise a spectrogram against a Gram-matrix style loss.

This is Ulyanov & Lebedev's audio style transfer (and its variants in the seeds) on top of
:mod:`stylepedal.effect.model.gram`: the log-magnitude spectrogram itself is the variable, the
loss is ``style_loss + alpha * content_loss (+ bound penalty)``, L-BFGS (Ulyanov, 300
iterations) or Adam (alishdipani) minimise it, and a representation
(:mod:`stylepedal.effect.research.represent`) turns the result back into audio. It is slow
(minutes per 10 s clip) and serves as the reference the feed-forward network is judged by.

Non-negativity: the optimiser works on an unconstrained variable ``z`` and the spectrogram is
``x = |z|`` (a reflection parametrisation). Every iterate is a valid log1p magnitude, and the
losses reported are exactly the losses of the returned array. (Optimising ``x`` freely and
clamping at the end, as the seeds effectively do, loses most of the style fit: the optimum
uses negative values, which a clamp destroys.)

Bound regulariser (seed 004's ``boundopt``): ``bound_weight * sum(relu(lo - x)^2 +
relu(x - hi)^2)`` with ``lo = 0`` and ``hi`` = the largest value of the content and style
spectrograms. With ``x = |z|`` the lower term is always zero, so in effect it penalises the
squared excursion above ``hi``.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._validate import check_choice, check_positive_int, check_range
from ...audio_io import FORMATS
from ...errors import AudioFileError, ParameterError

if TYPE_CHECKING:  # torch loads with gram.py: keep `stylepedal --help` fast
    from ..model.gram import FeatureConfig

__all__ = [
    "INITS",
    "OPTIMIZERS",
    "OptimizeResult",
    "add_cli",
    "add_texture_cli",
    "check_output_path",
    "check_style_audio",
    "optimize_logmag",
    "parse_rep_options",
    "read_audio",
    "representation_from_options",
    "style_gram",
    "write_audio",
]

log = logging.getLogger(__name__)

INITS: tuple[str, ...] = ("content", "noise", "uniform", "truncnormal")
OPTIMIZERS: tuple[str, ...] = ("lbfgs", "adam")
# FeatureConfig.orientation's choices (gram.ORIENTATIONS), spelled out here because gram.py
# imports torch and the CLI parser is built at `stylepedal --help`; a test keeps them equal.
CLI_ORIENTATIONS: tuple[str, ...] = ("freq", "time", "2d")
# Default step sizes: L-BFGS uses a strong-Wolfe line search, so 1.0 is its natural scale;
# for Adam the step is roughly the per-bin change per iteration on the log1p scale (0..~6).
DEFAULT_LEARNING_RATE = {"lbfgs": 1.0, "adam": 1e-2}
# A style quieter than this (peak, dBFS) is treated as silence.
SILENCE_DBFS = -90.0
AUDIO_EXTENSIONS: tuple[str, ...] = FORMATS


@dataclass
class OptimizeResult:
    """What :func:`optimize_logmag` returns.

    Attributes
    ----------
    logmag : np.ndarray
        float32 ``(bins, frames)``, >= 0: the optimised log1p magnitude.
    losses : list of float
        Total loss (style + alpha * content + bound penalty) after each iteration;
        ``losses[-1]`` is the loss of ``logmag``.
    style_loss : float
        Final unweighted style loss of ``logmag`` (:func:`stylepedal.effect.model.gram.style_loss`).
    content_loss : float or None
        Final unweighted content loss (:func:`stylepedal.effect.model.gram.content_loss`); None when
        there is no content (texture synthesis).
    initial_loss : float
        Total loss of the initial spectrogram.
    bound_loss : float
        Final bound penalty (already multiplied by ``bound_weight``).
    iterations : int
        Iterations actually run (L-BFGS stops early once it has converged).
    """

    logmag: np.ndarray
    losses: list[float] = field(default_factory=list)
    style_loss: float = math.nan
    content_loss: float | None = None
    initial_loss: float = math.nan
    bound_loss: float = 0.0
    iterations: int = 0


def _as_logmag(value: Any, name: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.ndim != 2:
        shape = getattr(value, "shape", None)
        raise ParameterError(f"{name} must be a 2-D array (bins, frames), got shape={shape}")
    if not np.issubdtype(value.dtype, np.floating):
        raise ParameterError(f"{name}.dtype={value.dtype} is not supported: pass float32")
    if not np.isfinite(value).all():
        raise ParameterError(f"{name} holds NaN/Inf values: only finite values allowed")
    if (value < 0).any():
        raise ParameterError(f"{name} has negative values: log1p magnitudes are >= 0")
    return np.ascontiguousarray(value, dtype=np.float32)


def _min_frames(features: FeatureConfig) -> int:
    return features.layers * (features.kernel_size - 1) + 1


def style_gram(
    styles: Sequence[np.ndarray], extractor: Any, *, names: Sequence[str] | None = None
) -> list[Any]:
    """Frame-weighted average Gram of several style spectrograms, per layer.

    Each style's Gram is weighted by its number of feature frames, so the result equals the Gram
    of all styles' features concatenated in time (without frames straddling two files).

    Parameters
    ----------
    styles : sequence of np.ndarray
        float32 ``(bins, frames_i)`` log-magnitudes.
    extractor : GramFeatures
        The feature extractor.

    Returns
    -------
    list of torch.Tensor
        One ``(1, n_filters, n_filters)`` Gram per layer.

    Examples
    --------
    >>> from stylepedal.effect.model.gram import FeatureConfig, GramFeatures
    >>> feats = GramFeatures(8, FeatureConfig(n_filters=4, kernel_size=3))
    >>> [g.shape for g in style_gram([np.ones((8, 10), np.float32)], feats)]
    [torch.Size([1, 4, 4])]
    """
    import torch

    sums: list[torch.Tensor] = []
    frames: list[int] = []
    with torch.no_grad():
        for i, s in enumerate(styles):
            name = names[i] if names else f"style[{i}]"
            if s.shape[1] < _min_frames(extractor.config):
                raise ParameterError(
                    f"{name} has {s.shape[1]} frames: too short for kernel_size="
                    f"{extractor.config.kernel_size} x layers={extractor.config.layers}"
                    f" (needs at least {_min_frames(extractor.config)} frames)"
                )
            feats = extractor(torch.from_numpy(np.ascontiguousarray(s))[None])
            for layer, f in enumerate(feats):
                # Un-normalised Gram F F^T; divided by the total frame count below.
                g = f @ f.transpose(1, 2)
                if layer == len(sums):
                    sums.append(g)
                    frames.append(f.shape[-1])
                else:
                    sums[layer] = sums[layer] + g
                    frames[layer] += f.shape[-1]
    if not sums:
        raise ParameterError("style must hold at least one spectrogram")
    return [g / n for g, n in zip(sums, frames, strict=True)]


def _initial(
    init: str,
    content: np.ndarray | None,
    reference: np.ndarray,
    shape: tuple[int, int],
    rng: np.random.Generator,
) -> np.ndarray:
    """The starting spectrogram (>= 0 is not required: the output is |z|)."""
    if init == "content":
        if content is None:
            raise ParameterError("init='content' needs a content spectrogram (content=None)")
        return content.copy()
    scale = float(reference.std()) or 1.0
    if init == "noise":
        # Zero-mean Gaussian with the content's (or style's) spread; x = |z| folds it to >= 0.
        return (rng.standard_normal(shape) * scale).astype(np.float32)
    if init == "uniform":
        # seed 004's "rand": U[0, 0.1] (its texture-synthesis default).
        return rng.uniform(0.0, 0.1, shape).astype(np.float32)
    # truncnormal (seed 004's "samples"): N(mean, std) of the reference, truncated to
    # [0, max of the reference].
    from scipy.stats import truncnorm

    mu = float(reference.mean())
    hi = float(reference.max())
    a, b = (0.0 - mu) / scale, (hi - mu) / scale
    values = truncnorm.rvs(a, b, loc=mu, scale=scale, size=shape, random_state=rng)
    return np.asarray(values, dtype=np.float32)


def optimize_logmag(
    content: np.ndarray | None,
    style: np.ndarray | Sequence[np.ndarray],
    *,
    features: FeatureConfig | None = None,
    alpha: float = 1e-2,
    init: str = "content",
    optimizer: str = "lbfgs",
    iterations: int = 300,
    learning_rate: float | None = None,
    bound_weight: float = 0.0,
    n_frames: int | None = None,
    seed: int = 0,
    progress: bool = False,
    callback: Callable[[int, float], None] | None = None,
) -> OptimizeResult:
    """Optimise a log-magnitude spectrogram against the Gram style loss (the seeds' method).

    Minimises ``style_loss(x) + alpha * content_loss(x) + bound_weight * bound(x)`` over
    ``x = |z|`` (see the module docstring), with the losses of :mod:`stylepedal.effect.model.gram`.

    Parameters
    ----------
    content : np.ndarray or None
        float32 ``(bins, frames)`` log1p magnitude; None for texture synthesis (``alpha=0``
        with ``n_frames`` given).
    style : np.ndarray or sequence of np.ndarray
        ``(bins, frames_style)`` log1p magnitude, or several whose Grams are averaged,
        weighted by frame count (:func:`style_gram`).
    features : FeatureConfig
        Random-filter features (default: Ulyanov's 4096 filters of width 11, one layer).
    alpha : float
        Content weight (Ulyanov: 1e-2). 0 is the style-only loss (alishdipani) or, without
        content, texture synthesis.
    init : {"content", "noise", "uniform", "truncnormal"}
        Start from the content; from zero-mean Gaussian noise with the content's standard
        deviation (the style's when there is no content); from U[0, 0.1] (seed 004's texture
        default); or from a normal with the reference's mean and standard deviation truncated
        to [0, its max].
    optimizer : {"lbfgs", "adam"}
        ``torch.optim.LBFGS`` with strong-Wolfe line search (history 100) or ``torch.optim.Adam``.
    iterations : int
        Optimiser iterations (L-BFGS iterations, each one or a few loss evaluations).
    learning_rate : float or None
        Step size; None: 1.0 for L-BFGS, 1e-2 for Adam.
    bound_weight : float
        Weight of the bound regulariser (0: off; seed 004 used 1e-3).
    n_frames : int or None
        Output frames when ``content`` is None.
    seed : int
        Seed of the random initialisation; the result is deterministic for a given seed.
    progress : bool
        Show a tqdm progress bar.
    callback : callable or None
        ``callback(iteration, total_loss)`` after each iteration (1-based).

    Returns
    -------
    OptimizeResult

    Raises
    ------
    ParameterError
        for bad shapes, NaN/Inf, a silent style, a style or content shorter than the kernel,
        or out-of-range settings.

    Examples
    --------
    >>> from stylepedal.effect.model.gram import FeatureConfig
    >>> rng = np.random.default_rng(0)
    >>> c = rng.random((16, 20), dtype=np.float32)
    >>> s = rng.random((16, 30), dtype=np.float32) * 2
    >>> r = optimize_logmag(c, s, features=FeatureConfig(n_filters=8, kernel_size=3),
    ...                     iterations=5)
    >>> r.logmag.shape, r.losses[-1] < r.initial_loss
    ((16, 20), True)
    """
    import torch

    from ..model.gram import FeatureConfig, GramFeatures, content_loss, style_loss

    features = features or FeatureConfig()
    if not isinstance(features, FeatureConfig):
        raise ParameterError(f"features={features!r} must be a FeatureConfig")
    alpha = check_range(alpha, "alpha", 0.0, 1e6)
    bound_weight = check_range(bound_weight, "bound_weight", 0.0, 1e12)
    init = check_choice(init, "init", INITS)
    optimizer = check_choice(optimizer, "optimizer", OPTIMIZERS)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ParameterError(f"iterations={iterations!r} must be a non-negative integer")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError(f"seed={seed!r} must be a non-negative integer")
    lr = DEFAULT_LEARNING_RATE[optimizer] if learning_rate is None else learning_rate
    lr = check_range(lr, "learning_rate", 1e-12, 1e6)

    styles_in = [style] if isinstance(style, np.ndarray) else list(style)
    if not styles_in:
        raise ParameterError("style must hold at least one spectrogram")
    styles = [_as_logmag(s, f"style[{i}]") for i, s in enumerate(styles_in)]
    n_bins = styles[0].shape[0]
    for i, s in enumerate(styles):
        if s.shape[0] != n_bins:
            raise ParameterError(f"style[{i}] has {s.shape[0]} bins; style[0] has {n_bins}")
        if not s.any():
            raise ParameterError(f"style[{i}] is silent (all zeros): a style needs sound")

    content_arr: np.ndarray | None = None
    if content is not None:
        content_arr = _as_logmag(content, "content")
        if content_arr.shape[0] != n_bins:
            raise ParameterError(f"content has {content_arr.shape[0]} bins; the style has {n_bins}")
        shape = content_arr.shape
    else:
        if alpha > 0.0:
            raise ParameterError(f"content=None needs alpha=0 (texture synthesis), got {alpha}")
        if init == "content":
            raise ParameterError("content=None needs init='noise', 'uniform' or 'truncnormal'")
        n_frames = check_positive_int(n_frames, "n_frames")
        shape = (n_bins, n_frames)
    if shape[1] < _min_frames(features):
        raise ParameterError(
            f"the output has {shape[1]} frames: too short for kernel_size="
            f"{features.kernel_size} x layers={features.layers}"
            f" (needs at least {_min_frames(features)} frames)"
        )

    extractor = GramFeatures(n_bins, features)
    extractor.eval()
    grams = style_gram(styles, extractor)
    content_feats = None
    if content_arr is not None:
        with torch.no_grad():
            content_feats = [f.detach() for f in extractor(torch.from_numpy(content_arr)[None])]
    reference = content_arr if content_arr is not None else np.concatenate(styles, axis=1)
    upper = max(float(s.max()) for s in styles)
    if content_arr is not None:
        upper = max(upper, float(content_arr.max()))

    rng = np.random.default_rng(seed)
    z = torch.from_numpy(_initial(init, content_arr, reference, shape, rng)[None].copy())
    z.requires_grad_(True)

    def losses_of(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        feats = extractor(x)
        s_loss = style_loss(feats, grams).sum()
        c_loss = content_loss(feats, content_feats).sum() if content_feats is not None else None
        if bound_weight > 0.0:
            b_loss = bound_weight * (
                torch.relu(-x).pow(2).sum() + torch.relu(x - upper).pow(2).sum()
            )
        else:
            b_loss = torch.zeros((), dtype=x.dtype)
        return s_loss, c_loss, b_loss

    def objective() -> torch.Tensor:
        s_loss, c_loss, b_loss = losses_of(z.abs())
        total = s_loss + b_loss
        if c_loss is not None and alpha > 0.0:
            total = total + alpha * c_loss
        return total

    with torch.no_grad():
        initial_loss = float(objective())

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=iterations, desc=f"optimize ({optimizer})", unit="it", leave=False)

    losses: list[float] = []

    def finish_iteration(loss: float) -> None:
        losses.append(loss)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}")
        if callback is not None:
            callback(len(losses), loss)

    try:
        if iterations > 0 and optimizer == "lbfgs":
            _run_lbfgs(z, objective, iterations, lr, finish_iteration)
        elif iterations > 0:
            _run_adam(z, objective, iterations, lr, finish_iteration)
    finally:
        if bar is not None:
            bar.close()

    with torch.no_grad():
        x = z.abs()
        s_loss, c_loss, b_loss = losses_of(x)
        total = float(s_loss) + float(b_loss)
        if c_loss is not None and alpha > 0.0:
            total += alpha * float(c_loss)
    if not (math.isfinite(total) and bool(torch.isfinite(x).all())):
        raise ParameterError(
            f"the optimisation diverged (loss={total}) with optimizer={optimizer!r},"
            f" learning_rate={lr}: use a smaller learning rate"
        )
    if losses:
        # The accepted point of the last iteration: report the loss of what we return.
        losses[-1] = total
    logmag = np.ascontiguousarray(x[0].numpy(), dtype=np.float32)
    return OptimizeResult(
        logmag=logmag,
        losses=losses,
        style_loss=float(s_loss),
        content_loss=None if c_loss is None else float(c_loss),
        initial_loss=initial_loss,
        bound_loss=float(b_loss),
        iterations=len(losses),
    )


def _run_lbfgs(
    z: Any,
    objective: Callable[[], Any],
    iterations: int,
    lr: float,
    finish_iteration: Callable[[float], None],
) -> None:
    """One ``LBFGS.step`` of ``iterations`` iterations, with per-iteration bookkeeping.

    A single step keeps torch's L-BFGS from re-evaluating the loss at the start of every
    iteration (calling ``step`` once per iteration would cost one extra evaluation each time).
    The loss of an iteration is the lowest loss its line search evaluated: strong-Wolfe returns
    the lowest point of its bracket, so that is the accepted point.
    """
    import torch

    opt = torch.optim.LBFGS(
        [z],
        lr=lr,
        max_iter=iterations,
        # the line search may spend up to max_eval - evals so far; give it room.
        max_eval=iterations * 5 + 25,
        history_size=100,
        line_search_fn="strong_wolfe",
    )
    current = {"iter": 0, "best": math.inf}

    def closure() -> Any:
        state = opt.state.get(z, {})
        n_iter = int(state.get("n_iter", 0))
        if n_iter != current["iter"]:
            # A new iteration started: the previous one is over.
            if current["iter"] > 0:
                finish_iteration(current["best"])
            current["iter"] = n_iter
            current["best"] = math.inf
        opt.zero_grad()
        loss = objective()
        loss.backward()
        value = float(loss.detach())
        if n_iter > 0 and math.isfinite(value):
            current["best"] = min(current["best"], value)
        return loss

    opt.step(closure)
    if current["iter"] > 0:
        finish_iteration(current["best"])


def _run_adam(
    z: Any,
    objective: Callable[[], Any],
    iterations: int,
    lr: float,
    finish_iteration: Callable[[float], None],
) -> None:
    import torch

    opt = torch.optim.Adam([z], lr=lr)
    for i in range(iterations):
        opt.zero_grad()
        loss = objective()
        if i > 0:
            # the loss at the start of step i is the loss after iteration i
            finish_iteration(float(loss.detach()))
        loss.backward()
        opt.step()
    with torch.no_grad():
        finish_iteration(float(objective()))


# -- audio files ----------------------------------------------------------------------------


def read_audio(
    path: str | os.PathLike[str],
    *,
    sample_rate: int | None = None,
    seconds: float | None = None,
    name: str = "audio",
) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 mono (:func:`stylepedal.audio_io.read_audio`, ``mono=True``).

    Channels are averaged; the audio is resampled with ``librosa.resample`` when
    ``sample_rate`` differs from the file's, and cropped to the first ``seconds``.

    Parameters
    ----------
    path : path-like
        Any format pedalboard reads (wav, flac, mp3, ogg, aiff).
    sample_rate : int or None
        Rate to return (None: the file's own rate).
    seconds : float or None
        Keep only the first ``seconds`` (None: the whole file).
    name : str
        What the file is, for error messages (``"style"``, ``"content"``).

    Returns
    -------
    (np.ndarray, int)
        ``(samples,)`` float32 audio and its sample rate.

    Raises
    ------
    AudioFileError
        if the file is missing or cannot be decoded.
    ParameterError
        if it holds NaN/Inf samples, or for a bad ``sample_rate``/``seconds``.

    Examples
    --------
    >>> audio, sr = read_audio("guitar.wav", sample_rate=22050)  # doctest: +SKIP
    """
    from ...audio_io import read_audio as _read

    return _read(path, sample_rate=sample_rate, mono=True, seconds=seconds, name=name)


def check_style_audio(audio: np.ndarray, *, name: str = "style") -> None:
    """Raise :class:`ParameterError` if ``audio`` is silent (peak below -90 dBFS) or empty.

    Examples
    --------
    >>> check_style_audio(np.zeros(100, np.float32))
    Traceback (most recent call last):
    ...
    stylepedal.errors.ParameterError: style is silent (peak below -90.0 dBFS): a style needs sound
    """
    if audio.size == 0:
        raise ParameterError(f"{name} is empty (0 samples): a style needs sound")
    peak = float(np.max(np.abs(audio)))
    if peak <= 10.0 ** (SILENCE_DBFS / 20.0):
        raise ParameterError(
            f"{name} is silent (peak below {SILENCE_DBFS} dBFS): a style needs sound"
        )


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` has a writable audio extension and an existing folder."""
    p = Path(path)
    if p.suffix.lower() not in AUDIO_EXTENSIONS:
        allowed = ", ".join(AUDIO_EXTENSIONS)
        raise ParameterError(f"output {str(p)!r} has extension {p.suffix!r}: use one of {allowed}")
    if not p.parent.resolve().is_dir():
        raise AudioFileError(f"output folder {str(p.parent)!r} does not exist")
    return p


def write_audio(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int) -> Path:
    """Write mono audio atomically with :func:`stylepedal.audio_io.write_audio` (by extension).

    ``path`` is either the complete new file or untouched. A peak above 1.0 is scaled down
    to 0.99 first so integer formats do not clip; WAV is written as 16-bit PCM.

    Examples
    --------
    >>> write_audio("out.wav", np.zeros(22050, np.float32), 22050)  # doctest: +SKIP
    """
    from ...audio_io import write_audio as _write

    p = check_output_path(path)
    audio = np.asarray(audio, dtype=np.float32).reshape(1, -1)
    if not np.isfinite(audio).all():
        raise ParameterError("audio to write holds NaN/Inf samples")
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 1.0:
        log.info("output peak %.2f > 1: scaled to 0.99 to avoid clipping", peak)
        audio = audio * (0.99 / peak)
    return _write(p, audio, sample_rate)


# -- CLI ------------------------------------------------------------------------------------


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    from .represent import REPRESENTATIONS

    parser.add_argument(
        "--init",
        choices=INITS,
        default=None,
        help="initial spectrogram (optimize: content; texture: noise)",
    )
    parser.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default="lbfgs",
        help="L-BFGS (Ulyanov) or Adam (alishdipani); default lbfgs",
    )
    parser.add_argument(
        "--iterations", type=int, default=300, help="optimiser iterations (default 300)"
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="step size (default: 1.0 for L-BFGS, 0.01 for Adam)",
    )
    parser.add_argument(
        "--kernel-size",
        type=int,
        default=11,
        help="filter width in frames (Ulyanov 11, alishdipani 3)",
    )
    parser.add_argument(
        "--filters", type=int, default=4096, help="random filters per layer (default 4096)"
    )
    parser.add_argument("--layers", type=int, default=1, help="conv + ReLU layers (default 1)")
    parser.add_argument(
        "--griffin-lim-iters",
        type=int,
        default=100,
        help="Griffin-Lim iterations for the phase (default 100)",
    )
    parser.add_argument(
        "--bound-weight",
        type=float,
        default=0.0,
        help="weight of the bound regulariser (seed 004 used 1e-3; default off)",
    )
    parser.add_argument(
        "--representation",
        choices=REPRESENTATIONS,
        default="stft",
        help="analysis/synthesis (default stft: the seeds' log1p STFT)",
    )
    parser.add_argument(
        "--rep-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=(
            "a keyword setting of the representation, e.g. n_fft=1024 or hop_length=256"
            " (repeatable; VALUE is an int, float, true/false, none or a string)"
        ),
    )
    parser.add_argument(
        "--orientation",
        choices=CLI_ORIENTATIONS,
        default="freq",
        help=(
            "how the random convolution sees the spectrogram: freq (bins as channels, timbre;"
            " default), time (frames as channels, rhythm; content and style of one length)"
            " or 2d (a 2-D conv over freq x time; use few --filters)"
        ),
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the random filters, the init and the phase (default 0)",
    )
    parser.add_argument(
        "--sample-rate",
        type=int,
        default=22050,
        help="rate the files are resampled to and written at (default 22050)",
    )


def add_cli(subparsers: Any) -> None:
    """Register ``stylepedal optimize CONTENT STYLE [STYLE ...] OUT``."""
    parser = subparsers.add_parser(
        "optimize",
        help="style transfer by per-input optimisation (the seeds' slow reference method)",
        description=(
            "Optimise the spectrogram of CONTENT so its Gram-matrix style matches STYLE (one or"
            " more files defining one style), then resynthesise with Griffin-Lim. Minutes per"
            " 10 s clip with the default settings."
        ),
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="CONTENT STYLE [STYLE ...] OUT",
        help="content file, one or more style files, output file",
    )
    parser.add_argument(
        "--alpha", type=float, default=1e-2, help="content weight (default 1e-2; 0 = style only)"
    )
    parser.add_argument(
        "--style-only",
        action="store_true",
        help="style loss only (alpha=0) from the content (alishdipani)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="use only the first SECONDS of every file (default: whole file)",
    )
    _add_common_options(parser)
    parser.set_defaults(func=_cmd_optimize)


def add_texture_cli(subparsers: Any) -> None:
    """Register ``stylepedal texture STYLE [STYLE ...] OUT --seconds N``."""
    parser = subparsers.add_parser(
        "texture",
        help="texture synthesis: new audio with the style's Gram statistics (alpha=0)",
        description="Synthesise SECONDS of audio whose Gram-matrix style matches STYLE.",
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="STYLE [STYLE ...] OUT",
        help="one or more style files, output file",
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="length of the output (default 10)"
    )
    _add_common_options(parser)
    parser.set_defaults(func=_cmd_texture)


def _positive_int_arg(value: int, name: str) -> int:
    if value < 1:
        raise ParameterError(f"--{name}={value} must be a positive integer")
    return value


def _feature_config(args: argparse.Namespace) -> FeatureConfig:
    from ..model.gram import FeatureConfig

    _positive_int_arg(args.kernel_size, "kernel-size")
    _positive_int_arg(args.filters, "filters")
    _positive_int_arg(args.layers, "layers")
    if args.seed < 0:
        raise ParameterError(f"--seed={args.seed} must be a non-negative integer")
    return FeatureConfig(
        n_filters=args.filters,
        kernel_size=args.kernel_size,
        layers=args.layers,
        seed=args.seed,
        orientation=args.orientation,
    )


def _parse_option_value(text: str) -> Any:
    """``"512"`` -> 512, ``"0.5"`` -> 0.5, ``"true"`` -> True, ``"none"`` -> None, else the text.

    Parsed by hand (never ``eval``): only these literal kinds are accepted; quotes around a
    value force a string (``'"512"'`` -> ``"512"``).
    """
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
        return stripped[1:-1]
    for kind in (int, float):
        try:
            return kind(stripped)
        except ValueError:
            pass
    return stripped


def parse_rep_options(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``--rep-option KEY=VALUE`` strings into keyword arguments.

    Examples
    --------
    >>> parse_rep_options(["n_fft=1024", "fmin_hz=55.0", "n_bins=none", "mode=fast"])
    {'n_fft': 1024, 'fmin_hz': 55.0, 'n_bins': None, 'mode': 'fast'}
    """
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ParameterError(
                f"--rep-option={item!r} must be KEY=VALUE with a keyword name, e.g. n_fft=1024"
            )
        if key in options:
            raise ParameterError(f"--rep-option {key} is given twice: give each key once")
        options[key] = _parse_option_value(value)
    return options


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

    from .represent import get_representation

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


def _read_styles(
    paths: Sequence[str],
    rep: Any,
    sample_rate: int,
    seconds: float | None,
    features: FeatureConfig,
) -> list[np.ndarray]:
    styles = []
    for path in paths:
        audio, _ = read_audio(path, sample_rate=sample_rate, seconds=seconds, name="style")
        check_style_audio(audio, name=f"style {path!r}")
        spec = rep.analyze(audio, sample_rate)
        need = _min_frames(features)
        if spec.shape[1] < need:
            raise ParameterError(
                f"style {path!r} is too short: {len(audio) / sample_rate:.3f} s gives"
                f" {spec.shape[1]} frames, kernel_size={features.kernel_size} x layers="
                f"{features.layers} needs at least {need} frames"
            )
        styles.append(spec)
    return styles


def _run(
    args: argparse.Namespace, content_path: str | None, style_paths: Sequence[str], out: str
) -> int:
    import torch


    out_path = check_output_path(out)
    features = _feature_config(args)
    if args.iterations < 0:
        raise ParameterError(f"--iterations={args.iterations} must be >= 0")
    if args.griffin_lim_iters < 0:
        raise ParameterError(f"--griffin-lim-iters={args.griffin_lim_iters} must be >= 0")
    sample_rate = args.sample_rate
    rep = representation_from_options(
        args.representation, parse_rep_options(args.rep_option), seed=args.seed
    )
    seconds = None if content_path is None else args.seconds
    styles = _read_styles(style_paths, rep, sample_rate, seconds, features)

    if content_path is None:
        n_samples = int(round(check_range(args.seconds, "seconds", 1e-3, 3600.0) * sample_rate))
        reference = np.zeros(n_samples, dtype=np.float32)
        n_frames = rep.analyze(reference, sample_rate).shape[1]
        content = None
        alpha = 0.0
        init = args.init or "noise"
    else:
        reference, _ = read_audio(
            content_path, sample_rate=sample_rate, seconds=seconds, name="content"
        )
        content = rep.analyze(reference, sample_rate)
        n_frames = None
        alpha = 0.0 if args.style_only else args.alpha
        init = args.init or "content"
    log.info(
        "optimising %d frames x %d bins (%s, %d filters, width %d, %d iterations)",
        content.shape[1] if content is not None else n_frames,
        styles[0].shape[0],
        args.optimizer,
        features.n_filters,
        features.kernel_size,
        args.iterations,
    )
    threads = torch.get_num_threads()
    result = optimize_logmag(
        content,
        styles,
        features=features,
        alpha=alpha,
        init=init,
        optimizer=args.optimizer,
        iterations=args.iterations,
        learning_rate=args.learning_rate,
        bound_weight=args.bound_weight,
        n_frames=n_frames,
        seed=args.seed,
        progress=True,
    )
    audio = rep.synthesize(
        result.logmag, sample_rate, n_iter=args.griffin_lim_iters, reference=reference
    )
    write_audio(out_path, audio, sample_rate)
    content_part = (
        "" if result.content_loss is None else f", content loss {result.content_loss:.4g}"
    )
    print(
        f"wrote {out_path} ({len(audio) / sample_rate:.2f} s): style loss "
        f"{result.style_loss:.4g}{content_part}; total {result.initial_loss:.4g} -> "
        f"{(result.losses or [result.initial_loss])[-1]:.4g} in {result.iterations} iterations"
        f" ({threads} threads)"
    )
    return 0


def _cmd_optimize(args: argparse.Namespace) -> int:
    if len(args.paths) < 3:
        raise ParameterError(
            f"optimize needs CONTENT STYLE [STYLE ...] OUT, got {len(args.paths)} path(s)"
        )
    return _run(args, args.paths[0], args.paths[1:-1], args.paths[-1])


def _cmd_texture(args: argparse.Namespace) -> int:
    if len(args.paths) < 2:
        raise ParameterError(f"texture needs STYLE [STYLE ...] OUT, got {len(args.paths)} path(s)")
    return _run(args, None, args.paths[:-1], args.paths[-1])
