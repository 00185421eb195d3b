"""The preset store: factory + user listing, shadowing, save/remove, bundles, tampering."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save as st_save

from stylepedal.effect.model.stream import FORMAT, FORMAT_VERSION, weight_shapes
from stylepedal.errors import CacheError, PresetError
from stylepedal.presets._io import sha256_bytes, sha256_file
from stylepedal.presets.cache import (
    cache_key,
    content_key,
    make_meta,
    meta_to_bytes,
    verify_model,
)
from stylepedal.presets.format import Preset, StyleSource
from stylepedal.presets.store import Store, factory_dir

NETWORK = {"format": FORMAT, "format_version": FORMAT_VERSION, "n_bins": 6, "channels": 3,
           "kernel_size": 2, "dilations": [1, 2], "leak": 0.1, "gate": False,
           "level_norm": False, "colour": False}


def network_bytes(rng: np.random.Generator, network: dict = NETWORK) -> bytes:
    """Safetensors bytes of a small style network of ``network`` (random weights)."""
    tensors = {k: rng.standard_normal(shape).astype(np.float16)
               for k, shape in weight_shapes(network).items()}
    return st_save(tensors, metadata={"config": json.dumps(network, sort_keys=True)})


def make_model(seed: int) -> tuple[str, bytes, dict]:
    """A small model with its key and complete meta, as the cache would store it."""
    rng = np.random.default_rng(seed)
    key = cache_key([(rng.standard_normal(512).astype(np.float32), 22050)], {"seed": seed})
    weights = network_bytes(rng)
    return key, weights, make_meta(key, weights, {"network": NETWORK})


def write_factory(folder: Path, specs: list[tuple[str, int | None]]) -> dict[str, Preset]:
    """A factory bank folder like the packaged one: NAME.toml + <key>.safetensors/.json."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, (name, program) in enumerate(specs):
        key, weights, meta = make_model(100 + i)
        preset = Preset(name=name, model_key=key, description=f"factory {name}",
                        midi_program=program)
        preset.save(folder / f"{name.lower()}.toml")
        (folder / f"{key}.safetensors").write_bytes(weights)
        (folder / f"{key}.json").write_bytes(meta_to_bytes(meta))
        out[name] = preset
    return out


@pytest.fixture
def factory(tmp_path: Path) -> Path:
    folder = tmp_path / "factory"
    write_factory(folder, [("Organ", 0), ("Flute", 4), ("Vibes", None)])
    return folder


@pytest.fixture
def store(tmp_path: Path, factory: Path) -> Store:
    return Store(tmp_path / "a", factory=factory)


@pytest.fixture
def other(tmp_path: Path, factory: Path) -> Store:
    return Store(tmp_path / "b", factory=factory)


def user_preset(name: str = "My Sax", seed: int = 7, program: int | None = 9):
    key, weights, meta = make_model(seed)
    preset = Preset(name=name, model_key=key, description="mine", mix=0.5,
                    latency_mode="low", midi_program=program,
                    styles=(StyleSource("sax.wav", "ab" * 32, "my recording"),),
                    training={"steps": 10})
    return preset, weights, {"network": meta["network"]}


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


# -- listing and lookup -----------------------------------------------------------------------


def test_list_factory_and_user(store):
    preset, weights, meta = user_preset()
    store.save(preset, weights, meta)
    entries = store.list()
    assert [(e.name, e.source) for e in entries] == [
        ("Organ", "factory"), ("Flute", "factory"), ("My Sax", "user"), ("Vibes", "factory"),
    ]
    assert not any(e.shadows_factory for e in entries)


def test_user_preset_shadows_factory_case_insensitively(store, caplog):
    organ = store.get("Organ")
    mine = organ.replace(name="ORGAN", mix=0.3)
    with caplog.at_level(logging.INFO, logger="stylepedal.presets.store"):
        store.save(mine)  # the factory model is reused: no weights needed
    assert "shadows the factory preset" in caplog.text
    entries = [e for e in store.list() if e.name.casefold() == "organ"]
    assert len(entries) == 1
    assert entries[0].source == "user" and entries[0].shadows_factory
    assert store.get("organ").mix == 0.3
    store.remove("Organ")
    back = store.entry("organ")
    assert back.source == "factory" and back.preset == organ


def test_get_is_case_insensitive(store):
    assert store.get("fLuTe").name == "Flute"


def test_unknown_name_lists_close_matches(store):
    with pytest.raises(PresetError, match="'Orgn' does not exist; did you mean 'Organ'"):
        store.get("Orgn")
    with pytest.raises(PresetError, match="does not exist") as info:
        store.get("Zzzz")
    assert "did you mean" not in str(info.value)


def test_names_never_escape_the_presets_folder(store, tmp_path):
    preset, weights, meta = user_preset()
    store.save(preset, weights, meta)
    outside = store.root / "Outside.toml"
    preset.replace(name="Outside").save(outside)
    with pytest.raises(PresetError, match="does not exist"):
        store.get("../Outside")
    with pytest.raises(PresetError, match="does not exist"):
        store.remove("../Outside")
    assert outside.exists()


def test_broken_user_file_is_skipped_in_list_but_reported_by_get(store, caplog):
    store.presets_dir.mkdir(parents=True)
    (store.presets_dir / "Broken.toml").write_text('format_version = 1\nname = "Broken"\n')
    with caplog.at_level(logging.WARNING):
        names = [e.name for e in store.list()]
    assert "Broken" not in names and "model_key is missing" in caplog.text
    with pytest.raises(PresetError, match="model_key is missing"):
        store.get("broken")


def test_default_store_uses_stylepedal_home(_isolated_store):
    assert Store().root == _isolated_store


# -- saving and removing ----------------------------------------------------------------------


def test_save_writes_preset_and_model(store):
    preset, weights, meta = user_preset()
    path = store.save(preset, weights, meta)
    assert path == store.presets_dir / "My Sax.toml"
    assert Preset.load(path) == preset
    got, got_meta = store.load_model_bytes(preset)
    assert got == weights and got_meta["network"] == NETWORK


def test_save_without_model_anywhere_is_refused(store):
    preset, _, _ = user_preset()
    with pytest.raises(CacheError, match="not in the store"):
        store.save(preset)
    assert files_under(store.root) == []


def test_save_existing_name_needs_overwrite(store):
    preset, weights, meta = user_preset()
    store.save(preset, weights, meta)
    with pytest.raises(PresetError, match="exists already"):
        store.save(preset.replace(name="MY SAX"), overwrite=False)
    store.save(preset.replace(name="MY SAX", mix=0.9))
    # one file per name, in the new spelling
    assert [p.name for p in store.presets_dir.iterdir()] == ["MY SAX.toml"]
    assert store.get("my sax").mix == 0.9


def test_factory_presets_cannot_be_removed(store):
    with pytest.raises(PresetError, match="'Flute' is a factory preset and cannot be removed"):
        store.remove("flute")
    with pytest.raises(PresetError, match="does not exist"):
        store.remove("nothing")


def test_remove_user_preset(store):
    preset, weights, meta = user_preset()
    store.save(preset, weights, meta)
    removed = store.remove("my sax")
    assert not removed.exists()
    assert "My Sax" not in [e.name for e in store.list()]
    assert preset.model_key in store.cache  # the model stays (shared by design)


def test_corrupt_factory_model_is_a_cache_error(tmp_path, factory):
    preset = Store(tmp_path / "s", factory=factory).get("Organ")
    path = factory / f"{preset.model_key}.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(CacheError, match="factory model .* does not match"):
        Store(tmp_path / "s", factory=factory).load_model_bytes(preset)


def test_user_cache_entry_wins_and_missing_model_is_explained(store):
    preset, _, _ = user_preset(seed=99)
    with pytest.raises(CacheError, match="train it with `stylepedal train` or import"):
        store.load_model_bytes(preset)


# -- bundles ----------------------------------------------------------------------------------


def test_export_import_between_two_stores(store, other, tmp_path):
    preset, weights, meta = user_preset()
    store.save(preset, weights, meta)
    bundle = store.export("my sax", tmp_path / "sax.stylepedal")
    assert files_under(other.root) == []
    imported = other.import_(bundle)
    # the same preset, its model filed under the key derived from the model itself
    key = content_key(weights, NETWORK)
    assert imported == preset.replace(model_key=key) and key != preset.model_key
    assert other.get("My Sax") == imported
    w_a, m_a = store.load_model_bytes(preset)
    w_b, m_b = other.load_model_bytes(imported)
    assert w_a == w_b and m_b == {**m_a, "key": key}
    assert (other.cache.path(key) / "model.safetensors").read_bytes() == (
        store.cache.path(preset.model_key) / "model.safetensors"
    ).read_bytes()
    # exported again, the same bundle: an import is a fixed point
    again = other.export("My Sax", tmp_path / "again.stylepedal")
    assert again.read_bytes() == bundle.read_bytes()


def test_export_is_deterministic_and_lists_hashes(store, tmp_path):
    a = store.export("Organ", tmp_path / "a.zip").read_bytes()
    b = store.export("Organ", tmp_path / "b.zip").read_bytes()
    assert a == b
    with zipfile.ZipFile(io.BytesIO(a)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        for member, digest in manifest["members"].items():
            assert sha256_bytes(zf.read(member)) == digest
        key = content_key(zf.read("model.safetensors"), NETWORK)
    assert manifest["name"] == "Organ" and manifest["model_key"] == key


def test_factory_preset_exported_and_imported_shadows_factory_on_request(
    store, other, tmp_path
):
    bundle = store.export("Flute", tmp_path / "flute.zip")
    with pytest.raises(PresetError, match="factory preset 'Flute'.*--force"):
        other.import_(bundle)
    assert files_under(other.presets_dir) == [] and other.entry("flute").source == "factory"
    other.import_(bundle, overwrite=True)
    entry = other.entry("flute")
    assert entry.source == "user" and entry.shadows_factory


def test_import_existing_user_preset_needs_overwrite(store, other, tmp_path):
    preset, weights, meta = user_preset()
    store.save(preset, weights, meta)
    other.save(preset.replace(mix=0.1), weights, meta)
    bundle = store.export("My Sax", tmp_path / "sax.zip")
    with pytest.raises(PresetError, match="exists already"):
        other.import_(bundle)
    assert other.get("My Sax").mix == 0.1
    other.import_(bundle, overwrite=True)
    assert other.get("My Sax").mix == 0.5


def _rewrite(bundle: Path, out: Path, change) -> Path:
    """Copy a bundle, letting ``change(members)`` edit the dict of member bytes."""
    with zipfile.ZipFile(bundle) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    change(members)
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out


def _flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def _fix_manifest(members: dict, member: str) -> None:
    manifest = json.loads(members["manifest.json"])
    manifest["members"][member] = sha256_bytes(members[member])
    members["manifest.json"] = json.dumps(manifest).encode()


def _weights_flipped(m):
    m["model.safetensors"] = _flip_last(m["model.safetensors"])


def _weights_flipped_manifest_fixed(m):
    _weights_flipped(m)
    _fix_manifest(m, "model.safetensors")


def _preset_key_swapped(m):
    other_key = make_model(555)[0]
    text = m["preset.toml"].decode()
    key = json.loads(m["manifest.json"])["model_key"]
    m["preset.toml"] = text.replace(key, other_key).encode()
    _fix_manifest(m, "preset.toml")
    manifest = json.loads(m["manifest.json"])
    manifest["model_key"] = other_key
    m["manifest.json"] = json.dumps(manifest).encode()


def _preset_edited(m):
    m["preset.toml"] = m["preset.toml"].replace(b"mix = 0.5", b"mix = 1.0")


def _extra_member(m):
    m["evil.py"] = b"import os"


def _missing_meta(m):
    del m["meta.json"]


def _manifest_garbage(m):
    m["manifest.json"] = b"\x00not json"


def _invalid_preset_fixed_manifest(m):
    m["preset.toml"] = m["preset.toml"].replace(b"mix = 0.5", b"mix = 5.0")
    _fix_manifest(m, "preset.toml")


TAMPERING = {
    "weights changed": (_weights_flipped, "does not match the manifest"),
    "weights changed, manifest fixed": (_weights_flipped_manifest_fixed, "does not match meta"),
    "preset points at another model": (_preset_key_swapped, "names key"),
    "preset edited": (_preset_edited, "preset.toml sha256 .* does not match the manifest"),
    "extra member": (_extra_member, "a bundle holds exactly"),
    "missing member": (_missing_meta, "a bundle holds exactly"),
    "manifest garbage": (_manifest_garbage, "manifest.json is not valid JSON"),
    "invalid preset": (_invalid_preset_fixed_manifest, r"effect.mix=5.0 is out of range"),
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_tampered_bundle_is_refused_and_nothing_written(store, other, tmp_path, how):
    preset, weights, meta = user_preset()
    store.save(preset, weights, meta)
    bundle = store.export("My Sax", tmp_path / "sax.zip")
    change, message = TAMPERING[how]
    bad = _rewrite(bundle, tmp_path / "bad.zip", change)
    with pytest.raises(PresetError, match=message):
        other.import_(bad)
    assert files_under(other.root) == []


def test_not_a_bundle(other, tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(PresetError, match="not a stylepedal preset bundle"):
        other.import_(junk)
    with pytest.raises(PresetError, match="does not exist"):
        other.import_(tmp_path / "absent.zip")
    assert files_under(other.root) == []


# -- the packaged factory bank ----------------------------------------------------------------


def test_packaged_factory_presets_are_valid_and_their_models_verify(tmp_path):
    store = Store(tmp_path / "empty")
    folder = Path(str(factory_dir()))
    entries = store.factory_entries()
    for e in entries:
        weights, meta = store.load_model_bytes(e.preset)
        assert verify_model(weights, meta, e.preset.model_key, where=e.name) is meta
        for src in e.preset.styles:
            assert sha256_file(folder / "styles" / src.file) == src.sha256
    # every clip the bank ships is one a preset was trained on (no stray files)
    clips = sorted(p.name for p in (folder / "styles").glob("*.flac"))
    assert clips, "the factory style clips are missing"
    if entries:
        used = sorted(s.file for e in entries for s in e.preset.styles)
        assert used == clips
