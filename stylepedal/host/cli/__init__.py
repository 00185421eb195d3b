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
import os
import sys
from collections.abc import Sequence
from typing import Any

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


# what a shell reports for a tool that SIGPIPE ended (128 + 13), e.g. `yes | head -1`
EXIT_BROKEN_PIPE = 141


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a message comes (tests swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup_logging(verbose: bool = False) -> logging.Logger:
    """Show the package's log messages on stderr as ``stylepedal: message``.

    Only the ``stylepedal`` logger is configured: other libraries' messages (matplotlib,
    numba) keep Python's defaults, and an application that configured logging keeps its own.
    Calling it again replaces the handler it added.
    """
    logger = logging.getLogger("stylepedal")
    for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("stylepedal: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    return logger


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .._signals import Terminated, terminate_as_interrupt

    try:
        # SIGTERM and SIGHUP clean up as Ctrl-C does: no temporary file, no worker left
        with terminate_as_interrupt():
            code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # the reader (`| head`) has gone: stop quietly. Python flushes stdout again at exit,
        # so point it at devnull first.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # stdout without a file descriptor (captured)
            pass
        return EXIT_BROKEN_PIPE
    except StylepedalError as exc:
        print(f"stylepedal {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Terminated as exc:
        print(f"stylepedal {args.command}: {exc}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print(f"stylepedal {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
