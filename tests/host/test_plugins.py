"""Plugin files in effect specs (``plugin:/path/Amp.vst3(...)``): parsing, every refusal, and
latency compensation.

No VST3 plugin is installed where these tests run: loading is exercised up to pedalboard's own
refusal of a file that is not a plugin, and configuring and latency compensation with stand-in
objects that behave as :func:`pedalboard.load_plugin`'s plugins do.
"""

from __future__ import annotations

import numpy as np
import pedalboard
import pytest

from stylepedal import Chain, StyleTransfer
from stylepedal.errors import ParameterError
from stylepedal.host.chain import build_chain
from stylepedal.host.cli import main
from stylepedal.host.plugins import (
    PluginSpec,
    configure,
    parse_plugin,
    reported_latency,
)
from stylepedal.host.spec import format_spec, parse_spec, split_top_level
from tests.tolerances import IDENTITY_ATOL, STREAM_ATOL

SR = 48000


# ---------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("plugin:/p/Amp.vst3", PluginSpec("/p/Amp.vst3")),
        ("plugin: /p/Amp.vst3 ", PluginSpec("/p/Amp.vst3")),
        ("plugin:/p/Amp.vst3()", PluginSpec("/p/Amp.vst3")),
        (
            'plugin:/p/Amp.vst3(gain_db=-3, bright=True, voicing="Plexi", '
            'preset="/p/x.vstpreset")',
            PluginSpec("/p/Amp.vst3", {"gain_db": -3, "bright": True, "voicing": "Plexi"},
                       preset="/p/x.vstpreset"),
        ),
        (
            'plugin:"/p/My Amp, (x64).vst3"(plugin_name="Amp Mono", drive=+6.5)',
            PluginSpec("/p/My Amp, (x64).vst3", {"drive": 6.5}, plugin_name="Amp Mono"),
        ),
        ("plugin:/p/Amp (x64).vst3(mix=0.5)", PluginSpec("/p/Amp (x64).vst3", {"mix": 0.5})),
        ("plugin:C:\\Plugins\\Amp.vst3", PluginSpec("C:\\Plugins\\Amp.vst3")),
    ],
)
def test_plugin_items_parse(item, expected):
    assert parse_plugin(item) == expected


def test_items_split_outside_quotes_and_brackets():
    spec = 'Gain(gain_db=-3), plugin:"/p/a, b.vst3"(x=1), plugin:/p/c.vst3(y=2, z=3), Reverb'
    assert split_top_level(spec) == [
        "Gain(gain_db=-3)", 'plugin:"/p/a, b.vst3"(x=1)', "plugin:/p/c.vst3(y=2, z=3)", "Reverb"
    ]


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ("plugin:", "names no plugin file"),
        ("plugin:()", "names no plugin file"),
        ('plugin:"/p/a.vst3', "quote is not closed"),
        ('plugin:"/p/a.vst3" trailing', "only a parameter list may follow"),
        ("plugin:/p/a.vst3(x=1))", "unbalanced parentheses"),
        ("plugin:/p/a.vst3(1)", "by keyword"),
        ("plugin:/p/a.vst3(x=1, x=2)", "'x' is given twice"),
        ("plugin:/p/a.vst3(**{'x': 1})", r"\*\*\.\.\. is not allowed"),
        ("plugin:/p/a.vst3(x=foo)", r"plugin:/p/a.vst3\(x=foo\) is not allowed: a value must"),
        ("plugin:/p/a.vst3(x=1e999)", "finite number"),
        ("plugin:/p/a.vst3(preset=3)", "preset=3.*quoted, non-empty string"),
        ("plugin:/p/a.vst3(plugin_name='')", "plugin_name=''.*quoted, non-empty string"),
        ("plugin:/p/a.vst3(x=1", "unbalanced parentheses"),
        ("plugin:/p/a.vst3(x=[1])", "not allowed: a value must be a literal"),
        ("plugin:/p/x.vstpreset(preset=/p/x.vstpreset)", "cannot be read.*strings quoted"),
    ],
)
def test_bad_plugin_items_are_parameter_errors(item, match):
    with pytest.raises(ParameterError, match=match):
        parse_plugin(item)
    with pytest.raises(ParameterError, match=match):
        parse_spec(f"Gain(gain_db=-1), {item}")


# ---------------------------------------------------------------------------- loading
def test_missing_and_unsupported_files_name_the_path_and_what_is_allowed(tmp_path):
    missing = tmp_path / "Amp.vst3"
    with pytest.raises(ParameterError, match=f"plugin file '{missing}' does not exist.*\\.vst3"):
        parse_spec(f"plugin:{missing}")
    for name in ("Amp.dll", "Amp.so", "Amp.lv2", "Amp.clap", "Amp.wav"):
        other = tmp_path / name
        other.write_bytes(b"\0" * 16)
        with pytest.raises(ParameterError, match=f"'{other}' is not a supported plugin: "
                                                 "allowed are .vst3"):
            parse_spec(f"Reverb, plugin:{other}")


@pytest.mark.parametrize("kind", ["file", "bundle"])
def test_a_file_that_is_not_a_plugin_is_refused_in_one_line(tmp_path, kind):
    path = tmp_path / "Fake.vst3"
    if kind == "file":
        path.write_bytes(b"not a plugin")
    else:
        (path / "Contents" / "x86_64-linux").mkdir(parents=True)
        (path / "Contents" / "x86_64-linux" / "Fake.so").write_bytes(b"not a library")
    with pytest.raises(ParameterError, match=f"plugin file '{path}' could not be loaded: ") as e:
        parse_spec(f"plugin:{path}(gain_db=1)")
    assert "\n" not in str(e.value)


def test_the_cli_refuses_a_missing_plugin_with_exit_2(tmp_path, capsys):
    from pedalboard.io import AudioFile

    src = tmp_path / "in.wav"
    with AudioFile(str(src), "w", SR, 1) as f:
        f.write(np.zeros((1, 4800), np.float32))
    missing = tmp_path / "Amp.vst3"
    code = main(["render", str(src), str(tmp_path / "out.wav"), "--preset", "Organ",
                 "--post", f"Reverb(), plugin:{missing}(drive=3)", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and str(missing) in err and "does not exist" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out.wav").exists()


def test_the_old_class_names_point_to_the_plugin_syntax():
    with pytest.raises(ParameterError, match="plugin:/path/Name.vst3"):
        parse_spec("VST3Plugin(path_to_plugin_file='/p/a.vst3')")


def test_a_quoted_plugin_word_inside_a_builtin_is_just_a_string():
    with pytest.raises(ParameterError, match="impulse_response_filename"):
        parse_spec("Convolution(impulse_response_filename='plugin:/nope.wav')")


# ---------------------------------------------------------------------------- configuring
class StandInPlugin:
    """Stands in for what :func:`pedalboard.load_plugin` returns: ``parameters``, the
    parameters as attributes (checked), ``load_preset``, ``is_effect``/``is_instrument``."""

    def __init__(self, *, instrument: bool = False) -> None:
        self.parameters = {"drive": object(), "bright": object()}
        self.is_instrument = instrument
        self.is_effect = not instrument
        self.loaded: list[str] = []
        self.__dict__["drive"] = 0.0
        self.__dict__["bright"] = False

    def __setattr__(self, key, value):
        if key == "drive" and not 0 <= value <= 10:
            raise ValueError(f"drive must be in [0, 10], got {value}")
        super().__setattr__(key, value)

    def load_preset(self, path: str) -> None:
        if open(path, "rb").read(4) != b"VST3":
            raise RuntimeError("not a VST3 preset")
        self.loaded.append(path)


def test_configure_loads_the_preset_then_sets_the_parameters(tmp_path):
    preset = tmp_path / "crunch.vstpreset"
    preset.write_bytes(b"VST3 stand-in preset")
    plugin = configure(StandInPlugin(), PluginSpec("/p/Amp.vst3", {"drive": 6.5, "bright": True},
                                                   preset=str(preset)))
    assert plugin.loaded == [str(preset)] and plugin.drive == 6.5 and plugin.bright is True


def test_configure_refusals_name_the_plugin_and_what_is_allowed(tmp_path):
    spec = PluginSpec("/p/Amp.vst3")
    with pytest.raises(ParameterError, match="'/p/Amp.vst3' has no parameter 'gain'.*"
                                             "allowed are drive, bright, and preset"):
        configure(StandInPlugin(), PluginSpec("/p/Amp.vst3", {"gain": 1}))
    with pytest.raises(ParameterError, match=r"refused drive=11: drive must be in \[0, 10\]"):
        configure(StandInPlugin(), PluginSpec("/p/Amp.vst3", {"drive": 11}))
    with pytest.raises(ParameterError, match="is an instrument: allowed are effect plugins"):
        configure(StandInPlugin(instrument=True), spec)
    with pytest.raises(ParameterError, match="preset='/p/x.fxp'.*allowed are .vstpreset"):
        configure(StandInPlugin(), PluginSpec("/p/Amp.vst3", preset="/p/x.fxp"))
    missing = tmp_path / "gone.vstpreset"
    with pytest.raises(ParameterError, match=f"preset='{missing}' of plugin .* does not exist"):
        configure(StandInPlugin(), PluginSpec("/p/Amp.vst3", preset=str(missing)))
    bad = tmp_path / "bad.vstpreset"
    bad.write_bytes(b"junk")
    with pytest.raises(ParameterError, match="could not be loaded into plugin '/p/Amp.vst3': "
                                             "not a VST3 preset"):
        configure(StandInPlugin(), PluginSpec("/p/Amp.vst3", preset=str(bad)))


# ---------------------------------------------------------------------------- latency
class LatentPlugin:
    """Stands in for a plugin file with ``latency`` samples of latency (a look-ahead), as
    pedalboard runs one: with ``withholds`` (what pedalboard does with a plugin file) the first
    ``latency`` output samples are withheld, so calls return short at the start; without, the
    output comes whole and delayed. A real delay line, channels first."""

    def __init__(self, latency: int, *, withholds: bool) -> None:
        self.latency = latency  # what it does (the report may say otherwise)
        self.reported_latency_samples = latency
        self.withholds = withholds
        self.reset()

    def reset(self) -> None:
        self._line: np.ndarray | None = None
        self._provided = 0

    def process(self, audio, sample_rate, buffer_size=None, reset=True):
        x = np.asarray(audio, np.float32)
        if reset:
            self.reset()
        if self._line is None or self._line.shape[0] != x.shape[0]:
            self._line = np.zeros((x.shape[0], self.latency), np.float32)
        n = x.shape[1]
        line = np.concatenate([self._line, x], axis=1)
        y, self._line = line[:, :n], line[:, n:]
        if self.withholds:
            self._provided += n
            usable = min(n, max(0, self._provided - self.latency))
            y = y[:, n - usable :]
        return y


@pytest.mark.parametrize("withholds", [True, False], ids=["withholds", "whole"])
@pytest.mark.parametrize("channels", [1, 2])
def test_a_plugins_reported_latency_is_compensated(withholds, channels):
    latency = 300
    chain = Chain([pedalboard.Gain(gain_db=0), LatentPlugin(latency, withholds=withholds),
                   StyleTransfer.identity()])
    total = chain.latency_samples(SR, channels=channels)
    effect = StyleTransfer.identity().latency_samples(SR)
    assert total >= latency + effect
    x = np.zeros((channels, 8000), np.float32)
    x[:, 1000] = 1.0
    y = chain(x, SR)  # one shot: aligned, the plugin's latency trimmed too
    for c in range(channels):
        assert int(np.argmax(np.abs(y[c]))) == 1000
        assert y[c, 1000] == pytest.approx(1.0, abs=IDENTITY_ATOL)
    # streamed: the impulse comes out after exactly the latency the chain reports
    chain.reset()
    z = np.concatenate([chain(np.pad(x, ((0, 0), (0, total)))[:, i : i + 128], SR, reset=False)
                        for i in range(0, 8000 + total, 128)], axis=1)
    assert int(np.argmax(np.abs(z[0]))) == 1000 + total
    assert chain.underruns == 0


def test_without_the_report_a_whole_delayed_plugin_is_off_by_its_latency():
    # the report is what the chain compensates for a plugin that does not withhold
    plugin = LatentPlugin(300, withholds=False)
    x = np.zeros((1, 4000), np.float32)
    x[0, 100] = 1.0
    assert int(np.argmax(Chain([plugin])(x, SR)[0])) == 100
    plugin.reported_latency_samples = 0
    assert int(np.argmax(Chain([plugin])(x, SR)[0])) == 400


@pytest.mark.parametrize("value", [-1, 2.5, "300", True, 1 << 30])
def test_a_nonsense_latency_report_is_refused(value):
    plugin = LatentPlugin(0, withholds=False)
    plugin.reported_latency_samples = value
    with pytest.raises(ParameterError, match="reported_latency_samples="):
        reported_latency(plugin)
    with pytest.raises(ParameterError, match="reported_latency_samples="):
        Chain([plugin]).latency_samples(SR)


def test_a_stand_in_plugin_renders_like_the_stream(rng):
    chain = build_chain(None, pre="Gain(gain_db=-6)", effect=StyleTransfer.identity())
    chain.insert(1, LatentPlugin(77, withholds=True))
    x = rng.uniform(-0.5, 0.5, (2, 20000)).astype(np.float32)
    expected = 10 ** (-6 / 20) * x
    np.testing.assert_allclose(chain(x, SR), expected, atol=STREAM_ATOL + IDENTITY_ATOL)
    assert format_spec([pedalboard.Gain(gain_db=-6)]) == "Gain(gain_db=-6)"
