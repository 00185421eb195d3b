#!/usr/bin/env python
"""Render the shipped guitar corpus: the TRAIN split of the fluidsynth guitar riffs.

Writes ``stylepedal/effect/model/data/guitars/``: one mono 22050 Hz 16-bit FLAC per clip of
:data:`stylepedal.effect.research.guitar_riffs.TRAIN_CLIPS` (16 clips of 6 s: all 8 train
riffs, each with two of the 4 train programs, FluidR3_GM only, peaks spread over -30..-6
dBFS), a ``manifest.json`` (per clip: file, riff, kind, program, program name, soundfont, peak
dBFS, seconds) and ``LICENSE.txt`` (the soundfont's MIT notice). The eval riffs, programs and
soundfont are never rendered here: the quality benchmark judges on them.

Why 16 clips of 6 s rather than all 32 pairs of 4 s: every riff and every program is in the
16, and 6 s holds at least a whole bar of even the slowest riff (a 16-beat phrase at 76 bpm is
12.6 s, so 4 s would cut most riffs to a fragment of their pattern); the set stays well under
3 MB.

Usage::

    python scripts/render_guitar_corpus.py            # needs fluidsynth + fluid-soundfont-gm

Prints one JSON object (files, bytes, seconds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stylepedal._atomic import atomic_write_text
from stylepedal.audio_io import write_audio
from stylepedal.effect.research.guitar_riffs import (
    SAMPLE_RATE,
    TRAIN_CLIPS,
    check_split,
    render_clip,
)

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "stylepedal" / "effect" / "model" / "data" / "guitars"
FLUIDR3_LICENSE = REPO / "stylepedal" / "presets" / "factory" / "FLUIDR3_LICENSE.txt"
MANIFEST_FORMAT_VERSION = 1
# The factory notice opens with a paragraph about the style clips; the rest is the soundfont's
# Debian copyright file, copied verbatim.
_NOTICE_START = "This package was debianized"


def _license_text() -> str:
    text = FLUIDR3_LICENSE.read_text()
    notice = text[text.index(_NOTICE_START):]
    return (
        "The guitar clips in this folder were rendered with FluidSynth from the Fluid (R3)\n"
        "General MIDI SoundFont, FluidR3_GM.sf2, as packaged by Debian (fluid-soundfont-gm),\n"
        "by scripts/render_guitar_corpus.py. Its licence is MIT; the Debian copyright file\n"
        "follows verbatim.\n\n" + notice
    )


def render(out: Path) -> dict:
    """Render every train clip into ``out``; returns the script's report."""
    check_split()
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    total = 0
    t0 = time.perf_counter()
    for clip in TRAIN_CLIPS:
        if clip.split != "train":
            raise SystemExit(f"refusing to ship {clip.name}: not a train clip")
        audio = render_clip(clip, SAMPLE_RATE)
        file = f"{clip.riff}_{clip.program_name}.flac"
        path = write_audio(out / file, audio, SAMPLE_RATE, bit_depth=16, name="guitar clip")
        total += path.stat().st_size
        peak = float(np.abs(audio).max())
        entries.append(
            {
                "file": file,
                "riff": clip.riff,
                "kind": clip.kind,
                "program": clip.program,
                "program_name": clip.program_name,
                "soundfont": clip.soundfont,
                "peak_dbfs": round(20.0 * np.log10(peak), 2),
                "seconds": clip.seconds,
            }
        )
    manifest = {
        "format_version": MANIFEST_FORMAT_VERSION,
        "split": "train",
        "sample_rate": SAMPLE_RATE,
        "rendered_by": "scripts/render_guitar_corpus.py",
        "clips": entries,
    }
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    atomic_write_text(out / "LICENSE.txt", _license_text())
    wanted = {e["file"] for e in entries} | {"manifest.json", "LICENSE.txt"}
    stale = sorted(p.name for p in out.iterdir() if p.name not in wanted)
    for name in stale:
        (out / name).unlink()
    return {
        "folder": str(out.relative_to(REPO)) if out.is_relative_to(REPO) else str(out),
        "clips": len(entries),
        "audio_bytes": total,
        "seconds": round(time.perf_counter() - t0, 1),
        "removed_stale": stale,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder to write (default: the "
                        "package's data/guitars)")
    args = parser.parse_args(argv)
    print(json.dumps(render(args.out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
