"""The ``stylepedal`` command line.

Sub-commands live in their own modules and are registered here by name; each module exposes
``add_cli(subparsers)`` which adds its parser and sets ``func(args) -> int``. Modules import
heavy libraries (torch, librosa, pedalboard) lazily so ``stylepedal --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ... import __version__
from ...errors import StylepedalError

# name -> "module:function"; order is the order of `stylepedal --help`.
COMMANDS: dict[str, str] = {
    "demo": "stylepedal.host.demo:add_cli",
    "render": "stylepedal.host.render:add_cli",
    "live": "stylepedal.host.live:add_cli",
    "devices": "stylepedal.host.live:add_devices_cli",
    "presets": "stylepedal.presets.cli:add_cli",
    "train": "stylepedal.effect.model.train:add_cli",
    "optimize": "stylepedal.effect.research.optimize:add_cli",
    "eval": "stylepedal.effect.research.metrics:add_cli",
    "texture": "stylepedal.effect.research.optimize:add_texture_cli",
    "prep": "stylepedal.effect.research.prep:add_cli",
    "plot": "stylepedal.host.plot:add_cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stylepedal",
        description="Playable neural audio style transfer: live, or rendered offline.",
    )
    parser.add_argument("--version", action="version", version=f"stylepedal {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for target in COMMANDS.values():
        module_name, func_name = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # A command whose module is not present in this build is simply not offered.
            if exc.name == module_name:
                continue
            raise
        getattr(module, func_name)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="stylepedal: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except StylepedalError as exc:
        print(f"stylepedal {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"stylepedal {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
