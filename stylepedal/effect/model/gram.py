"""Gram-matrix style features (Ulyanov & Lebedev's random shallow network).

A spectrogram is a 1-D signal over time whose channels are frequency bins. One (or more) 1-D
convolution with random, fixed weights and a ReLU turns it into features; the *style* of a sound
is the Gram matrix of those features over time, its *content* the features themselves.

The loss normalisation follows the seeds (Ulyanov's TensorFlow notebook):
``gram = F F^T / frames`` for features ``F`` of shape (filters, frames),
``style_loss = sum((G - G_style)^2)``,
``content_loss = sum((F - F_content)^2)``, ``total = style_loss + alpha * content_loss``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..._validate import check_range
from ...errors import ParameterError
from .features import ORIENTATIONS, FeatureConfig

__all__ = [
    "ORIENTATIONS",
    "FeatureConfig",
    "GramFeatures",
    "content_loss",
    "gram",
    "style_gram",
    "style_loss",
    "total_loss",
]


class GramFeatures(torch.nn.Module):
    """Random-weight convolution features of a spectrogram (frequency bins x frames).

    The input is always ``(batch, n_bins, frames)``; ``config.orientation`` decides how the
    convolution sees it (see :class:`FeatureConfig`). Every layer's output is returned as
    ``(batch, n_filters, positions)``: positions are frames (``"freq"``), frequency positions
    (``"time"``) or flattened (freq, time) positions (``"2d"``), so :func:`gram`,
    :func:`style_loss` and :func:`content_loss` apply unchanged.

    Parameters
    ----------
    n_bins : int
        Frequency bins of the input (channels in the default orientation).
    config : FeatureConfig
        Filters, width, layers, seed, orientation.
    n_frames : int, optional
        Only for ``orientation="time"``: the frame count (the conv's input channels). If not
        given, it is fixed by the first input seen; a later input with another frame count
        raises :class:`ParameterError` (style and content must be the same length).

    Examples
    --------
    >>> feats = GramFeatures(1030, FeatureConfig(n_filters=64))
    >>> x = torch.rand(1, 1030, 50)
    >>> gram(feats(x)[0]).shape
    torch.Size([1, 64, 64])
    >>> feats2d = GramFeatures(128, FeatureConfig(n_filters=8, kernel_size=3, orientation="2d"))
    >>> feats2d(torch.rand(1, 128, 40))[0].shape
    torch.Size([1, 8, 4788])
    """

    def __init__(
        self, n_bins: int, config: FeatureConfig | None = None, *, n_frames: int | None = None
    ) -> None:
        super().__init__()
        self.config = config or FeatureConfig()
        if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
            raise ParameterError(f"n_bins={n_bins!r} must be a positive integer")
        if n_frames is not None and (
            isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 1
        ):
            raise ParameterError(f"n_frames={n_frames!r} must be a positive integer or None")
        self.n_bins = n_bins
        self.n_frames: int | None = None
        self.convs = torch.nn.ModuleList()
        if self.config.orientation == "freq":
            self._build(n_bins)
        elif self.config.orientation == "2d":
            self._build(1)
        elif n_frames is not None:
            self._build(n_frames)
            self.n_frames = n_frames

    def _build(self, in_channels: int) -> None:
        """Create the seeded random conv stack (weights depend only on config and in_channels)."""
        gen = torch.Generator().manual_seed(self.config.seed)
        convs: list[torch.nn.Module] = []
        in_ch = in_channels
        k = self.config.kernel_size
        two_d = self.config.orientation == "2d"
        for _ in range(self.config.layers):
            conv: torch.nn.Conv1d | torch.nn.Conv2d
            # skip_init: the default init would draw from torch's *global* generator (changing
            # what a later torch.manual_seed gives) and cost seconds at 4096 filters, only to be
            # overwritten by the seeded weights below.
            if two_d:
                conv = torch.nn.utils.skip_init(
                    torch.nn.Conv2d, in_ch, self.config.n_filters, k, bias=False
                )
                fan_in = in_ch * k * k
            else:
                conv = torch.nn.utils.skip_init(
                    torch.nn.Conv1d, in_ch, self.config.n_filters, k, bias=False
                )
                fan_in = in_ch * k
            # Ulyanov: std = sqrt(2 / (in_channels * width)) * ... ; we use He scaling so the
            # feature scale does not depend on the number of bins or the kernel width.
            std = math.sqrt(2.0 / fan_in)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * std)
            conv.weight.requires_grad_(False)
            convs.append(conv)
            in_ch = self.config.n_filters
        self.convs = torch.nn.ModuleList(convs)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return each layer's features, ``(batch, n_filters, positions)``.

        Positions are ``frames - layer*(k-1)`` in the default ``"freq"`` orientation.
        """
        if x.dim() != 3 or x.shape[1] != self.n_bins:
            raise ParameterError(
                f"features input shape={tuple(x.shape)} must be (batch, {self.n_bins}, frames)"
            )
        if x.dtype != torch.float32:
            raise ParameterError(f"features input dtype={x.dtype} must be torch.float32")
        orientation = self.config.orientation
        need = self.config.layers * (self.config.kernel_size - 1) + 1
        if orientation in ("freq", "2d") and x.shape[2] < need:
            raise ParameterError(
                f"frames={x.shape[2]} is too short for kernel_size={self.config.kernel_size}"
                f" x layers={self.config.layers}"
            )
        if orientation in ("time", "2d") and x.shape[1] < need:
            raise ParameterError(
                f"n_bins={x.shape[1]} is too few for kernel_size={self.config.kernel_size}"
                f" x layers={self.config.layers} in orientation={orientation!r}"
            )
        if orientation == "time":
            frames = int(x.shape[2])
            if self.n_frames is None:
                self._build(frames)
                self.n_frames = frames
            elif frames != self.n_frames:
                raise ParameterError(
                    f"frames={frames} differs from n_frames={self.n_frames}: orientation='time'"
                    " uses frames as channels, so content and style must have the same number"
                    " of frames (trim both to one duration, e.g. stylepedal prep --trim)"
                )
            x = x.transpose(1, 2)
        elif orientation == "2d":
            x = x.unsqueeze(1)
        outs = []
        for conv in self.convs:
            x = torch.relu(conv(x))
            outs.append(x.flatten(2) if orientation == "2d" else x)
        return outs


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix over time: ``F F^T / frames`` for ``(batch, filters, frames)`` features."""
    return features @ features.transpose(1, 2) / features.shape[-1]


def style_loss(feats: list[torch.Tensor], style_grams: list[torch.Tensor]) -> torch.Tensor:
    """Sum over layers of ``sum((gram(F) - G_style)^2)``, per batch item, shape ``(batch,)``."""
    total = torch.zeros(feats[0].shape[0], dtype=feats[0].dtype)
    for f, g in zip(feats, style_grams, strict=True):
        total = total + ((gram(f) - g) ** 2).sum(dim=(1, 2))
    return total


def content_loss(feats: list[torch.Tensor], content_feats: list[torch.Tensor]) -> torch.Tensor:
    """``sum((F - F_content)^2)`` of the last layer, per batch item, shape ``(batch,)``."""
    return ((feats[-1] - content_feats[-1]) ** 2).sum(dim=(1, 2))


def total_loss(
    feats: list[torch.Tensor],
    style_grams: list[torch.Tensor],
    content_feats: list[torch.Tensor] | None,
    alpha: float = 1e-2,
) -> torch.Tensor:
    """``style_loss + alpha * content_loss`` summed over the batch (alpha=0: texture)."""
    alpha = check_range(alpha, "alpha", 0.0, 1e6)
    loss = style_loss(feats, style_grams).sum()
    if alpha > 0.0:
        if content_feats is None:
            raise ParameterError("content_feats=None needs alpha=0 (texture synthesis)")
        loss = loss + alpha * content_loss(feats, content_feats).sum()
    return loss


def style_gram(
    styles: Sequence[np.ndarray], extractor: GramFeatures, *, names: Sequence[str] | None = None
) -> tuple[list[torch.Tensor], int]:
    """Frame-weighted average Gram of several style spectrograms, per layer, and the number
    of last-layer feature frames it averages.

    Each style's Gram is weighted by its number of feature frames, so the result equals the Gram
    of all styles' features concatenated in time (without frames straddling two files). The
    one style Gram of the package: the optimiser, training and the metrics use it.

    Parameters
    ----------
    styles : sequence of np.ndarray
        float32 ``(bins, frames_i)`` log-magnitudes.
    extractor : GramFeatures
        The feature extractor.

    Returns
    -------
    (list of torch.Tensor, int)
        One ``(1, n_filters, n_filters)`` Gram per layer, and the frames of the last layer.

    Examples
    --------
    >>> feats = GramFeatures(8, FeatureConfig(n_filters=4, kernel_size=3))
    >>> grams, frames = style_gram([np.ones((8, 10), np.float32)], feats)
    >>> [g.shape for g in grams], frames
    ([torch.Size([1, 4, 4])], 8)
    """
    sums: list[torch.Tensor] = []
    frames: list[int] = []
    with torch.no_grad():
        for i, s in enumerate(styles):
            name = names[i] if names else f"style[{i}]"
            if s.shape[1] < extractor.config.min_frames:
                raise ParameterError(
                    f"{name} has {s.shape[1]} frames: too short for kernel_size="
                    f"{extractor.config.kernel_size} x layers={extractor.config.layers}"
                    f" (needs at least {extractor.config.min_frames} frames)"
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
    return [g / n for g, n in zip(sums, frames, strict=True)], frames[-1]
