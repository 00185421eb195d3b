"""Texture validation: how much of its trained change a style network should make.

``TrainConfig.texture`` scales the saved network's change to its input as the live pedal plays
(``--as-live`` measures it so), ``TrainConfig.render_texture`` its change in a render, whose
colour is the hindsight EQ (measured without it). This benchmark chooses
them without the eval material of ``benchmarks/quality.py``: every factory style is trained as
``train_preset`` trains it, except that two riffs of the shipped train split (both their
programs) are held out of the content. The held-out riffs (dry, and through four other rigs:
a guitar the network has not heard) and two procedural clips of a seed training never plays
are then processed at each texture amount (as ``stylepedal render`` does, or with
``--as-live`` as the live pedal plays) and judged by the validation judges
(:data:`~stylepedal.effect.research.judge.VALIDATION_JUDGES`: seeds, widths and sizes that
neither the eval judges nor the training banks use), beside the static EQ-match in the same
run. Per amount it counts the pairs where the network beats the EQ-match under the quality
benchmark's rule; the amount with the most (ties: the lower mean ratio) is ``chosen``.

Run (one heavy process at a time on a shared machine; 11 min, 4 with the trained models cached)::

    python benchmarks/texture.py --json-out texture.json
    python benchmarks/texture.py --styles organ flute --amounts 0.5 1   # a quick look
    python benchmarks/texture.py --extra-styles   # with styles the factory bank lacks (pads...)
    python benchmarks/texture.py --amounts 0.25 --fit-amounts 0.3 0.45 --fit-keeps 0.995 0.997
        # a render's Gram fit: its largest share, and the chroma of the input it must keep

It prints one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "2")

import _quality_styles as styles_mod
import numpy as np

from stylepedal._atomic import atomic_write_bytes
from stylepedal.effect.research import judge as judge_mod
from stylepedal.effect.research.eq import eq_match
from stylepedal.effect.research.metrics import BEATS_RULE, beats_baseline

DEFAULT_CACHE = Path.home() / ".cache" / "stylepedal-bench"
SAMPLE_RATE = 22050
AMOUNTS = (0.0, 0.25, 0.5, 0.75, 1.0)
# Riffs of the shipped train split left out of training here (a picked arpeggio and funk stabs:
# two playing styles unlike the strums and lines that stay in).
HELD_RIFFS = ("am-f-c-g-arpeggio", "e9-funk-stabs")
# make_corpus seed of the procedural validation clips: training plays seed 0.
PROCEDURAL_SEED = 1
# Styles of kinds the factory bank lacks (pads above all), to validate what a user trains too
# (``--extra-styles``): GM programs and phrases of their own, none of the eval's extra styles.
# fmt: off
VALIDATION_STYLES: tuple[styles_mod.ExtraStyle, ...] = (
    # Halo pad: slow A minor 9 / G6 / E minor 7 / F major 9 voicings.
    styles_mod.ExtraStyle("halo-pad", 94, "Pad 7 (halo)", 70, (
        ((45, 55, 59, 60, 64), 0.0, 3.4, 88, 0.0), ((43, 55, 59, 62, 64), 3.5, 3.4, 84, 0.0),
        ((40, 55, 59, 62, 67), 7.0, 3.4, 90, 0.0), ((41, 55, 57, 60, 64), 10.5, 3.4, 86, 0.0),
    )),
    # Bowed pad: open fifths and thirds moving slowly over a D pedal.
    styles_mod.ExtraStyle("bowed-pad", 92, "Pad 5 (bowed)", 60, (
        ((38, 45, 54), 0.0, 1.9, 86, 0.0), ((38, 47, 55), 2.0, 1.9, 82, 0.0),
        ((38, 45, 57), 4.0, 1.9, 90, 0.0), ((38, 43, 52, 59), 6.0, 1.9, 84, 0.0),
    )),
    # Clarinet: a G minor line across the break.
    styles_mod.ExtraStyle("clarinet", 71, "Clarinet", 92, styles_mod.legato(
        [(55, 1), (58, 0.5), (62, 0.5), (67, 1.5), (65, 0.5), (63, 1), (62, 1), (60, 0.5),
         (58, 0.5), (57, 1), (55, 2)], 90)),
    # Accordion: a waltz, bass note then two chords to the bar.
    styles_mod.ExtraStyle("accordion", 21, "Accordion", 132, tuple(
        ev for bar, (root, chord) in enumerate([(41, (57, 60, 65)), (36, (55, 60, 64)),
                                                 (43, (55, 58, 62)), (36, (55, 60, 64))])
        for ev in (((root,), 3.0 * bar, 0.9, 96, 0.0), (chord, 3.0 * bar + 1, 0.7, 80, 0.0),
                   (chord, 3.0 * bar + 2, 0.7, 78, 0.0))
    )),
)
# fmt: on
# A guitar the network has not heard is also another rig: each held riff is judged dry and
# through these pedalboard chains too (an overdriven amp, a high-gain amp, a dark neck pickup
# into a compressor, and a hard-clipping crunch pedal with a mid hump into a ladder filter: a
# distortion of another family than the tanh drive).
RIGS: dict[str, str] = {
    "drive": "Distortion(drive_db=24), LowpassFilter(cutoff_frequency_hz=5000)",
    "high-gain": "HighpassFilter(cutoff_frequency_hz=100), Distortion(drive_db=40), "
                 "LowpassFilter(cutoff_frequency_hz=4000)",
    "dark": "LowpassFilter(cutoff_frequency_hz=1800), Compressor(threshold_db=-30, ratio=4)",
    "crunch": "PeakFilter(cutoff_frequency_hz=720, gain_db=9, q=0.7), Gain(gain_db=30), "
              "Clipping(threshold_db=-12), LadderFilter(cutoff_hz=3500)",
}


def _rig(audio: np.ndarray, chain: str) -> np.ndarray:
    """``audio`` through the pedalboard ``chain`` (a ``--pre`` spec), at its own peak level."""
    from stylepedal.effect.model.corpus import played_through
    from stylepedal.host.spec import parse_spec

    return played_through(audio, parse_spec(chain), SAMPLE_RATE)


def _validation_clips() -> tuple[list[tuple[np.ndarray, int]], list[tuple[str, np.ndarray]]]:
    """(training content without the held riffs, [(name, audio)] of the validation clips)."""
    from stylepedal.effect.model.corpus import make_corpus
    from stylepedal.effect.model.guitars import load_guitar_corpus

    corpus = load_guitar_corpus(SAMPLE_RATE)
    riffs = {meta["riff"] for _, meta in corpus}
    missing = set(HELD_RIFFS) - riffs
    if missing:
        raise SystemExit(f"held riffs {sorted(missing)} are not in the corpus {sorted(riffs)}")
    train = [(audio, SAMPLE_RATE) for audio, meta in corpus if meta["riff"] not in HELD_RIFFS]
    held = [(f"train-split/{meta['file']}", audio.astype(np.float32))
            for audio, meta in corpus if meta["riff"] in HELD_RIFFS]
    held += [(f"{name} + {rig}", _rig(audio, chain))
             for name, audio in list(held) for rig, chain in RIGS.items()]
    procedural = make_corpus(2, 6.0, SAMPLE_RATE, seed=PROCEDURAL_SEED)
    held += [(f"procedural-{PROCEDURAL_SEED}-{i}", a.astype(np.float32))
             for i, a in enumerate(procedural)]
    return train, held


def _trained(style: styles_mod.Style, train: list[tuple[np.ndarray, int]], cache: Path) -> bytes:
    """The style's network trained at the defaults on ``train`` (full change), cached."""
    from stylepedal.effect.model.train import TRAIN_VERSION, TrainConfig, train_style

    config = TrainConfig(use_guitars=False, texture=1.0, render_texture=1.0)
    settings = config.to_dict()
    del settings["render_texture"]  # chosen here, after training: the weights do not depend on it
    digest = hashlib.sha256(f"v{TRAIN_VERSION}".encode())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for audio in [style.audio, *(a for a, _ in train)]:
        digest.update(np.ascontiguousarray(audio, np.float32).tobytes())
    path = cache / "texture" / f"{style.name}-{digest.hexdigest()[:16]}.safetensors"
    if path.exists():
        return path.read_bytes()
    t0 = time.perf_counter()
    net, _ = train_style([(style.audio, style.sample_rate)], config, content_clips=train,
                         progress=False)
    print(f"trained {style.name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    data = net.to_safetensors()
    atomic_write_bytes(path, data)
    return data


def _effect(data: bytes, amount: float, power: np.ndarray, grams: np.ndarray,
            fit: float | None, keep: float | None = None) -> Any:
    """The network at ``amount`` of its trained change, live and in a render alike (``power``
    and ``grams``: the style's sharp spectrum and Grams, for the render's hindsight colour and
    Gram fit, as training stores them; ``fit``: the most of the Gram fit a render applies,
    None for the shipped one; ``keep``: the chroma it must keep, None for the shipped one)."""
    from stylepedal import StyleTransfer
    from stylepedal.effect.model.network import StyleNet

    net = StyleNet.from_safetensors(data).scale_change(amount).round_to("float16")
    transform = net.set_render(power, 1.0, grams).as_transform()
    if fit is not None:
        transform.fit_amount = fit
    if keep is not None:
        transform.fit_keep = keep
    return StyleTransfer(transform)


def _label(amount: float, fit: float | None, keep: float | None = None) -> str:
    label = f"{amount:g}" if fit is None else f"{amount:g} fit {fit:g}"
    return label if keep is None else f"{label} keep {keep:g}"


def run(
    styles: list[str] | None, amounts: tuple[float, ...], cache: Path, *, as_live: bool = False,
    extra: bool = False, fits: tuple[float | None, ...] = (None,),
    keeps: tuple[float | None, ...] = (None,),
) -> dict[str, Any]:
    t0 = time.perf_counter()
    train, clips = _validation_clips()
    jd = judge_mod.Judge(judge_mod.VALIDATION_JUDGES)
    candidates = styles_mod.factory_styles(cache)
    if extra:
        candidates += styles_mod.extra_styles(cache, VALIDATION_STYLES)
    chosen_styles = [s for s in candidates if styles is None or s.name in styles]
    if not chosen_styles:
        raise SystemExit(f"no style among {styles} (of {[s.name for s in candidates]})")
    from stylepedal.effect.model.colour import style_power
    from stylepedal.effect.model.gramfit import style_grams
    from stylepedal.effect.model.train import prepare_style

    rows = []
    for style in chosen_styles:
        data = _trained(style, train, cache)
        prepared = [prepare_style(style.audio, style.sample_rate)]
        power, grams = style_power(prepared), style_grams(prepared)
        effects = {_label(k, f, c): _effect(data, k, power, grams, f, c)
                   for k in amounts for f in fits for c in keeps}
        for name, x in clips:
            base = jd(eq_match(x, style.audio, SAMPLE_RATE), x, style.audio, SAMPLE_RATE)
            row: dict[str, Any] = {"style": style.name, "clip": name,
                                   "eq": [round(base["ratio"], 4), round(base["content"], 4)]}
            for k, fx in effects.items():
                fx.reset()
                y = styles_mod.run_effect(fx, x, SAMPLE_RATE, as_live=as_live)
                r = jd(y, x, style.audio, SAMPLE_RATE)
                row[k] = [round(r["ratio"], 4), round(r["content"], 4),
                          beats_baseline(r, base)]
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    summary = {}
    labels = [_label(k, f, c) for k in amounts for f in fits for c in keeps]
    for k in labels:
        got = [row[k] for row in rows]
        summary[k] = {
            "mean_ratio": round(float(np.mean([g[0] for g in got])), 4),
            "mean_content": round(float(np.mean([g[1] for g in got])), 4),
            "beats_eq": int(sum(g[2] for g in got)),
        }
    best = min(labels, key=lambda k: (-summary[k]["beats_eq"], summary[k]["mean_ratio"]))
    eq = np.array([row["eq"] for row in rows])
    return {
        "benchmark": "texture",
        "chosen": best,
        "input": "as the live pedal: learnt as it goes (TrainConfig.texture)" if as_live
        else "as stylepedal render: the whole clip learnt first, hindsight colour "
        "(TrainConfig.render_texture)",
        "pairs": len(rows),
        "rule": BEATS_RULE,
        "summary": summary,
        "eq": {"mean_ratio": round(float(eq[:, 0].mean()), 4),
               "mean_content": round(float(eq[:, 1].mean()), 4)},
        "held_riffs": list(HELD_RIFFS),
        "procedural_seed": PROCEDURAL_SEED,
        "rigs": RIGS,
        "judges": judge_mod.describe(judge_mod.VALIDATION_JUDGES),
        "styles": [s.name for s in chosen_styles],
        "rows": rows,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--styles", nargs="+", help="style names (default: all)")
    p.add_argument("--extra-styles", action="store_true",
                   help="also styles of kinds the factory bank lacks (pads, clarinet, "
                   "accordion), trained here")
    p.add_argument("--amounts", nargs="+", type=float, default=list(AMOUNTS),
                   help=f"texture amounts to compare (default {' '.join(map(str, AMOUNTS))})")
    p.add_argument("--fit-amounts", nargs="+", type=float,
                   help="shares of a render's Gram fit to compare (default: the shipped one)")
    p.add_argument("--fit-keeps", nargs="+", type=float,
                   help="least chroma correlation the Gram fit must keep, to compare "
                   "(default: the shipped one)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="cache folder")
    p.add_argument("--as-live", action="store_true",
                   help="process as the live pedal plays, not as stylepedal render does")
    p.add_argument("--json-out", type=Path, help="also write the JSON here")
    args = p.parse_args()
    report = run(args.styles, tuple(args.amounts), args.cache, as_live=args.as_live,
                 extra=args.extra_styles, fits=tuple(args.fit_amounts or (None,)),
                 keeps=tuple(args.fit_keeps or (None,)))
    text = json.dumps(report, indent=1)
    if args.json_out:
        atomic_write_bytes(args.json_out, text.encode())
    print(text)


if __name__ == "__main__":
    main()
