"""The MIDI map: program change + bank select -> preset, the mix CC, midimap.toml."""

from __future__ import annotations

import logging
from pathlib import Path

import mido
import pytest

from stylepedal.errors import ParameterError, PresetError
from stylepedal.presets.format import Preset
from stylepedal.presets.midimap import (
    MidiEntry,
    MidiMap,
    MidiMapFile,
    MidiSelector,
    SelectPreset,
    SetParameter,
)
from stylepedal.presets.store import Store

KEY = "0123456789abcdef" * 4


def preset(name: str, program: int | None, bank: int | None = None) -> Preset:
    return Preset(name=name, model_key=KEY, midi_program=program, midi_bank=bank)


PRESETS = [
    preset("Organ", 0),
    preset("Strings", 1),
    preset("Choir", 1, bank=2),  # same program, other bank
    preset("Sax", 127, bank=16383),
    preset("Unmapped", None),
]


def test_lookup_by_program_and_bank():
    m = MidiMap.build(PRESETS)
    assert m.lookup(0) == "Organ"
    assert m.lookup(1) == "Strings" and m.lookup(1, bank=0) == "Strings"
    assert m.lookup(1, bank=2) == "Choir"
    assert m.lookup(127, bank=16383) == "Sax"
    assert m.lookup(2) is None and m.lookup(0, bank=1) is None
    assert [(e.bank, e.program, e.preset) for e in m.entries()] == [
        (0, 0, "Organ"), (0, 1, "Strings"), (2, 1, "Choir"), (16383, 127, "Sax"),
    ]
    assert len(m) == 4


@pytest.mark.parametrize(
    ("program", "bank", "name"),
    [(128, 0, "program=128"), (-1, 0, "program=-1"), (1.0, 0, "program=1.0"),
     (True, 0, "program=True"), ("5", 0, "program='5'"),
     (0, 16384, "bank=16384"), (0, -1, "bank=-1"), (0, None, "bank=None")],
)
def test_out_of_range_numbers_are_parameter_errors(program, bank, name):
    m = MidiMap.build(PRESETS)
    with pytest.raises(ParameterError, match=rf"{name} is out of range: allowed is an integer"):
        m.lookup(program, bank=bank)


def test_overrides_win_and_unknown_presets_are_skipped(caplog):
    file = MidiMapFile(overrides={(0, 0): "Sax", (0, 5): "Organ", (0, 6): "Ghost"})
    with caplog.at_level(logging.WARNING, logger="stylepedal.presets.midimap"):
        m = MidiMap.build(PRESETS, file, known_names=[p.name for p in PRESETS])
    assert m.lookup(0) == "Sax" and m.lookup(5) == "Organ" and m.lookup(6) is None
    assert "unknown preset 'Ghost'" in caplog.text
    sources = {(e.bank, e.program): e.source for e in m.entries()}
    assert sources[(0, 0)] == "midimap.toml" and sources[(0, 1)] == "preset"


def test_program_clash_first_preset_wins_and_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="stylepedal.presets.midimap"):
        m = MidiMap.build([preset("Mine", 3), preset("Factory", 3)])
    assert m.lookup(3) == "Mine"
    assert "both claim bank 0 program 3" in caplog.text


@pytest.mark.parametrize("cc", [0, 32, 120, 128, -1, 1.5])
def test_bad_mix_cc(cc):
    with pytest.raises(ParameterError, match="mix_cc"):
        MidiMap([], mix_cc=cc)


def test_entries_are_validated():
    with pytest.raises(ParameterError, match="program=200"):
        MidiMap([MidiEntry(0, 200, "X")])


# -- midimap.toml -----------------------------------------------------------------------------


def test_file_round_trip_is_byte_identical(tmp_path):
    f = MidiMapFile(mix_cc=11, overrides={(3, 7): "Brass", (0, 2): "Flute"})
    path = f.save(tmp_path / "midimap.toml")
    text = path.read_text()
    assert text.index("program = 2") < text.index("program = 7")  # sorted
    loaded = MidiMapFile.load(path)
    assert loaded == f
    loaded.save(path)
    assert path.read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == ["midimap.toml"]


def test_missing_file_gives_defaults(tmp_path):
    f = MidiMapFile.load(tmp_path / "absent.toml")
    assert f.mix_cc == 1 and f.overrides == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("format_version = 1\nmix_cc = 0\n", "mix_cc=0"),
        ("format_version = 1\nmix_cc = 32\n", "bank select"),
        ("format_version = 2\n", "newer"),
        ("format_version = 1\ncolour = 1\n", "unknown keys"),
        ('format_version = 1\n[[program]]\nprogram = 130\npreset = "X"\n', "program=130"),
        ('format_version = 1\n[[program]]\nprogram = 1\nbank = -2\npreset = "X"\n', "bank=-2"),
        ('format_version = 1\n[[program]]\nprogram = 1\npreset = "../x"\n', "preset name"),
        ("format_version = 1\n[[program]]\nprogram = 1\n", "needs both"),
        ('format_version = 1\n[[program]]\nprogram = 1\npreset = "A"\n'
         '[[program]]\nprogram = 1\npreset = "B"\n', "mapped twice"),
        ("mix_cc = = 3", "not valid TOML"),
    ],
)
def test_invalid_file_is_a_preset_error(tmp_path, text, message):
    path = tmp_path / "midimap.toml"
    path.write_text(text)
    with pytest.raises(PresetError, match=message) as info:
        MidiMapFile.load(path)
    assert str(path) in str(info.value)


# -- the store's map --------------------------------------------------------------------------


def test_store_map_from_presets_and_file(tmp_path: Path):

    from tests.presets.test_store import user_preset, write_factory

    factory = tmp_path / "factory"
    write_factory(factory, [("Organ", 0), ("Flute", 4)])
    store = Store(tmp_path / "home", factory=factory)
    p, w, meta = user_preset("Lead", program=4)  # user preset takes program 4 from Flute
    store.save(p, w, meta)
    m = store.midimap()
    assert m.lookup(0) == "Organ" and m.lookup(4) == "Lead" and m.mix_cc == 1
    store.save_midimap_file(MidiMapFile(mix_cc=7, overrides={(1, 0): "Flute"}))
    m = store.midimap()
    assert m.lookup(0, bank=1) == "Flute" and m.mix_cc == 7
    assert (store.root / "midimap.toml").is_file()


# -- messages -> actions ----------------------------------------------------------------------


def parse(data: list[int]) -> list[mido.Message]:
    parser = mido.Parser()
    parser.feed(bytes(data))
    return list(parser)


def test_selector_bank_select_program_change_and_mix():
    sel = MidiSelector(MidiMap.build(PRESETS))
    # CC 0 = 0 (MSB), CC 32 = 2 (LSB), program 1 -> bank 2 -> Choir; all on channel 1
    actions = [sel.handle(m) for m in parse([0xB0, 0, 0, 0xB0, 32, 2, 0xC0, 1])]
    assert actions == [None, None, SelectPreset("Choir", 2, 1)]
    # bank 16383 = MSB 127, LSB 127
    actions = [sel.handle(m) for m in parse([0xB0, 0, 127, 0xB0, 32, 127, 0xC0, 127])]
    assert actions[-1] == SelectPreset("Sax", 16383, 127)
    cc = mido.Message("control_change", control=1, value=0)
    assert sel.handle(cc) == SetParameter("mix", 0.0)
    assert sel.handle(cc.copy(value=127)) == SetParameter("mix", 1.0)
    assert sel.handle(mido.Message("control_change", control=7, value=64)) is None
    assert sel.handle(mido.Message("note_on", note=60)) is None


def test_unmapped_program_is_ignored_and_remembered_not_logged(caplog):
    # (the caller counts it and logs a summary at most once a second: tests/host/test_midi.py)
    sel = MidiSelector(MidiMap.build(PRESETS))
    with caplog.at_level(logging.DEBUG, logger="stylepedal.presets.midimap"):
        assert sel.handle(mido.Message("program_change", program=50)) is None
    assert sel.unmapped == (0, 50) and caplog.text == ""


def test_the_bypass_cc_switches_bypass_and_must_differ_from_the_others(tmp_path):
    sel = MidiSelector(MidiMap([]))  # the default bypass CC: 64, the sustain footswitch
    assert sel.handle(mido.Message("control_change", control=64, value=127)) == SetParameter(
        "bypass", 1.0
    )
    assert sel.handle(mido.Message("control_change", control=64, value=63)) == SetParameter(
        "bypass", 0.0
    )
    sel = MidiSelector(MidiMap([], bypass_cc=80))
    assert sel.handle(mido.Message("control_change", control=80, value=64)).value == 1.0
    assert sel.handle(mido.Message("control_change", control=64, value=127)) is None
    with pytest.raises(ParameterError, match="mix_cc=80 and bypass_cc=80"):
        MidiMap([], mix_cc=80, bypass_cc=80)
    with pytest.raises(ParameterError, match="bypass_cc=32 is bank select"):
        MidiMapFile(bypass_cc=32)
    f = MidiMapFile(mix_cc=7, style_cc=11, bypass_cc=80)
    assert MidiMapFile.load(f.save(tmp_path / "midimap.toml")) == f
    assert "bypass_cc = 80" in (tmp_path / "midimap.toml").read_text()
    assert MidiMap.build([], f).bypass_cc == 80


def test_selector_custom_cc_and_channel():
    sel = MidiSelector(MidiMap.build(PRESETS, MidiMapFile(mix_cc=11)), channel=3)
    assert sel.handle(
        mido.Message("control_change", channel=3, control=11, value=64)
    ) == SetParameter("mix", 64 / 127)
    assert sel.handle(mido.Message("control_change", channel=3, control=1, value=64)) is None
    assert sel.handle(mido.Message("program_change", channel=2, program=0)) is None
    assert sel.handle(mido.Message("program_change", channel=3, program=0)) == SelectPreset(
        "Organ", 0, 0
    )
    with pytest.raises(ParameterError, match="channel=16"):
        MidiSelector(MidiMap([]), channel=16)


def test_the_style_cc_sets_the_style_and_must_differ_from_the_mix_cc(tmp_path):
    sel = MidiSelector(MidiMap([], mix_cc=1, style_cc=4))
    assert sel.handle(mido.Message("control_change", control=4, value=127)) == SetParameter(
        "style", 1.0
    )
    assert sel.handle(mido.Message("control_change", control=1, value=0)) == SetParameter(
        "mix", 0.0
    )
    with pytest.raises(ParameterError, match="mix_cc=7 and style_cc=7"):
        MidiMap([], mix_cc=7, style_cc=7)
    f = MidiMapFile(mix_cc=7, style_cc=11)
    assert MidiMapFile.load(f.save(tmp_path / "midimap.toml")) == f
