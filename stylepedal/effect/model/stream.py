"""A style network's weights and config, and its streaming inference, without torch.

The network (:class:`~stylepedal.effect.model.network.StyleNet`, trained with torch) is saved
as safetensors with its config in the header. This module reads that file with safetensors'
numpy loader and runs the network on log-magnitude frames with numpy and the compiled kernel
(:mod:`stylepedal.effect.model.kernels`), so loading and playing a preset never imports torch.

Streaming follows the cached-convolution idea of RAVE (Caillon & Esling 2021): every dilated
convolution keeps the last ``(kernel - 1) * dilation`` frames of its input as state, so running
the network one hop at a time equals running it once over the whole signal.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..._validate import check_bool, check_positive_int, check_range
from ...errors import CacheError, ParameterError
from ..engine.constants import MODEL_HOP_SECONDS
from .gramfit import FIT_AMOUNT, FIT_BANKS, FIT_CHROMA_KEEP

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CONFIG_LIMITS",
    "KERNEL_MAX_FRAMES",
    "MAX_PARAMETERS",
    "MAX_WEIGHTS_BYTES",
    "SUPPORTED_VERSIONS",
    "StyleNetState",
    "StyleNetTransform",
    "check_config",
    "check_format",
    "check_weights",
    "parameter_count",
    "read_safetensors",
    "weight_shapes",
]

FORMAT = "stylepedal.StyleNet"
# 2: an optional ``style_power`` tensor and ``render_change`` (a render's hindsight colour)
# 3: an optional ``fit_grams`` tensor (a render's Gram fit, ``gram_fit``)
FORMAT_VERSION = 3
SUPPORTED_VERSIONS = (1, 2, 3)

# Calls of up to this many frames run in the compiled kernel, longer ones through BLAS: where
# the two cost the same per frame (benchmarks/live_frame.py).
KERNEL_MAX_FRAMES = 2


def check_format(config: Any) -> None:
    """Raise CacheError unless ``config`` is a style-network config of a supported version."""
    if not isinstance(config, Mapping) or config.get("format") != FORMAT:
        raise CacheError(f"config is not a {FORMAT} config: {str(config)[:200]}")
    version = config.get("format_version")
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        raise CacheError(
            f"format_version={str(version)[:20]} is not supported: allowed is one of "
            f"{list(SUPPORTED_VERSIONS)} (a newer stylepedal wrote it: upgrade)"
        )


# Bounds of a loadable network, checked before anything is allocated for it: a config from a
# file decides the sizes of every array the transform and its state hold. Wide enough for any
# network training makes (channels 32-256, kernel 3, a few dilations up to 16).
CONFIG_LIMITS: dict[str, tuple[int, int]] = {
    "n_bins": (1, 4096),
    "channels": (1, 1024),
    "kernel_size": (1, 16),
    "layers": (1, 32),
    "dilation": (1, 1024),
    "history_frames": (0, 8192),  # sum((kernel_size - 1) * dilation): the streaming state
}
MAX_PARAMETERS = 8_000_000
# float32 weights of MAX_PARAMETERS plus a generous header: no valid file is larger
MAX_WEIGHTS_BYTES = 4 * MAX_PARAMETERS + (1 << 20)
_DTYPE_BYTES = {"F16": 2, "BF16": 2, "F32": 4}


def _bounded(config: Mapping[str, Any], name: str, field: str | None = None) -> int:
    low, high = CONFIG_LIMITS[field or name]
    value = config[name]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
        low <= value <= high
    ):
        raise CacheError(
            f"network config {name}={str(value)[:40]} is out of range: allowed is an integer "
            f"in [{low}, {high}]"
        )
    return int(value)


def check_config(config: Any) -> dict[str, Any]:
    """The network config (``StyleNet.to_config()``) as a checked dict.

    Every size is bounded (:data:`CONFIG_LIMITS`, :data:`MAX_PARAMETERS`), so a checked config
    never asks for more memory than a large trained network: a config read from a file is
    checked with this before any array is made for it.

    Raises
    ------
    CacheError
        if it is not a style-network config of a supported format version, or a field is
        missing or out of range (the message names the field, its value and the allowed range).

    Examples
    --------
    >>> config = {"format": FORMAT, "format_version": FORMAT_VERSION, "n_bins": 8,
    ...           "channels": 10**6, "kernel_size": 3, "dilations": [1], "leak": 0.1}
    >>> try:
    ...     check_config(config)
    ... except CacheError as exc:
    ...     print(str(exc).split(":")[0])
    network config channels=1000000 is out of range
    """
    check_format(config)
    try:
        dilations = config["dilations"]
        if not isinstance(dilations, (list, tuple)):
            raise CacheError(f"network config dilations={str(dilations)[:40]} must be a list")
        low, high = CONFIG_LIMITS["layers"]
        if not low <= len(dilations) <= high:
            raise CacheError(
                f"network config has {len(dilations)} dilations (layers): allowed is "
                f"[{low}, {high}]"
            )
        checked = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "n_bins": _bounded(config, "n_bins"),
            "channels": _bounded(config, "channels"),
            "kernel_size": _bounded(config, "kernel_size"),
            "dilations": [
                _bounded({f"dilations[{i}]": d}, f"dilations[{i}]", "dilation")
                for i, d in enumerate(dilations)
            ],
            "leak": config["leak"],
            "gate": check_bool(config.get("gate", False), "gate"),
            "level_norm": check_bool(config.get("level_norm", False), "level_norm"),
            "colour": check_bool(config.get("colour", False), "colour"),
            "hindsight": check_bool(config.get("hindsight", False), "hindsight"),
            "render_change": config.get("render_change", 1.0),
            "gram_fit": check_bool(config.get("gram_fit", False), "gram_fit"),
        }
        check_range(checked["leak"], "leak", 0.0, 0.999999)
        check_range(checked["render_change"], "render_change", 0.0, 1.0)
        if checked["hindsight"] and not checked["colour"]:
            raise CacheError("network config hindsight=True needs colour=True")
        if checked["gram_fit"] and not checked["hindsight"]:
            raise CacheError("network config gram_fit=True needs hindsight=True")
    except (KeyError, TypeError, ParameterError) as exc:
        raise CacheError(f"network config is missing or has a bad field: {exc}") from exc
    history = (checked["kernel_size"] - 1) * sum(checked["dilations"])
    _bounded({"history_frames": history}, "history_frames")
    n = parameter_count(checked)
    if n > MAX_PARAMETERS:
        raise CacheError(
            f"network config has {n} parameters: allowed is at most {MAX_PARAMETERS} "
            f"(channels={checked['channels']}, kernel_size={checked['kernel_size']}, "
            f"{len(checked['dilations'])} layers)"
        )
    return checked


def weight_shapes(config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes of a network of ``config`` (``StyleNet.state_dict()``)."""
    bins, c, k = config["n_bins"], config["channels"], config["kernel_size"]
    shapes: dict[str, tuple[int, ...]] = {"inp.weight": (c, bins), "inp.bias": (c,)}
    for i in range(len(config["dilations"])):
        shapes[f"convs.{i}.weight"] = (c, c, k)
        shapes[f"convs.{i}.bias"] = (c,)
    out = bins * (2 if config["gate"] else 1)
    shapes["out.weight"] = (out, c)
    shapes["out.bias"] = (out,)
    if config.get("colour"):
        shapes["colour_target"] = (bins,)
    if config.get("hindsight"):
        shapes["style_power"] = (bins,)
    if config.get("gram_fit"):
        filters = FIT_BANKS[0][2]
        shapes["fit_grams"] = (len(FIT_BANKS), filters, filters)
    return shapes


def parameter_count(config: Mapping[str, Any]) -> int:
    """Numbers in the weights of a network of ``config`` (its tensors' sizes summed)."""
    return sum(math.prod(shape) for shape in weight_shapes(config).values())


def check_weights(weights: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    """Raise CacheError unless ``weights`` has exactly the tensors of ``config``'s network,
    every value finite."""
    expected = _expected_tensors(weights, config)
    for name, shape in expected.items():
        if tuple(np.shape(weights[name])) != shape:
            raise CacheError(
                f"model weights tensor {name} has shape {tuple(np.shape(weights[name]))}: "
                f"the network shape in their config needs {shape}"
            )
        if not np.isfinite(weights[name]).all():
            raise CacheError(
                f"model weights tensor {name} holds NaN or infinite values: the model is "
                "corrupt or crafted"
            )


def read_safetensors(
    data: bytes, config: Mapping[str, Any] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The float32 weights and the config of a saved network (``StyleNet.to_safetensors``).

    ``config`` defaults to the one stored in the header; when given, it must match it. The
    header (config, tensor names, dtypes, shapes and offsets) is checked before any tensor is
    read, so a crafted file costs no more memory than its own size.

    Raises
    ------
    CacheError
        if the bytes are not a safetensors file of a matching style network, a size is out of
        range, or a weight is not finite.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load

    data = bytes(data)
    header, offset = _read_header(data)
    meta = header.pop("__metadata__", None) or {}
    try:
        stored = json.loads(meta["config"])
    except (KeyError, TypeError, json.JSONDecodeError, RecursionError) as exc:
        raise CacheError("model weights carry no StyleNet config in their header") from exc
    if config is not None and dict(config) != stored:
        raise CacheError("model weights do not match the given config")
    checked = check_config(stored)
    _check_layout(header, checked, len(data) - offset)
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, TypeError) as exc:
        raise CacheError(f"model weights are not a valid safetensors file: {exc}") from exc
    check_weights(tensors, checked)
    return {k: v.astype(np.float32) for k, v in tensors.items()}, checked


def _read_header(data: bytes) -> tuple[dict[str, Any], int]:
    """The safetensors JSON header of ``data`` and where its tensor data starts."""
    if len(data) < 8:
        raise CacheError(f"model weights are not a valid safetensors file: {len(data)} bytes")
    size = int.from_bytes(data[:8], "little")
    if size > min(len(data) - 8, 1 << 20):
        raise CacheError(
            f"model weights are not a valid safetensors file: header of {size} bytes in a "
            f"file of {len(data)}"
        )
    try:
        header = json.loads(data[8 : 8 + size])
    except (ValueError, RecursionError) as exc:
        raise CacheError(f"model weights are not a valid safetensors file: {exc}") from exc
    if not isinstance(header, dict):
        raise CacheError("model weights are not a valid safetensors file: header not an object")
    return header, 8 + size


def _expected_tensors(
    names: Mapping[str, Any], config: Mapping[str, Any]
) -> dict[str, tuple[int, ...]]:
    """The network's tensor shapes, after checking ``names`` holds exactly its tensors."""
    expected = weight_shapes(config)
    if set(names) != set(expected):
        raise CacheError(
            f"model weights do not match the network shape in their config: tensors "
            f"{sorted(names)[:12]}, expected {sorted(expected)}"
        )
    return expected


def _check_layout(header: Mapping[str, Any], config: Mapping[str, Any], n_bytes: int) -> None:
    """The header's tensors are exactly the network's, of a float dtype and the right shapes,
    each with the bytes its shape needs inside the file."""
    expected = _expected_tensors(header, config)
    for name, shape in expected.items():
        info = header[name]
        dtype = info.get("dtype") if isinstance(info, dict) else None
        if dtype not in _DTYPE_BYTES:
            raise CacheError(
                f"model weights tensor {name} has dtype={str(dtype)[:20]}: allowed are "
                f"{sorted(_DTYPE_BYTES)}"
            )
        if info.get("shape") != list(shape):
            raise CacheError(
                f"model weights tensor {name} has shape {str(info.get('shape'))[:60]}: the "
                f"network shape in their config needs {list(shape)}"
            )
        offsets = info.get("data_offsets")
        need = math.prod(shape) * _DTYPE_BYTES[dtype]
        if (
            not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= n_bytes or offsets[1] - offsets[0] != need
        ):
            raise CacheError(
                f"model weights are not a valid safetensors file: tensor {name} has "
                f"data_offsets={str(offsets)[:60]}, its shape needs {need} bytes inside the "
                f"file's {n_bytes}"
            )


# The network of a level-normalised model sees its input at a level set by the input's recent
# past: frames are scaled by 1 / sqrt(L), L the power-weighted mean frame power over about
# LEVEL_SECONDS (loud frames count more, so pauses and the noise floor do not pull it down).
LEVEL_SECONDS = 2.0
_LEVEL_DECAY = float(np.exp(-MODEL_HOP_SECONDS / LEVEL_SECONDS))


def level_scales(linear: np.ndarray, state: np.ndarray) -> np.ndarray:
    """The input scale of each frame (``(channels, frames)`` float32) of ``linear`` (the
    linear feature ``expm1(x)``, ``(channels, frames, bins)``); ``state`` ``(channels, 2)`` (the
    decayed sums of the frames' power squared and of their power) is updated in place.
    Training and streaming both call this: one definition of the level."""
    from .kernels import level_scales as kernel

    out = np.empty(linear.shape[:2], dtype=np.float32)
    kernel(np.ascontiguousarray(linear, dtype=np.float32), state, _LEVEL_DECAY, out)
    return out


@dataclass
class StyleNetState:
    """Per-channel history of every dilated convolution's input (RAVE cached_conv), and the
    input level's running sums."""

    channels: int
    # (channels, sum((k-1)*d), C): each layer's last (k-1)*d inputs, oldest first, layer after
    # layer (one array, so the compiled single-frame path and the BLAS path share it)
    history: np.ndarray
    level: np.ndarray  # (channels, 2) float64, see level_scales


class StyleNetTransform:
    """Streaming numpy inference of a style network (the ``FrameTransform`` contract), from its
    weights (``StyleNet.state_dict()`` names, as numpy arrays) and config.

    ``frames`` float32 ``(channels, n_frames, 1030)`` in, same shape out, ``>= 0``; the state is
    updated in place; calling on ``frames[:, :a]`` then ``frames[:, a:]`` equals one call.
    The weights are copied at construction, so training the network further does not change a
    running transform. No torch: playing a preset needs numpy, numba and safetensors only (a
    render's Gram fit, :meth:`fit_log_gain`, scipy too).

    Up to :data:`KERNEL_MAX_FRAMES` frames (the live path: one per hop) run in one compiled
    call that reads the weights as float16 when float16 holds them exactly (every saved
    preset's do), see :mod:`stylepedal.effect.model.kernels`; longer batches run through BLAS.
    """

    @classmethod
    def from_safetensors(
        cls, data: bytes, config: Mapping[str, Any] | None = None
    ) -> StyleNetTransform:
        """The transform of a network saved by ``StyleNet.to_safetensors`` (verified: format,
        config and tensor shapes).

        Raises
        ------
        CacheError
            if the bytes are not a safetensors file of a matching style network.
        """
        weights, stored = read_safetensors(data, config)
        return cls(weights, stored)

    def __init__(self, weights: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> None:
        from ..engine._jit import notice_if_compiling
        from . import kernels
        from .kernels import as_half_bits, net_frames

        config = check_config(config)
        check_weights(weights, config)
        self.model_bins = config["n_bins"]
        self.channels = config["channels"]
        self.kernel_size = config["kernel_size"]
        self.dilations = tuple(config["dilations"])
        self.leak = np.float32(config["leak"])

        def arr(name: str) -> np.ndarray:
            return np.asarray(weights[name], dtype=np.float32)

        def t(a: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(a.T)

        self._w_in = t(arr("inp.weight"))  # (bins, C)
        self._b_in = np.ascontiguousarray(arr("inp.bias"))
        # conv weight (C_out, C_in, k) -> (k * C_in, C_out): tap j multiplies the frame j*d
        # later in the [history, new] buffer; the taps are stacked so that each layer is one
        # matrix product per call. Stacked over layers: (layers, k * C, C) and (layers, C).
        layers = range(len(self.dilations))
        self._w_conv = np.stack(
            [
                np.concatenate(
                    [t(arr(f"convs.{i}.weight")[:, :, j]) for j in range(self.kernel_size)], 0
                )
                for i in layers
            ]
        )
        self._b_conv = np.stack([arr(f"convs.{i}.bias") for i in layers])
        self._w_out = t(arr("out.weight"))  # (C, bins) or (C, 2 * bins) with a gate
        self._b_out = np.ascontiguousarray(arr("out.bias"))
        self.gate = bool(config["gate"])
        self.level_norm = bool(config["level_norm"])
        # the engine's colour stage reads this: the style's long-term power per model bin
        self.colour_target = (
            np.asarray(weights["colour_target"], dtype=np.float64) if config["colour"] else None
        )
        # and, for a render that learnt its input, this and the share of the change to make
        self.style_power = (
            np.asarray(weights["style_power"], dtype=np.float64) if config["hindsight"] else None
        )
        self.render_change = float(config["render_change"])
        # and the style's Grams for a render's Gram fit (:meth:`fit_log_gain`)
        self.fit_grams = (
            np.asarray(weights["fit_grams"], dtype=np.float32) if config["gram_fit"] else None
        )
        # the most of the fitted gain applied, and the chroma it must keep (benchmarks vary them)
        self.fit_amount, self.fit_keep = FIT_AMOUNT, FIT_CHROMA_KEEP
        self._hist = [(self.kernel_size - 1) * d for d in self.dilations]
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
        notice_if_compiling((net_frames, kernels.level_scales))
        probe = np.zeros((1, 1, self.model_bins), np.float32)
        self._kernel(probe, self.new_state(1), np.empty_like(probe))
        if self.level_norm:
            level_scales(probe, np.zeros((1, 2)))

    def new_state(self, channels: int) -> StyleNetState:
        channels = check_positive_int(channels, "channels")
        return StyleNetState(
            channels=channels,
            history=np.zeros((channels, self._starts[-1], self.channels), np.float32),
            level=np.zeros((channels, 2)),
        )

    def _kernel(self, x: np.ndarray, state: StyleNetState, y: np.ndarray) -> None:
        self._net_frames(
            x, self._kw_in, self._b_in, self._kw_conv, self._b_conv, self._kdil,
            state.history, self._kw_out, self._b_out, self.leak, self.gate, y,
        )  # fmt: skip

    def __call__(self, frames: np.ndarray, state: StyleNetState) -> np.ndarray:
        x = self._checked(frames, state)
        if not self.level_norm:
            return self._network(x, state)
        y = self._level_normalised(np.expm1(x), state)
        return np.log1p(y, out=y)

    def linear(self, magnitudes: np.ndarray, state: StyleNetState) -> np.ndarray:
        """The transform on linear model magnitudes (``expm1`` of the frames) in and out:
        ``expm1(self(log1p(magnitudes), state))`` up to rounding, with two of its log and
        exp passes fewer (the engine's live path calls this)."""
        m = self._checked(magnitudes, state)
        if not self.level_norm:
            return np.expm1(self._network(np.log1p(m), state))
        return self._level_normalised(m, state)

    def fit_log_gain(self, power: Sequence[np.ndarray]) -> np.ndarray | None:
        """A render's Gram fit (:func:`~stylepedal.effect.model.gramfit.fit_log_gain`) of
        the coloured input's sharp frame powers ``power`` to this style's Grams, or None if
        the model carries none. The engine calls it once per learnt input."""
        if self.fit_grams is None:
            return None
        from .gramfit import fit_log_gain

        return fit_log_gain(power, self.fit_grams, amount=self.fit_amount, keep=self.fit_keep)

    def _checked(self, frames: np.ndarray, state: StyleNetState) -> np.ndarray:
        if frames.ndim != 3 or frames.shape[2] != self.model_bins:
            raise ParameterError(
                f"frames shape={frames.shape} must be (channels, n_frames, {self.model_bins})"
            )
        if frames.shape[0] != state.channels:
            raise ParameterError(
                f"frames has {frames.shape[0]} channels but the state was made for "
                f"{state.channels}: call new_state({frames.shape[0]})"
            )
        return np.ascontiguousarray(frames, dtype=np.float32)

    def _level_normalised(self, linear: np.ndarray, state: StyleNetState) -> np.ndarray:
        """The network between the level scale and back, linear magnitudes in and out."""
        scale = level_scales(linear, state.level)[..., np.newaxis]
        x = linear * scale
        y = self._network(np.log1p(x, out=x), state)
        np.expm1(y, out=y)
        y /= scale
        return y

    def _network(self, x: np.ndarray, state: StyleNetState) -> np.ndarray:
        """The network on its (normalised) input, C-order float32 ``(channels, n, bins)``."""
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
