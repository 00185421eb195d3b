"""Benchmark of the streaming engine (issue 2). Prints one JSON object.

    python benchmarks/engine.py [--seconds 20] [--quick]

- per-block cost at 48 kHz, block 128 (median, p99, max in microseconds), mono and stereo, for
  the identity transform in each latency and phase mode; share of one core; real-time factor;
- latency in samples and ms for each mode at 44.1 and 48 kHz;
- spectral convergence (dB, lower is better) of the resynthesis against a *modified* target
  magnitude (a time-varying EQ applied to the magnitudes of a generated guitar-like signal) for
  each streaming phase mode and for offline fast Griffin-Lim (100 iterations), at 22.05 kHz where
  the model band is the whole band, so the target is exactly what the engine resynthesises.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from stylepedal.effect import StftConfig, StyleTransfer  # noqa: E402
from stylepedal.effect.engine.stft import MODEL_BINS, stft  # noqa: E402
from stylepedal.effect.model.corpus import pluck  # noqa: E402
from stylepedal.effect.research.reconstruction import (  # noqa: E402
    engine_convergence_db,
    griffin_lim,
)


def guitar_like(sample_rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Plucked strings of a chord progression with strums and dynamics, float32 mono."""
    rng = np.random.default_rng(seed)
    n = int(sample_rate * seconds)
    out = np.zeros(n)
    chords = [
        [82.41, 123.47, 164.81, 207.65],
        [110.0, 164.81, 220.0, 277.18],
        [146.83, 220.0, 293.66, 369.99],
        [98.0, 146.83, 196.0, 246.94],
    ]
    t0 = 0
    step = int(0.6 * sample_rate)
    while t0 < n:
        chord = chords[(t0 // step) % len(chords)]
        velocity = rng.uniform(0.3, 1.0)
        for j, f in enumerate(chord):
            start = t0 + j * int(0.012 * sample_rate)
            length = min(n - start, int(1.5 * sample_rate))
            if length <= 0:
                continue
            note = pluck(f, length / sample_rate, sample_rate, rng=rng, velocity=velocity)
            out[start : start + note.size] += note
        t0 += step
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


class EqTransform:
    """A time-varying EQ on the log1p magnitudes: the 'modified target' of the benchmark."""

    model_bins = MODEL_BINS

    def __init__(self) -> None:
        k = np.arange(MODEL_BINS)
        self.base = 0.8 * np.sin(2 * np.pi * k / 180.0) - 0.6 * (k / MODEL_BINS)

    def new_state(self, channels: int) -> list[int]:
        return [0]

    def __call__(self, frames: np.ndarray, state: list[int]) -> np.ndarray:
        t = state[0] + np.arange(frames.shape[1])
        state[0] += frames.shape[1]
        wobble = 0.5 * np.sin(2 * np.pi * t / 300.0)[None, :, None]
        gain = np.exp(self.base[None, None, :] * (1.0 + wobble))
        return np.log1p(gain * np.expm1(frames)).astype(np.float32)


def block_cost(fx: StyleTransfer, sample_rate: int, channels: int, block: int, guitar: np.ndarray):
    x = np.stack([guitar] * channels) if channels > 1 else guitar
    n_blocks = x.shape[-1] // block
    fx.reset()
    fx(x[..., :block], sample_rate, reset=True)  # warm up, build configs
    times = np.empty(n_blocks - 1)
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    for i in range(1, n_blocks):
        t = time.perf_counter()
        fx(x[..., i * block : (i + 1) * block], sample_rate, reset=False)
        times[i - 1] = time.perf_counter() - t
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    budget = block / sample_rate
    audio_seconds = (n_blocks - 1) * budget
    return {
        "channels": channels,
        "block": block,
        "median_us": round(float(np.median(times)) * 1e6, 1),
        "p99_us": round(float(np.percentile(times, 99)) * 1e6, 1),
        "max_us": round(float(times.max()) * 1e6, 1),
        "budget_us": round(budget * 1e6, 1),
        "core_percent_median": round(100 * float(np.median(times)) / budget, 2),
        "core_percent_cpu_time": round(100 * cpu / audio_seconds, 2),
        "realtime_factor": round(audio_seconds / wall, 1),
    }


def convergence(seconds: float, gla_iters: int) -> dict:
    sr = 22050
    cfg = StftConfig.for_rate(sr)
    x = guitar_like(sr, seconds, seed=2)
    eq = EqTransform()
    spec = stft(x, cfg)
    feats = np.log1p(np.abs(spec) * 1024.0 / cfg.window_sum).astype(np.float32)[None]
    target_feats = eq(feats, eq.new_state(1))[0]
    target = np.expm1(target_feats.astype(np.float64)) * cfg.window_sum / 1024.0
    result = {"sample_rate": sr, "signal_seconds": seconds}
    for mode in ("input", "pghi"):
        fx = StyleTransfer(EqTransform(), phase_mode=mode)
        y = fx(x, sr, reset=False).astype(np.float64)  # streamed: delayed
        aligned = y[cfg.latency_samples :]
        aligned = np.pad(aligned, (0, cfg.latency_samples))
        result[f"stream_{mode}_db"] = round(engine_convergence_db(target, aligned, cfg), 2)
    t = time.perf_counter()
    gla = griffin_lim(target, cfg, n_iter=gla_iters)
    result[f"offline_griffin_lim_{gla_iters}_db"] = round(
        engine_convergence_db(target, gla, cfg), 2
    )
    result["offline_griffin_lim_seconds"] = round(time.perf_counter() - t, 2)
    result["pghi_minus_griffin_lim_db"] = round(
        result["stream_pghi_db"] - result[f"offline_griffin_lim_{gla_iters}_db"], 2
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="audio per timing run")
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    args = parser.parse_args(argv)
    seconds = 2.0 if args.quick else args.seconds
    report: dict = {
        "benchmark": "engine",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": os.environ.get("OMP_NUM_THREADS"),
        "latency": {},
        "block_cost_48k_128": {},
    }
    for sr in (44100, 48000):
        for mode in ("default", "low"):
            cfg = StftConfig.for_rate(sr, mode)
            report["latency"][f"{sr}_{mode}"] = {
                "samples": cfg.latency_samples,
                "ms": round(1000 * cfg.latency_samples / sr, 2),
                "n_fft": cfg.n_fft,
                "hop_length": cfg.hop_length,
            }
    guitar = guitar_like(48000, seconds, seed=1)  # the same signal for every mode
    for mode in ("default", "low"):
        for phase in ("input", "pghi"):
            for channels in (1, 2):
                fx = StyleTransfer.identity(latency_mode=mode, phase_mode=phase)
                key = f"{mode}_{phase}_{'mono' if channels == 1 else 'stereo'}"
                report["block_cost_48k_128"][key] = block_cost(fx, 48000, channels, 128, guitar)
    report["spectral_convergence"] = convergence(3.0 if args.quick else 8.0, 100)
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
