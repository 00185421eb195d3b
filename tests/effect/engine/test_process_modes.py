"""StyleTransfer.process as pedalboard's plugins: one shot aligned, streaming delayed, long
buffers in bounded chunks, one thread at a time."""

from __future__ import annotations

import copy
import threading
import tracemalloc

import numpy as np
import pytest

from stylepedal import BusyError, StyleTransfer
from stylepedal.effect.engine._process import DEFAULT_BUFFER_SIZE, Exclusive
from tests.effect.engine.test_effect import RecurrentTransform
from tests.helpers import BlockingTransform, GainTransform
from tests.tolerances import IDENTITY_ATOL, STREAM_ATOL

RATES = [22050, 44100, 48000, 96000]


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("mode", ["default", "low"])
def test_one_shot_impulse_comes_out_where_it_went_in(sr, channels, mode):
    fx = StyleTransfer.identity(latency_mode=mode)
    n, at = sr // 10, 1234
    x = np.zeros((channels, n), np.float32)
    x[:, at] = 1.0
    y = fx(x, sr)
    assert y.shape == x.shape
    for c in range(channels):
        assert int(np.argmax(np.abs(y[c]))) == at
        assert y[c, at] == pytest.approx(1.0, abs=IDENTITY_ATOL)
    # the last sample of the input is there too: the tail was flushed
    x = np.zeros(n, np.float32)
    x[-1] = 1.0
    y = fx(x, sr)
    assert y.shape == (n,) and y[-1] == pytest.approx(1.0, abs=IDENTITY_ATOL)


@pytest.mark.parametrize("sr", RATES)
def test_streaming_delay_is_the_reported_latency_unchanged(sr):
    fx = StyleTransfer.identity()
    latency = fx.latency_samples(sr)
    x = np.zeros(latency + 4000, np.float32)
    x[100] = 1.0
    y = np.concatenate([fx(x[i : i + 128], sr, reset=False) for i in range(0, x.size, 128)])
    assert y.size == x.size and int(np.argmax(np.abs(y))) == 100 + latency


@pytest.mark.parametrize("sr", [44100, 48000])
def test_one_shot_is_the_stream_flushed_and_trimmed(sr, rng):
    x = rng.uniform(-0.5, 0.5, (2, 3 * DEFAULT_BUFFER_SIZE + 77)).astype(np.float32)
    fx = StyleTransfer(RecurrentTransform(), mix=0.8)
    latency = fx.latency_samples(sr)
    padded = np.concatenate([x, np.zeros((2, latency), np.float32)], axis=1)
    streamed = np.concatenate(
        [fx(padded[:, i : i + 333], sr, reset=False) for i in range(0, padded.shape[1], 333)],
        axis=1,
    )[:, latency:]
    np.testing.assert_allclose(fx(x, sr), streamed, atol=STREAM_ATOL, rtol=0)


def test_one_shot_carries_nothing_to_the_next_call(rng):
    fx = StyleTransfer(RecurrentTransform())
    x = rng.uniform(-0.5, 0.5, 20000).astype(np.float32)
    first = fx(x, 48000)
    assert np.abs(first[-2000:]).max() > 0.01  # it was playing to the end
    assert not fx(np.zeros(5000, np.float32), 48000).any()  # no tail of the last call
    np.testing.assert_array_equal(fx(x, 48000), first)
    # and a stream after a one-shot starts afresh, as after reset()
    after = fx(x, 48000, reset=False)
    fx.reset()
    np.testing.assert_array_equal(fx(x, 48000, reset=False), after)


@pytest.mark.parametrize("mode", ["input", "pghi"])
@pytest.mark.parametrize("reset", [True, False])
def test_chunked_equals_unchunked(mode, reset, rng):
    n = 5 * DEFAULT_BUFFER_SIZE + 1001
    x = rng.uniform(-0.5, 0.5, (2, n)).astype(np.float32)

    def run(buffer_size):
        fx = StyleTransfer(RecurrentTransform(), phase_mode=mode, mix=0.9)
        return fx(x, 48000, buffer_size=buffer_size, reset=reset)

    whole = run(n + 10_000)  # one chunk: the whole buffer at once
    np.testing.assert_allclose(run(None), whole, atol=STREAM_ATOL, rtol=0)
    np.testing.assert_allclose(run(1000), whole, atol=STREAM_ATOL, rtol=0)


def test_the_default_buffer_size_bounds_each_step(rng):
    class Widest(GainTransform):
        widest = 0

        def __call__(self, frames, state):
            Widest.widest = max(Widest.widest, frames.shape[1])
            return super().__call__(frames, state)

    x = rng.uniform(-0.5, 0.5, 20 * DEFAULT_BUFFER_SIZE).astype(np.float32)
    StyleTransfer(Widest(-3.0))(x, 48000)
    hop = 256  # 48 kHz
    assert 0 < Widest.widest <= DEFAULT_BUFFER_SIZE // hop + 1


@pytest.mark.parametrize("reset", [True, False])
def test_beyond_its_output_a_call_needs_the_same_memory_however_long(reset, rng):
    # numpy's allocations are traced: a whole-buffer call held tens of times the input
    fx = StyleTransfer(GainTransform(-3.0))
    fx(np.zeros((2, 48000), np.float32), 48000)  # configs and kernels built beforehand

    def overhead(seconds: int) -> int:
        x = rng.uniform(-0.5, 0.5, (2, 48000 * seconds)).astype(np.float32)
        tracemalloc.start()
        try:
            y = fx(x, 48000, reset=reset)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert y.shape == x.shape
        return peak - y.nbytes

    short, long = overhead(10), overhead(40)
    assert long < 1.1 * short + 2**20  # a chunk's temporaries, not the buffer's
    assert short < 2**24


@pytest.mark.parametrize("reset", [True, False])
def test_a_second_thread_gets_a_typed_error_at_once(reset, rng):
    tf = BlockingTransform()
    fx = StyleTransfer(tf)
    x = rng.uniform(-0.5, 0.5, 4800).astype(np.float32)
    out: list[np.ndarray] = []
    worker = threading.Thread(target=lambda: out.append(fx(x, 48000)))
    worker.start()
    try:
        assert tf.entered.wait(30)
        with pytest.raises(BusyError, match="another thread"):
            fx(x, 48000, reset=reset)
    finally:
        tf.release.set()
        worker.join(30)
    assert out and out[0].shape == x.shape  # the first call was not disturbed
    np.testing.assert_array_equal(fx(x, 48000), out[0])  # and the effect is free again
    assert issubclass(BusyError, RuntimeError)


def test_two_threads_streaming_into_one_effect_get_busy_errors_never_a_broken_block(rng):
    # unguarded, the two threads' blocks tangle in the one stream state: wrong lengths and
    # untyped errors from inside the engine
    fx = StyleTransfer(RecurrentTransform())
    x = rng.uniform(-0.5, 0.5, (2, 300)).astype(np.float32)
    wrong: list[str] = []
    done = [0, 0]

    def hammer(k: int) -> None:
        for _ in range(1500):
            try:
                y = fx(x, 48000, reset=False)
            except BusyError:
                continue
            except Exception as exc:  # what a race inside the engine raised before  # noqa: BLE001
                wrong.append(repr(exc))
                continue
            if y.shape != x.shape or not np.isfinite(y).all():
                wrong.append(f"block of shape {y.shape}")
            done[k] += 1

    threads = [threading.Thread(target=hammer, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert wrong == [] and sum(done) > 0


def test_the_guard_survives_a_copy():
    guard = Exclusive("fx")
    twin = copy.deepcopy(guard)
    with guard, twin:  # a copy is a free guard of its own
        pass
    with guard, pytest.raises(BusyError, match="fx is already processing"), guard:
        pass
