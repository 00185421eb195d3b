"""``stylepedal demo``: the main job on a factory preset, from nothing but the install.

Generates a guitar-like clip (the procedural corpus, no download), renders it through a factory
preset with the same chain and file path as ``stylepedal render``, and writes the input, the
output and a figure of content / style / output spectrograms::

    stylepedal demo --preset Organ --out-dir demo-out
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ParameterError

__all__ = ["run_demo"]


def _style_clip(preset: Any) -> tuple[Any, int] | None:
    """The first style clip of a factory preset, if the package ships it."""
    from ..audio_io import read_audio
    from ..presets.store import factory_dir

    if not preset.styles:
        return None
    clip = factory_dir().joinpath("styles").joinpath(preset.styles[0].file)
    if not clip.is_file():
        return None
    return read_audio(str(clip), mono=True, name="style")


def run_demo(
    preset_name: str,
    out_dir: str | Path,
    *,
    seconds: float = 8.0,
    sample_rate: int = 48000,
    seed: int = 7,
    overwrite: bool = True,
    pre: str = "",
    post: str = "",
) -> dict[str, Any]:
    """Render a generated guitar clip through ``preset_name``; return a summary dict.

    Writes ``input.wav``, ``output-<preset>.wav`` and ``demo-<preset>.png`` into ``out_dir``.
    ``pre`` and ``post`` are effect specs around the style, as ``render --pre/--post`` take
    (:func:`~stylepedal.host.spec.parse_spec`, plugin files included).

    Examples
    --------
    >>> summary = run_demo("Organ", "demo-out", seconds=4)  # doctest: +SKIP
    >>> summary["output"]  # doctest: +SKIP
    'demo-out/output-organ.wav'
    """
    import numpy as np

    from ..audio_io import write_audio
    from ..effect.engine.effect import StyleTransfer
    from ..effect.model.corpus import make_clip
    from ..presets.store import Store
    from .chain import build_chain
    from .plot import save_figure
    from .render import render_file

    if not (0.5 <= seconds <= 600):
        raise ParameterError(f"seconds={seconds} is out of range: allowed is [0.5, 600]")
    preset = Store().get(preset_name)
    effect = StyleTransfer.from_preset(preset)
    chain = build_chain(None, pre=pre, post=post, effect=effect)  # specs checked before writing
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    slug = preset.name.lower().replace(" ", "-")
    content = make_clip(seconds, sample_rate, seed=seed).astype(np.float32)
    input_path = out / "input.wav"
    write_audio(input_path, content[np.newaxis], sample_rate, bit_depth=32)  # float WAV
    output_path = out / f"output-{slug}.wav"
    latency = effect.latency_samples(sample_rate)  # the pedal's (a render adds its colour's)
    # keep the whole (short) output in memory for the figure instead of reading it back
    result = render_file(
        input_path, output_path, chain, overwrite=overwrite, progress=False, keep_seconds=seconds
    )
    assert result.excerpt is not None  # keep_seconds > 0 always keeps one
    rendered = result.excerpt[1]
    panels = [("content: generated guitar", content, sample_rate)]
    style = _style_clip(preset)
    if style is not None:
        panels.append((f"style: {preset.name}", style[0], style[1]))
    panels.append((f"output: {preset.name}", rendered.mean(axis=0), sample_rate))
    figure_path = out / f"demo-{slug}.png"
    save_figure(figure_path, panels, title=f"stylepedal demo: {preset.name}")
    return {
        "preset": preset.name,
        "input": str(input_path),
        "output": str(output_path),
        "figure": str(figure_path),
        "seconds": seconds,
        "sample_rate": sample_rate,
        "latency_samples": latency,
        "render_seconds": round(result.seconds, 3),
        "realtime_factor": round(result.realtime_factor, 1),
    }
