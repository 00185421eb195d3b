"""Quality benchmark: how far stylepedal moves real guitar toward a style, and what it keeps.

Judged by :mod:`stylepedal.effect.research.judge` (random-feature Gram judges that no training
run uses, plus an onset and chroma content score) on held-out content (``_quality_content``:
fluidsynth guitar from a soundfont, riffs and GM programs that the shipped train split never
uses, and procedural clips of an unused seed) against the factory styles and styles the
project never shipped (``_quality_styles``).

For every (eval content clip, style) pair it judges, in the same run:

``dry``
    The content itself (ratio 1 and content 1 by construction; a check of the judge).
``eq``, ``eq_smooth``
    The static EQ match (:func:`stylepedal.effect.research.eq.eq_match`): per-bin gains, and
    both spectra smoothed over a third of an octave first (a graphic EQ pedal).
``optimiser``
    The seeds' per-input optimiser (``transfer_audio``, as ``stylepedal optimize`` runs it) at
    their settings, on the first ``--optimiser-pairs`` pairs; cached by a hash of the inputs
    and settings (minutes per pair).
``network``
    The product: for a factory style the shipped preset (``StyleTransfer.from_preset``); for
    any other style (and with ``--retrain-factory`` for the factory styles too) the style
    trained as a user trains it (``train_preset`` with the default settings, from the style
    file, into a store under the cache folder, whose content-addressed cache keeps the model).
    Whatever those two produce is what gets judged, processed as ``stylepedal render``
    processes a file (the effect learns the whole clip first, and colours it with hindsight;
    ``--as-live``: as the live pedal plays, learning as it goes; ``--learn-other-take``: after
    learning another riff played on the same guitar).

The summary counts the issue's criteria: per pair, the network at least as stylised as the
EQ-match (``beats_baseline``); the mean network ratio within 1.25x of the mean of the better
baseline per pair; every factory preset beating the EQ-match with content >= 0.65 on at least
two sampled eval guitars.

Run (one heavy process at a time on a shared machine)::

    python benchmarks/quality.py --quick                  # a couple of minutes
    python benchmarks/quality.py --json-out report.json   # ~20 min with 3 optimiser pairs
    python benchmarks/quality.py --from-json report.json --markdown

It prints one JSON object (``--markdown``: tables for docs/performance.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import _quality_content as content_mod
import _quality_styles as styles_mod
import numpy as np
from _quality_styles import NetworkSystem

from stylepedal.effect.research import judge as judge_mod
from stylepedal.effect.research.eq import GRAPHIC_OCTAVES, eq_match
from stylepedal.effect.research.metrics import BEATS_RULE, beats_baseline

DEFAULT_CACHE = Path.home() / ".cache" / "stylepedal-bench"

# A process function of the system under test: (style, content audio, sample rate) -> output
# audio, mono, time-aligned with the content (NetworkSystem is the product's).
System = Callable[[styles_mod.Style, np.ndarray, int], np.ndarray]

# The seeds' optimiser as `stylepedal optimize` runs it by default (the hash of the cache key).
OPTIMISER_SETTINGS: dict[str, Any] = {
    "representation": "stft", "n_fft": 2048, "hop_length": 512, "analysis_rate": 22050,
    "n_filters": 4096, "kernel_size": 11, "layers": 1, "seed": 0, "alpha": 1e-2,
    "init": "content", "optimizer": "lbfgs", "iterations": 300, "griffin_lim_iters": 100,
}
# Pairs the optimiser runs on, in order (--optimiser-pairs N takes the first N present).
OPTIMISER_PAIRS: tuple[tuple[str, str], ...] = (
    ("eval/bm-arpeggio/jazz", "strings"),
    ("eval/fsm-6-8-strum/muted", "organ"),
    ("eval/am-lead/distortion", "cello"),
    ("eval/drop-d-riff/distortion", "flute"),
    ("eval/jazz-comp/jazz", "choir"),
    ("eval/procedural-9001-0", "sax"),
)
QUICK_CONTENT = ("eval/bm-arpeggio/jazz", "eval/drop-d-riff/distortion", "eval/procedural-9001-0")
QUICK_STYLES = ("organ", "choir", "flute", "fuzz")
# The Done-when: mean network ratio within this factor of the better baseline's mean;
# every factory preset beats the EQ-match with at least this content on this many guitars.
RATIO_FACTOR = 1.25
FACTORY_CONTENT_MIN = 0.65
FACTORY_MIN_GUITARS = 2
# The judge-variant check: the first pairs' outputs judged by judges of the same shapes with
# other reserved seeds, and at other analysis levels (and at raw levels, as training sees them).
STABILITY_SEED_OFFSET = 100
STABILITY_OUTPUTS = 8
LEVEL_VARIANTS = (0.03, 0.3)
# Input-level sweep: the first clips, re-levelled to these peaks, through the system under test
# with the first styles (a pedal meets every level; the judge itself is level-blind).
LEVEL_SWEEP_DBFS = (-36.0, -24.0, -12.0, -3.0)
LEVEL_SWEEP_CLIPS = 2
LEVEL_SWEEP_STYLES = 3
SYSTEM_ORDER = ("dry", "eq", "eq_smooth", "optimiser", "network")
BASELINES = ("eq", "eq_smooth", "optimiser")


def _digest(*parts: Any) -> str:
    """sha256 of arrays (by bytes, shape and dtype) and JSON-able values."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            arr = np.ascontiguousarray(part)
            h.update(str((arr.shape, arr.dtype.str)).encode())
            h.update(arr.tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _fit(audio: np.ndarray, n: int) -> np.ndarray:
    """``audio`` cut or zero-padded to ``n`` samples, float32."""
    out = np.zeros(n, dtype=np.float32)
    out[: min(n, audio.size)] = audio[:n]
    return out


def _mean(values: Sequence[float]) -> float:
    return round(float(np.mean(values)), 4)


# -- the optimiser baseline ----------------------------------------------------------------------


def optimiser_output(
    content: np.ndarray, style: np.ndarray, sample_rate: int, cache_dir: Path
) -> tuple[np.ndarray, dict[str, Any]]:
    """The seeds' optimiser on one pair (``transfer_audio``), cached as a float WAV + JSON."""
    from stylepedal._atomic import atomic_write_text
    from stylepedal.audio_io import read_audio, write_audio

    s = OPTIMISER_SETTINGS
    key = _digest(content, style, sample_rate, s)[:32]
    folder = cache_dir / "optimiser"
    wav, meta_path = folder / f"{key}.wav", folder / f"{key}.json"
    if wav.is_file() and meta_path.is_file():
        audio, _ = read_audio(wav, mono=True, sample_rate=sample_rate, name="cached optimiser")
        return _fit(audio, content.size), {**json.loads(meta_path.read_text()), "cached": True}

    from stylepedal.effect.model.features import FeatureConfig
    from stylepedal.effect.research.optimize import transfer_audio
    from stylepedal.effect.research.represent import get_representation

    rep = get_representation(
        s["representation"], n_fft=s["n_fft"], hop_length=s["hop_length"],
        analysis_rate=s["analysis_rate"],
    )
    features = FeatureConfig(
        n_filters=s["n_filters"], kernel_size=s["kernel_size"], layers=s["layers"], seed=s["seed"]
    )
    t0 = time.perf_counter()
    audio, result = transfer_audio(
        content, [style], sample_rate, representation=rep, features=features, alpha=s["alpha"],
        init=s["init"], optimizer=s["optimizer"], iterations=s["iterations"],
        griffin_lim_iters=s["griffin_lim_iters"], seed=s["seed"],
    )
    meta = {
        "seconds": round(time.perf_counter() - t0, 1),
        "iterations": result.iterations,
        "initial_loss": result.initial_loss,
        "final_loss": (result.losses or [result.initial_loss])[-1],
        "style_loss": result.style_loss,
        "content_loss": result.content_loss,
        "peak": float(np.abs(audio).max()),
    }
    folder.mkdir(parents=True, exist_ok=True)
    # 32-bit float WAV: the optimiser's output may exceed full scale, and is kept as it is
    write_audio(wav, audio, sample_rate, bit_depth=32, name="optimiser output")
    atomic_write_text(meta_path, json.dumps(meta, indent=1))
    return _fit(audio, content.size), {**meta, "cached": False}


# -- checks of the judge -----------------------------------------------------------------------


def _scores(result: dict[str, Any]) -> dict[str, Any]:
    """What the report keeps of one judge result."""
    return {
        **{k: round(result[k], 4) for k in ("ratio", "content", "onset", "chroma")},
        "ratios": {k: round(v, 4) for k, v in result["ratios"].items()},
    }


def _sanity(jd: judge_mod.Judge, clip: np.ndarray, style: np.ndarray, sr: int) -> dict[str, Any]:
    """Listening-free checks of the judge on one content clip and one style."""
    noise = (0.1 * np.random.default_rng(0).standard_normal(clip.size)).astype(np.float32)
    cases = {
        "dry": clip,
        "gain_plus_12_db": clip * np.float32(10 ** (12 / 20)),
        "gain_minus_20_db": clip * np.float32(10 ** (-20 / 20)),
        "delayed_50_ms": np.concatenate([np.zeros(sr // 20, np.float32), clip[: -(sr // 20)]]),
        "style_itself": style,
        "style_tiled_to_content_length": np.resize(style, clip.size).astype(np.float32),
        "white_noise": noise,
    }
    out = {}
    for name, audio in cases.items():
        r = jd(audio, clip, style, sr)
        out[name] = {k: round(r[k], 4) for k in ("ratio", "content", "onset", "chroma")}
    return out


def _level_sweep(jd: judge_mod.Judge, process: System, clips: Sequence[Any],
                 styles: Sequence[styles_mod.Style], sr: int) -> dict[str, Any]:
    """Style ratio and content score of the system under test at several input peak levels."""
    out: dict[str, Any] = {
        "what": "the system under test on the first clips scaled to each peak level (dBFS);"
        " ratio / content per level",
        "peaks_dbfs": list(LEVEL_SWEEP_DBFS),
    }
    for clip in clips[:LEVEL_SWEEP_CLIPS]:
        peak = float(np.abs(clip.audio).max())
        for style in styles[:LEVEL_SWEEP_STYLES]:
            row = []
            for level in LEVEL_SWEEP_DBFS:
                x = (clip.audio * (10 ** (level / 20) / peak)).astype(np.float32)
                r = jd(_fit(process(style, x, sr), x.size), x, style.audio, sr)
                row.append([round(r["ratio"], 3), round(r["content"], 3)])
            out[f"{clip.name} x {style.name}"] = row
    return out


def _judge_variants(outputs: Sequence[dict[str, np.ndarray]], sr: int) -> dict[str, Any]:
    """Summary ratios of the same outputs under other judge seeds and other analysis levels."""
    from dataclasses import replace

    alt = tuple(replace(s, seed=s.seed + STABILITY_SEED_OFFSET) for s in judge_mod.JUDGES)
    seeded = ("default", f"seeds_plus_{STABILITY_SEED_OFFSET}")
    judges = {
        seeded[0]: judge_mod.Judge(),
        seeded[1]: judge_mod.Judge(alt),
        **{f"target_rms_{t:g}": judge_mod.Judge(target_rms=t) for t in LEVEL_VARIANTS},
        "raw_levels_no_normalisation": judge_mod.Judge(target_rms=None),
    }
    out: dict[str, Any] = {}
    per_judge: dict[str, list[dict[str, float]]] = {n: [] for n in seeded}
    for name, jd in judges.items():
        out[name] = {}
        for item in outputs:
            for system in ("eq", "network"):
                r = jd(item[system], item["content"], item["style"], sr)
                out[name].setdefault(system, []).append(round(r["ratio"], 3))
                if name in seeded:
                    per_judge[name].append(r["ratios"])
    default, other = (per_judge[n] for n in seeded)
    out["per_judge_mean_abs_log_change_with_seeds"] = {
        s.name: round(float(np.mean([abs(math.log(a[s.name] / b[s.name]))
                                     for a, b in zip(default, other, strict=True)])), 4)
        for s in judge_mod.JUDGES
    }
    return out


def _judge_agreement(pairs: list[dict[str, Any]], system: str) -> dict[str, Any]:
    """Pearson r between judges of log ratios of ``system``'s outputs, and their spread."""
    names = [s.name for s in judge_mod.JUDGES]
    rows = [p["systems"][system]["ratios"] for p in pairs if system in p["systems"]]
    if len(rows) < 3:
        return {"system": system, "pairs": len(rows)}
    logs = np.log(np.array([[max(r[n], 1e-9) for n in names] for r in rows]))
    off = np.corrcoef(logs.T)[~np.eye(len(names), dtype=bool)]
    return {
        "system": system,
        "min_pearson_r_between_judges": round(float(off.min()), 3),
        "mean_pearson_r_between_judges": round(float(off.mean()), 3),
        "mean_max_over_min_judge_ratio": round(float(np.exp(np.ptp(logs, axis=1)).mean()), 3),
        "mean_ratio_per_judge": {
            n: round(float(np.exp(logs[:, i]).mean()), 4) for i, n in enumerate(names)
        },
    }


# -- summaries -----------------------------------------------------------------------------------


def _system_summary(pairs: list[dict[str, Any]], system: str) -> dict[str, Any]:
    rows = [p["systems"][system] for p in pairs if system in p["systems"]]
    if not rows:
        return {"pairs": 0}
    ratios = np.array([r["ratio"] for r in rows])
    contents = np.array([r["content"] for r in rows])
    return {
        "pairs": len(rows),
        "mean_ratio": round(float(ratios.mean()), 4),
        "median_ratio": round(float(np.median(ratios)), 4),
        "geomean_ratio": round(float(np.exp(np.log(np.maximum(ratios, 1e-9)).mean())), 4),
        "pairs_further_than_dry": int((ratios > 1.0).sum()),
        "mean_content": round(float(contents.mean()), 4),
        "min_content": round(float(contents.min()), 4),
    }


def _group(pairs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for p in pairs:
        groups.setdefault(p[key], []).append(p["systems"])
    return {
        name: {
            **{f"{s}_mean_ratio": _mean([r[s]["ratio"] for r in rows])
               for s in ("eq", "eq_smooth", "network")},
            "network_mean_content": _mean([r["network"]["content"] for r in rows]),
            "network_beats_eq": sum(beats_baseline(r["network"], r["eq"]) for r in rows),
            "pairs": len(rows),
        }
        for name, rows in groups.items()
    }


def _failing(pairs: list[dict[str, Any]], system: str) -> dict[str, int]:
    """How the pairs where ``system`` does not beat the EQ-match fail: less stylised than it,
    too little content kept, or both (the rule's two halves)."""
    counts = {"ratio_only": 0, "content_only": 0, "both": 0}
    for p in pairs:
        if system not in p["systems"]:
            continue
        got, eq = p["systems"][system], p["systems"]["eq"]
        # each half of the rule alone: the other half given a value that always passes it
        ratio_bad = not beats_baseline({"ratio": got["ratio"], "content": 1.0}, eq)
        content_bad = not beats_baseline({"ratio": 0.0, "content": got["content"]}, eq)
        if ratio_bad and content_bad:
            counts["both"] += 1
        elif ratio_bad:
            counts["ratio_only"] += 1
        elif content_bad:
            counts["content_only"] += 1
    return counts


def criteria(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's three Done-when criteria, counted on the judged pairs."""
    beats = [beats_baseline(p["systems"]["network"], p["systems"]["eq"]) for p in pairs]
    best = [min(p["systems"][b]["ratio"] for b in ("eq", "optimiser") if b in p["systems"])
            for p in pairs]
    net_mean = float(np.mean([p["systems"]["network"]["ratio"] for p in pairs]))
    factory: dict[str, list[str]] = {}
    for p in pairs:
        if not p.get("factory"):
            continue
        n, e = p["systems"]["network"], p["systems"]["eq"]
        ok = p.get("sampled") and n["ratio"] <= e["ratio"] and n["content"] >= FACTORY_CONTENT_MIN
        factory.setdefault(p["style"], [])
        if ok:
            factory[p["style"]].append(p["content"])
    return {
        "network_at_least_as_stylised_as_eq": {
            "rule": f"per eval pair, network vs eq: {BEATS_RULE}",
            "pairs_passing": int(sum(beats)),
            "pairs": len(pairs),
            "pass": bool(all(beats)),
            "failing": _failing(pairs, "network"),
            "optimiser_on_its_pairs": {
                "pairs_passing": sum(beats_baseline(p["systems"]["optimiser"], p["systems"]["eq"])
                                     for p in pairs if "optimiser" in p["systems"]),
                "pairs": sum("optimiser" in p["systems"] for p in pairs),
                "failing": _failing(pairs, "optimiser"),
            },
        },
        "mean_ratio_within_factor_of_better_baseline": {
            "rule": f"mean network ratio <= {RATIO_FACTOR} x mean over pairs of min(eq,"
            " optimiser where run)",
            "network_mean_ratio": round(net_mean, 4),
            "better_baseline_mean_ratio": _mean(best),
            "factor": round(net_mean / float(np.mean(best)), 4),
            "pass": bool(net_mean <= RATIO_FACTOR * float(np.mean(best))),
        },
        "every_factory_preset_on_two_guitars": {
            "rule": f"every factory preset, on at least {FACTORY_MIN_GUITARS} sampled eval"
            f" guitars: ratio <= eq's and content >= {FACTORY_CONTENT_MIN}",
            "guitars_passing": {k: v for k, v in factory.items()},
            "presets_passing": sum(len(v) >= FACTORY_MIN_GUITARS for v in factory.values()),
            "presets": len(factory),
            "pass": bool(factory) and all(len(v) >= FACTORY_MIN_GUITARS
                                          for v in factory.values()),
        },
    }


def summarise(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's summaries over all judged pairs."""
    systems = [s for s in SYSTEM_ORDER if any(s in p["systems"] for p in pairs)]
    summary: dict[str, Any] = {
        "criteria": criteria(pairs),
        "per_system": {s: _system_summary(pairs, s) for s in systems},
        "network_vs_baselines": {"rule": BEATS_RULE} | {
            b: {"network_wins": sum(beats_baseline(p["systems"]["network"], p["systems"][b])
                                    for p in pairs if b in p["systems"]),
                "pairs": sum(b in p["systems"] for p in pairs)}
            for b in BASELINES if b in systems
        },
    }
    opt_pairs = [p for p in pairs if "optimiser" in p["systems"]]
    if opt_pairs:
        summary["on_optimiser_pairs"] = {
            s: {"mean_ratio": _mean([p["systems"][s]["ratio"] for p in opt_pairs]),
                "mean_content": _mean([p["systems"][s]["content"] for p in opt_pairs])}
            for s in systems
        }
    summary["per_style"] = _group(pairs, "style")
    summary["per_content"] = _group(pairs, "content")
    summary["judge_agreement"] = [_judge_agreement(pairs, s) for s in ("eq", "network")]
    return summary


# -- the run -------------------------------------------------------------------------------------


def other_takes(clips: Sequence[Any]) -> dict[str, np.ndarray]:
    """Clip name -> another take of the same guitar: the next eval clip (cyclically) of the
    same program with another riff; for a procedural clip, the next procedural clip."""
    groups: dict[Any, list[Any]] = {}
    for clip in clips:
        groups.setdefault(clip.meta.get("program", "procedural"), []).append(clip)
    takes = {}
    for group in groups.values():
        if len(group) < 2:
            raise RuntimeError(f"{group[0].name} has no other take of its guitar")
        for i, clip in enumerate(group):
            other = group[(i + 1) % len(group)]
            assert other.meta.get("riff") != clip.meta.get("riff")
            takes[clip.name] = other.audio
    return takes


def run(args: argparse.Namespace, system: System | None = None) -> dict[str, Any]:
    """Run the benchmark as ``args`` asks; returns the report (a JSON-able dict)."""
    import torch

    torch.set_num_threads(max(1, args.threads))
    t_start = time.perf_counter()
    cache_dir = Path(args.cache_dir).expanduser()
    sr = content_mod.SAMPLE_RATE
    clips = content_mod.eval_clips(cache_dir)
    takes = other_takes(clips) if args.learn_other_take else None
    styles = styles_mod.all_styles(cache_dir)
    if args.quick:
        clips = [c for c in clips if c.name in QUICK_CONTENT]
        styles = [s for s in styles if s.name in QUICK_STYLES]
    for s in styles:
        if s.sample_rate != sr:
            raise RuntimeError(f"style {s.name} is at {s.sample_rate} Hz, expected {sr}")
    network = NetworkSystem(Path(os.environ["STYLEPEDAL_HOME"]),
                            retrain_factory=args.retrain_factory, as_live=args.as_live,
                            other_takes=takes)
    process: System = system or network
    present = {(c.name, s.name) for c in clips for s in styles}
    opt_pairs = [p for p in OPTIMISER_PAIRS if p in present][: max(0, args.optimiser_pairs)]
    jd = judge_mod.Judge()
    pairs: list[dict[str, Any]] = []
    optimiser_runs: dict[str, Any] = {}
    stability: list[dict[str, np.ndarray]] = []
    timings = dict.fromkeys(("eq", "network", "optimiser", "judge"), 0.0)
    for clip in clips:
        x = clip.audio
        network.for_clip(clip.name)
        for style in styles:
            outputs: dict[str, np.ndarray] = {"dry": x}
            t = time.perf_counter()
            outputs["eq"] = eq_match(x, style.audio, sr)
            outputs["eq_smooth"] = eq_match(x, style.audio, sr, smoothing_octaves=GRAPHIC_OCTAVES)
            timings["eq"] += time.perf_counter() - t
            if (clip.name, style.name) in opt_pairs:
                t = time.perf_counter()
                outputs["optimiser"], meta = optimiser_output(x, style.audio, sr, cache_dir)
                timings["optimiser"] += time.perf_counter() - t
                optimiser_runs[f"{clip.name} x {style.name}"] = meta
            t = time.perf_counter()
            outputs["network"] = _fit(process(style, x, sr), x.size)
            timings["network"] += time.perf_counter() - t
            if len(stability) < STABILITY_OUTPUTS:
                stability.append({"content": x, "style": style.audio, "eq": outputs["eq"],
                                  "network": outputs["network"]})
            t = time.perf_counter()
            systems = {k: _scores(jd(v, x, style.audio, sr)) for k, v in outputs.items()}
            timings["judge"] += time.perf_counter() - t
            pairs.append({"content": clip.name, "style": style.name, "sampled": clip.sampled,
                          "factory": style.preset is not None, "systems": systems})
            print(f"{clip.name} x {style.name}: " + ", ".join(
                f"{k} {v['ratio']:.3f}/{v['content']:.3f}" for k, v in systems.items()),
                file=sys.stderr)
    sanity = _sanity(jd, clips[0].audio, styles[0].audio, sr)
    sanity["judge_variants"] = {
        "what": f"summary ratios of the eq and network outputs of the first {len(stability)}"
        f" pairs under the default judges, judges of the same shapes with seeds +"
        f" {STABILITY_SEED_OFFSET}, other analysis levels (target RMS), and raw levels",
        **_judge_variants(stability, sr),
    }
    sanity["network_input_level_sweep"] = _level_sweep(jd, process, clips, styles, sr)
    return {
        "benchmark": "stylepedal quality (independent judge, held-out content)",
        "mode": "quick" if args.quick else "full",
        "how_to_read": (
            "ratio: d(output, style) / d(dry content, style), geometric mean over judges; 1 = no"
            " closer to the style than the dry input, 0 = the style's Gram, > 1 = further away."
            " content: mean of onset-envelope r and chroma r with the dry content; dry = 1."
        ),
        "judge": judge_mod.describe(),
        "data": {
            "split": content_mod.split_description(),
            "eval_clips": [c.meta for c in clips],
            "styles": [s.metadata() for s in styles],
        },
        "systems": {
            "dry": "the content itself",
            "eq": "eq_match: per STFT bin gain sqrt(style LTAS / content LTAS), output at the"
            " content's RMS",
            "eq_smooth": f"eq_match with both spectra smoothed over {GRAPHIC_OCTAVES:.3g} octave",
            "optimiser": {"settings": OPTIMISER_SETTINGS, "runs": optimiser_runs,
                          "pairs": [f"{c} x {s}" for c, s in opt_pairs]},
            "network": network.describe() if system is None else repr(system),
        },
        "summary": summarise(pairs),
        "sanity": sanity,
        "pairs": pairs,
        "seconds": {k: round(v, 1) for k, v in timings.items()}
        | {"total": round(time.perf_counter() - t_start, 1)},
        "threads": args.threads,
    }


# -- markdown ------------------------------------------------------------------------------------


def _cell(systems: dict[str, Any], name: str) -> str:
    s = systems.get(name)
    return "" if s is None else f"{s['ratio']:.3f} / {s['content']:.3f}"


def markdown(report: dict[str, Any]) -> str:
    """Summary, criteria, per-style, per-clip and per-pair tables of a report (GitHub markdown)."""
    summary = report["summary"]
    lines = [
        f"Mode: {report['mode']}. {report['how_to_read']}",
        "",
        "| system | pairs | mean ratio | median ratio | further than dry | mean content |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for name, s in summary["per_system"].items():
        lines.append(
            f"| {name} | {s['pairs']} | {s['mean_ratio']:.3f} | {s['median_ratio']:.3f} |"
            f" {s['pairs_further_than_dry']} | {s['mean_content']:.3f} |"
        )
    c = summary["criteria"]
    one, two, three = (c["network_at_least_as_stylised_as_eq"],
                       c["mean_ratio_within_factor_of_better_baseline"],
                       c["every_factory_preset_on_two_guitars"])
    lines += [
        "",
        "| criterion | result | pass |",
        "|---|---|---|",
        f"| {one['rule']} | {one['pairs_passing']} of {one['pairs']} pairs |"
        f" {'yes' if one['pass'] else 'no'} |",
        f"| {two['rule']} | network {two['network_mean_ratio']:.3f}, better baseline"
        f" {two['better_baseline_mean_ratio']:.3f} (x{two['factor']:.2f}) |"
        f" {'yes' if two['pass'] else 'no'} |",
        f"| {three['rule']} | {three['presets_passing']} of {three['presets']} presets |"
        f" {'yes' if three['pass'] else 'no'} |",
    ]
    for title, key in (("style", "per_style"), ("eval clip", "per_content")):
        lines += [
            "",
            f"| {title} | pairs | EQ ratio | EQ 1/3 oct ratio | network ratio |"
            " network content | network beats EQ |",
            "|---|--:|--:|--:|--:|--:|--:|",
        ]
        for name, g in summary[key].items():
            lines.append(
                f"| {name.removeprefix('eval/')} | {g['pairs']} | {g['eq_mean_ratio']:.3f} |"
                f" {g['eq_smooth_mean_ratio']:.3f} | {g['network_mean_ratio']:.3f} |"
                f" {g['network_mean_content']:.3f} | {g['network_beats_eq']} |"
            )
    lines += [
        "",
        "Per pair, ratio / content:",
        "",
        "| content | style | EQ | EQ 1/3 oct | optimiser | network |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for p in report["pairs"]:
        s = p["systems"]
        lines.append(
            f"| {p['content'].removeprefix('eval/')} | {p['style']} | {_cell(s, 'eq')} |"
            f" {_cell(s, 'eq_smooth')} | {_cell(s, 'optimiser')} | {_cell(s, 'network')} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; prints the JSON report (or markdown)."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog="Needs fluidsynth, fluid-soundfont-gm and timgm6mb-soundfont (apt-get install).",
    )
    parser.add_argument("--quick", action="store_true",
                        help="3 clips x 4 factory styles, no optimiser (a couple of minutes)")
    parser.add_argument("--optimiser-pairs", type=int, default=3,
                        help="pairs to run the per-input optimiser on (about 5 min each on one"
                        " core, cached; 0 skips it; default 3)")
    parser.add_argument("--as-live", action="store_true",
                        help="process as the live pedal plays (render --as-live): the colour "
                        "stage learns each clip as it goes instead of from the whole clip first")
    parser.add_argument("--learn-other-take", action="store_true",
                        help="process after the effect learnt another take of the same guitar "
                        "(fx.learn_input): the other eval clip of its program, another riff "
                        "(with a render colour, that take's hindsight EQ)")
    parser.add_argument("--retrain-factory", action="store_true",
                        help="train the factory styles with train_preset instead of using the"
                        " shipped presets")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    parser.add_argument("--json-out", type=Path, help="also write the JSON report to this file")
    parser.add_argument("--from-json", type=Path,
                        help="re-summarise and print an existing report, run nothing")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                        help=f"rendered clips, optimiser outputs, trained models (default"
                        f" {DEFAULT_CACHE})")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    if args.from_json:
        report = json.loads(args.from_json.read_text())
        report["summary"] = summarise(report["pairs"])
    else:
        if args.quick:
            args.optimiser_pairs = 0
        # the benchmark's own store: no user preset of this machine can shadow one under test
        home = Path(args.cache_dir).expanduser() / "stylepedal-home"
        home.mkdir(parents=True, exist_ok=True)
        os.environ["STYLEPEDAL_HOME"] = str(home)
        report = run(args)
        if args.json_out:
            from stylepedal._atomic import atomic_write_text

            atomic_write_text(args.json_out, json.dumps(report, indent=1))
    print(markdown(report) if args.markdown else json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
