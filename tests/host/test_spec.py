"""Effect specs are parsed with ast into real pedalboard plugins, never evaluated."""

from __future__ import annotations

import numpy as np
import pedalboard
import pytest

from stylepedal.errors import ParameterError
from stylepedal.host.spec import allowed_effects, effect_parameters, format_spec, parse_spec


def test_parses_effects_with_parameters_in_order():
    plugins = parse_spec("Compressor(threshold_db=-20, ratio=4),Reverb(room_size=0.3)")
    assert [type(p) for p in plugins] == [pedalboard.Compressor, pedalboard.Reverb]
    assert plugins[0].threshold_db == pytest.approx(-20)
    assert plugins[0].ratio == pytest.approx(4)
    assert plugins[1].room_size == pytest.approx(0.3)


def test_bare_names_blank_and_whitespace():
    assert parse_spec("") == []
    assert parse_spec("   ") == []
    plugins = parse_spec("  Invert , HighpassFilter( cutoff_frequency_hz = 80 ) ")
    assert [type(p).__name__ for p in plugins] == ["Invert", "HighpassFilter"]
    assert plugins[1].cutoff_frequency_hz == pytest.approx(80)


def test_parsed_plugins_process_audio(rng):
    (gain,) = parse_spec("Gain(gain_db=-6.0206)")
    x = rng.uniform(-0.5, 0.5, (2, 1000)).astype(np.float32)
    y = gain(x, 48000)
    np.testing.assert_allclose(y, 0.5 * x, atol=1e-5)


def test_enum_parameters_by_member_name():
    spec = 'LadderFilter(mode="HPF12", cutoff_hz=500), Resample(quality="Linear")'
    (ladder, res) = parse_spec(spec)
    assert ladder.mode == pedalboard.LadderFilter.Mode.HPF12
    assert res.quality == pedalboard.Resample.Quality.Linear
    with pytest.raises(ParameterError, match=r"LadderFilter\(mode='Nope'\).*'HPF12'"):
        parse_spec('LadderFilter(mode="Nope")')


@pytest.mark.parametrize(
    "spec, pattern",
    [
        ("Compresor(threshold_db=-20)", r"'Compresor' is not a pedalboard effect.*Compressor"),
        ("VST3Plugin(path_to_plugin_file='x.vst3')", r"not a pedalboard effect.*allowed are"),
        ("Pedalboard()", r"not a pedalboard effect"),
        ("Reverb(0.3)", r"Reverb\(0.3\): parameters must be given by keyword.*room_size"),
        ("Reverb(size=0.3)", r"Reverb has no parameter 'size': allowed are room_size, damping"),
        ("Reverb(room_size=0.3, room_size=0.4)", r"'room_size' is given twice"),
        ("Reverb(**{'room_size': 1})", r"name each parameter"),
        ("Reverb(room_size=5)", r"Reverb\(room_size=5\) was refused by pedalboard"),
        ("Gain(gain_db='loud')", r"Gain\(gain_db='loud'\) must be a number"),
        ("Gain(gain_db=True)", r"Gain\(gain_db=True\) must be a number"),
        ("BrickwallLimiter(true_peak=1)", r"true_peak=1\) must be True or False"),
        ("Gain(gain_db=1e999)", r"must be a finite number"),
        ("Reverb(", r"cannot be read"),
        ("Reverb(room_size=0.3) Gain()", r"cannot be read"),
    ],
)
def test_errors_name_effect_parameter_and_allowed(spec, pattern):
    with pytest.raises(ParameterError, match=pattern):
        parse_spec(spec)


@pytest.mark.parametrize(
    "spec",
    [
        "__import__('os').system('echo pwned')",
        "Reverb(room_size=__import__('os').getpid())",
        "Gain(gain_db=1+1)",
        "Gain(gain_db=[1])",
        "Gain(gain_db=x)",
        "pedalboard.Reverb()",
        "(lambda: 0)()",
        "Reverb()()",
        "Reverb(room_size=-'a')",
        "Reverb()[0]",
    ],
)
def test_never_evaluates_code(spec, monkeypatch):
    import os

    called = []
    monkeypatch.setattr(os, "system", lambda *a: called.append(a))
    monkeypatch.setattr(os, "getpid", lambda *a: called.append(a))
    with pytest.raises(ParameterError):
        parse_spec(spec)
    assert called == []


def test_rejects_non_strings_and_huge_specs():
    with pytest.raises(ParameterError, match="must be a string"):
        parse_spec(["Reverb()"])  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="characters long"):
        parse_spec("Gain()," * 1000)


def test_allowed_effects_and_parameters_come_from_pedalboard():
    names = allowed_effects()
    assert "Compressor" in names and "PitchShift" in names
    assert not {"Plugin", "Pedalboard", "VST3Plugin", "ExternalPlugin"} & set(names)
    for name in names:
        assert isinstance(getattr(pedalboard, name)(**_defaults(name)), pedalboard.Plugin)
    assert list(effect_parameters("Compressor")) == [
        "threshold_db", "ratio", "attack_ms", "release_ms"
    ]
    assert "impulse_response_filename" in effect_parameters("Convolution")


def _defaults(name):
    # Convolution is the one effect without defaults for everything: give it an impulse.
    if name == "Convolution":
        return {"impulse_response_filename": np.ones(4, dtype=np.float32), "sample_rate": 48000}
    return {}


def test_format_spec_round_trips():
    spec = "Compressor(threshold_db=-20, ratio=4), LadderFilter(mode='HPF24', cutoff_hz=500)"
    text = format_spec(parse_spec(spec))
    again = parse_spec(text)
    assert format_spec(again) == text
    assert again[1].mode == pedalboard.LadderFilter.Mode.HPF24
