"""Presets meet the network: loading, the verified-transform cache, preloading."""

from __future__ import annotations

import numpy as np
import pytest

from stylepedal import ParameterError, PresetError
from stylepedal.effect import StyleTransfer
from stylepedal.presets.load import transform_from_preset


def test_from_preset_applies_preset_settings_and_overrides():
    fx = StyleTransfer.from_preset("vibes", mix=0.25)
    assert fx.name == "Vibes" and fx.mix == 0.25
    assert fx.latency_samples(48000) == 511


def test_transform_is_loaded_once_and_shared_with_separate_state(rng):
    _, first = transform_from_preset("Organ")
    _, again = transform_from_preset("organ")
    assert first is again
    a, b = StyleTransfer.from_preset("Organ"), StyleTransfer.from_preset("Organ")
    x = rng.uniform(-0.3, 0.3, 9600).astype(np.float32)
    y_a = a(x, 48000)
    b(rng.uniform(-0.3, 0.3, 4800).astype(np.float32), 48000)  # b's stream is elsewhere
    np.testing.assert_array_equal(a(x, 48000), y_a)  # a is not disturbed by b


def test_unknown_preset_is_a_preset_error():
    with pytest.raises(PresetError, match="nope"):
        StyleTransfer.from_preset("nope")


def test_gate_keeps_a_trained_style_from_droning_over_the_noise_floor(rng):
    # a note, then only a -90 dBFS noise floor: with the default gate the tail stays at the
    # noise floor's level; with the gate wide open the style fills it with texture
    sr = 48000
    t = np.arange(sr // 2) / sr
    note = (0.5 * np.sin(2 * np.pi * 220.0 * t) * np.exp(-3 * t)).astype(np.float32)
    floor = (10 ** (-90 / 20) * rng.standard_normal(sr)).astype(np.float32)
    x = np.concatenate([note, np.zeros(sr, np.float32)]) + np.concatenate(
        [np.zeros(note.size, np.float32), floor]
    )
    tail = slice(note.size + sr // 4, None)  # well after the note and the effect's tail

    def rms_db(y):
        return 20 * np.log10(np.sqrt(np.mean(y[tail].astype(np.float64) ** 2)) + 1e-20)

    gated = StyleTransfer.from_preset("Organ")(x, sr)
    open_gate = StyleTransfer.from_preset("Organ", gate_db=-120.0)(x, sr)
    assert rms_db(gated) < -85.0  # no louder than the floor it was given (-90 dB RMS)
    assert rms_db(open_gate) > rms_db(gated) + 10.0  # the gate is what keeps it quiet


def test_gate_db_range_is_checked():
    with pytest.raises(ParameterError, match="gate_db=5"):
        StyleTransfer.identity(gate_db=5)
