"""The research tools: ``optimize``, ``texture``, ``eval``, ``prep`` and ``plot``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...effect.model.features import FeatureConfig



# -- optimize, texture ------------------------------------------------------------------------


def _add_optimiser_options(parser: argparse.ArgumentParser) -> None:
    from ...effect.model.features import ORIENTATIONS
    from ...effect.research.optimize import INITS, OPTIMIZERS
    from ...effect.research.represent import REPRESENTATIONS

    parser.add_argument("--init", choices=INITS, default=None,
                        help="initial spectrogram (optimize: content; texture: noise)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs",
                        help="lbfgs (L-BFGS, as in Ulyanov's method) or adam (Adam, which needs a "
                        "smaller step); default lbfgs")
    parser.add_argument("--iterations", type=int, default=300,
                        help="optimiser iterations (default 300)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="step size (default: 1.0 for L-BFGS, 0.01 for Adam)")
    parser.add_argument("--kernel-size", type=int, default=11,
                        help="filter width in frames (default 11, as in Ulyanov's method; 3 gives "
                        "a finer, busier texture)")
    parser.add_argument("--filters", type=int, default=4096,
                        help="random filters per layer (default 4096)")
    parser.add_argument("--layers", type=int, default=1, help="conv + ReLU layers (default 1)")
    parser.add_argument("--griffin-lim-iters", type=int, default=100,
                        help="Griffin-Lim iterations for the phase (default 100)")
    parser.add_argument("--bound-weight", type=float, default=0.0,
                        help="weight of a penalty on spectrogram values above the loudest of the "
                        "content and style (try 1e-3; default 0: off)")
    parser.add_argument("--representation", choices=REPRESENTATIONS, default="stft",
                        help="the spectrogram the method works on and resynthesises from "
                        "(default stft: log(1 + |STFT|), as in Ulyanov's method)")
    parser.add_argument(
        "--rep-option", action="append", default=[], metavar="KEY=VALUE",
        help=(
            "a keyword setting of the representation, e.g. n_fft=1024 or hop_length=256"
            " (repeatable; VALUE is an int, float, true/false, none or a string)"
        ),
    )
    parser.add_argument(
        "--orientation", choices=ORIENTATIONS, default="freq",
        help=(
            "how the random convolution sees the spectrogram: freq (bins as channels, timbre;"
            " default), time (frames as channels, rhythm; content and style of one length)"
            " or 2d (a 2-D conv over freq x time; use few --filters)"
        ),
    )
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random filters, the init and the phase (default 0)")
    parser.add_argument("--sample-rate", type=int, default=22050,
                        help="rate the files are resampled to and written at (default 22050)")


def add_optimize(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``stylepedal optimize CONTENT STYLE [STYLE ...] OUT``."""
    parser = subparsers.add_parser(
        "optimize",
        help="style transfer by optimising each input (Ulyanov's method; minutes a clip)",
        description=(
            "Optimise the spectrogram of CONTENT so its Gram-matrix style matches STYLE (one or"
            " more files defining one style), then resynthesise with Griffin-Lim. Minutes per"
            " 10 s clip with the default settings."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="CONTENT STYLE [STYLE ...] OUT",
                        help="content file, one or more style files, output file")
    parser.add_argument("--alpha", type=float, default=1e-2,
                        help="content weight (default 1e-2; 0 = style only)")
    parser.add_argument("--style-only", action="store_true",
                        help="match the style only (alpha=0), starting from the content's "
                        "spectrogram")
    parser.add_argument("--seconds", type=float, default=None,
                        help="use only the first SECONDS of every file (default: whole file)")
    _add_optimiser_options(parser)
    parser.set_defaults(func=_optimize)


def add_texture(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``stylepedal texture STYLE [STYLE ...] OUT --seconds N``."""
    parser = subparsers.add_parser(
        "texture",
        help="texture synthesis: new audio with the style's Gram statistics (alpha=0)",
        description="Synthesise SECONDS of audio whose Gram-matrix style matches STYLE.",
    )
    parser.add_argument("paths", nargs="+", metavar="STYLE [STYLE ...] OUT",
                        help="one or more style files, output file")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="length of the output (default 10)")
    _add_optimiser_options(parser)
    parser.set_defaults(func=_texture)


def _positive_int_arg(value: int, name: str) -> int:
    from ...errors import ParameterError

    if value < 1:
        raise ParameterError(f"--{name}={value} must be a positive integer")
    return value


def _feature_config(args: argparse.Namespace) -> FeatureConfig:
    from ...effect.model.features import FeatureConfig
    from ...errors import ParameterError

    _positive_int_arg(args.kernel_size, "kernel-size")
    _positive_int_arg(args.filters, "filters")
    _positive_int_arg(args.layers, "layers")
    if args.seed < 0:
        raise ParameterError(f"--seed={args.seed} must be a non-negative integer")
    return FeatureConfig(n_filters=args.filters, kernel_size=args.kernel_size,
                         layers=args.layers, seed=args.seed, orientation=args.orientation)


def _parse_option_value(text: str) -> Any:
    """``"512"`` -> 512, ``"0.5"`` -> 0.5, ``"true"`` -> True, ``"none"`` -> None, else the text.

    Parsed by hand (never ``eval``): only these literal kinds are accepted; quotes around a
    value force a string (``'"512"'`` -> ``"512"``).
    """
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
        return stripped[1:-1]
    for kind in (int, float):
        try:
            return kind(stripped)
        except ValueError:
            pass
    return stripped


def parse_rep_options(items: list[str]) -> dict[str, Any]:
    """Parse ``--rep-option KEY=VALUE`` strings into keyword arguments.

    Examples
    --------
    >>> parse_rep_options(["n_fft=1024", "fmin_hz=55.0", "n_bins=none", "mode=fast"])
    {'n_fft': 1024, 'fmin_hz': 55.0, 'n_bins': None, 'mode': 'fast'}
    """
    from ...errors import ParameterError

    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ParameterError(
                f"--rep-option={item!r} must be KEY=VALUE with a keyword name, e.g. n_fft=1024"
            )
        if key in options:
            raise ParameterError(f"--rep-option {key} is given twice: give each key once")
        options[key] = _parse_option_value(value)
    return options


def _transfer(args: argparse.Namespace, content_path: str | None, style_paths: list[str],
              out: str) -> int:
    import torch

    from ...audio_io import check_output_path, read_audio, write_audio
    from ...effect.research.optimize import transfer_audio
    from ...effect.research.represent import representation_from_options
    from ...errors import ParameterError

    out_path = check_output_path(out)
    features = _feature_config(args)
    if args.iterations < 0:
        raise ParameterError(f"--iterations={args.iterations} must be >= 0")
    if args.griffin_lim_iters < 0:
        raise ParameterError(f"--griffin-lim-iters={args.griffin_lim_iters} must be >= 0")
    sr = args.sample_rate
    rep = representation_from_options(
        args.representation, parse_rep_options(args.rep_option), seed=args.seed
    )
    seconds = None if content_path is None else args.seconds
    names = [f"style {p!r}" for p in style_paths]
    styles = [read_audio(p, sample_rate=sr, mono=True, seconds=seconds, name="style")[0]
              for p in style_paths]
    content = texture_samples = None
    if content_path is None:
        from ..._validate import check_range

        texture_samples = int(round(check_range(args.seconds, "seconds", 1e-3, 3600.0) * sr))
    else:
        content = read_audio(content_path, sample_rate=sr, mono=True, seconds=seconds,
                             name="content")[0]
    audio, result = transfer_audio(
        content, styles, sr, representation=rep, features=features,
        alpha=0.0 if content is None or args.style_only else args.alpha, init=args.init,
        optimizer=args.optimizer, iterations=args.iterations,
        learning_rate=args.learning_rate, bound_weight=args.bound_weight,
        griffin_lim_iters=args.griffin_lim_iters, texture_samples=texture_samples,
        seed=args.seed, progress=True, style_names=names,
    )
    write_audio(out_path, audio, sr, scale_to_fit=True)
    content_part = (
        "" if result.content_loss is None else f", content loss {result.content_loss:.4g}"
    )
    print(
        f"wrote {out_path} ({len(audio) / sr:.2f} s): style loss "
        f"{result.style_loss:.4g}{content_part}; total {result.initial_loss:.4g} -> "
        f"{(result.losses or [result.initial_loss])[-1]:.4g} in {result.iterations} iterations"
        f" ({torch.get_num_threads()} threads)"
    )
    return 0


def _optimize(args: argparse.Namespace) -> int:
    from ...errors import ParameterError

    if len(args.paths) < 3:
        raise ParameterError(
            f"optimize needs CONTENT STYLE [STYLE ...] OUT, got {len(args.paths)} path(s)"
        )
    return _transfer(args, args.paths[0], args.paths[1:-1], args.paths[-1])


def _texture(args: argparse.Namespace) -> int:
    from ...errors import ParameterError

    if len(args.paths) < 2:
        raise ParameterError(f"texture needs STYLE [STYLE ...] OUT, got {len(args.paths)} path(s)")
    return _transfer(args, None, args.paths[:-1], args.paths[-1])


# -- eval ------------------------------------------------------------------------------------


def add_eval(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``stylepedal eval OUT --content C --style S [S ...] [--descriptors] [--json]``."""
    from ...effect.research.represent import REPRESENTATIONS

    parser = subparsers.add_parser(
        "eval",
        help="measure how far a stylised file moved toward its style, against a plain EQ",
        description=(
            "Judge OUT (CONTENT through an effect) against STYLE with an independent judge:"
            " random-feature Gram judges that no training run uses. The style ratio is"
            " d(OUT, style) / d(CONTENT, style): < 1 means OUT is closer to the style than the"
            " input was, 0 means it has the style's Gram, > 1 that it moved away. The content"
            " score (onset and chroma correlation with CONTENT, 1 = kept) says whether the"
            " playing survived. Beside OUT the same two numbers are given for the EQ-match"
            " baseline: CONTENT through the static EQ that gives it STYLE's long-term spectrum."
            " A preset that does not beat it (ratio <= the EQ's and content >= min(0.70, the"
            " EQ's - 0.05)) does nothing a plain EQ could not. --descriptors adds the Gram"
            " distance with the training features and the MIR descriptor ratios."
        ),
    )
    parser.add_argument("output", metavar="OUT", help="the stylised audio file")
    parser.add_argument("--content", required=True, help="the unprocessed content file")
    parser.add_argument("--style", required=True, nargs="+",
                        help="the style file(s); several define one style")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--sample-rate", type=int, default=22050,
                        help="rate all files are resampled to (default 22050)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="use only the first SECONDS of every file")
    parser.add_argument(
        "--descriptors", action="store_true",
        help=(
            "also report the Gram style distance with the training features (--filters,"
            " --kernel-size, --layers, --seed, --representation) and the MIR descriptor ratios"
        ),
    )
    parser.add_argument("--filters", type=int, default=4096,
                        help="random filters of --descriptors' Gram (4096)")
    parser.add_argument("--kernel-size", type=int, default=11,
                        help="filter width of --descriptors' Gram (11)")
    parser.add_argument("--layers", type=int, default=1, help="conv layers of --descriptors' Gram")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of --descriptors' random filters (0)")
    parser.add_argument("--representation", choices=REPRESENTATIONS, default="stft",
                        help="spectrogram --descriptors' features see (default stft)")
    parser.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    import json

    from ...audio_io import read_audio
    from ...effect.research.metrics import (
        evaluate,
        format_judge_table,
        format_table,
        judge_against_eq,
    )

    sr = args.sample_rate

    def read(path: str, name: str) -> Any:
        return read_audio(path, sample_rate=sr, mono=True, seconds=args.seconds, name=name)[0]

    out = read(args.output, "output")
    content = read(args.content, "content")
    styles = [read(p, "style") for p in args.style]
    result = judge_against_eq(out, content, styles, sr)
    if args.descriptors:
        from ...effect.model.features import FeatureConfig

        features = FeatureConfig(
            n_filters=args.filters, kernel_size=args.kernel_size, layers=args.layers,
            seed=args.seed,
        )
        result["descriptors"] = evaluate(
            out, content, styles, sr, features=features, representation=args.representation
        )
    result["files"] = {"output": args.output, "content": args.content, "style": args.style}
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return 0
    print(format_judge_table(result))
    if args.descriptors:
        print()
        print(format_table(result["descriptors"]))
    return 0


# -- prep, plot ------------------------------------------------------------------------------


def add_prep(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``stylepedal prep IN OUT [--trim START:END] [--match-tempo REF] [--loudness]``."""
    parser = subparsers.add_parser(
        "prep",
        help="trim a clip, match its tempo to a reference, normalise its loudness",
        description=(
            "Prepare a content or style clip as Ulyanov's method advises: cut it to the same"
            " duration as the other, adapt its tempo, and set its loudness. Steps run in the"
            " order trim, tempo, loudness; the output keeps the input's rate and channels."
        ),
    )
    parser.add_argument("input", metavar="IN", help="audio file to prepare")
    parser.add_argument("output", metavar="OUT", help="audio file to write (format by extension)")
    parser.add_argument("--trim", metavar="START:END", default=None,
                        help="keep START..END seconds, e.g. 1.5:4, :10 or 2: (must lie inside "
                        "the clip)")
    parser.add_argument("--match-tempo", metavar="REFERENCE", default=None,
                        help="time-stretch to the tempo of REFERENCE (an audio file, or a "
                        "number of BPM)")
    parser.add_argument("--loudness", metavar="LUFS", type=float, default=None,
                        help="normalise integrated loudness to LUFS (EBU R128: -23)")
    parser.set_defaults(func=_prep)


def _reference_arg(text: str) -> str | float:
    try:
        return float(text)
    except ValueError:
        return text


def _prep(args: argparse.Namespace) -> int:
    from ...effect.research.prep import parse_trim, prepare

    trim_range = parse_trim(args.trim) if args.trim is not None else None
    reference = _reference_arg(args.match_tempo) if args.match_tempo is not None else None
    info = prepare(args.input, args.output, trim_range=trim_range, reference=reference,
                   loudness_lufs=args.loudness)
    parts = [f"wrote {args.output} ({info['output_seconds']:.2f} s)"]
    if "source_bpm" in info:
        parts.append(
            f"tempo {info['source_bpm']:.1f} -> {info['target_bpm']:.1f} BPM"
            f" (x{info['stretch_factor']:.3f})"
        )
    if "loudness_lufs" in info:
        parts.append(f"loudness {info['loudness_lufs']:.1f} LUFS")
    print("; ".join(parts))
    return 0


def add_plot(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``stylepedal plot --content C --style S --output O FIGURE.png``."""
    parser = subparsers.add_parser(
        "plot",
        help="save content, style and output spectrograms side by side as a PNG",
        description=(
            "Draw the log-frequency spectrograms of the content, style and output files side"
            " by side, on one dB scale."
        ),
    )
    parser.add_argument("figure", metavar="FIGURE.png", help="PNG file to write")
    parser.add_argument("--content", metavar="C", required=True, help="content audio file")
    parser.add_argument("--style", metavar="S", required=True, help="style audio file")
    parser.add_argument("--output", metavar="O", required=True, help="stylised output file")
    parser.add_argument("--title", default=None, help="figure title")
    parser.set_defaults(func=_plot)


def _plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ...audio_io import read_audio
    from ..plot import save_figure

    panels = []
    for label, name in (("Content", args.content), ("Style", args.style), ("Output", args.output)):
        audio, sr = read_audio(name, name=label.lower())
        panels.append((f"{label}: {Path(name).name}", audio, sr))
    path = save_figure(args.figure, panels, title=args.title)
    print(f"wrote {path}")
    return 0
