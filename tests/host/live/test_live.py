"""Live audio for real: sounddevice streams on a JACK dummy server, MIDI over JACK ports."""

from __future__ import annotations

import math
import threading
import time

import mido
import numpy as np
import pedalboard
import pytest

from stylepedal.effect import StyleTransfer
from stylepedal.host.chain import Chain, build_chain
from stylepedal.host.live import LiveEngine, run_live
from stylepedal.host.midi import BACKENDS, list_input_ports
from stylepedal.presets.midimap import MidiMap
from tests.host.live.conftest import JACK_PERIOD, JACK_RATE, wait_for

pytestmark = pytest.mark.live

BUDGET_MS = 1000.0 * JACK_PERIOD / JACK_RATE
# Callbacks in a run of S seconds: the dummy driver paces them at 375/s; allow for start-up.
RATE_TOLERANCE = 0.25
# Callbacks on either side of a preset switch that must be free of xruns and overruns.
SWITCH_WINDOW = 40


def _near(indices, center, window):
    return [i for i in indices if abs(i - center) <= window]


def test_stream_through_identity_chain(jack_server):
    engines = []
    chain = Chain([StyleTransfer.identity()])
    summary = run_live(lambda name: chain, "identity", seconds=2.0, midimap=MidiMap([]),
                       on_started=lambda eng, loader: engines.append(eng))
    expected = 2.0 * JACK_RATE / JACK_PERIOD
    assert abs(summary["callbacks"] - expected) < RATE_TOLERANCE * expected, summary
    assert summary["sample_rate"] == JACK_RATE and summary["blocksize"] == JACK_PERIOD
    assert summary["faults"] == 0
    # Callbacks keep well within the block budget; an occasional scheduling hiccup on this
    # shared machine may not count as ours.
    assert summary["callback_ms"]["median"] < 0.5 * BUDGET_MS, summary
    assert summary["overruns"] <= 0.01 * summary["callbacks"], summary
    assert summary["chain_latency_samples"] == StyleTransfer.identity().latency_samples(JACK_RATE)
    assert engines and engines[0].frames == summary["frames"]


def _two_presets(make_preset):
    """Two presets with program numbers: the factory bank's when it has them, else made here."""
    from stylepedal.presets.store import Store

    factory = [p for p in (e.preset for e in Store().factory_entries())
               if p.midi_program is not None and not p.midi_bank]
    if len(factory) >= 2:
        return (factory[0].name, factory[0].midi_program), (factory[1].name,
                                                             factory[1].midi_program)
    return (make_preset("Live A", seed=1, program=1), 1), (make_preset("Live B", seed=2,
                                                                        program=2), 2)


def _switch_once(first: str, second: str, program: int) -> tuple[dict, dict]:
    backend = mido.Backend(BACKENDS["jack"], load=True)
    controller = backend.open_output("sp-test-controller", virtual=True)
    seen: dict = {}

    def play(engine, loader):
        time.sleep(0.3)
        controller.send(mido.Message("control_change", control=0, value=0))
        controller.send(mido.Message("program_change", program=program))
        seen["switched"] = wait_for(lambda: engine.switches == 1, timeout_s=5.0)
        seen["preset"] = engine.preset_name
        time.sleep(0.3)
        # A mix change by CC 1 (the default mix CC) reaches the effect in the chain.
        controller.send(mido.Message("control_change", control=1, value=64))
        seen["mix"] = wait_for(
            lambda: abs(engine._chain.items[0].mix - 64 / 127) < 1e-6, timeout_s=5.0
        )
        seen["engine"] = engine

    try:
        summary = run_live(lambda name: build_chain(name), first, seconds=2.5,
                           midi_port="sp-test-controller", midi_backend="jack",
                           on_started=play)
    finally:
        controller.close()
    return summary, seen


def _glitches_at_switch(summary: dict, engine) -> dict:
    """xruns and the longest callback within SWITCH_WINDOW callbacks of the switch, and what
    the same run does away from it: its xruns per callback and its longest callback there."""
    at = summary["switch_at_callback"][0]
    times = engine.timings_ms()
    near = np.abs(np.arange(times.size) - at) <= SWITCH_WINDOW
    assert summary["xruns"] == len(summary["xrun_at_callback"]), summary  # each one recorded
    xruns = _near(summary["xrun_at_callback"], at, SWITCH_WINDOW)
    away = int((~near).sum())
    return {"xruns": xruns, "max_callback_ms": float(times[near].max()),
            "window": int(near.sum()),
            "elsewhere_xruns_per_callback": (summary["xruns"] - len(xruns)) / max(away, 1),
            "elsewhere_max_callback_ms": float(times[~near].max()) if away else 0.0}


def _switch_glitched(g: dict) -> bool:
    """Whether the switch glitched beyond what the machine does by itself in the same run:
    more xruns in its window than the run's rate elsewhere predicts, by three standard
    deviations of that count (so none where the run kept time elsewhere), or a callback there
    over the budget and over the longest elsewhere."""
    expected = g["elsewhere_xruns_per_callback"] * g["window"]
    too_many = len(g["xruns"]) > expected + 3.0 * math.sqrt(expected)
    too_long = g["max_callback_ms"] >= max(BUDGET_MS, g["elsewhere_max_callback_ms"])
    return too_many or too_long


def test_program_change_over_jack_midi_switches_preset(jack_server, make_preset):
    (first, _), (second, program) = _two_presets(make_preset)
    # The switch itself must cause no xrun and no overrun. This dummy JACK server on a shared VM
    # also glitches with nothing to do (benchmarks/host.py: 0-3 xruns per minute with an empty
    # chain), about once in 60 runs inside this test's +-0.1 s window, and at times, when the
    # hypervisor starves it, all through a run: so the window is judged against the same run
    # away from the switch (_switch_glitched; on a machine that keeps time, any xrun or overrun
    # in the window fails). A switch that glitches by itself does so every time, so a glitch is
    # retried once and must not come back.
    attempts = []
    for _ in range(2):
        summary, seen = _switch_once(first, second, program)
        assert seen["switched"] and seen["preset"] == second, summary
        assert summary["preset_switches"] == 1 and summary["presets_loaded"] == 1
        assert summary["midi"]["program_changes"] == 1
        assert seen["mix"] and summary["midi"]["mix_changes"] == 1, (seen, summary)
        assert summary["faults"] == 0 and summary["preset_load_errors"] == 0
        attempts.append(_glitches_at_switch(summary, seen["engine"]))
        if not _switch_glitched(attempts[-1]):
            break
    assert not _switch_glitched(attempts[-1]), attempts


@pytest.mark.parametrize(
    ("glitches", "glitched"),
    [
        ({"xruns": [], "max_callback_ms": 1.0}, False),
        ({"xruns": [100], "max_callback_ms": 1.0}, True),  # a machine that kept time
        ({"xruns": [], "max_callback_ms": BUDGET_MS}, True),
        ({"xruns": [100], "max_callback_ms": 1.0, "elsewhere_xruns_per_callback": 0.05}, False),
        ({"xruns": list(range(90, 110)), "max_callback_ms": 1.0,
          "elsewhere_xruns_per_callback": 0.05}, True),
        ({"xruns": [], "max_callback_ms": 3.0, "elsewhere_max_callback_ms": 3.5}, False),
        ({"xruns": [], "max_callback_ms": 3.6, "elsewhere_max_callback_ms": 3.5}, True),
    ],
)
def test_a_switch_is_judged_against_its_own_runs_glitches_elsewhere(glitches, glitched):
    g = {"window": 2 * SWITCH_WINDOW + 1, "elsewhere_xruns_per_callback": 0.0,
         "elsewhere_max_callback_ms": 1.0, **glitches}
    assert _switch_glitched(g) is glitched


def test_garbage_midi_is_ignored_and_counted(jack_server, make_preset):
    make_preset("Live A", seed=1, program=1)
    backend = mido.Backend(BACKENDS["jack"], load=True)
    controller = backend.open_output("sp-test-garbage", virtual=True)
    result = {}

    def spray(engine, loader):
        time.sleep(0.2)
        rt = controller._rt  # python-rtmidi MidiOut: raw bytes, bypassing mido's checks
        for raw in ([0x45, 0x12], [0xF0, 0x01, 0x02], [0xB0, 0x07], [0x99], [0xF7], [0x80]):
            rt.send_message(raw)
        ignored = [
            mido.Message("note_on", note=60, velocity=100),
            mido.Message("clock"),
            mido.Message("sysex", data=[1, 2, 3]),
            mido.Message("control_change", control=7, value=100),
            mido.Message("pitchwheel", pitch=1000),
        ]
        for msg in ignored:
            controller.send(msg)
        controller.send(mido.Message("program_change", program=99))  # nothing mapped there
        # A flood of mix changes: only the newest value matters, the audio side pays nothing.
        for value in range(128):
            controller.send(mido.Message("control_change", control=1, value=value))
        before = engine.callbacks
        result["flood"] = wait_for(lambda: engine.midi.counts["mix_changes"] == 128, 3.0)
        result["flood_counted"] = engine.midi.counts["mix_changes"]
        # (python-rtmidi's JACK output may garble the *values* of such a burst under load;
        # the count arrives intact.) One last, unhurried value decides the mix.
        time.sleep(0.05)
        controller.send(mido.Message("control_change", control=1, value=127))
        wait_for(lambda: engine.midi.counts["mix_changes"] == 129, 2.0)
        time.sleep(0.2)
        result["kept_running"] = engine.callbacks > before
        result["mix"] = engine._chain.items[0].mix

    try:
        summary = run_live(lambda name: build_chain(name), "Live A", seconds=1.5,
                           midi_port="sp-test-garbage", midi_backend="jack", on_started=spray)
    finally:
        controller.close()
    midi = summary["midi"]
    assert midi["ignored"] >= 5 and midi["unmapped"] == 1 and midi["errors"] == 0, midi
    assert midi["program_changes"] == 0 and summary["preset_switches"] == 0
    assert summary["preset"] == "Live A" and summary["faults"] == 0
    assert result["flood"] and result["kept_running"], (result, summary)
    assert result["mix"] == pytest.approx(1.0)


class _Flaky:
    """The identity effect that raises while ``failing`` is set."""

    def __init__(self):
        self.inner = StyleTransfer.identity()
        self.failing = False

    def latency_samples(self, sample_rate):
        return self.inner.latency_samples(sample_rate)

    def reset(self):
        self.inner.reset()

    def process(self, audio, sample_rate, *, reset=True):
        if self.failing:
            raise RuntimeError("model blew up")
        return self.inner.process(audio, sample_rate, reset=reset)


def test_internal_error_gives_silence_and_a_fault_count(jack_server):
    fx = _Flaky()
    marks = {}

    def break_it(engine, loader):
        time.sleep(0.2)
        fx.failing = True
        marks["start"] = engine.callbacks
        time.sleep(0.3)
        fx.failing = False
        marks["end"] = engine.callbacks
        time.sleep(0.3)
        marks["after"] = engine.callbacks

    summary = run_live(lambda name: Chain([pedalboard.Gain(gain_db=0), fx]), "flaky",
                       seconds=1.2, midimap=MidiMap([]), on_started=break_it)
    failing_callbacks = marks["end"] - marks["start"]
    assert failing_callbacks > 0
    assert abs(summary["faults"] - failing_callbacks) <= 2, (summary, marks)
    assert summary["last_fault"] == "RuntimeError"
    assert marks["after"] > marks["end"]  # the stream kept going


def test_jack_midi_ports_are_listed(jack_server):
    backend = mido.Backend(BACKENDS["jack"], load=True)
    port = backend.open_output("sp-test-listed", virtual=True)
    try:
        assert any("sp-test-listed" in n for n in list_input_ports("jack"))
    finally:
        port.close()


def test_engine_crossfade_is_continuous():
    # No server needed: drive the callback by hand across a swap between two gains.
    chain_a = Chain([pedalboard.Gain(gain_db=0)])
    chain_b = Chain([pedalboard.Gain(gain_db=-6.0206)])
    eng = LiveEngine(chain_a, sample_rate=JACK_RATE, blocksize=64, channels=1)
    chain_b.start(JACK_RATE, 1)
    x = np.full((64, 1), 0.5, np.float32)
    out = np.zeros((64, 2), np.float32)
    blocks = []
    for i in range(20):
        if i == 5:
            eng.swap_in(chain_b, "B")
        eng.callback(x, out, 64, None, None)
        blocks.append(out[:, 0].copy())
    y = np.concatenate(blocks)
    assert y[0] == pytest.approx(0.5) and y[-1] == pytest.approx(0.25, abs=1e-4)
    assert np.abs(np.diff(y)).max() < 0.25 / (0.010 * JACK_RATE) * 1.01  # a 10 ms linear ramp
    assert eng.switches == 1 and eng.preset_name == "B" and not eng.switching
    np.testing.assert_array_equal(out[:, 0], out[:, 1])  # mono copied to both outputs


def test_engine_fault_writes_silence():
    fx = _Flaky()
    eng = LiveEngine(Chain([fx]), sample_rate=JACK_RATE, blocksize=32)
    out = np.ones((32, 2), np.float32)
    fx.failing = True
    eng.callback(np.ones((32, 1), np.float32), out, 32, None, None)
    assert eng.faults == 1 and not out.any()


def test_engine_counts_xrun_flags():
    import sounddevice as sd

    eng = LiveEngine(Chain(), sample_rate=JACK_RATE, blocksize=32)
    out = np.zeros((32, 1), np.float32)
    flags = sd.CallbackFlags(sd._lib.paOutputUnderflow)
    eng.callback(np.zeros((32, 1), np.float32), out, 32, None, flags)
    eng.callback(np.zeros((32, 1), np.float32), out, 32, None, sd.CallbackFlags())
    assert eng.xruns == 1 and eng.summary()["xrun_at_callback"] == [0]


class _Stall:
    """A pass-through effect that stalls each block by busy work or by sleeping."""

    def __init__(self, seconds, busy):
        self.seconds, self.busy = seconds, busy

    def latency_samples(self, sample_rate):
        return 0

    def reset(self):
        pass

    def process(self, audio, sample_rate, *, reset=True):
        if self.busy:
            end = time.thread_time() + self.seconds
            while time.thread_time() < end:
                pass
        else:
            time.sleep(self.seconds)
        return audio


@pytest.mark.parametrize("busy", [True, False])
def test_engine_reports_callback_cpu_time_apart_from_wall_time(busy):
    # The callback's wall time counts time the thread is off the CPU; its CPU load does not.
    # At the live default block: at a block of 32 the engine's own cost a callback on a slow
    # machine takes most of the sleeping case's margin under the bound.
    block = 128
    budget = block / JACK_RATE
    eng = LiveEngine(Chain([_Stall(budget / 2, busy)]), sample_rate=JACK_RATE, blocksize=block)
    x, out = np.zeros((block, 1), np.float32), np.zeros((block, 1), np.float32)
    for _ in range(40):
        eng.callback(x, out, block, None, None)
    s = eng.summary()
    assert s["callback_load"] >= 0.5
    if busy:
        assert 0.5 <= s["callback_cpu_load"] <= s["callback_load"] * 1.01
    else:
        assert s["callback_cpu_load"] < 0.2


def test_status_thread_reads_counts_without_locks():
    eng = LiveEngine(Chain(), sample_rate=JACK_RATE, blocksize=32)
    stop = threading.Event()

    def audio():
        x, out = np.zeros((32, 1), np.float32), np.zeros((32, 1), np.float32)
        while not stop.is_set():
            eng.callback(x, out, 32, None, None)

    t = threading.Thread(target=audio)
    t.start()
    try:
        for _ in range(20):
            assert "callbacks" in eng.status_line()
            eng.summary()
    finally:
        stop.set()
        t.join()
    assert eng.summary()["callbacks"] == eng.callbacks > 0


def test_cli_live_prints_one_json_summary(jack_server, make_preset, capsys):
    import json

    from stylepedal.host.cli import main

    make_preset("Live A", seed=1, program=1)
    code = main(["live", "--preset", "Live A", "--seconds", "1.6", "--blocksize", "128",
                 "--pre", "Compressor(threshold_db=-20)", "--post", "Reverb()"])
    assert code == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if line.strip()]
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["preset"] == "Live A" and summary["faults"] == 0
    assert summary["callbacks"] > 0.5 * JACK_RATE / JACK_PERIOD
    assert "callbacks" in captured.err  # the status line


def test_cli_live_errors_exit_2(jack_server, make_preset, capsys):
    from stylepedal.host.cli import main

    make_preset("Live A", seed=1)
    assert main(["live", "--preset", "Live A", "--sample-rate", "44100", "--seconds", "1"]) == 2
    assert "44100" in capsys.readouterr().err
    assert main(["live", "--preset", "Live A", "--pre", "Nope()", "--seconds", "1"]) == 2
    assert "'Nope' is not a pedalboard effect" in capsys.readouterr().err
    assert main(["live", "--preset", "Live A", "--midi", "no-such-port", "--midi-backend",
                 "jack", "--seconds", "1"]) == 2
    assert "no-such-port" in capsys.readouterr().err


def test_cli_devices_lists_jack(jack_server, capsys):
    import json

    from stylepedal.host.cli import main

    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "JACK Audio Connection Kit" in out and "system" in out
    assert main(["devices", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert any(d["max_output_channels"] >= 2 for d in info["devices"])
