"""``stylepedal live`` and ``stylepedal devices``: play through a preset on an audio device."""

from __future__ import annotations

import argparse
from typing import Any

from ._chain import add_chain_options, chain_args


def add_live(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``stylepedal live``."""
    p = subparsers.add_parser(
        "live",
        help="play live through a preset (sounddevice); MIDI, web panel, OSC, keys",
        description=(
            "Run the style effect live on an audio device. Program changes select presets "
            "through the MIDI map; the mix, style and bypass CCs set those. --panel serves a "
            "web page (phone or laptop) and a JSON API, --osc takes OSC; on a terminal, keys "
            "switch presets and bypass. Every source goes through one command queue that the "
            "audio never waits on. Prints a status line on stderr about once a second and one "
            "JSON summary line on stdout at exit (with commands per source and refused ones)."
        ),
    )
    add_chain_options(p, preset_help="preset to start with")
    p.add_argument("--input-device", metavar="D", help="input device (index or name)")
    p.add_argument("--output-device", metavar="D", help="output device (index or name)")
    p.add_argument("--blocksize", type=int, default=128, metavar="N",
                   help="frames per block (at most 8192)")
    p.add_argument("--sample-rate", type=int, default=None, metavar="R",
                   help="sample rate (default: the device's; JACK fixes it)")
    p.add_argument("--channels", type=int, default=1, metavar="C",
                   help="input channels processed (1: guitar); output copies to all outputs")
    p.add_argument("--midi", metavar="PORT", help="MIDI input port (name or unique part)")
    p.add_argument("--midi-virtual", action="store_true",
                   help="create a MIDI input port named PORT instead of connecting to one")
    p.add_argument("--midi-backend", default="auto", choices=("auto", "jack", "alsa"),
                   help="MIDI backend (auto: JACK if a JACK server runs, else the system's own)")
    p.add_argument("--seconds", type=float, default=None, metavar="S",
                   help="stop after S seconds (default: until Ctrl-C)")
    p.add_argument("--panel", metavar="[HOST:]PORT",
                   help="serve the web control panel (default host 127.0.0.1; any other "
                        "address needs the token printed at start)")
    p.add_argument("--osc", metavar="[HOST:]PORT",
                   help="listen for OSC on UDP: /stylepedal/preset, /stylepedal/mix, "
                        "/stylepedal/bypass, /stylepedal/gain (default host 127.0.0.1)")
    p.add_argument("--no-keys", action="store_true",
                   help="do not read keys from the terminal (1-9/0 and arrows: presets, "
                        "b: bypass; only when stdin is a terminal)")
    p.set_defaults(func=_live)


def _live(args: argparse.Namespace) -> int:
    import json
    import sys

    from ..._validate import check_int_range
    from ...errors import ParameterError
    from ..chain import build_chain
    from ..live import MAX_BLOCKSIZE, run_live

    settings = chain_args(args)  # a bad spec is refused before any device opens
    check_int_range(args.blocksize, "--blocksize", 1, MAX_BLOCKSIZE)
    if args.seconds is not None and not args.seconds > 0:
        raise ParameterError(f"--seconds={args.seconds} must be a positive number")

    def factory(name: str) -> Any:
        return build_chain(**{**settings, "preset": name})

    summary = run_live(
        factory, args.preset,
        sample_rate=args.sample_rate, blocksize=args.blocksize, channels=args.channels,
        input_device=args.input_device, output_device=args.output_device,
        midi_port=args.midi, midi_backend=args.midi_backend, midi_virtual=args.midi_virtual,
        seconds=args.seconds, panel=args.panel, osc=args.osc,
        keys=not args.no_keys and sys.stdin.isatty(),
    )
    print(json.dumps(summary), flush=True)
    return 0


def add_devices(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``stylepedal devices``."""
    p = subparsers.add_parser(
        "devices", help="list audio devices and host APIs (and MIDI inputs)",
        description="List the audio devices and host APIs PortAudio sees, and MIDI inputs.",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--midi-backend", default="auto", choices=("auto", "jack", "alsa"),
                   help="where to look for MIDI inputs (auto: JACK if a JACK server runs, "
                   "else the system's own: ALSA on Linux)")
    p.set_defaults(func=_devices)


def _devices(args: argparse.Namespace) -> int:
    import json

    from ..live import list_devices
    from ..midi import list_input_ports

    info = list_devices()
    info["midi_inputs"] = list_input_ports(args.midi_backend)
    if args.json:
        print(json.dumps(info, default=str))
        return 0
    apis = info["hostapis"]
    print("host APIs:")
    for i, a in enumerate(apis):
        print(f"  {i}: {a['name']} ({len(a['devices'])} devices)")
    print("devices:")
    default_in, default_out = info["default"]
    for d in info["devices"]:
        mark = ("<" if d["index"] == default_in else " ") + (
            ">" if d["index"] == default_out else " "
        )
        print(
            f" {mark} {d['index']}: {d['name']} [{apis[d['hostapi']]['name']}] "
            f"{d['max_input_channels']} in, {d['max_output_channels']} out, "
            f"{d['default_samplerate']:.0f} Hz"
        )
    if not info["devices"]:
        print("  (none: is a sound server such as JACK running?)")
    print("MIDI inputs:")
    for name in info["midi_inputs"] or ["(none)"]:
        print(f"  {name}")
    return 0
