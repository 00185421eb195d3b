"""Hostile files shared by the hostile-input suite and ``benchmarks/reliability.py``: bundles
with consistent hashes around crafted contents, raw zips whose headers may lie, a WAV whose
header lies about its length, and user presets that once broke every command."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save as st_save

from stylepedal.effect.model.stream import FORMAT, FORMAT_VERSION, weight_shapes
from stylepedal.presets._io import sha256_bytes
from stylepedal.presets.cache import make_meta, meta_to_bytes
from stylepedal.presets.format import Preset
from stylepedal.presets.store import Store, factory_dir

from ._util import tone

KEY = "0" * 64
HEADER = f'format_version = 1\nname = "Bad"\nmodel_key = "{KEY}"\n'
#: User presets that broke ``presets list`` and every ``render`` before they were skipped.
HOSTILE_PRESETS = {
    "401-digit mix": HEADER + "[effect]\nmix = " + "9" * 401 + "\n",
    "5000-level array": HEADER + "[training]\nx = " + "[" * 5000 + "]" * 5000 + "\n",
}


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


def factory_model(name: str) -> tuple[str, bytes, dict[str, Any]]:
    """Key, weights and metadata of factory preset ``name``'s model."""
    key = Store(factory=factory_dir()).get(name).model_key
    folder = factory_dir()
    weights = folder.joinpath(f"{key}.safetensors").read_bytes()
    return key, weights, json.loads(folder.joinpath(f"{key}.json").read_bytes())


def lying_wav(path: Path, frames_claimed: int) -> Path:
    """A real 16-bit WAV of 3 s whose data chunk claims ``frames_claimed`` frames."""
    tone(path, seconds=3.0, channels=2, bit_depth=16)  # 576 KB
    data = bytearray(path.read_bytes())
    at = data.find(b"data")
    data[at + 4:at + 8] = struct.pack("<I", min(frames_claimed * 4, 0xFFFFFFFF))
    path.write_bytes(bytes(data))
    return path


def honest_members(tmp_path: Path) -> dict[str, bytes]:
    """The members of factory Organ's bundle as ``presets export`` writes it."""
    source = Store(tmp_path / "source")
    return {name: data for name, data in read_zip(source.export("Organ", tmp_path / "o.zip"))}


def read_zip(path: Path) -> list[tuple[str, bytes]]:
    """``(name, contents)`` of each member of zip ``path``, in order."""
    with zipfile.ZipFile(path) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]
