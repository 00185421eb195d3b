"""Typed errors everywhere: hostile presets, cache metadata, MIDI maps and specs are clear
errors (exit 2, no traceback); one bad user preset never breaks the others."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stylepedal.errors import CacheError, ParameterError
from stylepedal.host.cli import main
from stylepedal.host.spec import parse_spec
from stylepedal.presets.cache import meta_from_bytes

from ._forge import HOSTILE_PRESETS
from ._util import clean_failure, cli, tone


def _home() -> Path:
    return Path(os.environ["STYLEPEDAL_HOME"])


def _user_preset(name: str, text: str) -> Path:
    folder = _home() / "presets"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", list(HOSTILE_PRESETS))
def test_a_bad_user_preset_is_skipped_and_breaks_nothing(tmp_path, case, capsys, caplog):
    bad = _user_preset("Bad", HOSTILE_PRESETS[case])
    assert main(["presets", "list"]) == 0
    assert "Organ" in capsys.readouterr().out and "skipping" in caplog.text
    src = tone(tmp_path / "in.wav", seconds=0.3)
    assert main(["render", str(src), str(tmp_path / "o.wav"), "--preset", "Organ",
                 "--no-progress"]) == 0
    assert main(["presets", "show", "Bad"]) == 2  # named: the error says what is wrong
    assert main(["presets", "remove", "Bad"]) == 0  # and it can be removed
    assert not bad.exists()


def test_the_cli_reports_a_bad_preset_without_traceback(tmp_path):
    _user_preset("Bad", HOSTILE_PRESETS["5000-level array"])
    clean_failure(cli(["presets", "show", "Bad"]))


@pytest.mark.parametrize("text", [
    b'{"network": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"steps": ' + b"9" * 5000 + b"}",
])
def test_hostile_meta_json_is_a_cache_error(text):
    with pytest.raises(CacheError, match="meta.json"):
        meta_from_bytes(text, "model x")


@pytest.mark.parametrize("text", [
    "format_version = 1\nmix_cc = " + "[" * 5000 + "]" * 5000 + "\n",
    "format_version = 1\nmix_cc = " + "9" * 5000 + "\n",
])
def test_hostile_midimap_is_a_typed_error(text):
    (_home()).mkdir(parents=True, exist_ok=True)
    (_home() / "midimap.toml").write_text(text)
    err = clean_failure(cli(["presets", "midimap"]))
    assert "midimap.toml" in err


@pytest.mark.parametrize("spec", [
    "Gain(gain_db=" + "9" * 4000 + ")",
    "Gain(gain_db=" + "-" * 3000 + "1)",
    "Resample(target_sample_rate=1e30)",
    "Gain(gain_db=1e308)",
])
def test_hostile_specs_are_parameter_errors(spec):
    with pytest.raises(ParameterError):
        parse_spec(spec)


def test_hostile_spec_on_the_command_line(tmp_path):
    src = tone(tmp_path / "in.wav", seconds=0.3)
    spec = "Gain(gain_db=" + "-" * 3000 + "1)"
    clean_failure(cli(["render", str(src), str(tmp_path / "o.wav"), "--preset", "Organ",
                       "--post", spec]))


def test_a_chain_that_overflows_writes_no_inf(tmp_path, capsys):
    src = tone(tmp_path / "in.wav", seconds=0.3)
    out = tmp_path / "o.wav"
    assert main(["render", str(src), str(out), "--preset", "Organ", "--no-progress",
                 "--post", "Gain(gain_db=1000)"]) == 2
    assert "NaN/Inf" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(("channels", "rate", "message"), [
    (8, 48000, "8 channels"), (2, 384000, "384000 Hz"),
])
def test_mp3_that_cannot_hold_the_input_fails_before_rendering(tmp_path, channels, rate,
                                                                message, capsys):
    src = tone(tmp_path / "in.wav", seconds=0.2, channels=channels, sample_rate=rate)
    assert main(["render", str(src), str(tmp_path / "o.mp3"), "--preset", "Organ",
                 "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.mp3").exists()


def test_store_home_that_is_a_file(tmp_path, monkeypatch):
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    env = {**os.environ, "STYLEPEDAL_HOME": str(home)}
    assert "not a folder" in clean_failure(cli(["presets", "list"], env=env))


def test_store_home_read_only(tmp_path, monkeypatch, capsys):
    if os.geteuid() == 0:
        home = Path("/proc/stylepedal-home")  # root ignores permission bits; /proc does not
    else:
        home = tmp_path / "ro"
        home.mkdir()
        home.chmod(0o555)
    monkeypatch.setenv("STYLEPEDAL_HOME", str(home))
    assert main(["presets", "midimap", "--mix-cc", "3"]) == 2
    assert "cannot write" in capsys.readouterr().err

