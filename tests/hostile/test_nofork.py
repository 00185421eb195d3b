"""Portability: where fork is missing (forced here with STYLEPEDAL_NO_FORK=1) a render runs
every channel in one process with the very same bytes; MIDI "auto" without a JACK server is
the platform's own rtmidi API."""

from __future__ import annotations

import mido
import pytest

from stylepedal.host import _workers
from stylepedal.host.chain import build_chain
from stylepedal.host.midi import backend_name, list_input_ports
from stylepedal.host.render import render_file
from tests.hostile._processes import write_tone


def test_no_fork_render_gives_the_forked_bytes(tmp_path, monkeypatch):
    src = write_tone(tmp_path / "in.wav", 6.0)
    chain = build_chain("Fuzz", post="Reverb(room_size=0.3)")
    spawned = []
    real_spawn = _workers.ChannelWorkerStage.spawn

    def counting_spawn(self):
        spawned.append(self.channels)
        real_spawn(self)

    monkeypatch.setattr(_workers.ChannelWorkerStage, "spawn", counting_spawn)
    monkeypatch.delenv(_workers.NO_FORK_ENV, raising=False)
    render_file(src, tmp_path / "forked.wav", chain, progress=False, channel_workers=True)
    assert spawned == [2], "the default render did not fork its channel worker"
    monkeypatch.setenv(_workers.NO_FORK_ENV, "1")
    assert not _workers.fork_available()
    render_file(src, tmp_path / "one.wav", chain, progress=False, channel_workers=True)
    assert spawned == [2], "a channel worker was forked although fork is not available"
    forked = (tmp_path / "forked.wav").read_bytes()
    assert len(forked) > 6 * 44100 * 2 * 2  # 16-bit stereo, as the input
    assert (tmp_path / "one.wav").read_bytes() == forked


def test_midi_auto_without_jack_is_the_platform_default_api(monkeypatch):
    monkeypatch.delenv("MIDO_BACKEND", raising=False)
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "stylepedal-no-such-server")
    name = backend_name("auto")
    assert name == "mido.backends.rtmidi"  # no API named: rtmidi takes the platform's own
    assert mido.Backend(name, load=True).api is None
    assert isinstance(list_input_ports("auto"), list)  # no sequencer here: [] and no error


@pytest.mark.parametrize("value, allowed", [("", True), ("0", True), ("1", False)])
def test_no_fork_setting(monkeypatch, value, allowed):
    monkeypatch.setenv(_workers.NO_FORK_ENV, value)
    assert _workers.fork_available() is allowed
