"""The factory bank build script: clips re-render identically; the build plumbing works."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from stylepedal.presets._io import sha256_file
from stylepedal.presets.store import Store
from stylepedal.presets.train import model_key

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_factory_bank.py"


@pytest.fixture(scope="module")
def bank():
    spec = importlib.util.spec_from_file_location("build_factory_bank", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_factory_bank"] = module
    spec.loader.exec_module(module)
    return module


def test_bank_has_at_least_eight_distinct_presets(bank):
    slugs = [s.slug for s in bank.SPECS]
    programs = [s.midi_program for s in bank.SPECS]
    assert len(slugs) >= 8 and len(set(slugs)) == len(slugs)
    assert len(set(programs)) == len(programs)
    assert all(3.0 <= s.seconds <= 6.0 for s in bank.SPECS)


@pytest.mark.parametrize("slug", ["vibes", "fuzz"])
def test_clip_rerenders_identically(bank, tmp_path, slug):
    spec = next(s for s in bank.SPECS if s.slug == slug)
    if spec.gm_program is not None and (
        shutil.which("fluidsynth") is None or not bank.SOUNDFONT.is_file()
    ):
        pytest.skip("fluidsynth or FluidR3_GM.sf2 is not installed")
    bank.render_all([spec], tmp_path)
    shipped = bank.FACTORY / "styles" / f"{slug}.flac"
    fresh = bank.read_clip(tmp_path / f"{slug}.flac")
    np.testing.assert_array_equal(fresh, bank.read_clip(shipped))
    assert fresh.size == round(spec.seconds * bank.SAMPLE_RATE)
    assert np.abs(fresh).max() == pytest.approx(bank.PEAK, abs=1e-3)


def test_smoke_build_gives_a_loadable_factory(bank, tmp_path):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    spec = next(s for s in bank.SPECS if s.slug == "flute")
    out = tmp_path / "factory"
    (out / "styles").mkdir(parents=True)
    shutil.copy(bank.FACTORY / "styles" / "flute.flac", out / "styles" / "flute.flac")
    config = bank.smoke_config()
    timings: dict[str, float] = {}
    preset, report = bank.build_preset(spec, out / "styles", out, config, seconds_out=timings)
    assert report.steps == config.steps and "flute" in timings

    store = Store(tmp_path / "home", factory=out)
    loaded = store.get("flute")
    assert loaded == preset and loaded.midi_program == spec.midi_program
    clip = bank.read_clip(out / "styles" / "flute.flac")
    # the same key a user's `stylepedal train` of the same clip and settings files it under
    assert loaded.model_key == model_key([(clip, bank.SAMPLE_RATE)], config)
    assert loaded.styles[0].sha256 == sha256_file(out / "styles" / "flute.flac")
    weights, meta = store.load_model_bytes(loaded)
    from stylepedal.effect.model.network import StyleNet

    net = StyleNet.from_safetensors(weights, meta["network"])
    frames = np.abs(np.random.default_rng(0).standard_normal((1, 4, net.n_bins))).astype(
        np.float32
    )
    tf = net.as_transform()
    assert tf(frames, tf.new_state(1)).shape == frames.shape
    assert bank.remove_stale_models(out, {loaded.model_key}) == []


def test_a_reused_network_keeps_its_weights_and_gains_the_styles_grams(bank, tmp_path):
    pytest.importorskip("torch")
    from stylepedal.effect.model.gramfit import style_grams
    from stylepedal.effect.model.network import StyleNet

    spec = next(s for s in bank.SPECS if s.slug == "flute")
    out = tmp_path / "factory"
    (out / "styles").mkdir(parents=True)
    shutil.copy(bank.FACTORY / "styles" / "flute.flac", out / "styles" / "flute.flac")
    config = bank.smoke_config()
    first, _ = bank.build_preset(spec, out / "styles", out, config, seconds_out={})
    old = StyleNet.from_safetensors((out / f"{first.model_key}.safetensors").read_bytes())
    again, report = bank.build_preset(spec, out / "styles", out, config, seconds_out={},
                                      reuse=True)
    net = StyleNet.from_safetensors((out / f"{again.model_key}.safetensors").read_bytes())
    assert again.model_key == first.model_key and report.seconds > 0
    for name, value in old.state_dict().items():  # the trained network, unchanged
        assert np.array_equal(net.state_dict()[name].numpy(), value.numpy()), name
    clip = bank.read_clip(out / "styles" / "flute.flac")
    np.testing.assert_allclose(net.get_buffer("fit_grams").numpy(), style_grams([clip]),
                               rtol=2e-3, atol=2e-3)
    with pytest.raises(SystemExit, match="other settings"):
        bank.build_preset(spec, out / "styles", out,
                          type(config).from_dict({**config.to_dict(), "steps": 4}),
                          seconds_out={}, reuse=True)
