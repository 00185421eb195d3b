"""Presets meet the network: loading, the verified-transform cache, preloading."""

from __future__ import annotations

import numpy as np
import pytest

from stylepedal import PresetError
from stylepedal.effect import StyleTransfer
from stylepedal.effect.loading import preload, transform_from_preset


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


def test_preload_counts_ready_presets_and_skips_unknown(caplog):
    assert preload(["Organ", "Strings", "no such preset"]) == 2
    assert "no such preset" in caplog.text


def test_unknown_preset_is_a_preset_error():
    with pytest.raises(PresetError, match="nope"):
        StyleTransfer.from_preset("nope")
