"""Spectrogram figures: content, style and result side by side, like the seeds' figures.

The seeds (Ulyanov's notebook, alishdipani's ``graphs.py``, the paper's Fig. 5 "Contenido,
estilo aplicado y resultado") show the three spectrograms next to each other; so does
:func:`save_figure`, with one colour scale for all panels so loudness differences show.
Log-frequency axis, dB magnitude (``librosa.display.specshow``), matplotlib's Agg backend
(no display needed), PNG written atomically.

``stylepedal plot --content C --style S --output O FIGURE.png``
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import as_audio_2d, check_sample_rate
from ..errors import AudioFileError, ParameterError

__all__ = ["make_figure", "save_figure"]

# Dynamic range shown (dB below the loudest panel's peak).
_DB_RANGE = 80.0


def _spectrogram_db(audio: np.ndarray, sample_rate: int, n_fft: int, hop: int) -> np.ndarray:
    import librosa

    mono = as_audio_2d(audio)[0].mean(axis=0)
    mono = np.nan_to_num(mono)
    if mono.shape[0] < n_fft:
        mono = np.pad(mono, (0, n_fft - mono.shape[0]))
    mag = np.abs(librosa.stft(mono, n_fft=n_fft, hop_length=hop))
    return np.asarray(20.0 * np.log10(np.maximum(mag, 1e-10)))


def make_figure(
    panels: Sequence[tuple[str, np.ndarray, int]],
    *,
    title: str | None = None,
    panel_width_in: float = 5.0,
    height_in: float = 4.0,
) -> Any:
    """Build a matplotlib ``Figure`` with one labelled spectrogram per panel, side by side.

    Parameters
    ----------
    panels : sequence of (label, audio, sample_rate)
        Audio mono ``(frames,)`` or ``(channels, frames)`` (mixed down); labels become the
        panel titles.
    title : str, optional
        Figure title.

    Examples
    --------
    >>> y = np.random.default_rng(0).standard_normal(22050).astype(np.float32) * 0.1
    >>> fig = make_figure([("Content", y, 22050), ("Style", y, 22050)])
    >>> [ax.get_title() for ax in fig.axes[:2]]
    ['Content', 'Style']
    """
    import librosa.display
    from matplotlib.figure import Figure

    if not isinstance(panels, Sequence) or len(panels) == 0:
        raise ParameterError("panels must be a non-empty list of (label, audio, sample_rate)")
    specs = []
    for i, panel in enumerate(panels):
        if not isinstance(panel, tuple) or len(panel) != 3:
            raise ParameterError(f"panels[{i}] must be a (label, audio, sample_rate) tuple")
        label, audio, sr = panel
        sr = check_sample_rate(sr, name=f"panels[{i}] sample_rate")
        data, _ = as_audio_2d(audio, name=f"panels[{i}] audio")
        if data.shape[1] == 0:
            raise ParameterError(f"panels[{i}] ({label!r}) audio is empty")
        # ~93 ms windows and ~23 ms hops at every rate (the seeds' 2048/512 at 22.05 kHz).
        n_fft = int(2 ** round(np.log2(0.0929 * sr)))
        hop = n_fft // 4
        specs.append((str(label), _spectrogram_db(data, sr, n_fft, hop), sr, hop))
    top = max(float(s[1].max()) for s in specs)
    fig = Figure(figsize=(panel_width_in * len(specs), height_in), layout="constrained")
    axes = fig.subplots(1, len(specs), squeeze=False)[0]
    mesh = None
    for ax, (label, db, sr, hop) in zip(axes, specs, strict=True):
        mesh = librosa.display.specshow(
            db,
            sr=sr,
            hop_length=hop,
            x_axis="time",
            y_axis="log",
            ax=ax,
            vmin=top - _DB_RANGE,
            vmax=top,
            cmap="magma",
        )
        ax.set_title(label)
    for ax in axes[1:]:
        ax.set_ylabel("")
    if mesh is not None:
        fig.colorbar(mesh, ax=list(axes), format="%+2.0f dB", label="magnitude (dB)")
    if title:
        fig.suptitle(title)
    return fig


def save_figure(
    path: str | os.PathLike[str],
    panels: Sequence[tuple[str, np.ndarray, int]],
    *,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Write the spectrograms of ``panels`` side by side to a PNG, atomically.

    Parameters
    ----------
    path : path-like
        Output file (``.png``).
    panels : sequence of (label, audio, sample_rate)
        E.g. ``[("Content", c, sr), ("Style", s, sr), ("Result", y, sr)]``.
    title : str, optional
        Figure title.
    dpi : int
        Resolution: the image is ``500 * len(panels) x 400`` pixels at 100 dpi.

    Examples
    --------
    >>> import tempfile, os
    >>> y = np.zeros(22050, np.float32)
    >>> p = save_figure(os.path.join(tempfile.mkdtemp(), "f.png"), [("Silence", y, 22050)])
    >>> p.stat().st_size > 0
    True
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ParameterError(f"figure path={str(path)!r} must end in .png")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise AudioFileError(f"output folder {str(folder)!r} does not exist")
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 10 <= dpi <= 1000:
        raise ParameterError(f"dpi={dpi!r} must be an integer in [10, 1000]")
    from .._atomic import atomic_output

    fig = make_figure(panels, title=title)

    def is_png(tmp: Path) -> None:  # a full disk can leave a short file behind savefig
        with open(tmp, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                raise AudioFileError(f"cannot write figure {str(path)!r}: it is not a PNG")
            f.seek(-12, os.SEEK_END)
            if f.read(12)[4:8] != b"IEND":
                raise AudioFileError(f"cannot write figure {str(path)!r}: the PNG is cut short")

    with atomic_output(path, error=AudioFileError, verify=is_png) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path
