"""Chain: pedalboard plugins and stylepedal effects; streaming == offline; latency reported."""

from __future__ import annotations

import os

import numpy as np
import pedalboard
import pytest

from stylepedal.effect import StyleTransfer
from stylepedal.errors import ParameterError
from stylepedal.host._workers import PIPE_FRAMES
from stylepedal.host.chain import FIXED_BLOCK, MAX_BLOCK, Chain
from tests.tolerances import IDENTITY_ATOL, STREAM_ATOL

SR = 48000


def _random_partition(rng, low=1, high=700, count=400):
    return [int(b) for b in rng.integers(low, high, count)]


def _stream(chain, x, blocks, sample_rate=SR):
    """Stream ``x`` plus a latency's worth of zeros in ``blocks`` (cycled); trim the latency."""
    channels = x.shape[0]
    latency = chain.latency_samples(sample_rate, channels=channels)
    chain.start(sample_rate, channels)
    padded = np.concatenate([x, np.zeros((channels, latency), np.float32)], axis=1)
    out, t, i = [], 0, 0
    while t < padded.shape[1]:
        block = padded[:, t : t + blocks[i % len(blocks)]]
        y = chain.process(block, sample_rate, reset=False)
        assert y.shape == block.shape and y.dtype == np.float32
        out.append(y)
        t += block.shape[1]
        i += 1
    return np.concatenate(out, axis=1)[:, latency:]


CHAINS = {
    # plugins that keep pace with their input
    "gain-reverb-chorus": lambda: [
        pedalboard.Gain(gain_db=-3),
        pedalboard.Reverb(room_size=0.4),
        pedalboard.Chorus(),
    ],
    # the style effect between two pedalboard effects
    "comp-identity-delay": lambda: [
        pedalboard.Compressor(threshold_db=-20, ratio=4),
        StyleTransfer.identity(),
        pedalboard.Delay(delay_seconds=0.01, mix=0.3),
    ],
    # plugins that return fewer samples than they get at first
    "resample": lambda: [pedalboard.Resample(target_sample_rate=8000)],
    "brickwall-identity": lambda: [pedalboard.BrickwallLimiter(), StyleTransfer.identity()],
    "mp3": lambda: [pedalboard.MP3Compressor(vbr_quality=4)],
    "gsm-phaser": lambda: [pedalboard.GSMFullRateCompressor(), pedalboard.Phaser()],
}


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("name", list(CHAINS))
def test_streaming_equals_offline(name, channels, rng):
    x = rng.uniform(-0.5, 0.5, (channels, SR // 2)).astype(np.float32)
    chain = Chain(CHAINS[name]())
    offline = chain.process_offline(x, SR)
    assert offline.shape == x.shape
    assert np.abs(offline).max() > 0.05  # something came out
    partitions = {
        "17": [17],
        "137": [137],
        "4096": [4096],
        "random": _random_partition(rng),
        "larger than MAX_BLOCK": [MAX_BLOCK + 1000, 5],
    }
    for label, blocks in partitions.items():
        streamed = _stream(chain, x, blocks)
        np.testing.assert_allclose(streamed, offline, atol=STREAM_ATOL, err_msg=label)
    assert chain.underruns == 0


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("name", ["gain-reverb-chorus", "comp-identity-delay", "resample"])
def test_streaming_one_sample_blocks(name, channels, rng):
    # Blocks of one frame: the case pedalboard cannot read as stereo without the chain's help.
    x = rng.uniform(-0.5, 0.5, (channels, 2000)).astype(np.float32)
    chain = Chain(CHAINS[name]())
    offline = chain.process_offline(x, SR)
    np.testing.assert_allclose(_stream(chain, x, [1]), offline, atol=STREAM_ATOL)
    np.testing.assert_allclose(_stream(chain, x, [1, 2, 3]), offline, atol=STREAM_ATOL)


def test_plugin_that_streams_only_silence_is_refused():
    # pedalboard 0.9's PitchShift returns zeros forever when streamed with reset=False.
    chain = Chain([pedalboard.PitchShift(semitones=3)])
    with pytest.raises(ParameterError, match="PitchShift returns only silence when streamed"):
        chain.latency_samples(SR)


@pytest.mark.parametrize("plugin", [pedalboard.Reverb, pedalboard.BrickwallLimiter])
def test_offline_equals_pedalboards_own_offline(plugin, rng):
    x = rng.uniform(-0.5, 0.5, (2, SR // 2)).astype(np.float32)
    expected = plugin()(x, SR)
    np.testing.assert_allclose(Chain([plugin()]).process_offline(x, SR), expected, atol=1e-6)


def test_identity_effect_in_a_chain_is_transparent(rng):
    x = rng.uniform(-0.5, 0.5, (2, SR // 2)).astype(np.float32)
    board = pedalboard.Pedalboard([pedalboard.Gain(gain_db=-6), pedalboard.Reverb()])
    expected = board(x, SR)
    chain = Chain([pedalboard.Gain(gain_db=-6), StyleTransfer.identity(), pedalboard.Reverb()])
    np.testing.assert_allclose(chain.process_offline(x, SR), expected, atol=IDENTITY_ATOL)


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("sample_rate", [44100, 48000])
def test_reported_latency_equals_impulse_delay(channels, sample_rate):
    chain = Chain(
        [pedalboard.Gain(gain_db=0), StyleTransfer.identity(), StyleTransfer.identity()]
    )
    latency = chain.latency_samples(sample_rate, channels=channels)
    effect = StyleTransfer.identity().latency_samples(sample_rate)
    assert latency == 2 * effect + (channels if channels > 1 else 0)
    x = np.zeros((channels, latency + 2000), np.float32)
    x[:, 100] = 1.0
    chain.start(sample_rate, channels)
    blocks = [chain.process(x[:, i : i + 128], sample_rate, reset=False)
              for i in range(0, x.shape[1], 128)]
    y = np.concatenate(blocks, axis=1)
    for c in range(channels):
        assert int(np.argmax(np.abs(y[c]))) == 100 + latency
        assert y[c, 100 + latency] == pytest.approx(1.0, abs=IDENTITY_ATOL)


def test_short_returning_plugin_latency_is_counted():
    chain = Chain([pedalboard.Resample(target_sample_rate=8000)])
    latency = chain.latency_samples(SR)
    assert latency >= FIXED_BLOCK  # shortfall + waiting for a fixed block
    # An impulse comes out after the reported latency, not before (the low-pass smears it).
    x = np.zeros((1, latency + 4000), np.float32)
    x[0, 1000] = 1.0
    y = chain.process(x, SR, reset=False)
    assert np.abs(y[0, : 1000 + latency - 64]).max() < 0.05
    assert int(np.argmax(np.abs(y[0]))) == pytest.approx(1000 + latency, abs=8)
    assert Chain([pedalboard.Reverb()]).latency_samples(SR) == 0


def test_every_call_returns_as_many_samples_as_it_gets(rng):
    chain = Chain([pedalboard.MP3Compressor(), StyleTransfer.identity()])
    chain.start(SR, 2)
    for n in [1, 2, 3, 0, 64, 5000, 9000, 1]:
        block = rng.uniform(-0.5, 0.5, (2, n)).astype(np.float32)
        assert chain.process(block, SR, reset=False).shape == (2, n)


def test_mono_1d_layout_is_kept(rng):
    x = rng.uniform(-0.5, 0.5, 3000).astype(np.float32)
    chain = Chain([pedalboard.Gain(gain_db=-6.0206)])
    y = chain.process(x, SR, reset=True)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, 0.5 * x, atol=1e-5)
    np.testing.assert_allclose(chain.process_offline(x, SR), 0.5 * x, atol=1e-5)


def test_empty_chain_passes_audio_through(rng):
    x = rng.uniform(-0.5, 0.5, (2, 500)).astype(np.float32)
    chain = Chain()
    assert chain.latency_samples(SR, channels=2) == 0
    np.testing.assert_array_equal(chain.process(x, SR), x)
    np.testing.assert_array_equal(chain.process_offline(x, SR), x)


def test_nan_and_inf_in_give_finite_out(rng):
    x = rng.uniform(-0.5, 0.5, (1, 4096)).astype(np.float32)
    x[0, ::50] = np.nan
    x[0, 7] = np.inf
    chain = Chain([pedalboard.Reverb(), StyleTransfer.identity()])
    y = chain.process(x, SR, reset=True)
    assert np.isfinite(y).all()
    assert np.isfinite(chain.process(x, SR)).all()


@pytest.mark.parametrize("workers", [False, True])
def test_stream_reads_nan_and_inf_as_zero(rng, workers):
    x = rng.uniform(-0.5, 0.5, (2, 20000)).astype(np.float32)
    zeroed = x.copy()
    x[0, ::97] = np.nan
    x[1, 5] = -np.inf
    zeroed[0, ::97] = 0.0
    zeroed[1, 5] = 0.0
    chain = Chain([pedalboard.Reverb(), StyleTransfer.identity(), pedalboard.Gain(-3.0)])

    def run(audio):
        blocks = (audio[:, i : i + 4096] for i in range(0, audio.shape[1], 4096))
        return np.concatenate(list(chain.stream(blocks, SR, channel_workers=workers)), axis=1)

    np.testing.assert_array_equal(run(x), run(zeroed))


def test_rate_or_channel_change_starts_a_new_stream(rng):
    chain = Chain([StyleTransfer.identity()])
    x = rng.uniform(-0.5, 0.5, (1, 4000)).astype(np.float32)
    first = chain.process(x, SR, reset=False)
    chain.process(x, 44100, reset=False)  # another rate: a new stream
    np.testing.assert_allclose(chain.process(x, SR, reset=False), first, atol=STREAM_ATOL)
    assert chain.process(np.stack([x[0], x[0]]), SR, reset=False).shape == (2, 4000)


def test_reset_repeats_the_output(rng):
    chain = Chain([pedalboard.Chorus(), pedalboard.Resample(target_sample_rate=22050)])
    x = rng.uniform(-0.5, 0.5, (2, 6000)).astype(np.float32)
    a = chain.process(x, SR, reset=False)
    chain.reset()
    b = chain.process(x, SR, reset=False)
    np.testing.assert_array_equal(a, b)


def test_items_and_errors():
    gain, fx = pedalboard.Gain(), StyleTransfer.identity()
    chain = Chain([gain, fx])
    assert chain.items == (gain, fx) and len(chain) == 2 and chain[1] is fx
    assert list(chain) == [gain, fx]
    assert "Gain" in repr(chain)
    with pytest.raises(ParameterError, match="neither a pedalboard plugin nor an effect"):
        Chain([gain, "Reverb"])
    with pytest.raises(ParameterError, match="channels=0"):
        chain.latency_samples(SR, channels=0)
    with pytest.raises(ParameterError, match="sample_rate"):
        chain.latency_samples(-1)


class _Shortchanger:
    """A broken effect that returns one sample fewer than it gets."""

    def latency_samples(self, sample_rate):
        return 0

    def reset(self):
        pass

    def process(self, audio, sample_rate, *, reset=True):
        return audio[..., 1:]


def test_effect_returning_the_wrong_length_is_refused(rng):
    chain = Chain([_Shortchanger()])
    with pytest.raises(RuntimeError, match="as many samples as it gets"):
        chain.process(rng.uniform(-0.5, 0.5, (1, 100)).astype(np.float32), SR)


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000, 88200, 96000, 192000])
def test_rate_grid_streaming_equals_offline_and_silence_stays_silent(sample_rate, rng):
    def make():
        return Chain([pedalboard.HighpassFilter(40), StyleTransfer.identity(),
                      pedalboard.Resample(target_sample_rate=16000)])

    x = rng.uniform(-1, 1, (1, sample_rate // 8)).astype(np.float32)
    chain = make()
    offline = chain.process_offline(x, sample_rate)
    assert np.isfinite(offline).all()
    streamed = _stream(chain, x, _random_partition(rng, 1, 1500, 200), sample_rate)
    np.testing.assert_allclose(streamed, offline, atol=STREAM_ATOL)
    silent = make().process(np.zeros((2, sample_rate // 4), np.float32), sample_rate, reset=True)
    assert not silent.any()


def test_partition_invariance_property():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    x = np.random.default_rng(5).uniform(-0.5, 0.5, (2, 3000)).astype(np.float32)
    chain = Chain([pedalboard.Chorus(), StyleTransfer.identity(), pedalboard.BrickwallLimiter()])
    offline = chain.process_offline(x, SR)

    @settings(max_examples=15, deadline=None)
    @given(st.lists(st.integers(min_value=1, max_value=900), min_size=1, max_size=30))
    def check(blocks):
        np.testing.assert_allclose(_stream(chain, x, blocks), offline, atol=STREAM_ATOL)

    check()


# ---------------------------------------------------------------------- Chain.stream
def _preset_items(post):
    from tests.helpers import make_preset

    make_preset("Stream Tone", seed=3)
    return [pedalboard.Compressor(threshold_db=-20, ratio=4),
            StyleTransfer.from_preset("Stream Tone"),
            *post]


def _blocks(x, sizes):
    out, t, i = [], 0, 0
    while t < x.shape[1]:
        out.append(x[:, t : t + sizes[i % len(sizes)]])
        t += out[-1].shape[1]
        i += 1
    return out


POSTS = {
    # (pedalboard's Reverb passes 3 channels through untouched; Chorus changes every channel)
    "chorus-reverb": lambda: [pedalboard.Chorus(), pedalboard.Reverb(room_size=0.4)],
    # a plugin that returns short at first (FIFO-fed in fixed blocks) and a delay
    "resample-delay": lambda: [pedalboard.Resample(target_sample_rate=16000),
                               pedalboard.Delay(delay_seconds=0.01, mix=0.3)],
}


@pytest.mark.parametrize("channels", [2, 3])
@pytest.mark.parametrize("post", list(POSTS))
def test_stream_with_channel_workers_equals_process_bit_for_bit(post, channels, rng):
    """The pipelined offline stream (effect channels and the post-effects in worker processes)
    gives the bytes process() gives, for block sizes around and beyond MAX_BLOCK, and a block
    longer than the pipelined stream's own blocks (which it cuts)."""
    import multiprocessing

    sizes = [5000, 1, 17, MAX_BLOCK, 3 * MAX_BLOCK + 7, PIPE_FRAMES + 3, 700]
    x = rng.uniform(-0.4, 0.4, (channels, sum(sizes) - 5)).astype(np.float32)
    reference = Chain(_preset_items(POSTS[post]()))
    reference.start(SR, channels)
    want = np.concatenate([reference.process(b, SR, reset=False) for b in _blocks(x, sizes)],
                          axis=1)
    chain = Chain(_preset_items(POSTS[post]()))
    pieces = []
    for piece in chain.stream(_blocks(x, sizes), SR, channel_workers=True):
        pipe = chain._pipe  # the post stages do run in the channel-1 worker
        assert pipe is not None and len(pipe.post) == len(POSTS[post]())
        pieces.append(piece)
    got = np.concatenate(pieces, axis=1)
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_array_equal(got, want)
    assert np.abs(got).max() > 0.01  # not silence
    assert chain.underruns == reference.underruns == 0
    assert multiprocessing.active_children() == []  # the stream ended: its workers stopped
    # the chain streams again afterwards, in this process, with the same result
    again = np.concatenate(list(chain.stream(_blocks(x, sizes), SR)), axis=1)
    np.testing.assert_array_equal(again, want)


def test_stream_without_workers_or_in_mono_is_process(rng):
    x = rng.uniform(-0.4, 0.4, (1, 20000)).astype(np.float32)
    sizes = [300, 4096, 9000]
    for items, audio in ((_preset_items([pedalboard.Reverb()]), x[0]),
                         ([pedalboard.Reverb(), pedalboard.Gain(-3)], np.vstack([x, -x]))):
        reference = Chain(items)
        blocks = _blocks(audio[np.newaxis] if audio.ndim == 1 else audio, sizes)
        if audio.ndim == 1:
            blocks = [b[0] for b in blocks]  # mono 1-D blocks stay 1-D
        want = [reference.process(b, SR, reset=False) for b in blocks]
        reference.reset()
        got = list(reference.stream(blocks, SR, channel_workers=True))
        assert [g.shape for g in got] == [w.shape for w in want]
        np.testing.assert_array_equal(np.concatenate(got, axis=-1),
                                      np.concatenate(want, axis=-1))
    assert list(Chain([pedalboard.Gain()]).stream([], SR)) == []


class _Brittle:
    """A stylepedal-style effect (not a StyleTransfer) that fails on a loud sample."""

    def latency_samples(self, sample_rate):
        return 0

    def reset(self):
        pass

    def process(self, audio, sample_rate, *, reset=True):
        if np.abs(audio).max() > 2.0:
            raise RuntimeError("post effect blew up")
        return audio


class _FragileStyle(StyleTransfer):
    """A style effect that fails on a loud sample (in channel 1's worker too)."""

    def process(self, audio, sample_rate, **kw):
        if np.abs(audio).max() > 10.0:
            raise RuntimeError("style effect blew up")
        return super().process(audio, sample_rate, **kw)


FAILURES = {
    # channel 0 gets a spike; still loud after the compressor, it breaks the post effect
    "post-effect": (lambda: _preset_items([_Brittle()]), 0,
                    "channel worker 1.*_Brittle.*post effect blew up"),
    # channel 1 gets a spike: the effect fails in the worker that also runs the post effect
    # the same in the last block: the error comes back when the stream drains
    "post-effect-last-block": (
        lambda: _preset_items([_Brittle()]),
        0,
        "channel worker 1.*_Brittle.*post effect blew up",
    ),
    "effect-in-worker": (lambda: [_FragileStyle.identity(), pedalboard.Reverb()], 1,
                         "channel worker 1.*style effect blew up"),
}


@pytest.mark.parametrize("where", list(FAILURES))
def test_stream_failure_in_the_post_worker_is_raised_and_stops_the_workers(where, rng):
    import multiprocessing

    items, channel, message = FAILURES[where]
    x = rng.uniform(-0.4, 0.4, (2, 6 * MAX_BLOCK)).astype(np.float32)
    x[channel, -1000 if where.endswith("last-block") else 4 * MAX_BLOCK + 5] = 1000.0
    chain = Chain(items())
    out = chain.stream(_blocks(x, [4000]), SR, channel_workers=True)
    with pytest.raises(RuntimeError, match=message):
        for _ in out:
            pass
    assert multiprocessing.active_children() == []


def test_stream_closed_early_stops_the_workers_and_refuses_channel_changes(rng):
    import multiprocessing

    x = rng.uniform(-0.4, 0.4, (2, 8 * MAX_BLOCK)).astype(np.float32)
    chain = Chain(_preset_items([pedalboard.Reverb()]))
    out = chain.stream(_blocks(x, [MAX_BLOCK]), SR, channel_workers=True)
    next(out)
    assert len(multiprocessing.active_children()) == 1
    out.close()
    assert multiprocessing.active_children() == []
    blocks = [x[:, :5000], x[:, :5000], x[:1, :5000]]
    with pytest.raises(ParameterError, match="block of 1 channels in a stream of 2"):
        list(chain.stream(blocks, SR, channel_workers=True))
    assert multiprocessing.active_children() == []


def test_worker_error_replies_are_never_the_length_of_a_block():
    from stylepedal.host._workers import _error_reply

    for text in ("", "x", "ab", "abc", "abcd", "é" * 7, "y" * 5000):
        reply = _error_reply(text)
        assert len(reply) % 4 and reply.decode().rstrip() == text[:1000].rstrip()


def test_pipelined_stream_sockets_hold_a_block(rng):
    """The worker's socket takes a whole pipelined block without waiting for the reader (where
    the kernel allows that much: net.core.wmem_max)."""
    import socket
    from pathlib import Path

    from stylepedal.host._workers import _socket_bytes

    size = _socket_bytes(2)
    limit = Path("/proc/sys/net/core/wmem_max")
    if not limit.exists() or int(limit.read_text()) < size:
        pytest.skip("the kernel caps socket buffers below a block")
    x = rng.uniform(-0.4, 0.4, (2, 2 * MAX_BLOCK)).astype(np.float32)
    chain = Chain(_preset_items([pedalboard.Reverb()]))
    out = chain.stream(_blocks(x, [MAX_BLOCK]), SR, channel_workers=True)
    next(out)
    pipe = chain._pipe
    assert pipe is not None
    with socket.socket(fileno=os.dup(pipe._conns[0].fileno())) as sock:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= size
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= size
    out.close()
