"""Whole-process cost of ``stylepedal render``: start-up included, as a user runs it (JSON).

    python benchmarks/cli_render.py                         # this checkout, 5 runs per file
    python benchmarks/cli_render.py --compare ../other      # interleaved with another checkout

Two generated inputs: a 1 s mono file (the command is mostly start-up) and a 4-minute stereo
track through ``Compressor -> Brass -> Reverb``. Each run is a fresh ``python -m stylepedal
render`` process; reported per file: median (and min, max) wall seconds, CPU seconds (user +
system of the finished child) and peak RSS of the largest process. With ``--compare PATH`` the
same command runs with ``PYTHONPATH=PATH`` (another checkout of stylepedal, e.g. an older
commit) in turn with this one, A B A B ..., and the wall-time ratio is taken pair by pair.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHAIN = ["--preset", "Brass", "--pre", "Compressor(threshold_db=-20, ratio=3)",
         "--post", "Reverb(room_size=0.3)"]


_MAKE_INPUTS = """
import sys
import numpy as np
from pedalboard.io import AudioFile
from stylepedal.effect.model.corpus import make_clip
one, track = sys.argv[1:3]
with AudioFile(one, "w", 48000, 1) as f:
    f.write(make_clip(1.0, 48000, seed=1)[np.newaxis])
with AudioFile(track, "w", 48000, 2) as f:
    f.write(np.stack([make_clip(240.0, 48000, seed=3), make_clip(240.0, 48000, seed=4)]))
"""


def _inputs(folder: Path) -> dict[str, Path]:
    # made in a child: a child's peak RSS counts its parent's size at fork, so this process
    # stays small
    one, track = folder / "one-second-mono.wav", folder / "four-minutes-stereo.wav"
    subprocess.run([sys.executable, "-c", _MAKE_INPUTS, str(one), str(track)], check=True,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=folder)
    return {"1s_mono": one, "4min_stereo": track}


def _run(code_path: Path, src: Path, dst: Path) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(code_path))
    # the older layout's entry point was stylepedal.host.cli; both run the same command
    module = "stylepedal" if (code_path / "stylepedal" / "__main__.py").exists() else (
        "stylepedal.host.cli")
    argv = [sys.executable, "-m", module, "render", str(src), str(dst), *CHAIN, "--overwrite",
            "--no-progress"]
    t0 = time.perf_counter()
    # run from the output folder: python puts the working directory first on sys.path
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=dst.parent)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if status:
        raise RuntimeError(f"render failed ({status}): {err[-500:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024.0}


def _summary(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {k: {"median": round(float(np.median([r[k] for r in runs])), 3),
                "min": round(min(r[k] for r in runs), 3),
                "max": round(max(r[k] for r in runs), 3)} for k in runs[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per file and checkout")
    parser.add_argument("--compare", type=Path, default=None,
                        help="another checkout of stylepedal, run in turn with this one")
    args = parser.parse_args(argv)
    report: dict = {"benchmark": "cli_render", "chain": " ".join(CHAIN), "runs": args.runs,
                    "compare": str(args.compare) if args.compare else None, "files": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, src in _inputs(folder).items():
            ours: list[dict[str, float]] = []
            theirs: list[dict[str, float]] = []
            _run(ROOT, src, folder / "warm.wav")  # a first run fills the OS and numba caches
            if args.compare:
                _run(args.compare, src, folder / "warm.wav")
            for _ in range(args.runs):
                ours.append(_run(ROOT, src, folder / "out.wav"))
                if args.compare:
                    theirs.append(_run(args.compare, src, folder / "out-compare.wav"))
            entry: dict = {"this": _summary(ours)}
            if theirs:
                entry["compare"] = _summary(theirs)
                ratios = [a["wall_s"] / b["wall_s"] for a, b in zip(ours, theirs, strict=True)]
                entry["wall_ratio_median"] = round(float(np.median(ratios)), 3)
            report["files"][name] = entry
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
