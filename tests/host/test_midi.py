"""MIDI control without a server: a loopback mido port feeds MidiControl; the loader swaps."""

from __future__ import annotations

import logging
import threading
import time

import mido
import numpy as np
import pytest
from mido.ports import BaseIOPort

from stylepedal.errors import DeviceError, ParameterError
from stylepedal.host.chain import Chain
from stylepedal.host.live import LiveEngine, PresetLoader
from stylepedal.host.midi import BACKENDS, MidiControl, backend_name, open_input
from stylepedal.presets.midimap import MidiEntry, MidiMap


class Loopback(BaseIOPort):
    """What is sent comes back in; with a callback, it is called on send (as a backend would)."""

    def __init__(self, callback=None):
        super().__init__("loopback")
        self.callback = callback

    def _send(self, message):
        if self.callback is not None:
            self.callback(message)
        else:
            self._messages.append(message)


MAP = MidiMap(
    [MidiEntry(0, 1, "Organ"), MidiEntry(0, 2, "Flute"), MidiEntry(130, 1, "Sax")], mix_cc=11
)


@pytest.fixture
def control():
    ctl = MidiControl(MAP)
    return ctl, Loopback(ctl.handle)


def test_program_change_selects_preset_through_the_map(control):
    ctl, port = control
    port.send(mido.Message("program_change", program=2))
    assert ctl.take_preset() == "Flute"
    assert ctl.take_preset() is None  # taken once
    assert ctl.counts["program_changes"] == 1 and ctl.wake.is_set()


def test_bank_select_msb_lsb(control):
    ctl, port = control
    port.send(mido.Message("control_change", control=0, value=1))
    port.send(mido.Message("control_change", control=32, value=2))  # bank 1 * 128 + 2 = 130
    port.send(mido.Message("program_change", program=1))
    assert ctl.take_preset() == "Sax"
    assert ctl.counts["ignored"] == 0  # bank select is not "ignored": it is remembered


def test_mix_cc_and_other_ccs(control):
    ctl, port = control
    assert ctl.mix is None
    port.send(mido.Message("control_change", control=11, value=127))
    assert ctl.mix == pytest.approx(1.0)
    port.send(mido.Message("control_change", control=11, value=0))
    assert ctl.mix == 0.0
    port.send(mido.Message("control_change", control=7, value=99))  # not the mix CC
    assert ctl.mix == 0.0 and ctl.counts["ignored"] == 1 and ctl.counts["mix_changes"] == 2


def test_everything_else_is_ignored_and_counted(control):
    ctl, port = control
    others = [
        mido.Message("note_on", note=60),
        mido.Message("note_off", note=60),
        mido.Message("clock"),
        mido.Message("sysex", data=[1, 2, 3]),
        mido.Message("pitchwheel", pitch=-200),
        mido.Message("aftertouch", value=3),
        mido.Message("start"),
    ]
    for msg in others:
        port.send(msg)
    port.send(mido.Message("program_change", program=77))  # nothing mapped
    ctl.handle("not a message")
    ctl.handle(None)
    assert ctl.counts["ignored"] == len(others) + 2
    assert ctl.counts["unmapped"] == 1
    assert ctl.take_preset() is None and ctl.mix is None
    assert ctl.counts["errors"] == 0


def test_malformed_bytes_never_become_commands(control):
    # mido's parser drops stray data bytes and truncated messages before they reach us.
    ctl, _ = control
    parser = mido.Parser()
    parser.feed([0x45, 0x12, 0xB0, 0x0B, 0xC0, 0xF7, 0x80, 0x3C])  # garbage and fragments
    for msg in parser:
        ctl.handle(msg)
    assert ctl.take_preset() is None and ctl.mix is None
    assert ctl.counts["program_changes"] == ctl.counts["mix_changes"] == 0


def test_handle_never_raises(control):
    ctl, _ = control

    class Weird:
        type = "control_change"
        channel = 0
        control = property(lambda self: 1 / 0)

    ctl.handle(Weird())  # not a mido message: ignored
    msg = mido.Message("control_change", control=11, value=5)
    ctl._selector = None  # break it: handle() must still not raise
    ctl.handle(msg)
    assert ctl.counts["errors"] == 1


def test_flood_is_coalesced(control):
    ctl, port = control
    for i in range(5000):
        port.send(mido.Message("program_change", program=1 + i % 2))
        port.send(mido.Message("control_change", control=11, value=i % 128))
    assert ctl.take_preset() == "Flute"  # the newest request only
    assert ctl.take_preset() is None
    assert ctl.mix == pytest.approx((4999 % 128) / 127)
    assert ctl.counts["program_changes"] == ctl.counts["mix_changes"] == 5000


def test_channel_filter():
    ctl = MidiControl(MAP, channel=3)
    ctl.handle(mido.Message("program_change", program=1, channel=0))
    assert ctl.take_preset() is None
    ctl.handle(mido.Message("program_change", program=1, channel=3))
    assert ctl.take_preset() == "Organ"


def test_loader_builds_off_the_audio_thread_and_swaps(control, rng):
    ctl, port = control
    built_on = []

    def make_chain(name):
        built_on.append(threading.current_thread().name)
        if name == "Flute":
            raise ParameterError("no such model")
        time.sleep(0.05)  # a model load takes a while
        return Chain()

    engine = LiveEngine(Chain(), sample_rate=48000, blocksize=64, control=ctl, preset_name="Init")
    loader = PresetLoader(engine, make_chain, ctl)
    loader.start()
    try:
        x, out = np.zeros((64, 1), np.float32), np.zeros((64, 1), np.float32)
        port.send(mido.Message("program_change", program=2))  # Flute: fails to load
        port.send(mido.Message("program_change", program=1))  # replaces it before the loader
        deadline = time.monotonic() + 5
        while engine.switches == 0 and time.monotonic() < deadline:
            engine.callback(x, out, 64, None, None)
            time.sleep(0.001)
    finally:
        loader.stop()
        loader.join(timeout=5)
    assert engine.switches == 1 and engine.preset_name == "Organ"
    assert built_on and set(built_on) == {"stylepedal-preset-loader"}
    assert loader.loaded == 1


def test_loader_counts_load_errors(control):
    ctl, port = control
    engine = LiveEngine(Chain(), sample_rate=48000, blocksize=64, control=ctl)

    def broken(name):
        raise ParameterError(f"{name} is broken")

    loader = PresetLoader(engine, broken, ctl)
    loader.start()
    try:
        port.send(mido.Message("program_change", program=2))
        deadline = time.monotonic() + 5
        while loader.load_errors == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        loader.stop()
        loader.join(timeout=5)
    assert loader.load_errors == 1 and "Flute is broken" in loader.last_error
    assert engine.switches == 0


def test_backend_names(monkeypatch):
    assert backend_name("jack") == BACKENDS["jack"]
    assert backend_name("alsa") == BACKENDS["alsa"]
    monkeypatch.setenv("MIDO_BACKEND", "mido.backends.rtmidi/UNIX_JACK")
    assert backend_name("auto") == "mido.backends.rtmidi/UNIX_JACK"
    with pytest.raises(ParameterError, match="midi backend='coreaudio' is not supported"):
        backend_name("coreaudio")


def test_missing_port_is_a_device_error_listing_ports():
    with pytest.raises(DeviceError, match="MIDI input 'no-such-port-xyz'"):
        open_input("no-such-port-xyz", lambda m: None, backend="alsa")


def test_mix_cc_reaches_the_effect_and_survives_a_preset_switch(control):
    from stylepedal.effect import StyleTransfer

    ctl, port = control
    first, second = StyleTransfer.identity(mix=1.0), StyleTransfer.identity(mix=0.9)
    engine = LiveEngine(Chain([first]), sample_rate=48000, blocksize=64, control=ctl)
    x, out = np.zeros((64, 1), np.float32), np.zeros((64, 2), np.float32)
    port.send(mido.Message("control_change", control=11, value=0))
    engine.callback(x, out, 64, None, None)
    assert first.mix == 0.0
    new = Chain([second])
    new.start(48000, 1)
    engine.swap_in(new, "Second")
    engine.callback(x, out, 64, None, None)
    assert second.mix == 0.0 and engine.preset_name == "Second"


@pytest.mark.parametrize(("channels", "outputs"), [(1, 1), (1, 2), (2, 2), (2, 3)])
def test_callback_fills_every_output_channel(rng, channels, outputs):
    import pedalboard

    engine = LiveEngine(
        Chain([pedalboard.Gain(-6.0)]), sample_rate=48000, blocksize=64, channels=channels
    )
    x = rng.uniform(-0.5, 0.5, (64, 2)).astype(np.float32)
    out = np.full((64, outputs), np.nan, np.float32)
    engine.callback(x, out, 64, None, None)
    assert engine.faults == 0
    expect = Chain([pedalboard.Gain(-6.0)]).process(x[:, :channels].T.copy(), 48000,
                                                   reset=False).T
    assert np.abs(expect).max() > 0.01  # (a stereo chain is delayed by its layout slack)
    if channels == outputs:
        np.testing.assert_array_equal(out, expect)
    else:  # the first processed channel on every output
        np.testing.assert_array_equal(out, np.repeat(expect[:, :1], outputs, axis=1))


def test_raw_batches_are_decoded_and_coalesced(control):
    ctl, _ = control
    batch = [[0xB0, 11, 10], [0xC0, 1], [0x45, 0x12], [0xB0, 11], [0x99], [0xB0, 64, 127],
             [0xC0, 2], [0xB0, 11, 127], [0xF0, 1, 2, 0xF7], [0xB0, 11, 200], [0x90, 60, 100]]
    ctl.handle_batch(batch)
    # one command each for the newest preset and the newest values of the batch
    assert ctl.take_preset() == "Flute" and ctl.take_preset() is None
    assert ctl.values == {"mix": 1.0, "bypass": 1.0}
    assert ctl.controls.counts["midi"] == {"accepted": 2, "refused": 0}
    assert ctl.counts["received"] == len(batch) and ctl.counts["ignored"] == 6
    assert ctl.counts["mix_changes"] == 2 and ctl.counts["bypass_changes"] == 1
    ctl.handle_batch([[0xB0, 64, 0]])
    assert ctl.values["bypass"] == 0.0


def test_unmapped_program_changes_log_a_summary_not_a_line_each(control, caplog):
    ctl, _ = control
    with caplog.at_level(logging.INFO, logger="stylepedal.host.midi"):
        ctl.handle_batch([[0xC0, 77]] * 5000)
        ctl.tick()
    assert ctl.counts["unmapped"] == 5000
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["1 program change(s) with no preset mapped ignored; the last: "
                     "program 77 bank 0"]
    ctl._unmapped_log._next = 0.0  # a second later
    with caplog.at_level(logging.INFO, logger="stylepedal.host.midi"):
        ctl.tick()
    assert caplog.records[-1].getMessage().startswith("4999 program change(s)")


def test_midi_input_drains_a_queue_in_batches():
    from stylepedal.host.midi import MidiInput

    class Source:
        raw = True

        def __init__(self):
            self.queue = [[0xB0, 11, v % 128] for v in range(3000)]
            self.closed = False

        def drain(self, limit):
            out, self.queue = self.queue[:limit], self.queue[limit:]
            return out

        def close(self):
            self.closed = True

    ctl = MidiControl(MAP)
    source = Source()
    port = MidiInput(source, ctl, poll_s=0.005)
    try:
        deadline = time.monotonic() + 5
        while ctl.counts["mix_changes"] < 3000 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        port.close()
    assert ctl.counts["mix_changes"] == 3000 and source.closed
    assert ctl.mix == pytest.approx((2999 % 128) / 127)
    assert 1 <= port.batches <= 3  # a queue drained in one go, not a call per message
