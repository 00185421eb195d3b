"""StyleNet: identity at init, causal, >= 0, streaming == offline, safe save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stylepedal.effect.model.kernels import as_half_bits
from stylepedal.effect.model.network import StyleNet
from stylepedal.effect.model.stream import StyleNetTransform, read_safetensors
from stylepedal.errors import CacheError, ParameterError
from tests.tolerances import LINEAR_PATH_RTOL, NETWORK_STREAM_ATOL


def _trained_like(
    seed: int = 0, channels: int = 24, gate: bool = False, level_norm: bool = False
) -> StyleNet:
    """A network with non-trivial weights (the output layer is zero at init)."""
    torch.manual_seed(seed)
    net = StyleNet(channels=channels, gate=gate, level_norm=level_norm)
    with torch.no_grad():
        net.out.weight.normal_(0.0, 0.1)
        net.out.bias.normal_(0.0, 0.3)
    return net


def _frames(rng, channels=2, n=200) -> np.ndarray:
    return np.abs(rng.normal(0.0, 1.5, (channels, n, 1030))).astype(np.float32)


def _offline(net: StyleNet, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return net(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("gate", [False, True])
def test_untrained_network_is_identity(rng, gate):
    net = StyleNet(channels=16, gate=gate)
    x = _frames(rng, 1, 50)
    np.testing.assert_array_equal(_offline(net, x), x)


def test_output_is_nonnegative_and_changes_input(rng):
    net = _trained_like()
    x = _frames(rng)
    y = _offline(net, x)
    assert y.shape == x.shape and y.dtype == np.float32
    assert (y >= 0).all()
    assert (y == 0).any()  # the negative biases really are clipped
    assert np.abs(y - x).mean() > 0.1


@pytest.mark.parametrize("gate", [False, True])
@pytest.mark.parametrize("amount", [0.0, 0.3, 1.0])
def test_scale_change_scales_the_change_to_the_input(rng, gate, amount):
    net = _trained_like(gate=gate)
    x = _frames(rng, 1, 60)
    y = _offline(net, x)
    open_ = y > 0  # where the output ReLU passed the full change, it passes a share of it
    assert open_.mean() > 0.5 and np.abs(y - x)[open_].mean() > 0.1
    after = _offline(net.scale_change(amount), x) - x
    np.testing.assert_allclose(after[open_], amount * (y - x)[open_], atol=1e-5)


@pytest.mark.parametrize("amount", [-0.1, 1.5, float("nan")])
def test_scale_change_refuses_amounts_outside_0_1(amount):
    with pytest.raises(ParameterError, match="amount"):
        StyleNet(channels=4).scale_change(amount)


def test_network_is_causal(rng):
    net = _trained_like()
    x = _frames(rng, 1, 120)
    x2 = x.copy()
    x2[:, 70:] = _frames(rng, 1, 50)
    y, y2 = _offline(net, x), _offline(net, x2)
    np.testing.assert_array_equal(y[:, :70], y2[:, :70])
    assert not np.allclose(y[:, 70:], y2[:, 70:])


def test_receptive_field_is_as_reported(rng):
    net = _trained_like()
    rf = net.receptive_field
    assert rf == 1 + 2 * (1 + 2 + 4 + 8)
    x = _frames(rng, 1, rf + 10)
    x2 = x.copy()
    x2[:, 5] += 1.0
    diff = np.abs(_offline(net, x) - _offline(net, x2))[0].max(axis=1)
    assert diff[5 + rf - 1] > 0 and (diff[5 + rf :] == 0).all()


def _stream(net: StyleNet, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    tf = net.as_transform()
    state = tf.new_state(x.shape[0])
    out, i = [], 0
    for n in sizes:
        out.append(tf(x[:, i : i + n], state))
        i += n
    assert i == x.shape[1]
    return np.concatenate(out, axis=1)


@pytest.mark.parametrize(
    "sizes",
    [[200], [1] * 200, [17] * 11 + [13], [3, 1, 64, 100, 32], [128, 72]],
    ids=["one", "single-frames", "17s", "mixed", "two"],
)
@pytest.mark.parametrize("gate", [False, True], ids=["delta", "gate"])
@pytest.mark.parametrize("half", [False, True], ids=["float32", "float16"])
def test_streaming_equals_offline(rng, sizes, gate, half):
    """Calls of up to KERNEL_MAX_FRAMES frames run compiled (reading float16 weights when the
    weights are float16 values, as every saved preset's are), longer ones through BLAS."""
    net = _trained_like(gate=gate)
    if half:
        net.round_to("float16")
    assert net.as_transform().half_weights is half
    x = _frames(rng, 2, 200)
    np.testing.assert_allclose(_stream(net, x, sizes), _offline(net, x), atol=NETWORK_STREAM_ATOL)


@pytest.mark.parametrize("level_norm", [False, True], ids=["plain", "level-norm"])
def test_linear_path_is_expm1_of_the_log_path(rng, level_norm):
    """``linear`` (the engine's live path) is the transform on linear magnitudes: frame for
    frame expm1 of what the log path gives, its state carried alike, its input untouched."""
    tf = _trained_like(seed=2, gate=True, level_norm=level_norm).round_to("float16")
    tf = tf.as_transform()
    x = _frames(rng, 2, 60)
    x[:, 20:30] *= 0.01  # a quiet stretch: the level scale moves
    m = np.expm1(x)
    kept = m.copy()
    logs, lins = [], []
    s_log, s_lin = tf.new_state(2), tf.new_state(2)
    for a, b in [(0, 1), (1, 2), (2, 40), (40, 60)]:  # the compiled kernel, then BLAS
        logs.append(tf(x[:, a:b], s_log))
        lins.append(tf.linear(m[:, a:b], s_lin))
    np.testing.assert_array_equal(m, kept)
    want = np.expm1(np.concatenate(logs, axis=1).astype(np.float64))
    got = np.concatenate(lins, axis=1)
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_allclose(got, want, rtol=LINEAR_PATH_RTOL, atol=1e-6)
    assert np.abs(np.log1p(got) - x).max() > 0.1  # the network changed the frames


def test_half_bits_are_exact_or_refused():
    w = np.array([[0.0, -0.0, 1.5, -2.0**-24], [65504.0, 2.0**-14, -3.0, 0.1]], np.float32)
    w[1, 3] = np.float16(0.1)  # a float16 value, so exactly representable
    bits = as_half_bits(w)
    assert bits is not None and bits.dtype == np.uint16 and bits.flags.c_contiguous
    np.testing.assert_array_equal(bits.view(np.float16).astype(np.float32), w)
    assert as_half_bits(np.array([0.1], np.float32)) is None  # not a float16 value
    assert as_half_bits(np.array([1e5], np.float32)) is None  # beyond float16's range
    assert as_half_bits(np.array([np.inf], np.float32)) is None


@pytest.mark.parametrize("gate", [False, True], ids=["delta", "gate"])
def test_compiled_single_frames_equal_blas_on_a_preset_sized_network(rng, gate):
    """At the presets' width (C=96), with float16 weights including subnormal ones: one frame
    per call (the compiled kernel) equals one call over all frames (BLAS), frame for frame."""
    net = _trained_like(channels=96, gate=gate)
    with torch.no_grad():
        net.inp.weight[:, :500] = 5e-5  # float16 subnormals: decoded exactly, or the test fails
    net.round_to("float16")
    tf = net.as_transform()
    assert tf.half_weights
    x = _frames(rng, 1, 40)
    single, state = [], tf.new_state(1)
    for i in range(40):
        single.append(tf(x[:, i : i + 1], state))
    whole = tf(x, tf.new_state(1))
    np.testing.assert_allclose(np.concatenate(single, axis=1), whole, atol=NETWORK_STREAM_ATOL)


@settings(max_examples=15, deadline=None)
@given(cuts=st.lists(st.integers(1, 99), max_size=8, unique=True))
def test_streaming_partition_invariance(cuts):
    net = _trained_like(seed=1, channels=16)
    x = np.abs(np.random.default_rng(5).normal(0, 1.5, (1, 100, 1030))).astype(np.float32)
    bounds = [0, *sorted(cuts), 100]
    sizes = [b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    np.testing.assert_allclose(_stream(net, x, sizes), _offline(net, x), atol=NETWORK_STREAM_ATOL)


def test_new_state_restarts_the_stream(rng):
    tf = _trained_like().as_transform()
    x = _frames(rng, 1, 30)
    a = tf(x, tf.new_state(1))
    state = tf.new_state(1)
    tf(x, state)
    b = tf(x, state)  # carries history: differs
    c = tf(x, tf.new_state(1))
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


def test_transform_rejects_bad_shapes(rng):
    tf = _trained_like().as_transform()
    state = tf.new_state(2)
    with pytest.raises(ParameterError, match="1030"):
        tf(np.zeros((2, 4, 513), np.float32), state)
    with pytest.raises(ParameterError, match="new_state"):
        tf(np.zeros((1, 4, 1030), np.float32), state)


def test_save_load_round_trip_is_byte_identical(rng):
    net = _trained_like().round_to("float16")
    data = net.to_safetensors()
    net2 = StyleNet.from_safetensors(data, net.to_config())
    assert net2.to_safetensors() == data
    assert net2.to_config() == net.to_config()
    x = _frames(rng, 1, 40)
    # float16 storage is exact after round_to: the loaded network computes the same output
    np.testing.assert_array_equal(_offline(net2, x), _offline(net, x))


def test_float32_storage_is_exact_without_rounding(rng):
    net = _trained_like()
    net2 = StyleNet.from_safetensors(net.to_safetensors(dtype="float32"))
    for k, v in net.state_dict().items():
        assert torch.equal(v, net2.state_dict()[k])


def test_model_is_small():
    net = StyleNet()
    assert len(net.to_safetensors()) <= 1_100_000


def test_corrupt_or_foreign_weights_are_rejected():
    net = _trained_like(channels=16)
    data = net.to_safetensors()
    with pytest.raises(CacheError):
        StyleNet.from_safetensors(data[: len(data) // 2])
    with pytest.raises(CacheError):
        StyleNet.from_safetensors(b"\x80\x04\x95 not a safetensors file")
    other = StyleNet(channels=8).to_config()
    with pytest.raises(CacheError, match="match"):
        StyleNet.from_safetensors(data, other)


def test_torch_free_loader_plays_the_saved_network_exactly(rng):
    """The store's loader reads safetensors with numpy (no torch): the transform it builds is
    the trained network's own, output for output."""
    net = _trained_like(gate=True).round_to("float16")
    data = net.to_safetensors()
    loaded = StyleNetTransform.from_safetensors(data, net.to_config())
    x = _frames(rng, 2, 40)
    want = net.as_transform()
    np.testing.assert_array_equal(
        loaded(x, loaded.new_state(2)), want(x, want.new_state(2))
    )
    assert loaded.half_weights


def test_torch_free_loader_refuses_what_does_not_match(rng):
    net = _trained_like(channels=16)
    data = net.to_safetensors()
    with pytest.raises(CacheError, match="valid safetensors"):
        StyleNetTransform.from_safetensors(data[: len(data) // 2])
    with pytest.raises(CacheError, match="match"):
        StyleNetTransform.from_safetensors(data, StyleNet(channels=8).to_config())
    weights, config = read_safetensors(data)
    with pytest.raises(CacheError, match="network shape"):
        StyleNetTransform({**weights, "out.bias": weights["out.bias"][:-1]}, config)
    with pytest.raises(CacheError, match="channels=0 is out of range"):
        StyleNetTransform(weights, {**config, "channels": 0})


def test_from_config_rejects_foreign_configs():
    cfg = StyleNet(channels=8).to_config()
    with pytest.raises(CacheError):
        StyleNet.from_config({**cfg, "format": "something.else"})
    with pytest.raises(CacheError, match="format_version"):
        StyleNet.from_config({**cfg, "format_version": 99})
    with pytest.raises(CacheError, match=r"channels=0 is out of range: allowed is .*\[1, 1024\]"):
        StyleNet.from_config({**cfg, "channels": 0})


def test_bad_shapes_raise_parameter_error():
    with pytest.raises(ParameterError, match="dilations"):
        StyleNet(dilations=())
    with pytest.raises(ParameterError, match="input shape"):
        StyleNet(channels=8)(torch.zeros(1, 5, 100))


def test_a_render_colour_survives_saving_and_reaches_the_transform(rng):
    net = StyleNet(channels=8, colour=True)
    power = rng.uniform(1e-9, 1.0, 1030)
    net.set_render(power, 0.5)
    tf = StyleNet.from_safetensors(net.to_safetensors()).as_transform()
    assert tf.render_change == 0.5
    np.testing.assert_allclose(tf.style_power, power.astype(np.float32))  # float32 kept
    plain = StyleNet(channels=8, colour=True).as_transform()
    assert plain.style_power is None and plain.render_change == 1.0
    with pytest.raises(ParameterError, match="colour=True"):
        StyleNet(channels=8).set_render(power, 0.5)
    with pytest.raises(ParameterError, match="render_change"):
        net.set_render(power, 1.5)
    with pytest.raises(ParameterError, match="style_power"):
        net.set_render(power[:-1], 0.5)


def test_a_version_1_network_loads_without_a_render_colour(rng):
    # a file from before the render colour: no hindsight fields, no style_power tensor
    net = StyleNet(channels=8, colour=True)
    weights = {k: v.numpy() for k, v in net.state_dict().items()}
    config = {k: v for k, v in net.to_config().items() if k not in ("hindsight", "render_change")}
    config["format_version"] = 1
    tf = StyleNetTransform(weights, config)
    assert tf.style_power is None and tf.render_change == 1.0
    cfg = net.to_config()
    with pytest.raises(CacheError, match="hindsight=True needs colour=True"):
        StyleNet.from_config({**cfg, "colour": False, "hindsight": True})
    with pytest.raises(CacheError, match="render_change"):
        StyleNet.from_config({**cfg, "render_change": 2.0})
    with pytest.raises(CacheError, match=r"format_version=4 is not supported.*upgrade"):
        StyleNet.from_config({**cfg, "format_version": 4})


def test_a_renders_style_grams_travel_in_the_file_at_float16(rng):
    from stylepedal.effect.model.gramfit import FIT_BANKS

    filters = FIT_BANKS[0][2]
    grams = rng.uniform(0.0, 3.0, (len(FIT_BANKS), filters, filters)).astype(np.float32)
    power = rng.uniform(1e-9, 1.0, 1030)
    net = StyleNet(channels=8, colour=True).set_render(power, 0.5, grams)
    assert net.gram_fit and net.to_config()["gram_fit"]
    data = net.to_safetensors()
    tf = StyleNet.from_safetensors(data).as_transform()
    halves = grams.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(tf.fit_grams, halves)  # stored as set: no second rounding
    np.testing.assert_array_equal(net.get_buffer("fit_grams").numpy(), halves)
    from safetensors.numpy import load

    assert load(data)["fit_grams"].dtype == np.float16  # half the bytes of float32
    # a model without them (every file before them) has no fit to offer
    plain = StyleNet(channels=8, colour=True).set_render(power, 0.5).as_transform()
    assert plain.fit_grams is None and plain.fit_log_gain([np.ones((50, 1030))]) is None
    with pytest.raises(ParameterError, match="fit_grams of shape"):
        net.set_render(power, 0.5, grams[:, :-1])
    with pytest.raises(CacheError, match="gram_fit=True needs hindsight=True"):
        StyleNet.from_config({**StyleNet(channels=8, colour=True).to_config(), "gram_fit": True})
