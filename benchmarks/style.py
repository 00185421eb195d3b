"""Benchmark: the per-style network against the per-input optimiser it approximates (issue 3).

For 3 procedurally generated styles (an organ-like additive tone sequence, a bowed-string-like
sawtooth ensemble, a breathy flute-like tone; no files) this trains one network per style with
the default :class:`~stylepedal.effect.model.train.TrainConfig`, then on held-out guitar clips (a
corpus seed the training never saw) compares, on the training objective:

* the unprocessed content (``L_content``),
* the network output (``L_net``),
* the seeds' per-input optimiser: 300 L-BFGS iterations from the content, same features, same
  alpha (``L_opt``),

and reports ``gap_closed = (L_content - L_net) / (L_content - L_opt)`` with the content losses of
the network and the optimiser. As a check that the cheaper 512-filter objective is not gamed, the
style losses are also measured with Ulyanov's 4096 filters. It also reports training time, the
streaming cost per frame (one channel, one hop per call) and the implied share of one core at
48 kHz (187.5 model hops/s), offline network speed, and the whole effect (STFT, network,
synthesis) rendering 60 s at 48 kHz offline, mono and stereo.

Run: ``OMP_NUM_THREADS=1 python benchmarks/style.py [--quick]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import scipy.signal
import torch

from stylepedal.effect.engine.stft import analyze
from stylepedal.effect.model.corpus import make_corpus
from stylepedal.effect.model.gram import FeatureConfig, GramFeatures
from stylepedal.effect.model.train import TrainConfig, clip_loss, style_grams, train_style
from stylepedal.effect.research.optimize import optimize_logmag

SR = 22050
HOPS_PER_SECOND_48K = 48000 / 256  # the model runs once per 5.333 ms hop
HELDOUT_SEED = 4242  # training uses corpus seeds 0 (train) and 1 (its own held-out check)


# -- procedural styles -------------------------------------------------------------------------


def organ(seconds: float, seed: int = 0) -> np.ndarray:
    """Sustained additive organ-like tones and triads, held 0.4-1.2 s each."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    out = np.zeros(n)
    pos = 0
    while pos < n:
        m = min(int(rng.uniform(0.4, 1.2) * SR), n - pos)
        t = np.arange(m) / SR
        root = int(rng.integers(48, 72))
        chord = [root, root + 4, root + 7] if rng.random() < 0.5 else [root]
        seg = np.zeros(m)
        for midi in chord:
            f = 440.0 * 2 ** ((midi - 69) / 12)
            for h, a in ((1, 1.0), (2, 0.5), (3, 0.35), (4, 0.25), (6, 0.15), (8, 0.1)):
                if f * h < SR / 2:
                    seg += a * np.sin(2 * np.pi * f * h * t + rng.uniform(0, 2 * np.pi))
        env = np.minimum(1.0, np.minimum(t / 0.02, (t[-1] - t) / 0.03 + 1e-9))
        out[pos : pos + m] = seg * env
        pos += m
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def strings(seconds: float, seed: int = 0) -> np.ndarray:
    """A bowed-string-like ensemble: six detuned, vibrato sawtooths, low-passed, swelling."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    out = np.zeros(n)
    for _ in range(6):
        f = 440.0 * 2 ** ((int(rng.integers(43, 67)) - 69) / 12)
        vib = 1 + 0.006 * np.sin(2 * np.pi * rng.uniform(4.5, 6.0) * t + rng.uniform(0, 6))
        phase = np.cumsum(f * vib / SR)
        amp = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 6))
        out += (2 * (phase % 1.0) - 1) * amp
    b, a = scipy.signal.butter(2, 3500, fs=SR)
    out = scipy.signal.lfilter(b, a, out)
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def flute(seconds: float, seed: int = 0) -> np.ndarray:
    """A breathy flute-like line: high sine tones plus band-passed breath noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    out = np.zeros(n)
    pos = 0
    while pos < n:
        m = min(int(rng.uniform(0.3, 0.9) * SR), n - pos)
        t = np.arange(m) / SR
        f = 440.0 * 2 ** ((int(rng.integers(72, 91)) - 69) / 12)
        tone = np.sin(2 * np.pi * f * t) + 0.2 * np.sin(4 * np.pi * f * t)
        noise = rng.standard_normal(m)
        b, a = scipy.signal.iirpeak(min(f, SR / 2.2), Q=3, fs=SR)
        breath = 0.6 * scipy.signal.lfilter(b, a, noise) + 0.05 * noise
        env = np.minimum(1.0, np.minimum(t / 0.06, (t[-1] - t) / 0.08 + 1e-9))
        out[pos : pos + m] = (tone + breath) * env
        pos += m
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


STYLES = {"organ": organ, "strings": strings, "flute": flute}


# -- measurements ------------------------------------------------------------------------------


def _losses(
    out_sub: np.ndarray,
    content_sub: np.ndarray,
    grams: list[torch.Tensor],
    feats: GramFeatures,
    alpha: float,
    content_scale: float,
) -> dict[str, float]:
    """Objective of ``(frames, bins)`` loss frames (already subsampled)."""
    with torch.no_grad():
        parts = clip_loss(
            torch.from_numpy(np.ascontiguousarray(out_sub))[None],
            torch.from_numpy(np.ascontiguousarray(content_sub))[None],
            grams,
            feats,
            alpha=alpha,
            feature_stride=1,
            content_scale=content_scale,
        )
    return {k: float(v.sum()) for k, v in parts.items()}


def _stream_cost_us(net, n_calls: int) -> dict[str, float]:
    tf = net.as_transform()
    state = tf.new_state(1)
    rng = np.random.default_rng(0)
    frames = np.abs(rng.normal(0, 1.5, (n_calls + 100, 1, 1, 1030))).astype(np.float32)
    times = []
    for i in range(n_calls + 100):
        t = time.perf_counter()
        tf(frames[i], state)
        times.append(time.perf_counter() - t)
    us = np.array(times[100:]) * 1e6
    med = float(np.median(us))
    return {
        "median_us": round(med, 1),
        "p99_us": round(float(np.percentile(us, 99)), 1),
        "core_percent_at_48k_median": round(med * HOPS_PER_SECOND_48K / 1e4, 2),
    }


def _offline_speed(net, seconds: float = 10.0) -> dict[str, float]:
    shape = (1, int(seconds * HOPS_PER_SECOND_48K), 1030)
    x = np.abs(np.random.default_rng(1).normal(0, 1.5, shape))
    x = x.astype(np.float32)
    with torch.inference_mode():
        net(torch.from_numpy(x[:, :200]))
        t = time.perf_counter()
        net(torch.from_numpy(x))
        torch_s = time.perf_counter() - t
    tf = net.as_transform()
    t = time.perf_counter()
    tf(x, tf.new_state(1))
    numpy_s = time.perf_counter() - t
    return {
        "torch_x_realtime": round(seconds / torch_s, 1),
        "numpy_one_call_x_realtime": round(seconds / numpy_s, 1),
    }


def _effect_offline_speed(net, seconds: float = 60.0) -> dict[str, float]:
    """The whole effect (STFT, network, synthesis) offline at 48 kHz, as `render` runs it.

    Blocks of 8192 samples (the chain's block), one thread per math library (as in
    ``stylepedal render``), a generated guitar-like signal; mono and stereo.
    """
    from stylepedal._memory import keep_freed_memory
    from stylepedal._threads import single_threaded_math
    from stylepedal.effect import StyleTransfer

    keep_freed_memory()
    rate = 48000
    mono = make_corpus(1, seconds, rate, seed=HELDOUT_SEED)[0].astype(np.float32)
    out = {}
    with single_threaded_math():
        for name, x in (("mono", mono[np.newaxis]), ("stereo", np.stack([mono, mono[::-1]]))):
            fx = StyleTransfer(net.as_transform())
            fx(x[:, :8192], rate)  # first call: windows, plans
            fx.reset()
            t = time.perf_counter()
            for i in range(0, x.shape[1], 8192):
                fx(x[:, i : i + 8192], rate, reset=False)
            out[f"{name}_x_realtime"] = round(seconds / (time.perf_counter() - t), 1)
    return out


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    overrides: dict = {"steps": 20, "corpus_clips": 8} if args.quick else {}
    for item in args.train or []:
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value)
    if "dilations" in overrides:
        overrides["dilations"] = tuple(overrides["dilations"])
    config = TrainConfig(**overrides)
    opt_alpha = config.alpha if args.opt_alpha is None else args.opt_alpha
    feats = GramFeatures(1030, config.features)
    feats4096 = GramFeatures(1030, FeatureConfig(n_filters=4096, kernel_size=11))
    stride = config.feature_stride
    clips = make_corpus(args.clips, args.seconds, SR, seed=HELDOUT_SEED)
    clip_frames = [analyze(c, SR) for c in clips]

    result: dict = {
        "benchmark": "style",
        "quick": bool(args.quick),
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": 1,
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "config": config.to_dict(),
        "heldout_clips": {"n": args.clips, "seconds": args.seconds, "corpus_seed": HELDOUT_SEED},
        "optimizer": {
            "method": "lbfgs",
            "iterations": args.iterations,
            "init": "content",
            "alpha": opt_alpha,
        },
        "styles": {},
    }
    net = None
    for name in args.styles:
        style_audio = STYLES[name](args.style_seconds, seed=7)
        t0 = time.perf_counter()
        net, report = train_style([(style_audio, SR)], config, progress=False)
        train_s = time.perf_counter() - t0
        grams, _ = style_grams([(style_audio, SR)], feats, feature_stride=stride)
        grams4096, _ = style_grams([(style_audio, SR)], feats4096, feature_stride=stride)
        style_frames = analyze(style_audio, SR)
        style_phases = [np.ascontiguousarray(style_frames[o::stride].T) for o in range(stride)]
        per_clip = []
        for ci, x in enumerate(clip_frames):
            with torch.inference_mode():
                y = net(torch.from_numpy(x)[None])[0].numpy()
            xs, ys = x[::stride], y[::stride]
            scale = config.content_reference_frames / xs.shape[0]
            t = time.perf_counter()
            opt = optimize_logmag(
                np.ascontiguousarray(xs.T),
                style_phases,
                features=config.features,
                alpha=opt_alpha * scale,
                init="content",
                optimizer="lbfgs",
                iterations=args.iterations,
                seed=0,
            )
            opt_s = time.perf_counter() - t
            os_ = np.ascontiguousarray(opt.logmag.T)
            lc = _losses(xs, xs, grams, feats, opt_alpha, scale)
            ln = _losses(ys, xs, grams, feats, opt_alpha, scale)
            lo = _losses(os_, xs, grams, feats, opt_alpha, scale)
            big = {
                k: _losses(v, xs, grams4096, feats4096, 0.0, 1.0)["style"]
                for k, v in (("content", xs), ("net", ys), ("opt", os_))
            }
            gap = lc["style"] - lo["style"]
            closed = (lc["style"] - ln["style"]) / gap if gap > 0 else math.nan
            big_gap = big["content"] - big["opt"]
            per_clip.append(
                {
                    "clip": ci,
                    "style_loss_content": round(lc["style"], 3),
                    "style_loss_net": round(ln["style"], 3),
                    "style_loss_opt": round(lo["style"], 3),
                    "gap_closed": round(closed, 4),
                    "content_loss_net": round(ln["content"], 3),
                    "content_loss_opt": round(lo["content"], 3),
                    "total_loss_net": round(ln["total"], 3),
                    "total_loss_opt": round(lo["total"], 3),
                    "content_loss_net_le_opt": bool(ln["content"] <= lo["content"]),
                    "style_loss_4096_filters": {k: round(v, 3) for k, v in big.items()},
                    "gap_closed_4096_filters": round((big["content"] - big["net"]) / big_gap, 4)
                    if big_gap > 0
                    else None,
                    "optimizer_seconds": round(opt_s, 1),
                    "optimizer_iterations": opt.iterations,
                }
            )
        closed_all = [c["gap_closed"] for c in per_clip]
        result["styles"][name] = {
            "train_seconds": round(train_s, 1),
            "train_content_weight_final": report.content_weight,
            "train_heldout_before": report.heldout_before,
            "train_heldout_after": report.heldout_after,
            "clips": per_clip,
            "gap_closed_mean": round(float(np.mean(closed_all)), 4),
            "gap_closed_min": round(float(np.min(closed_all)), 4),
            "content_loss_no_worse_all": all(c["content_loss_net_le_opt"] for c in per_clip),
        }
        print(
            f"{name}: trained in {train_s:.1f} s, gap closed {closed_all}, content net/opt "
            f"{[round(c['content_loss_net'] / c['content_loss_opt'], 3) for c in per_clip]}",
            file=sys.stderr,
        )

    assert net is not None
    stream = _stream_cost_us(net, args.stream_calls)
    styles = result["styles"].values()
    result["network"] = {
        "n_parameters": net.n_parameters(),
        "weights_bytes_float16": len(net.to_safetensors()),
        "receptive_field_frames": net.receptive_field,
        "receptive_field_ms": round(net.receptive_field * 256 / 48, 1),
        "stream_cost_per_frame": stream,
        "offline": _offline_speed(net),
        "effect_offline_48k": _effect_offline_speed(net),
    }
    result["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    result["summary"] = {
        "gap_closed_mean": round(float(np.mean([s["gap_closed_mean"] for s in styles])), 4),
        "gap_closed_min": round(float(np.min([s["gap_closed_min"] for s in styles])), 4),
        "content_loss_no_worse_all": all(s["content_loss_no_worse_all"] for s in styles),
        "train_seconds_max": max(s["train_seconds"] for s in styles),
        "targets": {
            "gap_closed_min_ge_0.8": bool(min(s["gap_closed_min"] for s in styles) >= 0.8),
            "train_seconds_le_120": bool(max(s["train_seconds"] for s in styles) <= 120),
            "network_core_percent_48k": stream["core_percent_at_48k_median"],
            "effect_offline_48k": result["network"]["effect_offline_48k"],
        },
    }
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 1 style, 1 short clip")
    p.add_argument("--styles", nargs="+", choices=sorted(STYLES), default=None)
    p.add_argument("--clips", type=int, default=None, help="held-out clips per style")
    p.add_argument("--seconds", type=float, default=None, help="held-out clip length")
    p.add_argument("--style-seconds", type=float, default=20.0)
    p.add_argument("--iterations", type=int, default=None, help="L-BFGS iterations (300)")
    p.add_argument(
        "--train", action="append", metavar="KEY=JSON", help="TrainConfig override, repeatable"
    )
    p.add_argument(
        "--opt-alpha", type=float, default=None, help="optimiser alpha (default: training's)"
    )
    p.add_argument("--stream-calls", type=int, default=3000)
    args = p.parse_args(argv)
    if args.quick:
        args.styles = args.styles or ["organ"]
        args.clips = args.clips or 1
        args.seconds = args.seconds or 4.0
        args.iterations = args.iterations or 20
        args.stream_calls = min(args.stream_calls, 500)
    else:
        args.styles = args.styles or ["organ", "strings", "flute"]
        args.clips = args.clips or 2
        args.seconds = args.seconds or 10.0
        args.iterations = args.iterations or 300
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
