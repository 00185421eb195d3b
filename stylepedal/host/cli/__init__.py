"""The ``stylepedal`` command line: every argparse parser of the package lives in this folder.

One module per command group (``demo``, ``render``, ``live``, ``presets``, ``train``,
``research``); each exposes ``add_<command>(subparsers)`` functions that add a parser and set
``func(args) -> int``. A command module imports only argparse at module level and the package's
implementation inside its functions, so ``stylepedal --help`` stays fast and imports no torch.
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
    "demo": "stylepedal.host.cli.demo:add_demo",
    "render": "stylepedal.host.cli.render:add_render",
    "live": "stylepedal.host.cli.live:add_live",
    "devices": "stylepedal.host.cli.live:add_devices",
    "presets": "stylepedal.host.cli.presets:add_presets",
    "train": "stylepedal.host.cli.train:add_train",
    "optimize": "stylepedal.host.cli.research:add_optimize",
    "eval": "stylepedal.host.cli.research:add_eval",
    "texture": "stylepedal.host.cli.research:add_texture",
    "prep": "stylepedal.host.cli.research:add_prep",
    "plot": "stylepedal.host.cli.research:add_plot",
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
        getattr(importlib.import_module(module_name), func_name)(sub)
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
