"""Training never reuses a cache entry it cannot play: an entry an older stylepedal let a bundle
plant under a training key (non-finite weights, valid hashes) is rebuilt, not kept."""

from __future__ import annotations

import numpy as np
import torch

from stylepedal.audio_io import read_audio, write_audio
from stylepedal.effect.model.train import TrainConfig
from stylepedal.presets.load import transform_from_preset
from stylepedal.presets.store import Store
from stylepedal.presets.train import model_key, train_preset

SR = 22050


def test_training_rebuilds_a_planted_non_finite_entry(tmp_path, rng):
    torch.set_num_threads(1)
    t = np.arange(2 * SR) / SR
    style = write_audio(tmp_path / "tone.wav",
                        (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SR)
    config = TrainConfig(steps=3, batch_size=1, segment_frames=80, procedural_clips=1,
                         corpus_seconds=2.0, use_guitars=False, channels=8, dilations=(1, 2))
    key = model_key([read_audio(style, mono=True, name="style")], config)
    planted = config.make_network()
    with torch.no_grad():
        for p in planted.parameters():
            p.fill_(float("nan"))
    store = Store(tmp_path / "home")
    store.cache.put(key, planted.to_safetensors(), {"network": planted.to_config()})

    trained = train_preset("Mine", [style], config=config, store=store, progress=False)

    assert trained.report is not None  # trained afresh, the planted entry not reused
    assert store.get("Mine").model_key == key
    _, transform = transform_from_preset("Mine", store)
    x = np.full((1, 4, transform.model_bins), 0.5, np.float32)
    assert np.isfinite(transform(x, transform.new_state(1))).all()
