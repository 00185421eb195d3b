"""The content-addressed model cache: keys, round trip, verification, corrupt entries."""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from stylepedal.errors import CacheError, ParameterError
from stylepedal.presets import cache as cache_mod
from stylepedal.presets.cache import (
    META_FILE,
    WEIGHTS_FILE,
    ModelCache,
    cache_key,
    canonical_json,
    store_root,
)

NETWORK = {"format": "test-net", "channels": 4}


def weights(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "conv.weight": rng.standard_normal((4, 3, 2)).astype(np.float32),
        "conv.bias": rng.standard_normal(4).astype(np.float32),
    }


def style(rng: np.random.Generator, n: int = 2205) -> np.ndarray:
    return (0.1 * rng.standard_normal(n)).astype(np.float32)


@pytest.fixture
def cache(tmp_path: Path) -> ModelCache:
    return ModelCache(tmp_path / "store")


@pytest.fixture
def entry(cache: ModelCache, rng: np.random.Generator) -> tuple[str, bytes]:
    key = cache_key([(style(rng), 22050)], {"steps": 3})
    data = st_save(weights(rng))
    cache.put(key, data, {"network": NETWORK})
    return key, data


# -- keys -------------------------------------------------------------------------------------


def test_key_is_deterministic_and_depends_on_every_input(rng):
    a, b = style(rng), style(rng)
    cfg = {"steps": 3, "alpha": 0.01}
    key = cache_key([(a, 22050)], cfg)
    assert key == cache_key([(a.astype(np.float64), 22050)], {"alpha": 0.01, "steps": 3})
    others = {
        cache_key([(b, 22050)], cfg),
        cache_key([(a, 44100)], cfg),
        cache_key([(a, 22050)], {"steps": 4, "alpha": 0.01}),
        cache_key([(a, 22050), (b, 22050)], cfg),
        cache_key([(b, 22050), (a, 22050)], cfg),
        cache_key([(a[:-1], 22050)], cfg),
    }
    assert key not in others and len(others) == 6


def test_key_changes_with_format_version(rng, monkeypatch):
    a = style(rng)
    key = cache_key([(a, 22050)], {})
    monkeypatch.setattr(cache_mod, "FORMAT_VERSION", cache_mod.FORMAT_VERSION + 1)
    assert cache_key([(a, 22050)], {}) != key


def test_key_accepts_dataclass_config(rng):
    @dataclass(frozen=True)
    class Cfg:
        steps: int = 3
        dilations: tuple[int, ...] = (1, 2)

    a = style(rng)
    plain = {"steps": 3, "dilations": [1, 2]}
    assert cache_key([(a, 22050)], Cfg()) == cache_key([(a, 22050)], plain)


def test_canonical_json_is_sorted_and_compact():
    assert canonical_json({"b": [1, 2.5], "a": {"z": True, "y": None}}) == (
        b'{"a":{"y":null,"z":true},"b":[1,2.5]}'
    )


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), object(), {1: 2}])
def test_canonical_json_rejects_unsupported_values(bad):
    with pytest.raises(ParameterError):
        canonical_json({"x": bad})


def test_key_needs_styles():
    with pytest.raises(ParameterError, match="styles"):
        cache_key([], {})


def test_store_root_honours_env_and_defaults_to_platformdirs(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEPEDAL_HOME", str(tmp_path / "home"))
    assert store_root() == tmp_path / "home"
    monkeypatch.delenv("STYLEPEDAL_HOME")
    import platformdirs

    assert store_root() == Path(platformdirs.user_data_dir("stylepedal"))


# -- round trip -------------------------------------------------------------------------------


def test_round_trip_is_byte_identical(cache, entry):
    key, data = entry
    got, meta = cache.get(key)
    assert got == data
    assert (cache.models_dir / key / WEIGHTS_FILE).read_bytes() == data
    assert meta["key"] == key and meta["network"] == NETWORK
    assert meta["format_version"] == cache_mod.FORMAT_VERSION
    import hashlib

    assert meta["weights_sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["created_by"].startswith("stylepedal")


def test_put_accepts_numpy_and_torch_dicts(cache, rng):
    torch = pytest.importorskip("torch")
    w = weights(rng)
    key1 = cache_key([(style(rng), 22050)], {"k": 1})
    key2 = cache_key([(style(rng), 22050)], {"k": 2})
    cache.put(key1, w, {"network": NETWORK})
    cache.put(key2, {k: torch.from_numpy(v) for k, v in w.items()}, {"network": NETWORK})
    for key in (key1, key2):
        loaded = st_load(cache.get(key)[0])
        assert set(loaded) == set(w)
        for k in w:
            np.testing.assert_array_equal(loaded[k], w[k])


def test_put_leaves_no_temporary_folders(cache, entry):
    assert [p.name for p in cache.models_dir.iterdir()] == [entry[0]]
    assert cache.keys() == [entry[0]]


def test_put_requires_network_config(cache, rng):
    key = cache_key([(style(rng), 22050)], {})
    with pytest.raises(ParameterError, match="network"):
        cache.put(key, weights(rng), {"other": 1})
    assert key not in cache


def test_failed_put_writes_nothing(cache, rng, monkeypatch):
    key = cache_key([(style(rng), 22050)], {})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(cache_mod.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        cache.put(key, weights(rng), {"network": NETWORK})
    monkeypatch.undo()
    assert key not in cache
    assert list(cache.models_dir.iterdir()) == []


@pytest.mark.parametrize("bad_key", ["abc", "G" * 64, "A" * 64, None, "../" + "a" * 61])
def test_bad_key_is_a_parameter_error(cache, bad_key):
    with pytest.raises(ParameterError, match="key"):
        cache.get(bad_key)


# -- corrupt and foreign entries --------------------------------------------------------------


def _corrupt(folder: Path, how: str) -> None:
    w, m = folder / WEIGHTS_FILE, folder / META_FILE
    if how == "flipped byte":
        data = bytearray(w.read_bytes())
        data[-1] ^= 0xFF
        w.write_bytes(bytes(data))
    elif how == "truncated":
        w.write_bytes(w.read_bytes()[:20])
    elif how == "weights missing":
        w.unlink()
    elif how == "meta missing":
        m.unlink()
    elif how == "meta not json":
        m.write_text("{not json")
    elif how == "foreign format":
        meta = json.loads(m.read_text())
        meta["format_version"] = "other-tool"
        m.write_text(json.dumps(meta))
    elif how == "pickle with matching hash":
        # a pickle passing the hash check must still be refused: it is never unpickled
        data = pickle.dumps({"w": [1.0, 2.0]})
        w.write_bytes(data)
        meta = json.loads(m.read_text())
        import hashlib

        meta["weights_sha256"] = hashlib.sha256(data).hexdigest()
        m.write_text(json.dumps(meta))
    else:  # pragma: no cover
        raise AssertionError(how)


CORRUPTIONS = {
    "flipped byte": "does not match",
    "truncated": "does not match",
    "weights missing": "model.safetensors is missing",
    "meta missing": "meta.json is missing",
    "meta not json": "not valid JSON",
    "foreign format": "foreign",
    "pickle with matching hash": "not a valid safetensors",
}


@pytest.mark.parametrize("how", list(CORRUPTIONS))
def test_corrupt_entry_raises_cache_error(cache, entry, how):
    key, _ = entry
    _corrupt(cache.models_dir / key, how)
    with pytest.raises(CacheError, match=CORRUPTIONS[how]) as info:
        cache.get(key)
    assert key in str(info.value)


def test_newer_format_version_says_upgrade(cache, entry):
    key, _ = entry
    m = cache.models_dir / key / META_FILE
    meta = json.loads(m.read_text())
    meta["format_version"] = cache_mod.FORMAT_VERSION + 1
    m.write_text(json.dumps(meta))
    with pytest.raises(CacheError, match="newer stylepedal"):
        cache.get(key)


def test_entry_under_another_key_is_foreign(cache, entry, rng):
    key, _ = entry
    other = cache_key([(style(rng), 22050)], {"other": True})
    os.rename(cache.models_dir / key, cache.models_dir / other)
    with pytest.raises(CacheError, match="names key"):
        cache.get(other)


def test_missing_entry_is_a_cache_error(cache, rng):
    key = cache_key([(style(rng), 22050)], {})
    with pytest.raises(CacheError, match="no cached model"):
        cache.get(key)


@pytest.mark.parametrize("how", ["flipped byte", "meta not json", "weights missing"])
def test_get_or_build_rebuilds_corrupt_entry(cache, entry, how, rng):
    key, data = entry
    _corrupt(cache.models_dir / key, how)
    calls = []

    def build():
        calls.append(1)
        return data, {"network": NETWORK}

    got, meta = cache.get_or_build(key, build)
    assert calls == [1] and got == data and meta["key"] == key
    assert cache.get(key)[0] == data
    assert cache.keys() == [key]  # no trash or temp folders left
    # a valid entry is not rebuilt
    cache.get_or_build(key, build)
    assert calls == [1]


def test_get_or_build_builds_missing_entry(cache, rng):
    key = cache_key([(style(rng), 22050)], {})
    data = st_save(weights(rng))
    got, _ = cache.get_or_build(key, lambda: (data, {"network": NETWORK}))
    assert got == data


def test_remove(cache, entry):
    key, _ = entry
    assert cache.remove(key) is True
    assert key not in cache and cache.remove(key) is False
    assert list(cache.models_dir.iterdir()) == []
