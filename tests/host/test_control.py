"""The one command queue (Controls), the output section (bypass, gain, meters) in the engine."""

from __future__ import annotations

import logging
import math
import threading

import numpy as np
import pedalboard
import pytest

from stylepedal.effect import StyleTransfer
from stylepedal.errors import ParameterError, PresetError
from stylepedal.host.chain import Chain
from stylepedal.host.control import Controls, PresetInfo, RateLimitedLog, check_param
from stylepedal.host.live import LiveEngine
from stylepedal.host.master import METER_SECONDS, MasterSection, peak_db

RATE = 48000
PRESETS = [PresetInfo("Organ", 0, 0, "drawbars"), PresetInfo("Flute", 1), PresetInfo("Free")]


def test_commands_are_validated_counted_and_coalesced():
    c = Controls(PRESETS, current="Organ")
    c.set_params("panel", {"mix": 0.5, "output_gain_db": -6})
    first = c.values
    c.set_params("osc", {"mix": 0.25})
    assert c.values == {"mix": 0.25, "output_gain_db": -6.0}
    assert first == {"mix": 0.5, "output_gain_db": -6.0}  # replaced whole, never mutated
    assert c.select_preset("midi", program=1) == "Flute"
    assert c.select_preset("keys", name="organ") == "Organ"
    assert c.take_preset() == "Organ" and c.take_preset() is None  # the newest only
    assert c.wake.is_set()
    assert c.summary() == {"midi": {"accepted": 1, "refused": 0},
                           "panel": {"accepted": 1, "refused": 0},
                           "osc": {"accepted": 1, "refused": 0},
                           "keys": {"accepted": 1, "refused": 0}, "refused": 0}


@pytest.mark.parametrize(("values", "match"), [
    ({"mix": 1.5}, r"mix=1\.5 is out of range: allowed is \[0\.0, 1\.0\]"),
    ({"mix": float("nan")}, r"mix=nan must be a number"),
    ({"mix": "loud"}, r"mix='loud' must be a number"),
    ({"mix": 0.5, "output_gain_db": 99}, r"output_gain_db=99 is out of range"),
    ({"gate_db": 3}, r"gate_db=3 is out of range: allowed is \[-120\.0, 0\.0\]"),
    ({"bypass": 2}, r"bypass=2 must be true/false"),
    ({"bypass": "yes"}, r"bypass='yes' must be true/false"),
    ({"volume": 1}, r"unknown field 'volume': allowed are bypass, gate_db, mix, output_gain"),
])
def test_a_bad_value_is_refused_and_changes_nothing(values, match):
    c = Controls(PRESETS)
    c.set_params("panel", {"mix": 0.1})
    before = c.values
    with pytest.raises(ParameterError, match=match):
        c.set_params("panel", values)
    assert c.values is before
    assert c.counts["panel"] == {"accepted": 1, "refused": 1}


def test_bad_preset_requests_are_refused():
    c = Controls(PRESETS, current="Organ")
    with pytest.raises(PresetError, match="name='Nope' is not a preset here: choose one of "
                                          "Organ, Flute, Free"):
        c.select_preset("panel", name="Nope")
    with pytest.raises(PresetError, match=r"program=9 \(bank 0\) has no preset: mapped are"):
        c.select_preset("osc", program=9)
    with pytest.raises(ParameterError, match="program=128 is out of range"):
        c.select_preset("osc", program=128)
    with pytest.raises(ParameterError, match="program=True is out of range"):
        c.select_preset("osc", program=True)
    with pytest.raises(ParameterError, match="name=3 must be a preset name"):
        c.select_preset("osc", name=3)
    with pytest.raises(ParameterError, match="either a preset name or a program"):
        c.select_preset("osc", name="Organ", program=0)
    assert c.take_preset() is None and not c.wake.is_set()
    assert c.summary()["refused"] == 6


def test_step_and_toggle():
    c = Controls(PRESETS, current="Flute")
    assert c.step_preset("keys", 1) == "Free"
    assert c.step_preset("keys", 1) == "Organ"  # wraps
    assert c.step_preset("keys", -1) == "Free"
    assert c.toggle_bypass("keys") is True and c.values["bypass"] == 1.0
    assert c.toggle_bypass("keys") is False


def test_producers_on_many_threads_lose_nothing():
    c = Controls(PRESETS)
    names = ["mix", "style"]

    def produce(name):
        for i in range(2000):
            c.set_params("panel", {name: (i % 100) / 100})

    threads = [threading.Thread(target=produce, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.values == {"mix": 0.99, "style": 0.99}
    assert c.counts["panel"]["accepted"] == 4000


def test_check_param_examples():
    assert check_param("bypass", 1) == 1.0 and check_param("bypass", False) == 0.0
    assert check_param("output_gain_db", -60) == -60.0


def test_rate_limited_log_summarises(caplog):
    logger = logging.getLogger("stylepedal.test.ratelimit")
    r = RateLimitedLog(logger, "%d events, last %s", interval_s=0.05)
    with caplog.at_level(logging.INFO, logger=logger.name):
        for i in range(5000):
            r.event(i)
        r.flush()  # not due yet
        lines_before = len(caplog.records)
        import time

        time.sleep(0.06)
        r.flush()
    assert lines_before == 1 and caplog.records[0].getMessage() == "1 events, last 0"
    assert len(caplog.records) == 2 and caplog.records[1].getMessage() == "4999 events, last 4999"


# ---------------------------------------------------------------------------- output section
def _run(engine, x, block):
    out = np.zeros((block, 2), np.float32)
    y = []
    for i in range(0, x.shape[0], block):
        engine.callback(x[i : i + block, None], out, block, None, None)
        y.append(out[:, 0].copy())
    return np.concatenate(y)


def test_bypass_is_the_dry_input_delayed_by_the_chain_latency():
    # identity effect (output = input delayed) then -12 dB: bypassed, the same delay at 0 dB
    block = 64
    chain = Chain([StyleTransfer.identity(), pedalboard.Gain(gain_db=-12.0)])
    controls = Controls()
    engine = LiveEngine(chain, sample_rate=RATE, blocksize=block, control=controls)
    latency = chain.latency_samples(RATE)
    assert engine.master.latency == latency > 0
    x = np.zeros(block * 40, np.float32)
    x[100] = 0.5
    wet = _run(engine, x, block)
    controls.set_params("panel", {"bypass": True})
    engine.callback(np.zeros((block, 1), np.float32), np.zeros((block, 2), np.float32), block,
                    None, None)  # the fade to dry runs over this block and the next
    for _ in range(20):
        engine.callback(np.zeros((block, 1), np.float32), np.zeros((block, 2), np.float32),
                        block, None, None)
    dry = _run(engine, x, block)
    assert int(np.argmax(np.abs(wet))) == int(np.argmax(np.abs(dry))) == 100 + latency
    assert dry[100 + latency] == pytest.approx(0.5)
    assert wet[100 + latency] == pytest.approx(0.5 * 10 ** (-12 / 20), rel=1e-3)
    assert engine.summary()["bypass"] is True


def test_bypass_and_gain_changes_glide_without_clicks():
    block = 128
    m = MasterSection(RATE, 1, block)
    x = np.full((1, block), 0.5, np.float32)
    wet = np.full((1, block), -0.5, np.float32)
    out = [m.process(x, wet.copy())]
    m.apply({"bypass": 1.0})
    out += [m.process(x, wet.copy()) for _ in range(6)]
    m.apply({"output_gain_db": -6.0206})
    out += [m.process(x, wet.copy()) for _ in range(2)]
    y = np.concatenate(out, axis=1)[0]
    assert y[0] == -0.5 and y[-1] == pytest.approx(0.25, rel=1e-4)
    fade = round(0.010 * RATE)
    assert np.abs(np.diff(y)).max() <= 1.0 / fade * 1.01  # a 10 ms ramp from -0.5 to 0.5


def test_meters_and_clip_counts():
    m = MasterSection(RATE, 1, 64)
    assert m.meters() == (0.0, 0.0)
    m.process(np.full((1, 64), 0.25, np.float32), np.full((1, 64), 1.5, np.float32))
    peak_in, peak_out = m.meters()
    assert peak_db(peak_in) == pytest.approx(-12.0, abs=0.05) and peak_out == 1.5
    assert m.input_clips == 0 and m.output_clips == 1
    hold = math.ceil(METER_SECONDS * RATE / 64)
    for _ in range(hold - 1):  # the meter holds the peak for METER_SECONDS ...
        m.process(np.zeros((1, 64), np.float32), np.zeros((1, 64), np.float32))
    assert m.meters() == (peak_in, 1.5)
    m.process(np.zeros((1, 64), np.float32), np.zeros((1, 64), np.float32))
    assert m.meters() == (0.0, 0.0) and peak_db(0.0) == -120.0  # ... then forgets it
    assert peak_db(float("nan")) == 0.0 and peak_db(float("inf")) == 0.0


def test_terminal_keys_on_a_real_pty():
    import os
    import time

    from stylepedal.host.keys import KeyInput

    controls = Controls(PRESETS, current="Organ")
    master, slave = os.openpty()
    try:
        with open(slave, "rb", buffering=0, closefd=False) as stream:
            keys = KeyInput.open(controls, stream)
            assert keys is not None
            try:
                for data, check in [
                    (b"2", lambda: controls.requested == "Flute"),
                    (b"\x1b[C", lambda: controls.requested == "Free"),  # right arrow
                    (b"\x1b[D", lambda: controls.requested == "Flute"),  # left arrow
                    (b"b", lambda: controls.values.get("bypass") == 1.0),
                    (b"9", lambda: controls.counts["keys"]["refused"] == 1),  # no ninth preset
                ]:
                    os.write(master, data)
                    deadline = time.monotonic() + 3
                    while not check() and time.monotonic() < deadline:
                        time.sleep(0.01)
                    assert check(), data
            finally:
                keys.close()
    finally:
        os.close(master)
        os.close(slave)
    assert controls.counts["keys"] == {"accepted": 4, "refused": 1}


def test_keys_need_a_terminal(tmp_path):
    from stylepedal.host.keys import KeyInput

    with open(tmp_path / "not-a-tty", "wb+") as f:
        assert KeyInput.open(Controls(PRESETS), f) is None


@pytest.mark.parametrize(("text", "expect"), [
    ("8000", ("127.0.0.1", 8000)), ("0.0.0.0:0", ("0.0.0.0", 0)), ("[::1]:80", ("::1", 80)),
    ("localhost:9", ("localhost", 9)),
])
def test_addresses(text, expect):
    from stylepedal.host.surfaces import is_loopback, parse_address

    assert parse_address(text) == expect
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


@pytest.mark.parametrize("text", ["", "abc", "host:", ":80", "1.2.3.4:70000", "::1:80", "-1"])
def test_bad_addresses_name_the_option(text):
    from stylepedal.host.surfaces import parse_address

    with pytest.raises(ParameterError, match=r"--osc="):
        parse_address(text, "--osc")
