"""Train a style: the colour stage's target and a texture network, through the engine itself.

A style model has two parts, each doing what the low-latency engine can realise:

* **colour**: the style's long-term power per model bin (:mod:`~stylepedal.effect.model.colour`).
  The engine's colour stage (:mod:`stylepedal.effect.engine.colour`) EQs the input toward it
  with a slowly adapting minimum-phase filter at the grid's fine resolution, or, in a render
  that learnt its whole input, with hindsight (the style's sharp spectrum). Nothing to learn.
* **texture**: a small causal network (:class:`~stylepedal.effect.model.network.StyleNet`) that
  changes each frame of the coloured input, trained on the seeds' Gram objective.

The saved network also carries the style's Grams under the render's Gram fit's own banks
(:mod:`~stylepedal.effect.model.gramfit`), which refines a render's hindsight colour.

The network is judged during training as the user hears it: its per-frame gains go through the
engine's own low-delay synthesis (:func:`synthesize`, a torch twin of the engine's overlap-add),
and the loss is taken on the seeds' representation of the result (``log1p|STFT|``, 2048/512
at 22050 Hz, level-normalised), so it cannot score with detail the synthesis does not keep,
nor by changing the level. The random feature bank is drawn anew every step (:func:`draw_bank`),
with widths, sizes and seeds the independent judge (:mod:`stylepedal.effect.research.judge`)
never uses, so the network learns the style rather than one bank.

Content: the shipped soundfont guitars (:mod:`stylepedal.effect.model.guitars`, the train split
only) and procedural clips (:mod:`stylepedal.effect.model.corpus`), each also through a random
pedalboard rig (``rigs``), each at a random level (``gain_db_range``), coloured by the engine's
colour stage toward this style.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._validate import check_audible, check_range, check_sample_rate
from ...errors import ParameterError
from ..engine.constants import SEEDS_ACTIVE_DB, SEEDS_RMS
from .colour import colour_target, coloured, style_power
from .excerpts import excerpt_array
from .features import FeatureConfig
from .gramfit import style_grams

if TYPE_CHECKING:  # torch is imported lazily so `stylepedal --help` stays fast
    import torch

    from .network import StyleNet

__all__ = [
    "BANK_FILTERS",
    "BANK_SEED_LIMIT",
    "BANK_WIDTHS",
    "TRAIN_SAMPLE_RATE",
    "TRAIN_VERSION",
    "prepared_styles",
    "TrainConfig",
    "TrainReport",
    "colour_target",
    "draw_bank",
    "prepare_style",
    "synthesize",
    "train_style",
]

log = logging.getLogger(__name__)

# The training method's version, part of every model's cache key: bump it when a change to the
# method (not to its settings) would train another model from the same settings.
TRAIN_VERSION = 5
# Training runs at 22050 Hz: the cheapest rate whose band covers the whole model band.
TRAIN_SAMPLE_RATE = 22050
# The random feature banks of training: widths and sizes that the independent judge does not
# use, seeds below the judge's reserved range (tests check both).
BANK_WIDTHS: tuple[int, ...] = (2, 4, 7, 9, 13, 17)
BANK_FILTERS: tuple[int, ...] = (192, 384, 512)
BANK_SEED_LIMIT = 1_000_000
# The loss's representation: the seeds' spectrogram, at the seeds' level (SEEDS_RMS).
_LOSS_N_FFT = 2048
_LOSS_HOP = 512
# Content weight control: steps between updates, the step of log(weight) per unit of
# log(change / target), and the bound on the weight's factor either way.
_CONTROL_EVERY = 10
_CONTROL_RATE = 0.5
_CONTROL_RANGE = math.log(20.0)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a trained style model (part of the cache key).

    Parameters
    ----------
    alpha : float
        Initial content weight: the relative feature change of the output against the
        coloured input costs ``alpha`` times as much as the relative Gram distance to the style.
    content_target : float
        The content change the network may make (relative feature change, averaged over
        recent steps): every ``_CONTROL_EVERY`` steps the content weight is multiplied up while
        the change is above it and down while below, within ``alpha`` x [1/20, 20]. Styles
        differ in how far the Gram objective pulls a guitar (a flute pulls hard); one target
        keeps every style's notes and timing about equally intact. 0 turns the control off.
    steps, batch_size, segment_frames, learning_rate, grad_clip : int, int, int, float, float
        Adam steps, segments per step, model frames per segment (300: 1.6 s), peak learning
        rate (cosine decay to 10 %), gradient-norm clip (0: off).
    gain_db_range : (float, float)
        Level augmentation: every content clip is played at a gain drawn from this range.
    procedural_clips, corpus_seconds : int, float
        Procedural guitar clips beside the shipped soundfont guitars, and their length.
    use_guitars : bool
        Use the shipped soundfont guitars (the train split).
    rigs : bool
        Also play every content clip through a random pedalboard rig (drive, tone,
        compressor: :func:`~stylepedal.effect.model.corpus.through_rigs`): players' guitars
        reach the pedal through their own rigs.
    channels, kernel_size, dilations : int, int, tuple
        Network shape (see :class:`~stylepedal.effect.model.network.StyleNet`).
    texture : float
        The share of its trained change the saved network makes (its output layer scaled,
        :meth:`~stylepedal.effect.model.network.StyleNet.scale_change`): below 1 a subtler
        model that keeps more of the notes. The default is what validation chose: riffs held
        out of training, dry and through other rigs, judged by random nets that no eval judge
        or training run uses (``benchmarks/texture.py --as-live``).
    render_texture : float
        The share of its trained change the network makes in a render with hindsight colour
        (the whole input learnt first); above ``texture``, ``texture``'s. The EQ there is
        sharper, so less change is needed. Chosen by validation the same way
        (``benchmarks/texture.py``).
    seed : int
        Seeds the network, the segments, the levels and the banks: same config, same model.
    """

    alpha: float = 0.5
    content_target: float = 0.2
    steps: int = 400
    batch_size: int = 4
    segment_frames: int = 300
    learning_rate: float = 2e-3
    grad_clip: float = 1.0
    gain_db_range: tuple[float, float] = (-24.0, 6.0)
    procedural_clips: int = 8
    corpus_seconds: float = 6.0
    use_guitars: bool = True
    rigs: bool = True
    channels: int = 64
    kernel_size: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    texture: float = 0.5
    render_texture: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        from ..._validate import check_non_negative_int, check_positive_int

        for name in ("steps", "batch_size", "segment_frames", "channels", "kernel_size"):
            check_positive_int(getattr(self, name), name)
        for name in ("procedural_clips", "seed"):
            check_non_negative_int(getattr(self, name), name)
        check_range(self.alpha, "alpha", 0.0, 1e6)
        check_range(self.content_target, "content_target", 0.0, 10.0)
        check_range(self.texture, "texture", 0.0, 1.0)
        check_range(self.render_texture, "render_texture", 0.0, 1.0)
        check_range(self.learning_rate, "learning_rate", 1e-7, 1.0)
        check_range(self.grad_clip, "grad_clip", 0.0, 1e6)
        check_range(self.corpus_seconds, "corpus_seconds", 1.0, 600.0)
        low, high = self.gain_db_range
        check_range(low, "gain_db_range[0]", -60.0, 24.0)
        check_range(high, "gain_db_range[1]", low, 24.0)
        if self.procedural_clips == 0 and not self.use_guitars:
            raise ParameterError("procedural_clips=0 with use_guitars=False leaves no content")
        need = _min_segment_frames()
        if self.segment_frames < need:
            raise ParameterError(
                f"segment_frames={self.segment_frames} is too short: allowed is at least {need} "
                f"(the widest training bank, {max(BANK_WIDTHS)} frames of the loss's STFT)"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, canonical (used in the cache key)."""
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        d["gain_db_range"] = list(self.gain_db_range)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        data["dilations"] = tuple(data["dilations"])
        data["gain_db_range"] = tuple(data["gain_db_range"])
        data.setdefault("texture", 1.0)  # configs written before the field saved the full change
        data.setdefault("render_texture", data["texture"])  # nor had they a render of their own
        data.setdefault("rigs", False)  # nor did they play the content through rigs
        return cls(**data)

    def make_network(self) -> StyleNet:
        from .network import StyleNet

        return StyleNet(channels=self.channels, kernel_size=self.kernel_size,
                        dilations=self.dilations, level_norm=True, colour=True)


@dataclass
class TrainReport:
    """What :func:`train_style` did: losses on held-out procedural clips under a fixed bank,
    before and after (``{"style", "content", "total"}``), the training losses, the time."""

    steps: int
    seconds: float
    train_losses: list[float]
    heldout_before: dict[str, float]
    heldout_after: dict[str, float]
    content_clips: int
    n_parameters: int
    content_weight: float
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _min_segment_frames() -> int:
    """The fewest model frames whose synthesis gives the widest bank enough loss frames."""
    from ..engine.stft import StftConfig

    hop = StftConfig.for_rate(TRAIN_SAMPLE_RATE).hop_length
    return -(-(max(BANK_WIDTHS) - 1) * _LOSS_HOP // hop) + 1


# -- the style ---------------------------------------------------------------------------------


def prepared_styles(styles: Sequence[tuple[np.ndarray, int]]) -> list[np.ndarray]:
    """``(audio, sample_rate)`` style pairs as the mono 22050 Hz clips training measures
    (:func:`prepare_style`; a long style: its excerpts, so its statistics take bounded
    memory)."""
    style_audio = []
    for i, item in enumerate(styles):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ParameterError(f"styles[{i}] must be an (audio, sample_rate) pair")
        rate = check_sample_rate(item[1], name=f"styles[{i}] sample_rate")
        style_audio += [prepare_style(x, rate, name=f"styles[{i}]")
                        for x in excerpt_array(item[0], rate)]
    return style_audio


def prepare_style(audio: np.ndarray, sample_rate: int, *, name: str = "style") -> np.ndarray:
    """Validate one style (or content) signal and return it mono at 22050 Hz, float32.

    Multi-channel input ``(channels, samples)`` is mixed to mono; other rates are resampled
    with ``librosa.resample`` to 22050 Hz.

    Raises
    ------
    ParameterError
        on NaN/Inf samples, silence (peak at or below -90 dBFS), or a bad shape or rate.

    Examples
    --------
    >>> x = prepare_style(np.sin(np.arange(44100) * 0.05).astype(np.float32), 44100)
    >>> x.shape
    (22050,)
    """
    sample_rate = check_sample_rate(sample_rate, name=f"{name} sample_rate")
    audio = np.asarray(audio)
    if audio.dtype.kind != "f":
        raise ParameterError(f"{name}.dtype={audio.dtype} is not supported: pass float samples")
    if audio.ndim == 2:
        audio = audio.mean(axis=0 if audio.shape[0] <= audio.shape[1] else 1)
    if audio.ndim != 1:
        raise ParameterError(f"{name}.ndim={audio.ndim} must be 1 (mono) or 2 (channels, samples)")
    if not np.isfinite(audio).all():
        raise ParameterError(f"{name} contains NaN or Inf samples: clean the audio first")
    check_audible(audio, name)
    audio = audio.astype(np.float32)
    if sample_rate != TRAIN_SAMPLE_RATE:
        import librosa

        audio = librosa.resample(audio, orig_sr=sample_rate, target_sr=TRAIN_SAMPLE_RATE)
    return np.ascontiguousarray(audio, dtype=np.float32)


# -- the random banks --------------------------------------------------------------------------


def draw_bank(rng: np.random.Generator) -> FeatureConfig:
    """One random feature bank for one training step: a width from :data:`BANK_WIDTHS`, a size
    from :data:`BANK_FILTERS`, a seed below :data:`BANK_SEED_LIMIT`.

    Examples
    --------
    >>> bank = draw_bank(np.random.default_rng(0))
    >>> bank.kernel_size in BANK_WIDTHS and bank.seed < BANK_SEED_LIMIT
    True
    """
    return FeatureConfig(
        n_filters=int(rng.choice(BANK_FILTERS)),
        kernel_size=int(rng.choice(BANK_WIDTHS)),
        seed=int(rng.integers(0, BANK_SEED_LIMIT)),
    )


# -- through the engine ------------------------------------------------------------------------


def synthesize(spec: torch.Tensor) -> torch.Tensor:
    """The engine's low-delay synthesis at 22050 Hz, in torch (differentiable): complex
    frames ``(batch, frames, bins)`` -> audio ``(batch, (frames + 1) * hop)``. Each frame's
    inverse FFT keeps its last ``2M`` samples under the synthesis window, overlap-added at the
    hop, exactly as the engine does (up to the delay; tests compare the two)."""
    import torch

    from ..engine.stft import StftConfig

    cfg = StftConfig.for_rate(TRAIN_SAMPLE_RATE)
    window = torch.tensor(cfg.synthesis_window32)
    hop, synth = cfg.hop_length, cfg.synth_length
    tails = torch.fft.irfft(spec, n=cfg.n_fft, dim=-1)[..., -synth:] * window
    batch, n, _ = tails.shape
    out = tails.new_zeros(batch, (n + cfg.overlap - 1) * hop)
    for j in range(cfg.overlap):
        piece = tails[..., j * hop : (j + 1) * hop].reshape(batch, n * hop)
        out = out + torch.nn.functional.pad(piece, (j * hop, (cfg.overlap - 1 - j) * hop))
    return out / cfg.ola_gain


def _loss_logmag(audio: torch.Tensor) -> torch.Tensor:
    """The seeds' representation of ``audio`` ``(batch, samples)``: ``log1p|STFT|`` (2048/512,
    Hann) after scaling each item to RMS 0.1 over its frames within 40 dB of its loudest."""
    import torch

    frames = audio.unfold(-1, _LOSS_N_FFT, _LOSS_HOP)
    rms = frames.pow(2).mean(-1).clamp_min(1e-20)
    active = rms >= rms.amax(-1, keepdim=True) * 10.0 ** (-SEEDS_ACTIVE_DB / 10.0)
    level = torch.sqrt((rms * active).sum(-1) / active.sum(-1).clamp_min(1))
    scaled = audio * (SEEDS_RMS / level.clamp_min(1e-10))[:, None]
    window = torch.hann_window(_LOSS_N_FFT, dtype=audio.dtype)
    spec = torch.stft(scaled, _LOSS_N_FFT, _LOSS_HOP, window=window, return_complex=True)
    return torch.log1p(spec.abs())


# -- the content -------------------------------------------------------------------------------


@dataclass
class _Clip:
    spec: np.ndarray  # (frames, bins) complex64: the coloured clip's engine frames
    scale: np.ndarray  # (frames,) float32: the network input's level scale per frame


def _content_clips(config: TrainConfig, extra: Sequence[np.ndarray]) -> list[np.ndarray]:
    from .corpus import make_corpus, through_rigs

    clips: list[np.ndarray] = []
    if config.use_guitars:
        from .guitars import load_guitar_corpus

        clips += [audio for audio, _ in load_guitar_corpus(TRAIN_SAMPLE_RATE)]
    if config.procedural_clips:
        clips += make_corpus(config.procedural_clips, config.corpus_seconds, TRAIN_SAMPLE_RATE,
                             seed=0)
    clips += list(extra)
    if config.rigs:
        clips += through_rigs(clips, TRAIN_SAMPLE_RATE, seed=config.seed)
    return clips


def _prepare(clip: np.ndarray, target: np.ndarray, gain_db: float) -> _Clip:
    from ..engine.stft import StftConfig, stft
    from .stream import level_scales

    cfg = StftConfig.for_rate(TRAIN_SAMPLE_RATE)
    audio = coloured((clip * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32), target)
    spec = stft(audio, cfg)
    linear = np.abs(spec) * cfg.feature_scale32
    scale = level_scales(linear[np.newaxis], np.zeros((1, 2)))[0]
    return _Clip(spec=np.ascontiguousarray(spec, dtype=np.complex64), scale=scale)


# -- training ----------------------------------------------------------------------------------


def _objective(
    net: StyleNet,
    spec: torch.Tensor,
    scale: torch.Tensor,
    style_logmag: torch.Tensor,
    bank: FeatureConfig,
    alpha: float,
) -> dict[str, torch.Tensor]:
    """Style, content and total loss of ``net`` on a batch of coloured frames, per item."""
    import torch

    from ..engine.stft import StftConfig
    from .gram import GramFeatures, gram

    cfg = StftConfig.for_rate(TRAIN_SAMPLE_RATE)
    linear = spec.abs() * float(cfg.feature_scale32)
    x = torch.log1p(linear * scale[..., None])
    y = net(x)
    gain = torch.expm1(y) / scale[..., None] / linear.clamp_min(1e-12)
    out = synthesize(spec * gain)
    with torch.no_grad():
        dry = _loss_logmag(synthesize(spec))
    features = GramFeatures(_LOSS_N_FFT // 2 + 1, bank)
    f_out = features(_loss_logmag(out))[-1]
    with torch.no_grad():
        f_dry = features(dry)[-1]
        g_style = gram(features(style_logmag)[-1])
    style = ((gram(f_out) - g_style) ** 2).sum(dim=(1, 2)) / (g_style**2).sum()
    content = ((f_out - f_dry) ** 2).mean(dim=(1, 2)) / (f_dry**2).mean(dim=(1, 2))
    return {"style": style, "content": content, "total": style + alpha * content}


def _heldout(
    net: StyleNet, clips: list[_Clip], style_logmag: torch.Tensor, alpha: float
) -> dict[str, float]:
    import torch

    bank = draw_bank(np.random.default_rng(0x4E1D))
    totals = {"style": 0.0, "content": 0.0, "total": 0.0}
    with torch.no_grad():
        for clip in clips:
            parts = _objective(net, torch.from_numpy(clip.spec[None]),
                               torch.from_numpy(clip.scale[None]), style_logmag, bank, alpha)
            for k in totals:
                totals[k] += float(parts[k].mean()) / len(clips)
    return totals


def train_style(
    styles: Sequence[tuple[np.ndarray, int]],
    config: TrainConfig | None = None,
    *,
    content_clips: Sequence[tuple[np.ndarray, int]] | None = None,
    progress: bool = True,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[StyleNet, TrainReport]:
    """Train a style model from one or more style recordings.

    Parameters
    ----------
    styles : sequence of (audio, sample_rate)
        Recordings that together define the style (any rate; stereo is mixed to mono). One
        longer than ``STYLE_MAX_SECONDS`` is used as evenly spread excerpts
        (:mod:`~stylepedal.effect.model.excerpts`).
    config : TrainConfig, optional
        Defaults to ``TrainConfig()``.
    content_clips : sequence of (audio, sample_rate), optional
        Extra content (e.g. a DI recording of the player's guitar) beside the built-in.
    progress : bool
        Show a tqdm progress bar.
    callback : callable, optional
        ``callback(step, loss)`` after every step.

    Returns
    -------
    (StyleNet, TrainReport)
        The network (level-normalised input, carrying the colour targets), its weights rounded
        to float16 precision (what the store keeps), and what happened.

    Raises
    ------
    ParameterError
        for empty, silent or non-finite style audio, or bad content clips.
    """
    import torch

    config = config or TrainConfig()
    t0 = time.perf_counter()
    if not styles:
        raise ParameterError("styles=[] is empty: pass at least one (audio, sample_rate)")
    style_audio = prepared_styles(styles)
    extra = []
    for i, item in enumerate(content_clips or ()):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ParameterError(f"content_clips[{i}] must be an (audio, sample_rate) pair")
        extra.append(prepare_style(item[0], item[1], name=f"content_clips[{i}]"))
    torch.manual_seed(config.seed)
    rng = np.random.default_rng([config.seed, 0x7EA2])
    target = colour_target(style_audio)
    low, high = config.gain_db_range
    clips = [_prepare(c, target, float(rng.uniform(low, high)))
             for c in _content_clips(config, extra)]
    usable = [c for c in clips if c.spec.shape[0] > config.segment_frames]
    if not usable:
        raise ParameterError(
            f"content clips are shorter than a training segment ({config.segment_frames} "
            "frames): pass longer clips"
        )
    from .corpus import make_corpus

    held = [_prepare(c, target, 0.0)
            for c in make_corpus(2, config.corpus_seconds, TRAIN_SAMPLE_RATE, seed=1)]
    with torch.no_grad():
        style_logmag = torch.cat(
            [_loss_logmag(torch.from_numpy(a)[None]) for a in style_audio], dim=-1
        )

    net = config.make_network()
    net.set_colour_target(target)
    before = _heldout(net, held, style_logmag, config.alpha)
    opt = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / config.steps))
    )
    weights = np.array([c.spec.shape[0] - config.segment_frames for c in usable], float)
    losses: list[float] = []
    recent: list[float] = []  # content changes since the last control update
    log_factor = 0.0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, desc="training", unit="step")
    try:
        for step in range(config.steps):
            picks = rng.choice(len(usable), size=config.batch_size, p=weights / weights.sum())
            starts = [int(rng.integers(0, usable[k].spec.shape[0] - config.segment_frames))
                      for k in picks]
            n = config.segment_frames
            spec = torch.from_numpy(np.stack(
                [usable[k].spec[s : s + n] for k, s in zip(picks, starts, strict=True)]))
            scale = torch.from_numpy(np.stack(
                [usable[k].scale[s : s + n] for k, s in zip(picks, starts, strict=True)]))
            alpha = config.alpha * math.exp(log_factor)
            parts = _objective(net, spec, scale, style_logmag, draw_bank(rng), alpha)
            loss = parts["total"].mean()
            recent.append(float(parts["content"].detach().mean()))
            if config.content_target > 0 and len(recent) == _CONTROL_EVERY:
                change = max(float(np.mean(recent)), 1e-9)
                log_factor += _CONTROL_RATE * math.log(change / config.content_target)
                log_factor = min(max(log_factor, -_CONTROL_RANGE), _CONTROL_RANGE)
                recent.clear()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.4g}")
            if callback is not None:
                callback(step, losses[-1])
    finally:
        if bar is not None:
            bar.close()
    net.scale_change(config.texture)
    net.set_render(style_power(style_audio),
                   min(config.render_texture / config.texture, 1.0) if config.texture else 0.0,
                   style_grams(style_audio))
    net.round_to("float16")
    net.eval()
    after = _heldout(net, held, style_logmag, config.alpha)
    report = TrainReport(
        steps=config.steps,
        seconds=time.perf_counter() - t0,
        train_losses=losses,
        heldout_before=before,
        heldout_after=after,
        content_clips=len(usable),
        n_parameters=net.n_parameters(),
        content_weight=config.alpha * math.exp(log_factor),
        config=config.to_dict(),
    )
    return net, report
