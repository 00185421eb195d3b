"""The per-style causal feed-forward network and its streaming (cached-state) inference.

:class:`StyleNet` maps log-magnitude frames ``(batch, frames, 1030)`` to frames of the same shape,
``>= 0``, using only the current and past frames:

* an input projection ``1030 -> C`` (a learned spectral summary, C ~ 96-128),
* a stack of residual causal dilated 1-D convolutions over time (kernel 3, dilations
  1, 2, 4, 8: a receptive field of 31 frames = 165 ms at the 5.333 ms model hop), leaky ReLU,
* an output projection ``C -> 1030`` giving a *delta* added to the input log-magnitude (a gain in
  dB per bin and frame), then a ReLU so the result is a valid log1p-magnitude.

The output projection starts at zero, so an untrained network is the identity: training starts
where the seeds' optimiser starts (content init) and only learns the change.

Streaming follows the cached-convolution idea of RAVE (Caillon & Esling 2021): every dilated
convolution keeps the last ``(kernel - 1) * dilation`` frames of its input as state, so running
the network one hop at a time equals running it once over the whole signal. The live path runs in
numpy float32 (measured faster than torch for one frame per call, see ``benchmarks/style.py``).

Weights are stored as safetensors (never pickled) plus a JSON-able config dict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch

from ..._validate import check_positive_int
from ...errors import CacheError, ParameterError
from ..engine.constants import MODEL_BINS

__all__ = ["StyleNet", "StyleNetState", "StyleNetTransform", "FORMAT", "FORMAT_VERSION"]

FORMAT = "stylepedal.StyleNet"
FORMAT_VERSION = 1
# Calls of up to this many frames run in the compiled kernel, longer ones through BLAS.
# Measured per frame at C=96, one thread, hot: 1 frame 35 us compiled against 65 us BLAS,
# 2 frames 35 against 32, 4 frames 34 against 19; paced at real time the compiled frame costs
# 82-133 us against 212-298 us (benchmarks/live_frame.py).
KERNEL_MAX_FRAMES = 2


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
        if not isinstance(gate, bool):
            raise ParameterError(f"gate={gate!r} must be True or False")
        self.gate = gate
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
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> StyleNet:
        """Build an (untrained) network from :meth:`to_config` output.

        Raises
        ------
        CacheError
            if the config is not a StyleNet config of a supported format version.
        """
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise CacheError(f"config is not a {FORMAT} config: {str(config)[:200]}")
        if config.get("format_version") != FORMAT_VERSION:
            raise CacheError(
                f"format_version={config.get('format_version')!r} is not supported: "
                f"allowed is {FORMAT_VERSION}"
            )
        try:
            return cls(
                n_bins=config["n_bins"],
                channels=config["channels"],
                kernel_size=config["kernel_size"],
                dilations=tuple(config["dilations"]),
                leak=config["leak"],
                gate=config.get("gate", False),
            )
        except (KeyError, TypeError) as exc:
            raise CacheError(f"config is missing or has a bad field: {exc}") from exc

    def to_safetensors(self, *, dtype: str = "float16") -> bytes:
        """Weights as safetensors bytes (config JSON in the header metadata).

        ``dtype="float16"`` halves the size; call :meth:`round_to` first so the network in
        memory equals the one that will be loaded.
        """
        from safetensors.torch import save

        tdtype = _torch_dtype(dtype)
        tensors = {k: v.detach().to(tdtype).contiguous() for k, v in self.state_dict().items()}
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
        from safetensors import SafetensorError
        from safetensors.torch import load

        try:
            tensors = load(bytes(data))
            header_len = int.from_bytes(bytes(data[:8]), "little")
            header = json.loads(bytes(data[8 : 8 + header_len]))
        except (SafetensorError, ValueError, TypeError, json.JSONDecodeError) as exc:
            raise CacheError(f"model weights are not a valid safetensors file: {exc}") from exc
        meta = header.get("__metadata__") or {}
        try:
            stored = json.loads(meta["config"])
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise CacheError("model weights carry no StyleNet config in their header") from exc
        if config is not None and dict(config) != stored:
            raise CacheError("model weights do not match the given config")
        net = cls.from_config(stored)
        expected = net.state_dict()
        if set(tensors) != set(expected) or any(
            tensors[k].shape != expected[k].shape for k in expected
        ):
            raise CacheError("model weights do not match the network shape in their config")
        net.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()})
        return net

    def round_to(self, dtype: str = "float16") -> StyleNet:
        """Round every weight to ``dtype`` precision in place (kept in float32); returns self."""
        tdtype = _torch_dtype(dtype)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(p.to(tdtype).to(torch.float32))
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
        return StyleNetTransform(self)


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


@dataclass
class StyleNetState:
    """Per-channel history of every dilated convolution's input (RAVE cached_conv)."""

    channels: int
    # (channels, sum((k-1)*d), C): each layer's last (k-1)*d inputs, oldest first, layer after
    # layer (one array, so the compiled single-frame path and the BLAS path share it)
    history: np.ndarray


class StyleNetTransform:
    """Streaming numpy inference of a :class:`StyleNet` (the ``FrameTransform`` contract).

    ``frames`` float32 ``(channels, n_frames, 1030)`` in, same shape out, ``>= 0``; the state is
    updated in place; calling on ``frames[:, :a]`` then ``frames[:, a:]`` equals one call.
    The weights are copied at construction, so training the network further does not change a
    running transform.

    Up to :data:`KERNEL_MAX_FRAMES` frames (the live path: one per hop) run in one compiled
    call that reads the weights as float16 when float16 holds them exactly (every saved
    preset's do), see :mod:`stylepedal.effect.model.kernels`; longer batches run through BLAS.
    """

    def __init__(self, net: StyleNet) -> None:
        from .kernels import as_half_bits, net_frames

        self.model_bins = net.n_bins
        self.channels = net.channels
        self.kernel_size = net.kernel_size
        self.dilations = net.dilations
        self.leak = np.float32(net.leak)

        def arr(t: torch.Tensor) -> np.ndarray:
            return np.ascontiguousarray(t.detach().cpu().to(torch.float32).numpy())

        self._w_in = arr(net.inp.weight.T)  # (bins, C)
        self._b_in = arr(net.inp.bias)
        # conv weight (C_out, C_in, k) -> (k * C_in, C_out): tap j multiplies the frame j*d
        # later in the [history, new] buffer; the taps are stacked so that each layer is one
        # matrix product (measured 71 -> 62 us per single-frame call at C=96).
        # stacked over layers: (layers, k * C, C) and (layers, C)
        self._w_conv = np.stack(
            [
                np.concatenate([arr(c.weight[:, :, j].T) for j in range(net.kernel_size)], 0)
                for c in net._conv_list()
            ]
        )
        self._b_conv = np.stack([arr(cast(torch.Tensor, c.bias)) for c in net._conv_list()])
        self._w_out = arr(net.out.weight.T)  # (C, bins) or (C, 2 * bins) with a gate
        self._b_out = arr(net.out.bias)
        self.gate = net.gate
        self._hist = [(net.kernel_size - 1) * d for d in net.dilations]
        self._starts = np.cumsum([0, *self._hist]).tolist()
        # the compiled path's weights: float16 bits if float16 holds all of them, else float32
        halves = [as_half_bits(w) for w in (self._w_in, self._w_conv, self._w_out)]
        self.half_weights = all(h is not None for h in halves)
        if self.half_weights:
            self._kw_in, self._kw_conv, self._kw_out = halves
        else:
            self._kw_in, self._kw_conv, self._kw_out = self._w_in, self._w_conv, self._w_out
        self._kdil = np.asarray(self.dilations, dtype=np.int64)
        self._net_frames = net_frames
        # compile (or load from numba's cache) now, not at the first frame of a live stream
        probe = np.zeros((1, 1, self.model_bins), np.float32)
        self._kernel(probe, self.new_state(1), np.empty_like(probe))

    def new_state(self, channels: int) -> StyleNetState:
        channels = check_positive_int(channels, "channels")
        return StyleNetState(
            channels=channels,
            history=np.zeros((channels, self._starts[-1], self.channels), np.float32),
        )

    def _kernel(self, x: np.ndarray, state: StyleNetState, y: np.ndarray) -> None:
        self._net_frames(
            x, self._kw_in, self._b_in, self._kw_conv, self._b_conv, self._kdil,
            state.history, self._kw_out, self._b_out, self.leak, self.gate, y,
        )  # fmt: skip

    def __call__(self, frames: np.ndarray, state: StyleNetState) -> np.ndarray:
        if frames.ndim != 3 or frames.shape[2] != self.model_bins:
            raise ParameterError(
                f"frames shape={frames.shape} must be (channels, n_frames, {self.model_bins})"
            )
        if frames.shape[0] != state.channels:
            raise ParameterError(
                f"frames has {frames.shape[0]} channels but the state was made for "
                f"{state.channels}: call new_state({frames.shape[0]})"
            )
        x = np.ascontiguousarray(frames, dtype=np.float32)
        n = x.shape[1]
        if n <= KERNEL_MAX_FRAMES:
            y = np.empty_like(x)
            self._kernel(x, state, y)
            return y
        k = self.kernel_size
        h = x @ self._w_in
        h += self._b_in
        for i, d in enumerate(self.dilations):
            past = state.history[:, self._starts[i] : self._starts[i + 1]]
            buf = np.concatenate([past, h], axis=1)
            taps = np.concatenate([buf[:, j * d : j * d + n] for j in range(k)], axis=2)
            r = taps @ self._w_conv[i]
            r += self._b_conv[i]
            np.maximum(r, self.leak * r, out=r)
            h += r
            past[...] = buf[:, buf.shape[1] - self._hist[i] :]
        np.maximum(h, self.leak * h, out=h)
        y = h @ self._w_out
        y += self._b_out
        if self.gate:
            b = self.model_bins
            g = y[..., b:]
            g += 1.0
            g *= x
            y = y[..., :b] + g
        else:
            y += x
        np.maximum(y, 0.0, out=y)
        return y


def model_size_bytes(net: StyleNet, dtype: str = "float16") -> int:
    """Bytes of the safetensors weights at ``dtype``."""
    return len(net.to_safetensors(dtype=dtype))
