"""What defines a random Gram feature bank (no torch here: the CLI and cache keys use it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..._validate import check_choice, check_non_negative_int, check_positive_int

__all__ = ["ORIENTATIONS", "FeatureConfig"]

ORIENTATIONS: tuple[str, ...] = ("freq", "time", "2d")


@dataclass(frozen=True)
class FeatureConfig:
    """What defines the feature extractor; part of every cache key.

    Parameters
    ----------
    n_filters : int
        Random filters per layer (Ulyanov: 4096).
    kernel_size : int
        Filter width in frames (Ulyanov: 11; alishdipani: 3).
    layers : int
        Stacked conv + ReLU layers; the Gram is taken of every layer's output and summed.
    seed : int
        Seed of the random weights: the same seed gives the same features on every machine.
    orientation : {"freq", "time", "2d"}
        How the convolution sees the ``(bins, frames)`` spectrogram (seed 004's ``whichChannel``):

        - ``"freq"`` (default, Ulyanov): bins are channels, a 1-D conv slides over time; the
          Gram correlates filters over time, so it captures *timbre* (which bins move together)
          and ignores *when*. Works for clips of any length.
        - ``"time"``: frames are channels, a 1-D conv slides over frequency; the Gram is taken
          over frequency positions, so it captures *rhythm/envelope* patterns that recur across
          the spectrum. The conv's input channels are the frame count, so content and style
          must have the same number of frames (trim them to one duration, as the paper's tips
          advise: ``stylepedal prep --trim``).
        - ``"2d"``: one input channel, a ``kernel_size x kernel_size`` Conv2d over (freq, time);
          the Gram is over all (freq, time) positions, like image style transfer. Local
          time-frequency shapes (onsets, glides) are shared across pitch; alishdipani found it
          noisier than 1-D. Memory grows with bins x frames x filters: use few filters (32-128).
    """

    n_filters: int = 4096
    kernel_size: int = 11
    layers: int = 1
    seed: int = 0
    orientation: str = "freq"

    def __post_init__(self) -> None:
        # frozen: checked values (numpy integers become ints) are stored through object
        for name in ("n_filters", "kernel_size", "layers"):
            object.__setattr__(self, name, check_positive_int(getattr(self, name), name))
        object.__setattr__(self, "seed", check_non_negative_int(self.seed, "seed"))
        check_choice(self.orientation, "orientation", ORIENTATIONS)

    @property
    def min_frames(self) -> int:
        """The fewest input frames that give one feature frame (``"freq"`` orientation)."""
        return self.layers * (self.kernel_size - 1) + 1

    def to_dict(self) -> dict:
        d = asdict(self)
        # The default orientation is left out so configs (and the cache keys hashed from them)
        # written before the field existed stay byte-identical; FeatureConfig(**d) restores it.
        if d["orientation"] == "freq":
            del d["orientation"]
        return d
