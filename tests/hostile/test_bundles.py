"""Hostile bundles and cache entries: a bundle cannot hijack another preset's model, crafted
network configs, shapes and non-finite weights are refused before anything is allocated for
them, and zip members are read in bounded memory whatever their headers say.

The builders (``_forge``) wrap crafted contents in consistent hashes (so only a check of the
contents can refuse them) and write raw zips byte by byte (so sizes may lie and names may
repeat)."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

from stylepedal.effect.model.stream import weight_shapes
from stylepedal.errors import CacheError, PresetError
from stylepedal.presets import load as load_mod
from stylepedal.presets.format import Preset
from stylepedal.presets.load import effect_from_preset, transform_from_preset
from stylepedal.presets.store import Store

from ._forge import (
    NETWORK,
    bundle_members,
    crafted_members,
    deflated,
    factory_model,
    honest_members,
    network_bytes,
    raw_zip,
    write_bundle,
    zeros_stream,
)

# -- hijack -----------------------------------------------------------------------------------


def _play(store: Store, name: str) -> np.ndarray:
    """What ``render --preset NAME`` plays: the preset's effect on a fixed signal, built
    afresh (not from the process's cache of built transforms)."""
    load_mod._TRANSFORMS.clear()
    x = (0.1 * np.random.default_rng(5).standard_normal((1, 9600))).astype(np.float32)
    return effect_from_preset(name, store=store).process(x, 48000)


@pytest.fixture
def clean_transforms():
    yield
    load_mod._TRANSFORMS.clear()  # nothing crafted outlives its test


@pytest.mark.parametrize("version", [1, 2])
def test_bundle_claiming_a_factory_key_cannot_hijack_it(tmp_path, version, clean_transforms):
    organ_key, organ_weights, _ = factory_model("Organ")
    _, fuzz_weights, fuzz_meta = factory_model("Fuzz")
    bundle = write_bundle(tmp_path / "innocent.zip", bundle_members(
        "Innocent", organ_key, fuzz_weights, fuzz_meta, version=version))
    store = Store(tmp_path / "home")
    organ, fuzz = _play(store, "Organ"), _play(store, "Fuzz")
    assert not np.array_equal(organ, fuzz)
    if version == 2:
        with pytest.raises(PresetError, match="cannot claim another model's key"):
            store.import_(bundle)
        assert not (store.root / "models").exists() and not (store.root / "presets").exists()
    else:
        # an old bundle's key named training inputs: it is filed under its content's key
        imported = store.import_(bundle)
        assert imported.model_key != organ_key and organ_key not in store.cache
        np.testing.assert_array_equal(_play(store, "Innocent"), fuzz)
    assert store.load_model_bytes(store.get("Organ"))[0] == organ_weights
    np.testing.assert_array_equal(_play(store, "Organ"), organ)
    if version == 1:
        store.remove("Innocent")
        np.testing.assert_array_equal(_play(store, "Organ"), organ)


def test_factory_model_is_never_read_from_the_cache(tmp_path, clean_transforms):
    """A store an older stylepedal let a bundle plant Fuzz's weights under Organ's key in."""
    organ_key, organ_weights, _ = factory_model("Organ")
    _, fuzz_weights, fuzz_meta = factory_model("Fuzz")
    store = Store(tmp_path / "home")
    organ = _play(store, "Organ")
    store.cache.put_verified(organ_key, fuzz_weights, {**fuzz_meta, "key": organ_key})
    assert store.load_model_bytes(store.get("Organ"))[0] == organ_weights
    np.testing.assert_array_equal(_play(store, "Organ"), organ)


# -- crafted networks -------------------------------------------------------------------------


CRAFTED = [
    ({"channels": 1_000_000}, r"channels=1000000 is out of range: allowed is .*\[1, 1024\]"),
    ({"kernel_size": 10**9}, r"kernel_size=1000000000 is out of range: allowed .*\[1, 16\]"),
    ({"n_bins": 10**7}, r"n_bins=10000000 is out of range: allowed is .*\[1, 4096\]"),
    ({"dilations": [1, 10**9]}, r"dilations\[1\]=1000000000 is out of range: .*\[1, 1024\]"),
    ({"dilations": [1] * 1000}, r"1000 dilations \(layers\): allowed is \[1, 32\]"),
    ({"kernel_size": 16, "dilations": [1024] * 8},
     r"history_frames=122880 is out of range: allowed is .*\[0, 8192\]"),
    ({"channels": 1024, "kernel_size": 16, "dilations": [1] * 32, "n_bins": 4096},
     r"has 545297408 parameters: allowed is at most 8000000"),
    ({"channels": True}, r"channels=True is out of range"),
    ({"leak": 1e308}, r"leak=1e\+308 is out of range: allowed is \[0.0, 0.999999\]"),
]


@pytest.mark.parametrize(("change", "message"), CRAFTED)
def test_crafted_network_config_is_refused_at_import(tmp_path, change, message):
    network = {**NETWORK, **change}
    weights = network_bytes(network, shapes=weight_shapes(NETWORK))  # small, whatever it says
    key = "ab" * 32
    bundle = write_bundle(tmp_path / "c.zip", crafted_members("Crafted", key, weights, network))
    store = Store(tmp_path / "home")
    tracemalloc.start()
    try:
        with pytest.raises(PresetError, match=message):
            store.import_(bundle)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    assert not (store.root / "presets").exists()


@pytest.mark.parametrize(("change", "message"), CRAFTED[:3])
def test_crafted_cache_entry_is_refused_before_allocation(tmp_path, change, message,
                                                          clean_transforms):
    """An entry already in the cache (an older stylepedal imported it): loading its preset,
    as ``render`` and ``live`` do, is a CacheError naming the field, and allocates nothing
    for it."""
    network = {**NETWORK, **change}
    weights = network_bytes(network, shapes=weight_shapes(NETWORK))
    store = Store(tmp_path / "home")
    key = "cd" * 32
    store.cache.put(key, weights, {"network": network})
    preset = Preset(name="Crafted", model_key=key, midi_program=3)
    preset.save(store.presets_dir / "Crafted.toml")
    tracemalloc.start()
    try:
        with pytest.raises(CacheError, match=message):
            transform_from_preset("Crafted", store)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


@pytest.mark.parametrize(("shapes", "message"), [
    ({**weight_shapes(NETWORK), "inp.weight": (3, 7)}, r"inp.weight has shape \[3, 7\]"),
    ({k: v for k, v in weight_shapes(NETWORK).items() if k != "out.bias"},
     "do not match the network shape"),
    ({**weight_shapes(NETWORK), "extra": (2,)}, "do not match the network shape"),
])
def test_weights_of_another_shape_are_refused(tmp_path, shapes, message):
    weights = network_bytes(NETWORK, shapes=shapes)
    bundle = write_bundle(tmp_path / "s.zip", crafted_members("Shapes", "ef" * 32, weights,
                                                              NETWORK))
    with pytest.raises(PresetError, match=message):
        Store(tmp_path / "home").import_(bundle)


@pytest.mark.parametrize("fill", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused(tmp_path, fill):
    weights = network_bytes(NETWORK, fill=fill)
    bundle = write_bundle(tmp_path / "n.zip", crafted_members("Silent", "ef" * 32, weights,
                                                              NETWORK))
    store = Store(tmp_path / "home")
    with pytest.raises(PresetError, match="NaN or infinite values"):
        store.import_(bundle)
    assert "Silent" not in [e.name for e in store.list()]


# -- zip archives -----------------------------------------------------------------------------


_GIB = 1 << 30


@pytest.fixture(scope="module")
def gib_of_zeros() -> tuple[bytes, int]:
    return zeros_stream(_GIB)


@pytest.mark.parametrize("declared", [620_000, _GIB], ids=["lying", "honest"])
def test_zip_member_of_a_gib_is_refused_in_bounded_memory(tmp_path, gib_of_zeros, declared):
    """A weights member holding 1 GiB of zeros (1 MB on disk): declared 620 KB (a lie) or
    1 GiB (the truth), it is refused after inflating at most the cap."""
    stream, crc = gib_of_zeros
    members = honest_members(tmp_path)
    entries = [(n, *deflated(d)) for n, d in members.items() if n != "model.safetensors"]
    entries.append(("model.safetensors", stream, crc, declared))
    bundle = raw_zip(tmp_path / "bomb.zip", entries)
    assert bundle.stat().st_size < 2 << 20
    store = Store(tmp_path / "home")
    tracemalloc.start()
    try:
        with pytest.raises(PresetError, match="model.safetensors"):
            store.import_(bundle)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20
    assert not (store.root / "presets").exists()


def test_repeated_member_names_are_refused(tmp_path):
    """Two ``model.safetensors``, the manifest hashing the last: a reader taking the first
    would play what nobody checked."""
    members = honest_members(tmp_path)
    _, fuzz_weights, _ = factory_model("Fuzz")
    entries = [("model.safetensors", *deflated(fuzz_weights))]
    entries += [(n, *deflated(d)) for n, d in members.items()]
    bundle = raw_zip(tmp_path / "dup.zip", entries)
    store = Store(tmp_path / "home")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(PresetError, match=r"\['model.safetensors'\] more than once"):
            store.import_(bundle, overwrite=True)
    assert not (store.root / "presets").exists()
