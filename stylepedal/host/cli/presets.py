"""The ``stylepedal presets`` command.

``stylepedal presets list | show NAME | export NAME FILE | import FILE | remove NAME | midimap``
"""

from __future__ import annotations

import argparse
from typing import Any


def add_presets(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``stylepedal presets`` and its sub-commands."""
    parser = subparsers.add_parser(
        "presets",
        help="list, show, export, import and remove presets; show the MIDI map",
        description="Manage presets in the store ($STYLEPEDAL_HOME or the user data folder). "
        "Factory presets ship with stylepedal; a user preset of the same name shadows one.",
    )
    sub = parser.add_subparsers(dest="presets_command", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="list factory and user presets")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_list)

    p = sub.add_parser("show", help="print a preset's TOML and where its model is")
    p.add_argument("name", metavar="NAME", help="preset name, as `presets list` shows it")
    p.set_defaults(func=_show)

    p = sub.add_parser("export", help="write a preset and its model into a bundle file")
    p.add_argument("name", metavar="NAME", help="preset name, as `presets list` shows it")
    p.add_argument("file", metavar="FILE",
                   help="bundle file to write, e.g. organ.stylepedal")
    p.set_defaults(func=_export)

    p = sub.add_parser("import", help="verify a bundle and add its preset and model")
    p.add_argument("file", metavar="FILE",
                   help="bundle file written by `presets export` (checked before anything "
                   "is added)")
    p.add_argument("--force", action="store_true",
                   help="replace a user preset of the same name, or shadow a factory one")
    p.set_defaults(func=_import)

    p = sub.add_parser("remove", help="delete a user preset (factory presets stay)")
    p.add_argument("name", metavar="NAME", help="name of a user preset")
    p.set_defaults(func=_remove)

    p = sub.add_parser(
        "midimap",
        help="list (or edit) the MIDI program map and the mix and style CCs",
        description="Without options: list program -> preset. Edits go to midimap.toml.",
    )
    p.add_argument("--mix-cc", type=int, metavar="CC", help="CC number that sets the mix")
    p.add_argument("--style-cc", type=int, metavar="CC",
                   help="CC number that sets the style amount (an expression pedal)")
    p.add_argument(
        "--map", nargs=2, metavar=("PROGRAM", "NAME"), help="map a program (0-127) to a preset"
    )
    p.add_argument("--unmap", type=int, metavar="PROGRAM", help="drop an explicit mapping")
    p.add_argument("--bank", type=int, default=0, help="bank for --map/--unmap (0-16383)")
    p.set_defaults(func=_midimap)


def _store() -> Any:
    from ...presets.store import Store

    return Store()


def _program_text(preset: Any) -> str:
    if preset.midi_program is None:
        return "-"
    if preset.midi_bank:
        return f"{preset.midi_bank}:{preset.midi_program}"
    return str(preset.midi_program)


def _source_text(entry: Any) -> str:
    return "user (shadows factory)" if entry.shadows_factory else entry.source


def _list(args: argparse.Namespace) -> int:
    import json

    entries = _store().list()
    if args.json:
        rows = [
            {
                "name": e.name,
                "program": e.preset.midi_program,
                "bank": e.preset.midi_bank,
                "latency_mode": e.preset.latency_mode,
                "source": e.source,
                "shadows_factory": e.shadows_factory,
                "description": e.preset.description,
            }
            for e in entries
        ]
        print(json.dumps(rows, indent=2))
        return 0
    header = ("NAME", "PROGRAM", "LATENCY", "SOURCE", "DESCRIPTION")
    rows_t = [
        (e.name, _program_text(e.preset), e.preset.latency_mode, _source_text(e),
         e.preset.description)
        for e in entries
    ]
    widths = [max(len(r[i]) for r in [header, *rows_t]) for i in range(4)]
    for row in [header, *rows_t]:
        print("  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
    if not entries:
        print("(no presets)")
    return 0


def _show(args: argparse.Namespace) -> int:
    from ...errors import CacheError

    store = _store()
    entry = store.entry(args.name)
    print(f"# {_source_text(entry)} preset: {entry.location}")
    try:
        _, meta = store.load_model_bytes(entry.preset)
        print(f"# model {entry.preset.model_key[:12]}...: ok ({meta.get('created_by', '?')})")
    except CacheError as exc:
        print(f"# model: MISSING OR INVALID: {exc}")
    print(entry.preset.to_toml(), end="")
    return 0


def _export(args: argparse.Namespace) -> int:
    path = _store().export(args.name, args.file)
    print(f"exported {args.name!r} to {path} ({path.stat().st_size} bytes)")
    return 0


def _import(args: argparse.Namespace) -> int:
    preset = _store().import_(args.file, overwrite=args.force)
    print(f"imported {preset.name!r}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    path = _store().remove(args.name)
    print(f"removed {path}")
    return 0


def _midimap(args: argparse.Namespace) -> int:
    from ...presets.midimap import MidiMapFile, check_bank, check_program

    store = _store()
    file = store.midimap_file()
    changed = False
    overrides = dict(file.overrides)
    mix_cc, style_cc = file.mix_cc, file.style_cc
    if args.map is not None:
        program_text, name = args.map
        try:
            program = int(program_text)
        except ValueError:
            program = program_text  # check_program names the bad value
        key = (check_bank(args.bank), check_program(program))
        overrides[key] = store.get(name).name  # must exist; canonical spelling
        changed = True
    if args.unmap is not None:
        key = (check_bank(args.bank), check_program(args.unmap))
        if overrides.pop(key, None) is None:
            print(f"bank {key[0]} program {key[1]} has no explicit mapping in midimap.toml")
        changed = True
    if args.mix_cc is not None:
        mix_cc = args.mix_cc
        changed = True
    if args.style_cc is not None:
        style_cc = args.style_cc
        changed = True
    if changed:
        store.save_midimap_file(MidiMapFile(mix_cc=mix_cc, overrides=overrides,
                                            style_cc=style_cc))
    midimap = store.midimap()
    print(f"mix CC: {midimap.mix_cc}  style CC: {midimap.style_cc}")
    print("BANK  PROGRAM  PRESET  (FROM)")
    for e in midimap.entries():
        print(f"{e.bank:>4}  {e.program:>7}  {e.preset}  ({e.source})")
    if not len(midimap):
        print("(no programs mapped)")
    return 0
