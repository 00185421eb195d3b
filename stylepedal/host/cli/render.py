"""``stylepedal render``: files through a preset and pedalboard effects, latency compensated."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ._chain import add_chain_options, chain_args

if TYPE_CHECKING:
    from pathlib import Path

    from ..render import RenderResult

# a --plot figure shows the first 30 s: memory stays flat for long files
_PLOT_SECONDS = 30.0


def add_render(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``stylepedal render``."""
    p = subparsers.add_parser(
        "render",
        help="render audio files through a preset (and pedalboard effects)",
        description=(
            "Render files through the style effect and optional pedalboard effects, "
            "with the latency compensated: the output has the input's length, rate and "
            "channels (a file at a rate the effect cannot run at, such as 32 kHz, is "
            "resampled for it and back). Give IN OUT, or several inputs with --out-dir."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="IN [IN ...] (OUT | --out-dir D)")
    p.add_argument("--out-dir", metavar="D", help="write each input as D/<input name>")
    add_chain_options(p, preset_help="style preset name")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing outputs (and --plot figure); never an input")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="with several inputs: render N files at once on N cores (this process "
                   "and N-1 workers). Default 1: one file at a time; on a multi-core machine a "
                   "worker process computes a stereo file's second channel and the --post "
                   "effects")
    p.add_argument("--as-live", action="store_true",
                   help="render as the live pedal plays: the style's colour EQ learns your "
                   "guitar as it goes. Default: it learns the whole file first and colours "
                   "it with hindsight (the style's sharp spectrum over the whole file's, "
                   "fitted further to the style's Gram, right from the first note), and the "
                   "texture network makes its render share of its change")
    p.add_argument("--chunk-frames", type=int, default=65536, help=argparse.SUPPRESS)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object on stdout when done: per file its input, "
                   "output, frames, sample rate, channels, latency trimmed and speed")
    p.add_argument("--plot", metavar="FIGURE.png",
                   help="also save input/output spectrograms (first 30 s of the first file)")
    p.set_defaults(func=_render)


def _pairs(paths: list[str], out_dir: str | None) -> list[tuple[Path, Path]]:
    from pathlib import Path

    from ...errors import AudioFileError, ParameterError

    if out_dir is not None:
        folder = Path(out_dir)
        if not folder.is_dir():
            raise AudioFileError(f"--out-dir {out_dir!r} is not an existing folder")
        pairs = [(Path(p), folder / Path(p).name) for p in paths]
        names = [o.name.casefold() for _, o in pairs]
        if len(set(names)) != len(names):
            raise ParameterError("two inputs have the same file name: they would share an output")
        return pairs
    if len(paths) != 2:
        raise ParameterError(
            f"got {len(paths)} paths: give IN OUT, or IN [IN ...] with --out-dir D"
        )
    return [(Path(paths[0]), Path(paths[1]))]


def _render(args: argparse.Namespace) -> int:

    from ..._validate import check_int_range
    from ..render import render_files

    settings = chain_args(args)
    check_int_range(args.jobs, "--jobs", 1, 64)
    pairs = _pairs(args.paths, args.out_dir)
    if args.plot:
        from ..._atomic import check_output_target

        # before the render, not after it: a figure that cannot be written fails first
        check_output_target(args.plot, [p for pair in pairs for p in pair],
                            overwrite=args.overwrite)
    progress = not args.no_progress

    def done(src: Path, dst: Path, result: RenderResult) -> None:
        if progress and args.jobs > 1 and not args.json:
            print(f"{src} -> {dst}", flush=True)

    results = render_files(
        pairs, settings, jobs=args.jobs, overwrite=args.overwrite, progress=progress,
        chunk_frames=args.chunk_frames, keep_seconds=_PLOT_SECONDS if args.plot else 0.0,
        learn_input=not args.as_live, on_done=done,
    )
    if args.plot:
        from ..plot import save_figure

        first = results[0]
        assert first.excerpt is not None  # kept for the first file
        x, y = first.excerpt
        save_figure(
            args.plot,
            [(f"input: {first.in_path.name}", x.mean(axis=0), first.sample_rate),
             (f"output: {args.preset}", y.mean(axis=0), first.sample_rate)],
        )
    if args.json:
        import json

        print(json.dumps(_summary(results, args)))
    return 0


def _summary(results: list[RenderResult], args: argparse.Namespace) -> dict[str, object]:
    """What ``--json`` prints: the settings and one entry per file, in the order given."""
    return {
        "preset": args.preset,
        "files": [
            {
                "input": str(r.in_path),
                "output": str(r.out_path),
                "frames": r.frames,
                "sample_rate": r.sample_rate,
                "channels": r.channels,
                "latency_samples": r.latency_samples,
                "seconds": round(r.seconds, 3),
                "realtime_factor": round(r.realtime_factor, 2),
            }
            for r in results
        ],
        "plot": args.plot,
    }
