"""Chain as pedalboard.Pedalboard: one shot aligned with nothing carried over, streaming
explicit and delayed, a mutable list of plugins, one thread at a time."""

from __future__ import annotations

import threading

import numpy as np
import pedalboard
import pytest

from stylepedal import BusyError, Chain, StyleTransfer
from stylepedal.errors import ParameterError
from tests.helpers import BlockingTransform
from tests.tolerances import IDENTITY_ATOL, STREAM_ATOL

SR = 48000


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("sample_rate", [44100, 48000])
def test_one_shot_impulse_comes_out_where_it_went_in(channels, sample_rate):
    chain = Chain([pedalboard.Gain(gain_db=0), StyleTransfer.identity(),
                   StyleTransfer.identity(latency_mode="low")])
    assert chain.latency_samples(sample_rate, channels=channels) > 0
    x = np.zeros((channels, 20000), np.float32)
    x[:, 4321] = 1.0
    y = chain(x, sample_rate)
    assert y.shape == x.shape
    for c in range(channels):
        assert int(np.argmax(np.abs(y[c]))) == 4321
        assert y[c, 4321] == pytest.approx(1.0, abs=IDENTITY_ATOL)
    mono = np.zeros(3000, np.float32)
    mono[-1] = 1.0  # the last sample comes out too: the tail is flushed
    out = chain.process(mono, sample_rate)
    assert out.shape == mono.shape and out[-1] == pytest.approx(1.0, abs=IDENTITY_ATOL)


def test_streaming_stays_delayed_by_the_reported_latency():
    chain = Chain([StyleTransfer.identity(), pedalboard.Gain(gain_db=0)])
    latency = chain.latency_samples(SR, channels=2)
    x = np.zeros((2, latency + 3000), np.float32)
    x[:, 50] = 1.0
    y = np.concatenate(
        [chain(x[:, i : i + 256], SR, reset=False) for i in range(0, x.shape[1], 256)], axis=1
    )
    assert y.shape == x.shape
    assert int(np.argmax(np.abs(y[0]))) == 50 + latency


def test_no_carry_over_between_one_shot_calls(rng):
    chain = Chain([pedalboard.Reverb(room_size=0.9), StyleTransfer.identity(),
                   pedalboard.Delay(delay_seconds=0.2, feedback=0.7, mix=0.5)])
    x = rng.uniform(-0.5, 0.5, (2, SR)).astype(np.float32)
    first = chain(x, SR)
    assert np.abs(first[:, -1000:]).max() > 0.01  # still ringing at the end
    silence = chain(np.zeros((2, SR), np.float32), SR)
    assert np.abs(silence).max() == 0.0  # not the last file's tail
    np.testing.assert_allclose(chain(x, SR), first, atol=STREAM_ATOL)
    # while streaming, the tail does carry over: that is what reset=False is for
    chain.reset()
    chain(x, SR, reset=False)
    assert np.abs(chain(np.zeros((2, SR), np.float32), SR, reset=False)).max() > 0.01


def test_one_shot_equals_the_flushed_stream(rng):
    chain = Chain([pedalboard.Compressor(threshold_db=-20), StyleTransfer.identity(),
                   pedalboard.Resample(target_sample_rate=16000)])
    x = rng.uniform(-0.5, 0.5, (2, 30000)).astype(np.float32)
    latency = chain.latency_samples(SR, channels=2)
    padded = np.concatenate([x, np.zeros((2, latency), np.float32)], axis=1)
    chain.reset()
    streamed = np.concatenate(
        [chain(padded[:, i : i + 500], SR, reset=False) for i in range(0, padded.shape[1], 500)],
        axis=1,
    )[:, latency:]
    np.testing.assert_allclose(chain(x, SR), streamed, atol=STREAM_ATOL)
    np.testing.assert_array_equal(chain.process_offline(x, SR), chain(x, SR))


def test_list_methods_like_pedalboard():
    gain, fx, reverb, delay = (pedalboard.Gain(), StyleTransfer.identity(), pedalboard.Reverb(),
                               pedalboard.Delay())
    chain = Chain()
    assert len(chain) == 0 and list(chain) == []
    chain.append(gain)
    chain.append(reverb)
    chain.insert(1, fx)
    assert list(chain) == [gain, fx, reverb] and len(chain) == 3
    assert chain[0] is gain and chain[-1] is reverb and chain[1] is fx
    chain[2] = delay
    assert list(chain) == [gain, fx, delay]
    chain.remove(gain)
    assert list(chain) == [fx, delay]
    del chain[0]
    assert list(chain) == [delay] and chain.items == (delay,)
    with pytest.raises(ValueError, match="not in the chain"):
        chain.remove(gain)
    with pytest.raises(ParameterError, match="neither a pedalboard plugin nor an effect"):
        chain.append("Reverb")
    with pytest.raises(ParameterError, match="neither a pedalboard plugin nor an effect"):
        chain[0] = 3
    assert list(chain) == [delay]  # a refused item changes nothing
    with pytest.raises(IndexError):
        chain[5]


def test_a_change_of_items_restarts_the_stream_with_its_latency():
    chain = Chain([pedalboard.Gain()])
    x = np.zeros((1, 2000), np.float32)
    x[0, 10] = 1.0
    assert int(np.argmax(chain(x, SR, reset=False)[0])) == 10
    chain.append(StyleTransfer.identity())
    y = chain(x, SR, reset=False)
    assert int(np.argmax(np.abs(y[0]))) == 10 + chain.latency_samples(SR)
    del chain[1]
    assert int(np.argmax(chain(x, SR, reset=False)[0])) == 10


def test_a_second_thread_gets_a_typed_error(rng):
    tf = BlockingTransform()
    chain = Chain([StyleTransfer(tf)])
    x = rng.uniform(-0.5, 0.5, (1, 4800)).astype(np.float32)
    worker = threading.Thread(target=lambda: chain(x, SR))
    worker.start()
    try:
        assert tf.entered.wait(30)
        with pytest.raises(BusyError, match="Chain is already processing"):
            chain(x, SR, reset=False)
    finally:
        tf.release.set()
        worker.join(30)
    assert chain(x, SR).shape == x.shape
