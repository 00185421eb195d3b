"""Live at a rate the engine cannot run at: a one-line error that lists the rates to set."""

from __future__ import annotations

import pytest

from stylepedal.effect import StyleTransfer
from stylepedal.errors import DeviceError
from stylepedal.host.chain import Chain
from stylepedal.host.cli import main
from stylepedal.host.live import run_live
from stylepedal.presets.midimap import MidiMap
from tests.host.live.conftest import JACK_RATE

pytestmark = pytest.mark.live


def test_a_rate_off_the_grid_is_refused_before_the_stream_opens(jack_server):
    built = []

    def factory(name):
        built.append(name)
        return Chain([StyleTransfer.identity()])

    with pytest.raises(DeviceError, match=r"--sample-rate=32000 is not a rate .* 44100, 48000"):
        run_live(factory, "identity", sample_rate=32000, seconds=0.5, midimap=MidiMap([]))
    assert built == []  # refused before any preset is loaded
    summary = run_live(factory, "identity", seconds=0.3, midimap=MidiMap([]))
    assert summary["sample_rate"] == JACK_RATE


def test_cli_live_at_an_unsupported_rate_exits_2_with_one_line(jack_server, capsys):
    assert main(["live", "--preset", "Organ", "--sample-rate", "11025", "--seconds", "0.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stylepedal live: error: --sample-rate=11025")
    assert "JACK server" in err[0] and "22050" in err[0]
