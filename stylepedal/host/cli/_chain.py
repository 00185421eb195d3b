"""The options that set up a chain, shared by ``render`` and ``live``."""

from __future__ import annotations

import argparse
from typing import Any


def add_chain_options(parser: argparse.ArgumentParser, *, preset_help: str) -> None:
    """``--preset``, ``--mix``, ``--style``, ``--gate-db``, ``--pre`` and ``--post``."""
    parser.add_argument("--preset", required=True, metavar="NAME", help=preset_help)
    parser.add_argument("--mix", type=float, default=None, help="dry/wet mix in [0, 1]")
    parser.add_argument("--style", type=float, default=None,
                        help="style amount in [0, 1]: 0 the dry spectrum, 1 the full style "
                        "(default: the preset's)")
    parser.add_argument("--gate-db", type=float, default=None,
                        help="input level (dBFS) above which the style is fully applied "
                        "(default -70; -120 lets it play over near-silence)")
    parser.add_argument("--pre", default="", metavar="SPEC",
                        help="effects before the style: pedalboard effects such as "
                        "'Compressor(threshold_db=-20)' or a plugin file 'plugin:/path/Amp.vst3'")
    parser.add_argument("--post", default="", metavar="SPEC",
                        help="effects after the style, e.g. 'Reverb(room_size=0.3)' or "
                        "'plugin:/path/Cab.vst3(mix=0.5)'")


def chain_args(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords of :func:`stylepedal.host.chain.build_chain`, the specs checked (before
    any file or device is opened)."""
    from ..._validate import check_range
    from ...effect.engine.constants import MIX_RANGE, STYLE_RANGE
    from ..spec import parse_spec

    if args.mix is not None:
        check_range(args.mix, "--mix", *MIX_RANGE)
    if args.style is not None:
        check_range(args.style, "--style", *STYLE_RANGE)
    parse_spec(args.pre)
    parse_spec(args.post)
    return {"preset": args.preset, "mix": args.mix, "pre": args.pre, "post": args.post,
            "gate_db": args.gate_db, "style": args.style}
