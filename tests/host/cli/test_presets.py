"""``stylepedal presets ...`` on temporary stores."""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

import pytest

from stylepedal.errors import StylepedalError
from stylepedal.host.cli import presets as presets_cli
from stylepedal.presets import store as store_mod
from stylepedal.presets.format import Preset
from stylepedal.presets.store import Store
from tests.presets.test_store import user_preset, write_factory


def run(argv: list[str]) -> int:
    """What ``stylepedal presets ...`` does, without importing the other commands' modules."""
    parser = argparse.ArgumentParser(prog="stylepedal")
    sub = parser.add_subparsers(dest="command")
    presets_cli.add_presets(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except StylepedalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    factory = tmp_path / "factory"
    write_factory(factory, [("Organ", 0), ("Flute", 4)])
    monkeypatch.setattr(store_mod, "factory_dir", lambda: factory)
    home = tmp_path / "home"
    monkeypatch.setenv("STYLEPEDAL_HOME", str(home))
    p, w, meta = user_preset("My Sax", program=9)
    Store().save(p, w, meta)
    return home


def test_list(home, capsys):
    assert run(["presets", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "PROGRAM", "LATENCY", "SOURCE", "DESCRIPTION"]
    rows = [line.split() for line in lines[1:]]
    assert rows == [
        ["Organ", "0", "default", "factory", "factory", "Organ"],
        ["Flute", "4", "default", "factory", "factory", "Flute"],
        ["My", "Sax", "9", "low", "user", "mine"],
    ]


def test_list_json_and_shadowing(home, capsys):
    Store().save(Store().get("Organ").replace(name="organ", midi_program=None))
    assert run(["presets", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["organ"]["source"] == "user" and rows["organ"]["shadows_factory"]
    assert "Organ" not in rows
    assert run(["presets", "list"]) == 0
    assert "user (shadows factory)" in capsys.readouterr().out


def test_show(home, capsys):
    assert run(["presets", "show", "my sax"]) == 0
    out = capsys.readouterr().out
    assert "# user preset" in out and ": ok (" in out
    toml = "\n".join(line for line in out.splitlines() if not line.startswith("#"))
    assert Preset.from_toml(toml) == Store().get("My Sax")


def test_show_unknown_suggests(home, capsys):
    assert run(["presets", "show", "My Sx"]) == 2
    assert "did you mean 'My Sax'" in capsys.readouterr().err


def test_export_import_remove_across_stores(home, tmp_path, monkeypatch, capsys):
    bundle = tmp_path / "sax.stylepedal"
    assert run(["presets", "export", "My Sax", str(bundle)]) == 0
    assert bundle.is_file()
    original = Store().get("My Sax")
    monkeypatch.setenv("STYLEPEDAL_HOME", str(tmp_path / "second"))
    assert run(["presets", "import", str(bundle)]) == 0
    with zipfile.ZipFile(bundle) as zf:  # filed under the key of the model it carries
        key = json.loads(zf.read("manifest.json"))["model_key"]
    assert Store().get("my sax") == original.replace(model_key=key)
    assert run(["presets", "import", str(bundle)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert run(["presets", "import", "--force", str(bundle)]) == 0
    assert run(["presets", "remove", "My Sax"]) == 0
    assert "My Sax" not in [e.name for e in Store().list()]
    assert run(["presets", "remove", "Organ"]) == 2
    assert "factory preset and cannot be removed" in capsys.readouterr().err


def test_import_tampered_bundle_fails(home, tmp_path, monkeypatch, capsys):
    bundle = tmp_path / "sax.zip"
    run(["presets", "export", "My Sax", str(bundle)])
    with zipfile.ZipFile(bundle) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    w = members["model.safetensors"]
    members["model.safetensors"] = w[:-1] + bytes([w[-1] ^ 0xFF])
    with zipfile.ZipFile(bundle, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    monkeypatch.setenv("STYLEPEDAL_HOME", str(tmp_path / "second"))
    assert run(["presets", "import", str(bundle)]) == 2
    assert "does not match the manifest" in capsys.readouterr().err
    assert not (tmp_path / "second").exists()


def test_midimap_list_and_edit(home, capsys):
    assert run(["presets", "midimap"]) == 0
    out = capsys.readouterr().out
    assert "mix CC: 1" in out
    assert "   0        0  Organ  (preset)" in out and "   0        9  My Sax  (preset)" in out
    assert run(["presets", "midimap", "--map", "20", "flute", "--bank", "3", "--mix-cc", "7"]) == 0
    out = capsys.readouterr().out
    assert "mix CC: 7" in out and "   3       20  Flute  (midimap.toml)" in out
    assert (home / "midimap.toml").is_file()
    assert run(["presets", "midimap", "--map", "200", "Flute"]) == 2
    assert "program=200" in capsys.readouterr().err
    assert run(["presets", "midimap", "--unmap", "20", "--bank", "3"]) == 0
    assert "Flute  (midimap.toml)" not in capsys.readouterr().out


def test_through_the_real_entry_point(home, capsys):
    from stylepedal.host.cli import main

    assert main(["presets", "list"]) == 0
    assert "My Sax" in capsys.readouterr().out
    assert main(["presets", "remove", "Flute"]) == 2
    assert "stylepedal presets: error:" in capsys.readouterr().err
