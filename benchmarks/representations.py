"""Benchmark: round trips (analysis -> synthesis) of every representation; the optimiser with each.

Signals (5 s at 22.05 kHz, generated, nothing downloaded):
- ``pluck``: a Karplus-Strong plucked-string melody (guitar-like content);
- ``drums``: kick/snare/hat loop (noisy, percussive);
- ``sines``: five stationary sinusoids of known frequency and level (for SMS accuracy).

For each representation the round trip is ``synthesize(analyze(y))`` without optimisation
(Griffin-Lim with ``--gl-iters`` iterations where the representation has no phase). Errors:

- ``sc_rep_db``: spectral convergence ``20 log10(|R - R'| / |R|)`` of the representation's own
  linear magnitudes (``expm1`` of the log feature), original vs re-analysed reconstruction;
- ``sc_stft_db``: the same on a common yardstick, ``|STFT|`` (Hann 2048, hop 512), so
  representations can be compared with each other;
- ``snr_db`` where the phase is kept: CQT with the input's own CQT phase (``icqt``), SMS sines
  plus residual (exact by construction), SMS sinusoids alone vs the input.

``sms_known_sinusoids``: largest frequency (Hz) and level (dB) error over the five partials.
``optimiser``: ``optimize_logmag`` on the 5 s pluck (content) and drums+chord (style), L-BFGS
``--iterations`` iterations, ``--filters`` filters of width 11, then synthesis; also texture
synthesis (alpha=0, noise init). Times are wall-clock seconds on this machine, one thread.

    OMP_NUM_THREADS=1 python benchmarks/representations.py [--gl-iters 32] [--iterations 10]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np

SR = 22050
SECONDS = 5.0


def pluck_melody(rng: np.random.Generator) -> np.ndarray:
    from stylepedal.effect.model.corpus import pluck

    notes = [110.0, 146.8, 164.8, 196.0, 220.0, 196.0, 164.8, 146.8, 110.0, 130.8]
    n = int(SECONDS * SR)
    y = np.zeros(n)
    step = n // len(notes)
    for i, f in enumerate(notes):
        y[i * step :] += pluck(f, SECONDS - i * step / SR, SR, rng=rng)[: n - i * step]
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def drum_loop(rng: np.random.Generator, bpm: float = 120.0) -> np.ndarray:
    n = int(SECONDS * SR)
    y = np.zeros(n)
    eighth = 60.0 / bpm / 2
    for k in range(int(SECONDS / eighth) + 1):
        i = int(k * eighth * SR)
        length = min(int(0.1 * SR), n - i)
        if length <= 0:
            break
        t = np.arange(length) / SR
        if k % 4 == 0:
            hit = 0.8 * np.sin(2 * np.pi * (50 + 120 * np.exp(-t * 30)) * t) * np.exp(-t * 20)
        elif k % 4 == 2:
            hit = 0.5 * rng.standard_normal(length) * np.exp(-t * 30)
        else:
            hit = 0.15 * rng.standard_normal(length) * np.exp(-t * 120)
        y[i : i + length] += hit
    return y.astype(np.float32)


def known_sines() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    freqs = np.array([196.0, 440.0, 987.8, 2093.0, 4186.0])
    levels_db = np.array([-6.0, -12.0, -18.0, -24.0, -30.0])
    t = np.arange(int(SECONDS * SR)) / SR
    y = sum(
        10 ** (a / 20) * np.cos(2 * np.pi * f * t + i)
        for i, (f, a) in enumerate(zip(freqs, levels_db, strict=True))
    )
    return np.asarray(y, np.float32), freqs, levels_db


def stft_mag(y: np.ndarray) -> np.ndarray:
    import librosa

    return np.abs(librosa.stft(y, n_fft=2048, hop_length=512))


def round_trip(rep, y: np.ndarray, gl_iters: int) -> dict:
    from stylepedal.effect.research.reconstruction import spectral_convergence_db

    t0 = time.perf_counter()
    x = rep.analyze(y, SR)
    t1 = time.perf_counter()
    z = rep.synthesize(x, SR, n_iter=gl_iters, reference=y)
    t2 = time.perf_counter()
    x2 = rep.analyze(z, SR)
    out = {
        "shape": list(x.shape),
        "analyze_s": round(t1 - t0, 3),
        "synthesize_s": round(t2 - t1, 3),
        "sc_stft_db": round(spectral_convergence_db(stft_mag(y), stft_mag(z)), 2),
    }
    if getattr(rep, "view", None) != "tracks":  # slot order is arbitrary: no per-channel SC
        out["sc_rep_db"] = round(
            spectral_convergence_db(np.expm1(x.astype(np.float64)), np.expm1(x2.astype(float))),
            2,
        )
    return out


def optimiser_runs(name: str, kwargs: dict, content, style, iterations: int, filters: int):
    import torch

    from stylepedal.effect.model.gram import FeatureConfig
    from stylepedal.effect.research.optimize import optimize_logmag
    from stylepedal.effect.research.represent import get_representation

    torch.set_num_threads(1)
    rep = get_representation(name, seed=0, **kwargs)
    features = FeatureConfig(n_filters=filters, kernel_size=11)
    t0 = time.perf_counter()
    c, s = rep.analyze(content, SR), rep.analyze(style, SR)
    res = optimize_logmag(c, s, features=features, iterations=iterations, seed=0)
    t1 = time.perf_counter()
    y = rep.synthesize(res.logmag, SR, n_iter=32, reference=content)
    t2 = time.perf_counter()
    tex = optimize_logmag(
        None,
        s,
        features=features,
        alpha=0.0,
        init="noise",
        n_frames=c.shape[1],
        iterations=iterations,
        seed=0,
    )
    ty = rep.synthesize(tex.logmag, SR, n_iter=32, reference=np.zeros_like(content))
    t3 = time.perf_counter()
    return {
        "shape": list(c.shape),
        "transfer": {
            "loss_initial": float(res.initial_loss),
            "loss_final": float(res.losses[-1]),
            "optimise_s": round(t1 - t0, 2),
            "synthesize_s": round(t2 - t1, 2),
            "output_rms": round(float(np.sqrt(np.mean(y**2))), 4),
            "finite": bool(np.isfinite(y).all()),
        },
        "texture": {
            "loss_initial": float(tex.initial_loss),
            "loss_final": float(tex.losses[-1]),
            "seconds": round(t3 - t2, 2),
            "output_rms": round(float(np.sqrt(np.mean(ty**2))), 4),
            "finite": bool(np.isfinite(ty).all()),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gl-iters", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--filters", type=int, default=512)
    parser.add_argument("--skip-optimiser", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    from stylepedal.effect.research.cqt import CqtRepresentation
    from stylepedal.effect.research.mel import MelRepresentation
    from stylepedal.effect.research.reconstruction import snr_db
    from stylepedal.effect.research.represent import StftRepresentation
    from stylepedal.effect.research.sms import SmsRepresentation

    rng = np.random.default_rng(0)
    signals = {"pluck": pluck_melody(rng), "drums": drum_loop(rng)}
    reps = {
        "stft": (StftRepresentation, {}),
        "cqt": (CqtRepresentation, {}),
        "cqt_seeds_hop512_12bpo": (CqtRepresentation, {"hop_length": 512, "bins_per_octave": 12}),
        "mel": (MelRepresentation, {}),
        "sms_spectrum_pass": (SmsRepresentation, {}),
        "sms_spectrum_drop": (SmsRepresentation, {"residual": "drop"}),
        "sms_tracks_drop": (SmsRepresentation, {"view": "tracks", "residual": "drop"}),
    }
    # warm-up: librosa's numba kernels and filter caches compile on first use
    for cls, kw in reps.values():
        r = cls(**kw)
        r.synthesize(r.analyze(signals["pluck"][:SR], SR), SR, n_iter=1)

    result: dict = {
        "benchmark": "representations",
        "sample_rate": SR,
        "seconds": SECONDS,
        "gl_iters": args.gl_iters,
        "threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or None,
        "machine": platform.processor() or platform.machine(),
        "round_trip": {},
    }
    for name, (cls, kw) in reps.items():
        result["round_trip"][name] = {
            sig: round_trip(cls(**kw), y, args.gl_iters) for sig, y in signals.items()
        }

    # phase kept
    phase_kept: dict = {}
    cqt = CqtRepresentation()
    for sig, y in signals.items():
        z = cqt.synthesize_with_phase(cqt.analyze(y, SR), SR, reference=y)
        phase_kept[f"cqt_icqt_{sig}"] = round(snr_db(y, z), 2)
        an = SmsRepresentation().decompose(y, SR)
        phase_kept[f"sms_sines_plus_residual_{sig}"] = round(snr_db(y, an.sines + an.residual), 1)
        phase_kept[f"sms_sines_only_{sig}"] = round(snr_db(y, an.sines), 2)
    y, freqs, levels = known_sines()
    an = SmsRepresentation(max_sinusoids=16).decompose(y, SR)
    inner = an.tracks[:, 4:-4]
    phase_kept["sms_sines_only_sines"] = round(snr_db(y[4096:-4096], an.sines[4096:-4096]), 2)
    result["snr_db_phase_kept"] = phase_kept
    f_err, l_err = [], []
    for f, a in zip(freqs, levels, strict=True):
        slot = int(np.argmin(np.abs(inner[:, inner.shape[1] // 2, 0] - f)))
        f_err.append(float(np.abs(inner[slot, :, 0] - f).max()))
        l_err.append(float(np.abs(20 * np.log10(np.maximum(inner[slot, :, 1], 1e-12)) - a).max()))
    result["sms_known_sinusoids"] = {
        "frequencies_hz": freqs.tolist(),
        "levels_db": levels.tolist(),
        "max_freq_error_hz": round(max(f_err), 4),
        "max_level_error_db": round(max(l_err), 4),
        "frames_checked": int(inner.shape[1]),
    }

    if not args.skip_optimiser:
        content = signals["pluck"]
        style = (signals["drums"] + 0.5 * pluck_melody(np.random.default_rng(7))).astype(np.float32)
        result["optimiser"] = {
            "iterations": args.iterations,
            "filters": args.filters,
            "kernel_size": 11,
        }
        for name, kw in (
            ("stft", {}),
            ("cqt", {}),
            ("mel", {}),
            ("sms", {}),
            ("sms", {"view": "tracks"}),
        ):
            key = name if not kw else f"{name}_{'_'.join(str(v) for v in kw.values())}"
            result["optimiser"][key] = optimiser_runs(
                name, kw, content, style, args.iterations, args.filters
            )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
