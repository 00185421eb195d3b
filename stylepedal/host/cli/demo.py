"""``stylepedal demo``: render a generated guitar clip through a factory preset (WAV + PNG)."""

from __future__ import annotations

import argparse


def add_demo(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``stylepedal demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="render a generated guitar clip through a factory preset (WAV + PNG)",
        description="Render a generated guitar-like clip through a preset and write input.wav, "
        "output-PRESET.wav and a content/style/output spectrogram figure demo-PRESET.png.",
    )
    parser.add_argument("--preset", default="Organ", help="preset name (default: Organ)")
    parser.add_argument(
        "--out-dir", default="demo-out", help="folder for the files (default: demo-out)"
    )
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="clip length in seconds (default: 8)")
    parser.add_argument("--sample-rate", type=int, default=48000,
                        help="sample rate of the clip in Hz (default: 48000)")
    parser.add_argument("--seed", type=int, default=7, help="which generated clip (default: 7)")
    parser.add_argument("--pre", default="", metavar="SPEC",
                        help="effects before the style: pedalboard effects such as "
                        "'Compressor(threshold_db=-20)' or a plugin file 'plugin:/path/Amp.vst3'")
    parser.add_argument("--post", default="", metavar="SPEC",
                        help="effects after the style, e.g. 'Reverb(room_size=0.3)'")
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    import json

    from ..demo import run_demo

    summary = run_demo(
        args.preset,
        args.out_dir,
        seconds=args.seconds,
        sample_rate=args.sample_rate,
        seed=args.seed,
        pre=args.pre,
        post=args.post,
    )
    print(json.dumps(summary))
    return 0
