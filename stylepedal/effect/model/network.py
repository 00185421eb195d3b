"""The per-style causal feed-forward network (torch: built and trained here).

:class:`StyleNet` maps log-magnitude frames ``(batch, frames, 1030)`` to frames of the same shape,
``>= 0``, using only the current and past frames:

* an input projection ``1030 -> C`` (a learned spectral summary, C ~ 96-128),
* a stack of residual causal dilated 1-D convolutions over time (kernel 3, dilations
  1, 2, 4, 8: a receptive field of 31 frames = 165 ms at the 5.333 ms model hop), leaky ReLU,
* an output projection ``C -> 1030`` giving a *delta* added to the input log-magnitude (a gain in
  dB per bin and frame), then a ReLU so the result is a valid log1p-magnitude.

The output projection starts at zero, so an untrained network is the identity: training starts
where the seeds' optimiser starts (content init) and only learns the change.

Weights are stored as safetensors (never pickled) with a JSON-able config in the header; the
streaming inference that plays them is torch-free (:mod:`stylepedal.effect.model.stream`).
"""

from __future__ import annotations

import json
from typing import Any, cast

import numpy as np
import torch

from ..._validate import check_bool, check_positive_int, check_range
from ...errors import CacheError, ParameterError
from ..engine.constants import MODEL_BINS
from ..engine.longterm import unit_spectrum
from .stream import (
    FORMAT,
    FORMAT_VERSION,
    StyleNetTransform,
    check_config,
    read_safetensors,
    weight_shapes,
)

__all__ = ["StyleNet", "FORMAT", "FORMAT_VERSION"]


class StyleNet(torch.nn.Module):
    """Causal residual dilated-convolution network on log-magnitude frames.

    Parameters
    ----------
    n_bins : int
        Frequency bins per frame (the model band: 1030).
    channels : int
        Hidden width C.
    kernel_size : int
        Width of every temporal convolution (frames).
    dilations : tuple of int
        Dilation of each residual block; the receptive field is
        ``1 + (kernel_size - 1) * sum(dilations)`` frames.
    leak : float
        Negative slope of the leaky ReLU.
    gate : bool
        Also output a per-bin gain on the input: ``y = relu(x * (1 + g) + delta)`` instead of
        ``relu(x + delta)`` (both start as the identity).
    level_norm : bool
        The network sees its input at a normalised level: streaming scales each frame by
        :func:`~stylepedal.effect.model.stream.level_scales` before it and back after it
        (training feeds it normalised frames directly).
    colour : bool
        Carry a ``colour_target`` buffer: a style's long-term power per bin, which the engine's
        colour stage EQs the input toward.
    hindsight : bool
        Also carry a ``style_power`` buffer (the style's long-term power through a Hann window)
        for a render's hindsight colour, and ``render_change``, the share of its change the
        network makes there (:meth:`set_render`). Needs ``colour``.
    render_change : float
        That share, in [0, 1].
    gram_fit : bool
        Also carry ``fit_grams``, the style's Grams under the Gram fit's banks
        (:mod:`~stylepedal.effect.model.gramfit`), for a render's Gram fit. Needs
        ``hindsight``.

    Examples
    --------
    >>> net = StyleNet(channels=32)
    >>> x = torch.rand(1, 20, 1030)
    >>> bool(torch.equal(net(x), x))  # zero-initialised output: identity
    True
    """

    def __init__(
        self,
        *,
        n_bins: int = MODEL_BINS,
        channels: int = 128,
        kernel_size: int = 3,
        dilations: tuple[int, ...] = (1, 2, 4, 8),
        leak: float = 0.1,
        gate: bool = False,
        level_norm: bool = False,
        colour: bool = False,
        hindsight: bool = False,
        render_change: float = 1.0,
        gram_fit: bool = False,
    ) -> None:
        super().__init__()
        self.n_bins = check_positive_int(n_bins, "n_bins")
        self.channels = check_positive_int(channels, "channels")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        if not isinstance(dilations, (tuple, list)) or not dilations:
            raise ParameterError(f"dilations={dilations!r} must be a non-empty tuple of ints")
        self.dilations = tuple(check_positive_int(d, "dilations[i]") for d in dilations)
        if isinstance(leak, bool) or not isinstance(leak, (int, float)) or not 0 <= leak < 1:
            raise ParameterError(f"leak={leak!r} is out of range: allowed is [0, 1)")
        self.leak = float(leak)
        self.gate = check_bool(gate, "gate")
        self.level_norm = check_bool(level_norm, "level_norm")
        self.colour = check_bool(colour, "colour")
        self.hindsight = check_bool(hindsight, "hindsight")
        self.render_change = check_range(render_change, "render_change", 0.0, 1.0)
        self.gram_fit = check_bool(gram_fit, "gram_fit")
        # only the sizes a saved network may have (checked before any layer is allocated)
        try:
            check_config(self.to_config())
        except CacheError as exc:
            raise ParameterError(str(exc)) from exc
        if self.colour:
            # the style's long-term power per bin, for the engine's colour stage (not trained)
            self.register_buffer("colour_target", torch.ones(self.n_bins))
        if self.hindsight:
            self.register_buffer("style_power", torch.ones(self.n_bins))
        if self.gram_fit:
            shape = weight_shapes(self.to_config())["fit_grams"]
            self.register_buffer("fit_grams", torch.zeros(shape))
        self.inp = torch.nn.Linear(self.n_bins, self.channels)
        self.convs = torch.nn.ModuleList(
            torch.nn.Conv1d(self.channels, self.channels, self.kernel_size, dilation=d)
            for d in self.dilations
        )
        self.out = torch.nn.Linear(self.channels, self.n_bins * (2 if gate else 1))
        with torch.no_grad():
            # Residual branches start small so the stack starts near a plain projection, and
            # the output starts at zero so the network starts as the identity.
            for conv in self._conv_list():
                conv.weight.mul_(0.5)
            self.out.weight.zero_()
            self.out.bias.zero_()

    def _conv_list(self) -> list[torch.nn.Conv1d]:
        return [cast(torch.nn.Conv1d, c) for c in self.convs]

    @property
    def receptive_field(self) -> int:
        """Frames of input that influence one output frame (current frame included)."""
        return 1 + (self.kernel_size - 1) * sum(self.dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, frames, n_bins)`` log-magnitude -> same shape, ``>= 0``, causal."""
        if x.dim() != 3 or x.shape[-1] != self.n_bins:
            raise ParameterError(
                f"input shape={tuple(x.shape)} must be (batch, frames, {self.n_bins})"
            )
        h = self.inp(x).transpose(1, 2)  # (batch, C, frames)
        for conv, d in zip(self.convs, self.dilations, strict=True):
            pad = (self.kernel_size - 1) * d
            r = conv(torch.nn.functional.pad(h, (pad, 0)))
            h = h + torch.nn.functional.leaky_relu(r, self.leak)
        h = torch.nn.functional.leaky_relu(h, self.leak).transpose(1, 2)
        o = self.out(h)
        if self.gate:
            # per-bin gain on the input log-magnitude (1 + g) plus an offset
            z = x * (1.0 + o[..., self.n_bins :]) + o[..., : self.n_bins]
        else:
            z = x + o
        if torch.is_grad_enabled() and z.requires_grad:
            return _LeakyGradRelu.apply(z)
        return torch.relu(z)

    # -- config and weights ------------------------------------------------------------------

    def to_config(self) -> dict[str, Any]:
        """JSON-able description that, with the weights, rebuilds the network exactly."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "n_bins": self.n_bins,
            "channels": self.channels,
            "kernel_size": self.kernel_size,
            "dilations": list(self.dilations),
            "leak": self.leak,
            "gate": self.gate,
            "level_norm": self.level_norm,
            "colour": self.colour,
            "hindsight": self.hindsight,
            "render_change": self.render_change,
            "gram_fit": self.gram_fit,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> StyleNet:
        """Build an (untrained) network from :meth:`to_config` output.

        Raises
        ------
        CacheError
            if the config is not a StyleNet config of a supported format version, or a size
            is out of range (:func:`~stylepedal.effect.model.stream.check_config`).
        """
        config = check_config(config)  # bounded sizes before any layer is allocated
        try:
            return cls(
                n_bins=config["n_bins"],
                channels=config["channels"],
                kernel_size=config["kernel_size"],
                dilations=tuple(config["dilations"]),
                leak=config["leak"],
                gate=config.get("gate", False),
                level_norm=config.get("level_norm", False),
                colour=config["colour"],
                hindsight=config["hindsight"],
                render_change=config["render_change"],
                gram_fit=config.get("gram_fit", False),
            )
        except (KeyError, TypeError) as exc:
            raise CacheError(f"config is missing or has a bad field: {exc}") from exc

    def to_safetensors(self, *, dtype: str = "float16") -> bytes:
        """Weights as safetensors bytes (config JSON in the header metadata).

        ``dtype="float16"`` halves the size; call :meth:`round_to` first so the network in
        memory equals the one that will be loaded. Buffers (the colour target, a power
        spectrum spanning many decades) stay float32, but for the fit's Grams (``set_render``
        rounds them to float16 already).
        """
        from safetensors.torch import save

        tdtype = _torch_dtype(dtype)
        buffers = {name for name, _ in self.named_buffers()}
        tensors = {
            k: v.detach().to(torch.float32 if k in buffers - {"fit_grams"} else tdtype)
            .contiguous()
            for k, v in self.state_dict().items()
        }
        meta = {"config": json.dumps(self.to_config(), sort_keys=True)}
        return save(tensors, metadata=meta)

    @classmethod
    def from_safetensors(cls, data: bytes, config: dict[str, Any] | None = None) -> StyleNet:
        """Rebuild a network from :meth:`to_safetensors` bytes (weights run in float32).

        ``config`` defaults to the one stored in the header; when given, it must match it.

        Raises
        ------
        CacheError
            if the bytes are not a safetensors file of a matching StyleNet.
        """
        weights, stored = read_safetensors(data, config)
        net = cls.from_config(stored)
        net.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
        return net

    def round_to(self, dtype: str = "float16") -> StyleNet:
        """Round every weight to ``dtype`` precision in place (kept in float32); returns self."""
        tdtype = _torch_dtype(dtype)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(p.to(tdtype).to(torch.float32))
        return self

    def scale_change(self, amount: float) -> StyleNet:
        """Make the network's change to its input ``amount`` times what it was, in place
        (the output layer scaled: before the output ReLU the change is exactly linear in it);
        returns self.

        Examples
        --------
        >>> net = StyleNet(channels=8)
        >>> with torch.no_grad():
        ...     _ = net.out.bias.fill_(0.5)
        ...     x = torch.full((1, 2, 1030), 3.0)
        ...     before = net(x) - x
        ...     after = net.scale_change(0.25)(x) - x
        >>> bool(torch.allclose(after, 0.25 * before))
        True
        """
        amount = check_range(amount, "amount", 0.0, 1.0)
        with torch.no_grad():
            self.out.weight.mul_(amount)
            self.out.bias.mul_(amount)
        return self

    def set_colour_target(self, target: np.ndarray) -> None:
        """Store a style's long-term power per bin for the engine's colour stage."""
        if not self.colour:
            raise ParameterError("this network has no colour target: build it with colour=True")
        buffer = self.get_buffer("colour_target")
        with torch.no_grad():
            buffer.copy_(torch.from_numpy(np.asarray(target, dtype=np.float32)))

    def set_render(
        self, style_power: np.ndarray, render_change: float, fit_grams: np.ndarray | None = None
    ) -> StyleNet:
        """Carry what a render needs (see :mod:`~stylepedal.effect.engine.colour`): the
        style's long-term power per bin through a Hann window
        (:func:`~stylepedal.effect.engine.longterm.long_term_power`) for its hindsight colour,
        the share of its change the network makes there, in [0, 1], and optionally the
        style's Grams for its Gram fit (:func:`~stylepedal.effect.model.gramfit.style_grams`,
        kept at float16 precision, as saved); returns self."""
        if not self.colour:
            raise ParameterError("a render's hindsight colour needs a colour network "
                                 "(colour=True)")
        render_change = check_range(render_change, "render_change", 0.0, 1.0)
        power = np.asarray(style_power, dtype=np.float32)
        unit_spectrum(power, "style_power")  # the check the engine's colour stage makes
        if not self.hindsight:
            self.register_buffer("style_power", torch.ones(self.n_bins))
            self.hindsight = True
        self.render_change = render_change
        with torch.no_grad():
            self.get_buffer("style_power").copy_(torch.from_numpy(power))
        if fit_grams is not None:
            shape = weight_shapes({**self.to_config(), "gram_fit": True})["fit_grams"]
            grams = np.asarray(fit_grams, dtype=np.float32)
            if grams.shape != shape or not np.all(np.isfinite(grams.astype(np.float16))):
                raise ParameterError(f"fit_grams of shape {grams.shape} must be {shape} "
                                     "values finite at float16 (gramfit.style_grams)")
            if not self.gram_fit:
                self.register_buffer("fit_grams", torch.zeros(shape))
                self.gram_fit = True
            with torch.no_grad():
                self.get_buffer("fit_grams").copy_(
                    torch.from_numpy(grams).to(torch.float16).to(torch.float32))
        return self

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- streaming ---------------------------------------------------------------------------

    def as_transform(self) -> StyleNetTransform:
        """A frame transform (the engine's ``FrameTransform`` contract) with cached state.

        Examples
        --------
        >>> net = StyleNet(channels=16)
        >>> tf = net.as_transform()
        >>> state = tf.new_state(2)
        >>> y = tf(np.zeros((2, 3, 1030), np.float32), state)
        >>> y.shape
        (2, 3, 1030)
        """
        weights = {k: v.detach().to(torch.float32).numpy() for k, v in self.state_dict().items()}
        return StyleNetTransform(weights, self.to_config())


class _LeakyGradRelu(torch.autograd.Function):
    """ReLU forward, leaky gradient backward (slope 0.1 below zero).

    A plain ReLU at the output lets training collapse: once a bin is pushed below zero its
    gradient vanishes, and an all-zero output (whose style loss is merely ``sum(G_style^2)``)
    is a trap the network cannot leave. The forward value is exactly the ReLU, so inference and
    streaming are unchanged.
    """

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(z)
        return torch.relu(z)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (z,) = ctx.saved_tensors
        return torch.where(z > 0, grad, 0.1 * grad)


def _torch_dtype(dtype: str) -> torch.dtype:
    table = {"float16": torch.float16, "float32": torch.float32, "bfloat16": torch.bfloat16}
    if dtype not in table:
        raise ParameterError(f"dtype={dtype!r} is not supported: choose one of {sorted(table)}")
    return table[dtype]
