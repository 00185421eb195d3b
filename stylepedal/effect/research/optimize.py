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

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..._validate import check_choice, check_positive_int, check_range
from ...errors import ParameterError
from ..model.features import FeatureConfig

__all__ = [
    "INITS",
    "OPTIMIZERS",
    "OptimizeResult",
    "optimize_logmag",
    "transfer_audio",
]

log = logging.getLogger(__name__)

INITS: tuple[str, ...] = ("content", "noise", "uniform", "truncnormal")
OPTIMIZERS: tuple[str, ...] = ("lbfgs", "adam")
# Default step sizes: L-BFGS uses a strong-Wolfe line search, so 1.0 is its natural scale;
# for Adam the step is roughly the per-bin change per iteration on the log1p scale (0..~6).
DEFAULT_LEARNING_RATE = {"lbfgs": 1.0, "adam": 1e-2}


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
        weighted by frame count (:func:`~stylepedal.effect.model.gram.style_gram`).
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

    from ..model.gram import GramFeatures, content_loss, style_gram, style_loss

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
    if shape[1] < features.min_frames:
        raise ParameterError(
            f"the output has {shape[1]} frames: too short for kernel_size="
            f"{features.kernel_size} x layers={features.layers}"
            f" (needs at least {features.min_frames} frames)"
        )

    extractor = GramFeatures(n_bins, features)
    extractor.eval()
    grams, _ = style_gram(styles, extractor)
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


# -- audio in, audio out ----------------------------------------------------------------------


def transfer_audio(
    content: np.ndarray | None,
    styles: Sequence[np.ndarray],
    sample_rate: int,
    *,
    representation: Any = "stft",
    features: FeatureConfig | None = None,
    alpha: float = 1e-2,
    init: str | None = None,
    optimizer: str = "lbfgs",
    iterations: int = 300,
    learning_rate: float | None = None,
    bound_weight: float = 0.0,
    griffin_lim_iters: int = 100,
    texture_samples: int | None = None,
    seed: int = 0,
    progress: bool = False,
    style_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, OptimizeResult]:
    """The seeds' whole method on audio: analyse, :func:`optimize_logmag`, resynthesise.

    Parameters
    ----------
    content : np.ndarray or None
        Mono float audio at ``sample_rate``; None for texture synthesis of
        ``texture_samples`` samples (``alpha`` is then 0).
    styles : sequence of np.ndarray
        One or more mono style clips at ``sample_rate`` that together define the style.
    representation : str or Representation
        A registered name (``"stft"``: the seeds' log1p STFT) or a built representation.
    init : str or None
        Default ``"content"`` with content, ``"noise"`` without.
    griffin_lim_iters : int
        Phase-reconstruction iterations of the resynthesis.
    style_names : sequence of str, optional
        What each style is called in error messages (e.g. its file); ``style[i]`` if None.

    The other settings are :func:`optimize_logmag`'s.

    Returns
    -------
    (np.ndarray, OptimizeResult)
        float32 mono audio at ``sample_rate`` and the optimiser's result.

    Raises
    ------
    ParameterError
        for a silent or too-short style, or bad settings.
    """
    from ..._validate import check_audible, check_non_negative_int
    from .represent import get_representation

    features = features or FeatureConfig()
    griffin_lim_iters = check_non_negative_int(griffin_lim_iters, "griffin_lim_iters")
    rep = get_representation(representation) if isinstance(representation, str) else representation
    specs = []
    for i, audio in enumerate(styles):
        name = style_names[i] if style_names else f"style[{i}]"
        check_audible(audio, name)
        spec = rep.analyze(audio, sample_rate)
        if spec.shape[1] < features.min_frames:
            raise ParameterError(
                f"{name} is too short: {len(audio) / sample_rate:.3f} s gives"
                f" {spec.shape[1]} frames, kernel_size={features.kernel_size} x layers="
                f"{features.layers} needs at least {features.min_frames} frames"
            )
        specs.append(spec)
    if content is None:
        n_samples = check_positive_int(texture_samples, "texture_samples")
        reference = np.zeros(n_samples, dtype=np.float32)
        n_frames = rep.analyze(reference, sample_rate).shape[1]
        content_spec = None
        alpha = 0.0
    else:
        reference = content
        content_spec = rep.analyze(content, sample_rate)
        n_frames = None
    log.info(
        "optimising %d frames x %d bins (%s, %d filters, width %d, %d iterations)",
        content_spec.shape[1] if content_spec is not None else n_frames,
        specs[0].shape[0], optimizer, features.n_filters, features.kernel_size, iterations,
    )
    result = optimize_logmag(
        content_spec,
        specs,
        features=features,
        alpha=alpha,
        init=init or ("content" if content is not None else "noise"),
        optimizer=optimizer,
        iterations=iterations,
        learning_rate=learning_rate,
        bound_weight=bound_weight,
        n_frames=n_frames,
        seed=seed,
        progress=progress,
    )
    audio = rep.synthesize(
        result.logmag, sample_rate, n_iter=griffin_lim_iters, reference=reference
    )
    return audio, result
