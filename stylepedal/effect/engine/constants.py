"""The engine's fixed numbers: the analysis grid every model is trained on, and the effect's
modes and parameter ranges (the effect, preset files and the CLI all check against these).

The grid: bin spacing ``GRID_HZ`` at every sample rate (``n_fft = sample_rate * 28 / 300``), the
``MODEL_BINS`` bins from 0 to 11025 Hz (the band of the seeds' 22.05 kHz spectrograms), one
model frame per ``MODEL_HOP_SECONDS``, feature ``log1p(FEATURE_SCALE * |X| / sum(window))``
(for a Hann-2048 window exactly the seeds' ``log1p(|STFT|)``).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CEILING",
    "FEATURE_SCALE",
    "GATE_RANGE_DB",
    "MAX_HIGH_GAIN",
    "TINY32",
    "TOP_BAND",
    "GAIN_DB_RANGE",
    "GATE_DB_RANGE",
    "GATE_DEFAULT_DB",
    "GRID_HZ",
    "LATENCY_MODES",
    "MAX_LOGMAG",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "MIX_RANGE",
    "MODEL_BINS",
    "MODEL_HOP_SECONDS",
    "PHASE_MODES",
    "SEEDS_ACTIVE_DB",
    "SEEDS_RMS",
    "STYLE_RANGE",
]

GRID_HZ = 300.0 / 28.0
MODEL_BINS = 1030
# The model's frame period (256 samples at 48 kHz). Models are trained at this frame rate.
MODEL_HOP_SECONDS = 256.0 / 48000.0
FEATURE_SCALE = 1024.0
# Model outputs are clamped to [0, MAX_LOGMAG]: above it expm1 overflows float32.
MAX_LOGMAG = 40.0
# Multiples of 75 Hz in this range: n_fft = sample_rate * 28 / 300 is then an integer, and the
# model band (up to 11025 Hz) exists.
MIN_SAMPLE_RATE = 22050
MAX_SAMPLE_RATE = 384000

LATENCY_MODES: tuple[str, ...] = ("default", "low")
PHASE_MODES: tuple[str, ...] = ("input", "pghi")
MIX_RANGE = (0.0, 1.0)
STYLE_RANGE = (0.0, 1.0)  # 0: the dry spectrum, 1: the full style
# The level at which the seeds' representation is compared (the judge, training's loss, a
# render's Gram fit): log1p is not scale-invariant, so every signal is brought to this RMS
# over its active frames, those within SEEDS_ACTIVE_DB of its loudest (pauses left out).
SEEDS_RMS = 0.1
SEEDS_ACTIVE_DB = 40.0
GAIN_DB_RANGE = (-60.0, 24.0)
GATE_DB_RANGE = (-120.0, 0.0)
# A trained style fills silence with texture (the Gram objective rewards it, and so would the
# seeds' optimiser); on a pedal that is a drone over the pickup's hum when the player stops.
GATE_DEFAULT_DB = -70.0
# The wet path is the model's output when a frame's input peak is above `gate_db`, the input's
# own magnitude (so: as quiet as the input) more than GATE_RANGE_DB below it, a blend between.
GATE_RANGE_DB = 20.0
TOP_BAND = 128  # model bins whose output/input gain continues above 11025 Hz
MAX_HIGH_GAIN = 16.0  # the largest gain the bins above the model band get
TINY32 = np.float32(1e-30)  # smaller output samples are flushed to zero (no subnormals)
CEILING = np.expm1(np.float32(MAX_LOGMAG))  # the largest model magnitude (stft.from_logmag)
