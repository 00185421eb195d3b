"""Gram-matrix style features (Ulyanov & Lebedev's random shallow network).

A spectrogram is a 1-D signal over time whose channels are frequency bins. One (or more) 1-D
convolution with random, fixed weights and a ReLU turns it into features; the *style* of a sound
is the Gram matrix of those features over time, its *content* the features themselves.

The loss normalisation follows the seeds (Ulyanov's TensorFlow notebook):
``gram = F^T F / frames``, ``style_loss = sum((G - G_style)^2)``,
``content_loss = sum((F - F_content)^2)``, ``total = style_loss + alpha * content_loss``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from .._validate import check_range
from ..errors import ParameterError

__all__ = [
    "FeatureConfig",
    "GramFeatures",
    "content_loss",
    "gram",
    "style_loss",
    "total_loss",
]


@dataclass(frozen=True)
class FeatureConfig:
    """What defines the feature extractor; part of every cache key.

    Parameters
    ----------
    n_filters : int
        Random filters per layer (Ulyanov: 4096).
    kernel_size : int
        Filter width in frames (Ulyanov: 11; alishdipani: 3).
    layers : int
        Stacked conv + ReLU layers; the Gram is taken of every layer's output and summed.
    seed : int
        Seed of the random weights: the same seed gives the same features on every machine.
    """

    n_filters: int = 4096
    kernel_size: int = 11
    layers: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_filters", "kernel_size", "layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"{name}={value!r} must be a positive integer")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ParameterError(f"seed={self.seed!r} must be a non-negative integer")

    def to_dict(self) -> dict:
        return asdict(self)


class GramFeatures(torch.nn.Module):
    """Random-weight 1-D convolution features over time, frequency bins as channels.

    Parameters
    ----------
    n_bins : int
        Input channels (frequency bins).
    config : FeatureConfig
        Filters, width, layers, seed.

    Examples
    --------
    >>> feats = GramFeatures(1030, FeatureConfig(n_filters=64))
    >>> x = torch.rand(1, 1030, 50)
    >>> gram(feats(x)[0]).shape
    torch.Size([1, 64, 64])
    """

    def __init__(self, n_bins: int, config: FeatureConfig | None = None) -> None:
        super().__init__()
        self.config = config or FeatureConfig()
        if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
            raise ParameterError(f"n_bins={n_bins!r} must be a positive integer")
        self.n_bins = n_bins
        gen = torch.Generator().manual_seed(self.config.seed)
        convs = []
        in_ch = n_bins
        k = self.config.kernel_size
        for _ in range(self.config.layers):
            conv = torch.nn.Conv1d(in_ch, self.config.n_filters, k, bias=False)
            # Ulyanov: std = sqrt(2 / (in_channels * width)) * ... ; we use He scaling so the
            # feature scale does not depend on the number of bins or the kernel width.
            std = math.sqrt(2.0 / (in_ch * k))
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * std)
            conv.weight.requires_grad_(False)
            convs.append(conv)
            in_ch = self.config.n_filters
        self.convs = torch.nn.ModuleList(convs)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return each layer's features, ``(batch, n_filters, frames - layer*(k-1))``."""
        if x.dim() != 3 or x.shape[1] != self.n_bins:
            raise ParameterError(
                f"features input shape={tuple(x.shape)} must be (batch, {self.n_bins}, frames)"
            )
        if x.shape[2] < self.config.layers * (self.config.kernel_size - 1) + 1:
            raise ParameterError(
                f"frames={x.shape[2]} is too short for kernel_size={self.config.kernel_size}"
                f" x layers={self.config.layers}"
            )
        outs = []
        for conv in self.convs:
            x = torch.relu(conv(x))
            outs.append(x)
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
