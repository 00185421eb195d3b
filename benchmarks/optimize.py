"""Benchmark: the seeds' per-input optimiser at Ulyanov's full settings.

10 s at 22.05 kHz (430 STFT frames x 1025 bins), 4096 random filters of width 11, L-BFGS,
content weight 1e-2, content init. Content: Karplus-Strong plucked notes; style: detuned
sawtooth chords.

Measures ``--measure`` iterations on 1 and on 2 threads and extrapolates to 300 iterations
(the JSON says so); with ``--full`` it also runs all 300 iterations on 2 threads and reports
the measured time and final loss.

    OMP_NUM_THREADS=1 python benchmarks/optimize.py [--measure 20] [--full]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

SAMPLE_RATE = 22050
SECONDS = 10.0
FRAMES = 430  # Ulyanov crops the spectrogram to 430 frames
ITERATIONS = 300


def make_content(seed: int = 0) -> np.ndarray:
    """A guitar-like line: plucked notes every 0.5 s."""
    from stylepedal.effect.model.corpus import pluck

    rng = np.random.default_rng(seed)
    n = int(SECONDS * SAMPLE_RATE)
    out = np.zeros(n)
    notes = [110.0, 146.8, 196.0, 164.8, 220.0, 196.0, 146.8, 130.8]
    step = int(0.5 * SAMPLE_RATE)
    for i, start in enumerate(range(0, n, step)):
        note = pluck(notes[i % len(notes)], 1.5, SAMPLE_RATE, rng=rng)
        end = min(n, start + len(note))
        out[start:end] += note[: end - start]
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def make_style() -> np.ndarray:
    """Detuned sawtooth chords (three voices, +-7 cents), a new chord every 2.5 s."""
    n = int(SECONDS * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    chords = [
        (220.0, 277.2, 329.6),
        (196.0, 246.9, 293.7),
        (174.6, 220.0, 261.6),
        (164.8, 207.7, 246.9),
    ]
    out = np.zeros(n)
    seg = n // len(chords)
    for i, chord in enumerate(chords):
        sl = slice(i * seg, (i + 1) * seg)
        for f in chord:
            for cents in (-7.0, 0.0, 7.0):
                fd = f * 2.0 ** (cents / 1200.0)
                out[sl] += 2.0 * ((t[sl] * fd) % 1.0) - 1.0
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def run(content: np.ndarray, style: np.ndarray, iterations: int, threads: int) -> dict:
    import torch

    from stylepedal.effect.model.gram import FeatureConfig
    from stylepedal.effect.research.optimize import optimize_logmag

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    stamps: list[float] = []
    result = optimize_logmag(
        content,
        style,
        features=FeatureConfig(n_filters=4096, kernel_size=11),
        alpha=1e-2,
        init="content",
        optimizer="lbfgs",
        iterations=iterations,
        callback=lambda i, loss: stamps.append(time.perf_counter()),
    )
    total = time.perf_counter() - t0
    setup = (stamps[0] - t0) if stamps else total
    # The first L-BFGS iteration needs several line-search evaluations to find the scale;
    # later ones usually one or two. Per-iteration time is taken over iterations 2..N.
    steady = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else float("nan")
    return {
        "threads": threads,
        "iterations_run": result.iterations,
        "seconds_total": round(total, 2),
        "seconds_setup_and_first_iteration": round(setup, 2),
        "seconds_per_iteration": round(steady, 3),
        "initial_loss": result.initial_loss,
        "final_loss": result.losses[-1] if result.losses else result.initial_loss,
        "style_loss": result.style_loss,
        "content_loss": result.content_loss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--measure", type=int, default=20, help="iterations to time per run")
    parser.add_argument("--full", action="store_true", help="also run 300 iterations, 2 threads")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    from stylepedal.effect.research.represent import get_representation

    rep = get_representation("stft")
    content = rep.analyze(make_content(), SAMPLE_RATE)[:, :FRAMES]
    style = rep.analyze(make_style(), SAMPLE_RATE)[:, :FRAMES]

    runs = []
    for threads in args.threads:
        r = run(content, style, args.measure, threads)
        r["extrapolated_seconds_300_iterations"] = round(
            r["seconds_setup_and_first_iteration"] + (ITERATIONS - 1) * r["seconds_per_iteration"],
            1,
        )
        runs.append(r)
    out: dict = {
        "benchmark": "optimize_logmag (the seeds' per-input optimiser)",
        "config": {
            "sample_rate": SAMPLE_RATE,
            "seconds": SECONDS,
            "frames": int(content.shape[1]),
            "bins": int(content.shape[0]),
            "n_filters": 4096,
            "kernel_size": 11,
            "alpha": 1e-2,
            "optimizer": "lbfgs (strong Wolfe, history 100)",
            "init": "content",
        },
        "measured_iterations": args.measure,
        "note": (
            f"timed {args.measure} iterations per thread count; 300-iteration time extrapolated"
            " as setup + first iteration + 299 x steady per-iteration time"
        ),
        "runs": runs,
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0],
            "python": platform.python_version(),
        },
    }
    if args.full:
        full = run(content, style, ITERATIONS, max(args.threads))
        out["full_300"] = full
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
