"""Styles for the quality benchmark, and the product's effect for each of them.

The factory styles are the 9 clips the shipped presets were trained on
(``stylepedal/presets/factory/styles/*.flac``). The extra styles are rendered here with
fluidsynth from FluidR3_GM, with GM programs no factory preset uses and phrases that differ from
the factory ones (other keys, chords and lines), so a model trained with the project's defaults
on them shows how the method does on a style nobody tuned it for. Every style is also kept as a
file in the benchmark's cache, since a style is trained the way a user trains one: from files.

:class:`NetworkSystem` is the system under test: for a factory style the shipped preset, for
any other style the preset ``train_preset`` makes from the style file with the default settings.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stylepedal._atomic import atomic_write_bytes
from stylepedal.audio_io import read_audio, write_audio
from stylepedal.effect.research import guitar_riffs as riffs

SAMPLE_RATE = riffs.SAMPLE_RATE
SOUNDFONT = riffs.TRAIN_SOUNDFONT
STYLE_SECONDS = 6.0
# Styles are scaled to this peak, like the factory clips.
PEAK_DBFS = -1.0
FADE_SECONDS = 0.05


@dataclass(frozen=True)
class Style:
    """A style clip: mono float32 audio at ``sample_rate`` and the file it was read from.

    ``preset`` is the factory preset trained on it, or None for a style the project never
    shipped.
    """

    name: str
    audio: np.ndarray
    sample_rate: int
    path: Path
    source: str
    preset: str | None = None

    def metadata(self) -> dict[str, Any]:
        """JSON-able description (no audio)."""
        return {
            "name": self.name,
            "source": self.source,
            "preset": self.preset,
            "seconds": round(self.audio.size / self.sample_rate, 3),
        }


@dataclass(frozen=True)
class ExtraStyle:
    """A non-factory style: a GM program (0-based) and the phrase it plays."""

    name: str
    program: int
    program_name: str
    bpm: float
    events: tuple[riffs.Event, ...]


def legato(
    notes: Sequence[tuple[int, float]], velocity: int, gap: float = 0.05
) -> tuple[riffs.Event, ...]:
    """A monophonic line of ``(pitch, beats)``, nearly legato, accenting every third note."""
    out, t = [], 0.0
    for i, (pitch, beats) in enumerate(notes):
        out.append(((pitch,), t, beats - gap, velocity + (10 if i % 3 == 0 else -6), 0.0))
        t += beats
    return tuple(out)


# fmt: off
EXTRA_STYLES: tuple[ExtraStyle, ...] = (
    # Cello: a slow D minor line in the cello's low-middle register.
    ExtraStyle("cello", 42, "Cello", 72, legato(
        [(50, 1.5), (53, 0.5), (57, 1), (55, 1), (53, 1.5), (52, 0.5), (50, 1), (45, 2)], 92)),
    # Trumpet: a B-flat major fanfare with repeated tongued notes.
    ExtraStyle("trumpet", 56, "Trumpet", 112, legato(
        [(58, 0.5), (58, 0.25), (58, 0.25), (62, 1), (65, 1), (62, 0.5), (65, 0.5),
         (70, 1.5), (69, 0.5), (67, 1), (65, 2)], 100, gap=0.08)),
    # Harmonica: a G blues phrase, dyads on the draw notes.
    ExtraStyle("harmonica", 22, "Harmonica", 96, (
        ((67, 71), 0.0, 0.9, 96, 0.0), ((70,), 1.0, 0.45, 84, 0.0),
        ((67,), 1.5, 0.45, 80, 0.0), ((65,), 2.0, 0.9, 90, 0.0), ((62, 67), 3.0, 1.4, 100, 0.0),
        ((65,), 4.5, 0.45, 78, 0.0), ((67,), 5.0, 0.45, 86, 0.0), ((70, 74), 5.5, 1.9, 96, 0.0),
        ((67,), 7.5, 1.4, 82, 0.0),
    )),
    # Warm pad: slow F major 7 / D minor 9 / B-flat major 7 / C sus4 voicings.
    ExtraStyle("warm-pad", 89, "Pad 2 (warm)", 80, (
        ((41, 53, 57, 60, 64), 0.0, 2.9, 90, 0.0), ((38, 53, 57, 60, 64), 3.0, 2.9, 85, 0.0),
        ((46, 53, 57, 62, 65), 6.0, 2.9, 88, 0.0), ((48, 53, 55, 60, 65), 9.0, 2.9, 92, 0.0),
    )),
)
# fmt: on


def factory_styles(cache_dir: Path) -> list[Style]:
    """The shipped factory styles, in factory (MIDI program) order, read from their FLACs."""
    from stylepedal.presets.store import Store, factory_dir

    with tempfile.TemporaryDirectory() as empty:
        entries = Store(empty).factory_entries()
    entries.sort(key=lambda e: (e.preset.midi_program is None, e.preset.midi_program or 0))
    folder = Path(cache_dir) / "styles" / "factory"
    out = []
    for entry in entries:
        preset = entry.preset
        if len(preset.styles) != 1:
            raise RuntimeError(f"factory preset {preset.name!r} has {len(preset.styles)} styles")
        file = preset.styles[0].file
        # a copy in the cache: the file a user would train from, and a real path from a wheel
        data = factory_dir().joinpath("styles", file).read_bytes()
        path = atomic_write_bytes(folder / file, data)
        audio, rate = read_audio(path, mono=True, name="style")
        out.append(
            Style(
                name=Path(file).stem,
                audio=audio,
                sample_rate=rate,
                path=path,
                source=f"factory styles/{file}",
                preset=preset.name,
            )
        )
    return out


def _render_extra(spec: ExtraStyle) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        beats = spec.events[-1][1] + spec.events[-1][2]
        mid = riffs.write_midi(
            spec.events, spec.bpm, spec.program, Path(tmp) / f"{spec.name}.mid",
            loop_beats=beats + 0.5, seconds=STYLE_SECONDS,
        )
        # The style is a record of the instrument, room included: fluidsynth's default
        # reverb and chorus stay on, as for the factory clips.
        audio = riffs.render_midi(mid, SOUNDFONT, sample_rate=SAMPLE_RATE, dry=False)
    return riffs.finish(audio, STYLE_SECONDS, SAMPLE_RATE, PEAK_DBFS, fade_seconds=FADE_SECONDS)


def extra_styles(
    cache_dir: Path, specs: Sequence[ExtraStyle] = EXTRA_STYLES
) -> list[Style]:
    """The non-factory styles ``specs`` (default: the eval's), rendered with fluidsynth
    (FluidR3_GM) into float WAV files."""
    folder = Path(cache_dir) / "styles" / "extra"
    out = []
    for spec in specs:
        key = hashlib.sha256(
            json.dumps([repr(spec), STYLE_SECONDS, PEAK_DBFS, FADE_SECONDS]).encode()
        ).hexdigest()[:16]
        path = folder / f"{spec.name}-{key}.wav"
        if not path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            # 32-bit float: the file holds exactly the rendered samples
            write_audio(path, _render_extra(spec), SAMPLE_RATE, bit_depth=32, name="style")
        audio, rate = read_audio(path, mono=True, name="style")
        out.append(
            Style(
                name=spec.name,
                audio=audio,
                sample_rate=rate,
                path=path,
                source=f"fluidsynth {SOUNDFONT} GM program {spec.program} ({spec.program_name})",
            )
        )
    return out


def all_styles(cache_dir: Path) -> list[Style]:
    """Factory styles, then the extra styles."""
    return factory_styles(cache_dir) + extra_styles(cache_dir)


# -- the system under test -------------------------------------------------------------------


def run_effect(
    fx: Any, audio: np.ndarray, sample_rate: int, *, as_live: bool = False,
    learn: np.ndarray | None = None,
) -> np.ndarray:
    """``fx.process`` on the whole signal, one shot (aligned: the latency removed); as
    ``stylepedal render`` does, the effect first learns the input (``learn_input``), unless
    ``as_live`` (``render --as-live``: the colour stage learns as the input goes); with
    ``learn``, as live after learning that other recording (``fx.learn_input``)."""
    fx.forget_input()
    if learn is not None:
        fx.learn_input(learn, sample_rate)
    elif not as_live:
        fx.learn_input(audio, sample_rate)
    return np.asarray(fx.process(np.asarray(audio, np.float32), sample_rate), dtype=np.float32)


class NetworkSystem:
    """The product as quality.py's system: the shipped preset, or a style trained as a user does.

    Parameters
    ----------
    home : Path
        The store the benchmark trains into (``STYLEPEDAL_HOME``); its model cache keeps
        every trained model, keyed by the style audio and the training settings.
    retrain_factory : bool
        Train the factory styles too (from their shipped clips) instead of the shipped presets.
    as_live : bool
        Process as the live pedal plays (``render --as-live``), not as a render does.
    other_takes : dict, optional
        Clip name -> another recording of the same guitar: process as the live pedal plays
        after learning that one (``fx.learn_input``); :meth:`for_clip` says which clip comes.
    """

    def __init__(self, home: Path, *, retrain_factory: bool = False, as_live: bool = False,
                 other_takes: dict[str, np.ndarray] | None = None) -> None:
        from stylepedal.presets.store import Store

        self.store = Store(home)
        self.retrain_factory = retrain_factory
        self.as_live = as_live
        self.other_takes = other_takes
        self._learn: np.ndarray | None = None
        self.models: dict[str, dict[str, Any]] = {}
        self._effects: dict[str, Any] = {}

    def describe(self) -> dict[str, Any]:
        """JSON-able description of where each style's model came from."""
        from stylepedal.effect.model.train import TrainConfig

        if self.other_takes is not None:
            how = ("as the live pedal plays after learning another take of the same guitar "
                   "(fx.learn_input): the other eval clip of its program (procedural: the other "
                   "clip)")
        elif self.as_live:
            how = "as the live pedal: the colour stage learns as the input goes"
        else:
            how = ("as stylepedal render: the effect learns the whole input first (a model "
                   "with a render colour then colours it with hindsight)")
        return {
            "factory_styles": "trained with train_preset (--retrain-factory)"
            if self.retrain_factory else "shipped factory presets (StyleTransfer.from_preset)",
            "other_styles": "train_preset(name, [style file]) with the default settings",
            "train_config": TrainConfig().to_dict(),
            "models": self.models,
            "latency": "compensated (output shifted by fx.latency_samples)",
            "input": how,
        }

    def effect(self, style: Style) -> Any:
        """The effect for ``style`` (built once)."""
        if style.name in self._effects:
            return self._effects[style.name]
        from stylepedal import StyleTransfer

        if style.preset is not None and not self.retrain_factory:
            entry = self.store.entry(style.preset)
            if entry.source != "factory":
                raise RuntimeError(f"a user preset shadows the factory preset {style.preset!r}")
            name = style.preset
            info: dict[str, Any] = {"source": "factory preset"}
        else:
            from stylepedal.presets.train import train_preset

            name = f"bench-{style.name}"
            t0 = time.perf_counter()
            print(f"train_preset {name!r} (cached models are reused)", file=sys.stderr)
            trained = train_preset(name, [style.path], store=self.store, progress=False)
            _, meta = self.store.load_model_bytes(self.store.get(name))
            info = {
                "source": "train_preset, default settings",
                "trained_in_this_run": trained.report is not None,
                "seconds": round(time.perf_counter() - t0, 1),
                **{k: meta.get(k) for k in ("train_seconds", "heldout_before", "heldout_after")},
            }
        fx = StyleTransfer.from_preset(name, store=self.store)
        self.models[style.name] = {"preset": name, "model_key": self.store.get(name).model_key,
                                   **info}
        self._effects[style.name] = fx
        return fx

    def __call__(self, style: Style, content: np.ndarray, sample_rate: int) -> Any:
        """Process ``content`` with the style's effect, latency-compensated."""
        return run_effect(self.effect(style), content, sample_rate, as_live=self.as_live,
                          learn=self._learn)

    def for_clip(self, name: str) -> None:
        """The clip processed next (with ``other_takes``: learn its other take first)."""
        self._learn = None if self.other_takes is None else self.other_takes[name]
