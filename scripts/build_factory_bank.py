#!/usr/bin/env python
"""Rebuild the factory preset bank from scratch, reproducibly.

1. Render the style clips: short phrases in guitar range written as MIDI files with mido and
   rendered by fluidsynth with Debian's FluidR3_GM soundfont (MIT licence, package
   fluid-soundfont-gm); the fuzz clip is synthesised (plucked-string power chords through
   pedalboard's Distortion). Clips are mono, 22050 Hz, 16-bit FLAC in
   ``stylepedal/presets/factory/styles/``.
2. Train one style network per preset with :func:`stylepedal.effect.model.train.train_style` on the
   clip *as decoded from the FLAC* (so the cache key can be recomputed from the shipped file).
3. Write ``factory/<slug>.toml`` and the model as ``factory/<key>.safetensors`` +
   ``factory/<key>.json`` (the cache's meta.json), remove stale model files, and print one JSON
   object with timings and sizes.

Usage::

    OMP_NUM_THREADS=2 python scripts/build_factory_bank.py              # everything
    python scripts/build_factory_bank.py --no-render --reuse-networks  # a new file format only
    python scripts/build_factory_bank.py --render-only                  # clips only
    python scripts/build_factory_bank.py --smoke --out /tmp/bank        # tiny training config
    python scripts/build_factory_bank.py --only organ flute --threads 2

Needs ``fluidsynth`` and ``/usr/share/sounds/sf2/FluidR3_GM.sf2`` (``apt-get install
fluidsynth fluid-soundfont-gm``) for the rendering step.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FACTORY = REPO / "stylepedal" / "presets" / "factory"
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SOUNDFONT_COPYRIGHT = Path("/usr/share/doc/fluid-soundfont-gm/copyright")
SAMPLE_RATE = 22050
TICKS_PER_BEAT = 480
TEMPO_US = 500_000  # 120 bpm: one beat = 0.5 s
PEAK = 10 ** (-1.0 / 20)  # normalise clips to -1 dBFS peak
FADE_S = 0.05

# (pitches of one event, start beat, length in beats, velocity)
Event = tuple[tuple[int, ...], float, float, int]


@dataclass(frozen=True)
class StyleSpec:
    """One factory preset: its name, sound source and the phrase played."""

    slug: str
    name: str
    description: str
    midi_program: int
    gm_program: int | None  # GM program (0-based) in FluidR3_GM; None = synthesised
    seconds: float
    events: tuple[Event, ...] = ()
    effect: dict[str, Any] = field(default_factory=dict)


def _chords(chords: Sequence[Sequence[int]], beats: float, velocity: int = 90) -> tuple:
    return tuple((tuple(c), i * beats, beats * 0.95, velocity) for i, c in enumerate(chords))


def _line(notes: Sequence[tuple[int, float]], velocity: int = 95, start: float = 0.0) -> tuple:
    """Monophonic line: (pitch, beats) pairs, slightly detached; velocity varies a little."""
    out, t = [], start
    for i, (pitch, beats) in enumerate(notes):
        out.append(((pitch,), t, beats * 0.9, velocity - 12 * (i % 3 == 2)))
        t += beats
    return tuple(out)


def _arpeggio(chords: Sequence[Sequence[int]], step: float, velocity: int = 85) -> tuple:
    out, t = [], 0.0
    for chord in chords:
        for pitch in chord:
            out.append(((pitch,), t, step * 3, velocity))
            t += step
    return tuple(out)


# Guitar range: E2 (40) .. about E6 (88). Chords voiced like open/barre guitar chords.
E_MIN = (40, 47, 52, 55, 59, 64)
C_MAJ = (48, 52, 55, 60, 64)
G_MAJ = (43, 47, 50, 55, 59, 67)
D_MAJ = (50, 57, 62, 66)
A_MIN = (45, 52, 57, 60, 64)
PENTA_LINE = ((52, 1), (55, 0.5), (57, 0.5), (59, 1), (62, 0.5), (64, 1.5), (62, 0.5),
              (59, 0.5), (57, 1), (55, 0.5), (52, 1.5))
HIGH_LINE = ((64, 0.5), (67, 0.5), (69, 1), (71, 0.5), (74, 1), (76, 1.5), (74, 0.5),
             (71, 0.5), (69, 1), (67, 0.5), (64, 1.5))

SPECS: tuple[StyleSpec, ...] = (
    StyleSpec("organ", "Organ", "Drawbar organ: sustained, hollow and reedy", 0, 16, 5.0,
              _chords([E_MIN, C_MAJ, G_MAJ, D_MAJ], 2.0)),
    StyleSpec("strings", "Strings", "String ensemble: bowed, soft attack, warm sustain", 1, 48,
              5.0, _chords([A_MIN, C_MAJ, G_MAJ, E_MIN], 2.0, 80)),
    StyleSpec("choir", "Choir", "Choir 'aah': breathy vowel pads", 2, 52, 5.0,
              _chords([E_MIN, C_MAJ, D_MAJ], 2.6, 85)),
    StyleSpec("sax", "Sax", "Tenor sax: breathy, nasal reed lead", 3, 66, 5.0,
              _line(PENTA_LINE, 100)),
    StyleSpec("flute", "Flute", "Flute: airy, pure, soft breath noise", 4, 73, 5.0,
              _line(HIGH_LINE, 95)),
    StyleSpec("brass", "Brass", "Brass section: bright, punchy swells", 5, 61, 5.0,
              _chords([E_MIN, E_MIN, G_MAJ, A_MIN, D_MAJ], 1.6, 105)),
    StyleSpec("vibes", "Vibes", "Vibraphone: bell-like mallets with shimmer", 6, 11, 5.0,
              _arpeggio([E_MIN[1:5], C_MAJ[:4], G_MAJ[1:5], D_MAJ], 0.5)),
    StyleSpec("synth-lead", "Synth Lead", "Sawtooth synth lead: buzzy, bright, sustained", 7,
              81, 5.0, _line(PENTA_LINE, 100)),
    StyleSpec("fuzz", "Fuzz", "Fuzz guitar: saturated power chords, gritty sustain", 8, None,
              5.0),
)


# -- rendering -------------------------------------------------------------------------------


def render_fluidsynth(spec: StyleSpec, workdir: Path) -> np.ndarray:
    """Render ``spec``'s phrase with fluidsynth and FluidR3_GM (its reverb and chorus on, as
    an instrument sounds in a room); mono at SAMPLE_RATE."""
    from stylepedal.effect.research.guitar_riffs import render_midi, write_midi

    assert spec.gm_program is not None
    events = [(pitches, start, length, velocity, 0.0)
              for pitches, start, length, velocity in spec.events]
    mid = write_midi(events, 60.0 / (TEMPO_US / 1e6), spec.gm_program,
                     workdir / f"{spec.slug}.mid")
    return render_midi(mid, SOUNDFONT.name, sample_rate=SAMPLE_RATE, dry=False)


def render_fuzz(spec: StyleSpec) -> np.ndarray:
    """Power chords and a riff on synthetic strings through a fuzz (pedalboard.Distortion)."""
    from pedalboard import Distortion, Gain, HighpassFilter, LowpassFilter, Pedalboard

    from stylepedal.effect.model.corpus import pluck

    rng = np.random.default_rng(8)
    total = int(spec.seconds * SAMPLE_RATE)
    dry = np.zeros(total)

    def midi_hz(p: int) -> float:
        return 440.0 * 2 ** ((p - 69) / 12)

    # (root pitch, start s, length s): E5, G5, A5 power chords, then a single-note riff
    hits = [(40, 0.0, 0.9), (43, 0.9, 0.9), (45, 1.8, 1.2)]
    riff = [(52, 3.0, 0.25), (55, 3.25, 0.25), (57, 3.5, 0.5), (55, 4.0, 0.25), (52, 4.25, 0.7)]
    for root, start, length in hits:
        for p in (root, root + 7, root + 12):
            s = int(start * SAMPLE_RATE)
            tone = pluck(midi_hz(p), length, SAMPLE_RATE, rng=rng)
            dry[s : s + tone.size] += tone[: total - s]
    for p, start, length in riff:
        s = int(start * SAMPLE_RATE)
        tone = pluck(midi_hz(p), length, SAMPLE_RATE, rng=rng)
        dry[s : s + tone.size] += tone[: total - s]
    dry = (0.3 * dry / np.abs(dry).max()).astype(np.float32)
    board = Pedalboard([
        HighpassFilter(cutoff_frequency_hz=90),
        Distortion(drive_db=32),
        LowpassFilter(cutoff_frequency_hz=4500),
        Gain(gain_db=-6),
    ])
    return np.asarray(board(dry, SAMPLE_RATE), dtype=np.float64)


def finish_clip(audio: np.ndarray, seconds: float) -> np.ndarray:
    """Trim/pad to ``seconds``, fade out, normalise to PEAK; float32."""
    n = int(round(seconds * SAMPLE_RATE))
    out = np.zeros(n)
    out[: min(n, audio.size)] = audio[:n]
    fade = int(FADE_S * SAMPLE_RATE)
    out[-fade:] *= np.linspace(1.0, 0.0, fade)
    peak = np.abs(out).max()
    if peak <= 0:
        raise RuntimeError("rendered clip is silent")
    return (out * (PEAK / peak)).astype(np.float32)


def write_flac(path: Path, audio: np.ndarray) -> None:
    """Write mono 16-bit FLAC atomically (stylepedal.audio_io.write_audio)."""
    from stylepedal.audio_io import write_audio

    path.parent.mkdir(parents=True, exist_ok=True)
    write_audio(path, audio[np.newaxis, :], SAMPLE_RATE, bit_depth=16)


def read_clip(path: Path) -> np.ndarray:
    """The clip as the trainer sees it: decoded from the shipped FLAC, float32 mono."""
    from stylepedal.audio_io import read_audio

    audio, rate = read_audio(path, name="style clip")
    if rate != SAMPLE_RATE or audio.shape[0] != 1:
        raise RuntimeError(f"{path}: expected mono {SAMPLE_RATE} Hz")
    return audio[0]


def render_all(specs: Sequence[StyleSpec], styles_dir: Path) -> dict[str, float]:
    """Render every clip into ``styles_dir``; return seconds spent per clip."""
    timings = {}
    with tempfile.TemporaryDirectory(prefix="stylepedal-render-") as tmp:
        for spec in specs:
            t0 = time.perf_counter()
            raw = render_fuzz(spec) if spec.gm_program is None else render_fluidsynth(
                spec, Path(tmp)
            )
            write_flac(styles_dir / f"{spec.slug}.flac", finish_clip(raw, spec.seconds))
            timings[spec.slug] = round(time.perf_counter() - t0, 3)
    return timings


def write_licence(out_dir: Path) -> None:
    """Copy the FluidR3_GM licence text (from the Debian package) next to the clips."""
    if not SOUNDFONT_COPYRIGHT.is_file():
        raise SystemExit(f"{SOUNDFONT_COPYRIGHT} is missing: apt-get install fluid-soundfont-gm")
    text = SOUNDFONT_COPYRIGHT.read_text(encoding="utf-8")
    header = (
        "The style clips in styles/ (all but fuzz.flac, which is synthesised) were rendered\n"
        "with FluidSynth from the Fluid (R3) General MIDI SoundFont, FluidR3_GM.sf2, as\n"
        "packaged by Debian (fluid-soundfont-gm). Its licence is MIT; the Debian copyright\n"
        "file follows verbatim.\n\n"
    )
    (out_dir / "FLUIDR3_LICENSE.txt").write_text(header + text, encoding="utf-8")


# -- training and preset writing -------------------------------------------------------------


def smoke_config() -> Any:
    """A tiny training config that proves the plumbing in seconds (not a usable model)."""
    from stylepedal.effect.model.train import TrainConfig

    return TrainConfig(steps=3, batch_size=1, procedural_clips=1, corpus_seconds=2.0,
                       use_guitars=False, channels=8)


def reused_network(spec: StyleSpec, out_dir: Path, styles: list, config: Any) -> tuple:
    """The network the shipped preset ``spec`` already has, trained with ``config`` (else an
    error: it must be retrained), with what a newer file format carries beside the network
    (the style's Grams for a render's Gram fit) added from its clip; and its old meta."""
    from stylepedal.effect.model.gramfit import style_grams
    from stylepedal.effect.model.network import StyleNet
    from stylepedal.effect.model.train import prepared_styles
    from stylepedal.presets.cache import meta_from_bytes
    from stylepedal.presets.format import Preset

    old = Preset.load(out_dir / f"{spec.slug}.toml")
    meta = meta_from_bytes((out_dir / f"{old.model_key}.json").read_bytes(), spec.slug)
    if meta.get("training") != config.to_dict():
        raise SystemExit(f"{spec.slug}: its network was trained with other settings: retrain it")
    net = StyleNet.from_safetensors((out_dir / f"{old.model_key}.safetensors").read_bytes())
    power = net.get_buffer("style_power").numpy()
    net.set_render(power, net.render_change, style_grams(prepared_styles(styles)))
    return net, meta


def build_preset(
    spec: StyleSpec, styles_dir: Path, out_dir: Path, config: Any, *, seconds_out: dict,
    reuse: bool = False,
) -> Any:
    """Train ``spec``'s model (or, with ``reuse``, take the network it has) and write its
    preset TOML and model files into ``out_dir``."""
    from types import SimpleNamespace

    from stylepedal._atomic import atomic_write_bytes
    from stylepedal.effect.model.train import train_style
    from stylepedal.presets._io import sha256_file
    from stylepedal.presets.cache import make_meta, meta_to_bytes, weights_to_bytes
    from stylepedal.presets.format import Preset, StyleSource
    from stylepedal.presets.train import model_key

    clip_path = styles_dir / f"{spec.slug}.flac"
    audio = read_clip(clip_path)
    styles = [(audio, SAMPLE_RATE)]
    config_dict = config.to_dict()
    key = model_key(styles, config)
    t0 = time.perf_counter()
    if reuse:
        net, old = reused_network(spec, out_dir, styles, config)
        report = SimpleNamespace(heldout_before=old["heldout_before"],
                                 heldout_after=old["heldout_after"],
                                 seconds=old["train_seconds"])
    else:
        net, report = train_style(styles, config, progress=False)
    seconds_out[spec.slug] = round(time.perf_counter() - t0, 2)
    weights = weights_to_bytes(net.to_safetensors())
    meta = make_meta(key, weights, {
        "network": net.to_config(),
        "training": config_dict,
        "heldout_before": report.heldout_before,
        "heldout_after": report.heldout_after,
        "train_seconds": round(report.seconds, 2),
        "created_by": "scripts/build_factory_bank.py",
    })
    source = "synthesised (Karplus-Strong + pedalboard Distortion)" if spec.gm_program is None \
        else f"FluidR3_GM program {spec.gm_program}, rendered with fluidsynth"
    preset = Preset(
        name=spec.name,
        model_key=key,
        description=spec.description,
        styles=(StyleSource(f"{spec.slug}.flac", sha256_file(clip_path),
                            f"{spec.seconds:g} s phrase in guitar range; {source}"),),
        training=config_dict,
        midi_program=spec.midi_program,
        **spec.effect,
    )
    atomic_write_bytes(out_dir / f"{key}.safetensors", weights)
    atomic_write_bytes(out_dir / f"{key}.json", meta_to_bytes(meta))
    preset.save(out_dir / f"{spec.slug}.toml")
    return preset, report


def remove_stale_models(out_dir: Path, keep: set[str]) -> list[str]:
    """Delete model files in ``out_dir`` whose key no preset uses."""
    removed = []
    for path in list(out_dir.glob("*.safetensors")) + list(out_dir.glob("*.json")):
        if path.stem not in keep:
            path.unlink()
            removed.append(path.name)
    return removed


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=FACTORY, help="factory folder to write")
    parser.add_argument("--render-only", action="store_true", help="render clips, no training")
    parser.add_argument("--no-render", action="store_true", help="train on existing clips")
    parser.add_argument("--smoke", action="store_true", help="tiny training config (plumbing)")
    parser.add_argument("--only", nargs="+", metavar="SLUG", help="build only these presets")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--reuse-networks", action="store_true",
                        help="keep each shipped preset's trained network (same training "
                        "settings) and only rewrite its file in the current format, with what "
                        "that adds (the style's Grams for a render's Gram fit)")
    args = parser.parse_args(argv)

    specs = [s for s in SPECS if not args.only or s.slug in args.only]
    unknown = set(args.only or ()) - {s.slug for s in SPECS}
    if unknown:
        parser.error(f"unknown presets {sorted(unknown)}: choose from {[s.slug for s in SPECS]}")
    out_dir: Path = args.out
    styles_dir = out_dir / "styles"
    out_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"presets": [s.slug for s in specs], "smoke": bool(args.smoke)}
    t_all = time.perf_counter()
    if not args.no_render:
        result["render_seconds"] = render_all(specs, styles_dir)
        write_licence(out_dir)
    if not args.render_only:
        import torch

        from stylepedal.effect.model.train import TrainConfig

        torch.set_num_threads(args.threads)
        config = smoke_config() if args.smoke else TrainConfig()
        train_seconds: dict[str, float] = {}
        keys = set()
        heldout = {}
        for spec in specs:
            preset, report = build_preset(
                spec, styles_dir, out_dir, config, seconds_out=train_seconds,
                reuse=args.reuse_networks,
            )
            keys.add(preset.model_key)
            heldout[spec.slug] = {
                "style_before": report.heldout_before.get("style"),
                "style_after": report.heldout_after.get("style"),
            }
            print(f"built {preset.name!r} in {train_seconds[spec.slug]} s", file=sys.stderr)
        if not args.only:
            # keys of every preset still present (a partial build keeps the others' models)
            result["removed_stale"] = remove_stale_models(out_dir, keys)
        result["train_seconds"] = train_seconds
        result["heldout_style_loss"] = heldout
        result["threads"] = args.threads
    result["total_seconds"] = round(time.perf_counter() - t_all, 2)
    result["styles_bytes"] = folder_bytes(styles_dir) if styles_dir.exists() else 0
    result["bank_bytes"] = folder_bytes(out_dir)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
