"""Hostile bundles and cache entries: a bundle cannot hijack another preset's model, crafted
network configs, shapes and non-finite weights are refused before anything is allocated for
them, and zip members are read in bounded memory whatever their headers say.

The builders below wrap crafted contents in consistent hashes (so only a check of the contents
can refuse them) and write raw zips byte by byte (so sizes may lie and names may repeat)."""

from __future__ import annotations

import json
import struct
import tracemalloc
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save as st_save

from stylepedal.effect.model.stream import FORMAT, FORMAT_VERSION, weight_shapes
from stylepedal.errors import CacheError, PresetError
from stylepedal.presets import load as load_mod
from stylepedal.presets._io import sha256_bytes
from stylepedal.presets.cache import make_meta, meta_to_bytes
from stylepedal.presets.format import Preset
from stylepedal.presets.load import effect_from_preset, transform_from_preset
from stylepedal.presets.store import Store, factory_dir

#: A small, valid style network config; crafted ones start from it.
NETWORK: dict[str, Any] = {
    "format": FORMAT, "format_version": FORMAT_VERSION, "n_bins": 6, "channels": 3,
    "kernel_size": 2, "dilations": [1, 2], "leak": 0.1, "gate": False, "level_norm": False,
    "colour": False,
}


def network_bytes(
    network: dict[str, Any], *, fill: float | None = None, shapes: dict | None = None,
    seed: int = 0,
) -> bytes:
    """Safetensors bytes of ``network`` (its config in the header, as ``StyleNet`` saves it):
    random float16 weights of ``shapes`` (default: the config's own), or all ``fill``."""
    rng = np.random.default_rng(seed)
    shapes = shapes if shapes is not None else weight_shapes(network)
    tensors = {
        k: (np.full(shape, fill, np.float16) if fill is not None
            else rng.standard_normal(shape).astype(np.float16))
        for k, shape in shapes.items()
    }
    return st_save(tensors, metadata={"config": json.dumps(network, sort_keys=True)})


def bundle_members(
    name: str, key: str, weights: bytes, meta: dict[str, Any], *, version: int = 2
) -> dict[str, bytes]:
    """The members of a bundle of preset ``name`` claiming model ``key``, with every hash in
    the manifest consistent: only a check of the contents themselves can refuse it."""
    members = {
        "preset.toml": Preset(name=name, model_key=key).to_toml().encode(),
        "model.safetensors": weights,
        "meta.json": meta_to_bytes({**meta, "key": key}),
    }
    manifest = {
        "format_version": version, "kind": "stylepedal-preset-bundle", "name": name,
        "model_key": key, "members": {k: sha256_bytes(v) for k, v in members.items()},
    }
    return {"manifest.json": json.dumps(manifest).encode(), **members}


def crafted_members(name: str, key: str, weights: bytes, network: dict) -> dict[str, bytes]:
    """A bundle whose model is ``weights`` of ``network``, filed under ``key`` (format 1, which
    every stylepedal reads)."""
    return bundle_members(name, key, weights, make_meta(key, weights, {"network": network}),
                          version=1)


def raw_zip(path: Path, entries: Sequence[tuple[str, bytes, int, int]]) -> Path:
    """Write a zip of deflated members ``(name, raw deflate stream, crc32, declared size)``
    exactly as given: nothing is checked, so sizes may lie and names may repeat."""
    out, central = bytearray(), bytearray()
    for name, stream, crc, size in entries:
        encoded = name.encode()
        offset = len(out)
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc,
                           len(stream), size, len(encoded), 0) + encoded + stream
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21,
                               crc, len(stream), size, len(encoded), 0, 0, 0, 0, 0o644 << 16,
                               offset) + encoded
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                       len(central), len(out), 0)
    path.write_bytes(bytes(out + central + eocd))
    return path


def deflated(data: bytes) -> tuple[bytes, int, int]:
    """``(raw deflate stream, crc32, size)`` of ``data``, for :func:`raw_zip`."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(), zlib.crc32(data), len(data)


def write_bundle(path: Path, members: dict[str, bytes]) -> Path:
    """A bundle of ``members`` (honest zip headers)."""
    return raw_zip(path, [(name, *deflated(data)) for name, data in members.items()])


def zeros_stream(n_bytes: int, chunk: int = 16 << 20) -> tuple[bytes, int]:
    """A raw deflate stream of ``n_bytes`` zeros (a multiple of ``chunk``) built without
    holding them: one fully flushed segment repeated, and the stream's crc32."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(chunk)
    segment = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(n_bytes // chunk):
        crc = zlib.crc32(zeros, crc)
    return segment * (n_bytes // chunk) + c.flush(), crc


# -- hijack -----------------------------------------------------------------------------------


def _factory_model(name: str) -> tuple[str, bytes, dict[str, Any]]:
    key = Store(factory=factory_dir()).get(name).model_key
    folder = factory_dir()
    weights = folder.joinpath(f"{key}.safetensors").read_bytes()
    return key, weights, json.loads(folder.joinpath(f"{key}.json").read_bytes())


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
    organ_key, organ_weights, _ = _factory_model("Organ")
    _, fuzz_weights, fuzz_meta = _factory_model("Fuzz")
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
    organ_key, organ_weights, _ = _factory_model("Organ")
    _, fuzz_weights, fuzz_meta = _factory_model("Fuzz")
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


def _honest_members(tmp_path: Path) -> dict[str, bytes]:
    source = Store(tmp_path / "source")
    return {name: data for name, data in _read_zip(source.export("Organ", tmp_path / "o.zip"))}


def _read_zip(path: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


_GIB = 1 << 30


@pytest.fixture(scope="module")
def gib_of_zeros() -> tuple[bytes, int]:
    return zeros_stream(_GIB)


@pytest.mark.parametrize("declared", [620_000, _GIB], ids=["lying", "honest"])
def test_zip_member_of_a_gib_is_refused_in_bounded_memory(tmp_path, gib_of_zeros, declared):
    """A weights member holding 1 GiB of zeros (1 MB on disk): declared 620 KB (a lie) or
    1 GiB (the truth), it is refused after inflating at most the cap."""
    stream, crc = gib_of_zeros
    members = _honest_members(tmp_path)
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
    members = _honest_members(tmp_path)
    _, fuzz_weights, _ = _factory_model("Fuzz")
    entries = [("model.safetensors", *deflated(fuzz_weights))]
    entries += [(n, *deflated(d)) for n, d in members.items()]
    bundle = raw_zip(tmp_path / "dup.zip", entries)
    store = Store(tmp_path / "home")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(PresetError, match=r"\['model.safetensors'\] more than once"):
            store.import_(bundle, overwrite=True)
    assert not (store.root / "presets").exists()
