"""The preset TOML format: validation of every field, byte-identical round trip."""

from __future__ import annotations

import copy
import string

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stylepedal.errors import PresetError
from stylepedal.presets.format import FORMAT_VERSION, Preset, StyleSource

KEY = "0123456789abcdef" * 4
SHA = "fedcba9876543210" * 4


def valid_doc() -> dict:
    return {
        "format_version": 1,
        "name": "Organ",
        "description": "Drawbar organ",
        "model_key": KEY,
        "effect": {"mix": 0.75, "output_gain_db": -3.5, "latency_mode": "low",
                   "phase_mode": "pghi"},
        "midi": {"program": 12, "bank": 3},
        "styles": [{"file": "organ.flac", "sha256": SHA, "description": "chords"}],
        "training": {"steps": 300, "alpha": 0.01, "features": {"n_filters": 512}},
    }


def test_valid_doc_loads_every_field():
    p = Preset.from_toml(tomli_w.dumps(valid_doc()))
    assert p == Preset(
        name="Organ",
        model_key=KEY,
        description="Drawbar organ",
        styles=(StyleSource("organ.flac", SHA, "chords"),),
        training={"steps": 300, "alpha": 0.01, "features": {"n_filters": 512}},
        mix=0.75,
        output_gain_db=-3.5,
        latency_mode="low",
        phase_mode="pghi",
        midi_program=12,
        midi_bank=3,
    )


def test_optional_sections_take_defaults():
    p = Preset.from_toml(f'format_version = 1\nname = "Flute"\nmodel_key = "{KEY}"\n')
    assert (p.mix, p.output_gain_db, p.latency_mode, p.phase_mode) == (1.0, 0.0, "default", "input")
    assert p.midi_program is None and p.midi_bank is None and p.styles == () and p.training == {}


# field path, bad value, text the message must contain (besides the field and the value)
BAD_FIELDS = [
    ("name", "", "valid preset name"),
    ("name", "../etc", "valid preset name"),
    ("name", "x" * 65, "valid preset name"),
    ("name", "trailing ", "valid preset name"),
    ("name", 3, "valid preset name"),
    ("description", 5, "must be a string"),
    ("model_key", "abc", "64 lowercase hex"),
    ("model_key", KEY.upper(), "64 lowercase hex"),
    ("effect.mix", 1.5, "allowed is [0.0, 1.0]"),
    ("effect.mix", -0.1, "allowed is [0.0, 1.0]"),
    ("effect.mix", "loud", "must be a number"),
    ("effect.mix", True, "must be a number"),
    ("effect.output_gain_db", 30.0, "allowed is [-60.0, 24.0]"),
    ("effect.output_gain_db", -61, "allowed is [-60.0, 24.0]"),
    ("effect.output_gain_db", float("nan"), "must be a number"),
    ("effect.latency_mode", "ultra", "'default', 'low'"),
    ("effect.phase_mode", "griffin", "'input', 'pghi'"),
    ("midi.program", 128, "[0, 127]"),
    ("midi.program", -1, "[0, 127]"),
    ("midi.program", 1.0, "[0, 127]"),
    ("midi.bank", 16384, "[0, 16383]"),
    ("midi.bank", "A", "[0, 16383]"),
    ("styles.0.file", "dir/organ.flac", "without folders"),
    ("styles.0.file", "", "without folders"),
    ("styles.0.sha256", "nope", "64 lowercase hex"),
    ("styles.0.description", 1, "must be a string"),
    ("training", "fast", "must be a table"),
    ("training.steps", float("inf"), "finite"),
    ("training.steps", 2**63, "64-bit"),
    ("format_version", 0, "positive integer"),
    ("format_version", "1", "positive integer"),
]


def _set(doc: dict, path: str, value) -> dict:
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    target = doc
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = value
    return doc


@pytest.mark.parametrize(("path", "value", "allowed"), BAD_FIELDS)
def test_each_bad_field_is_named_with_value_and_allowed(path, value, allowed):
    doc = _set(valid_doc(), path, value)
    with pytest.raises(PresetError) as info:
        Preset.from_toml(tomli_w.dumps(doc), source="organ.toml")
    msg = str(info.value)
    field = path.replace(".0.", "[0].")
    assert f"{field}={value!r}" in msg
    assert allowed in msg
    assert msg.startswith("organ.toml")


@pytest.mark.parametrize(
    ("table", "extra"),
    [(None, "colour"), ("effect", "drive_db"), ("midi", "channel"), ("styles.0", "url")],
)
def test_unknown_keys_are_rejected_by_name(table, extra):
    doc = valid_doc()
    target = doc if table is None else doc["styles"][0] if table == "styles.0" else doc[table]
    target[extra] = 1
    with pytest.raises(PresetError, match=f"unknown key '{extra}'"):
        Preset.from_toml(tomli_w.dumps(doc))


def test_several_unknown_keys_all_named():
    doc = valid_doc()
    doc["a1"] = doc["b2"] = 1
    with pytest.raises(PresetError, match="unknown keys 'a1', 'b2'"):
        Preset.from_toml(tomli_w.dumps(doc))


@pytest.mark.parametrize("missing", ["name", "model_key", "format_version"])
def test_missing_required_key(missing):
    doc = valid_doc()
    del doc[missing]
    with pytest.raises(PresetError, match=f"{missing} is missing"):
        Preset.from_toml(tomli_w.dumps(doc))


def test_missing_style_sha():
    doc = valid_doc()
    del doc["styles"][0]["sha256"]
    with pytest.raises(PresetError, match=r"styles\[0\].sha256 is missing"):
        Preset.from_toml(tomli_w.dumps(doc))


def test_newer_format_version_says_upgrade():
    doc = _set(valid_doc(), "format_version", FORMAT_VERSION + 1)
    with pytest.raises(PresetError, match="newer than this stylepedal.*upgrade"):
        Preset.from_toml(tomli_w.dumps(doc))


def test_bank_without_program():
    doc = valid_doc()
    del doc["midi"]["program"]
    with pytest.raises(PresetError, match="midi.bank=3 needs midi.program"):
        Preset.from_toml(tomli_w.dumps(doc))


def test_invalid_toml():
    with pytest.raises(PresetError, match="not valid TOML"):
        Preset.from_toml("name = = 1")


def test_load_missing_and_non_utf8(tmp_path):
    with pytest.raises(PresetError, match="does not exist"):
        Preset.load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe name")
    with pytest.raises(PresetError, match="not UTF-8"):
        Preset.load(bad)


def test_integer_numbers_are_normalised_and_then_stable():
    doc = _set(_set(valid_doc(), "effect.mix", 1), "effect.output_gain_db", -0.0)
    p = Preset.from_toml(tomli_w.dumps(doc))
    assert isinstance(p.mix, float) and p.mix == 1.0
    text = p.to_toml()
    assert "mix = 1.0" in text and "output_gain_db = 0.0" in text
    assert Preset.from_toml(text).to_toml() == text


def test_construction_validates_too():
    with pytest.raises(PresetError, match="effect.mix=2"):
        Preset(name="X", model_key=KEY, mix=2)
    with pytest.raises(PresetError, match="styles"):
        Preset(name="X", model_key=KEY, styles=("organ.flac",))  # type: ignore[arg-type]


# -- round trip (hypothesis) ------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 _+.()\-]{0,30}", fullmatch=True).filter(
    lambda s: s[-1] not in " ."
)
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
hexes = st.text("0123456789abcdef", min_size=64, max_size=64)
finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), finite, text,
)
config_keys = st.text(string.ascii_letters + string.digits + "_- ", min_size=1, max_size=10)
configs = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(config_keys, inner, max_size=4)
    ),
    max_leaves=12,
)
styles = st.builds(
    StyleSource,
    file=st.from_regex(r"[A-Za-z0-9_\-. ]{1,20}", fullmatch=True),
    sha256=hexes,
    description=text,
)


@st.composite
def presets(draw):
    program = draw(st.none() | st.integers(0, 127))
    bank = draw(st.none() | st.integers(0, 16383)) if program is not None else None
    return Preset(
        name=draw(names),
        model_key=draw(hexes),
        description=draw(text),
        styles=tuple(draw(st.lists(styles, max_size=3))),
        training=draw(st.dictionaries(config_keys, configs, max_size=5)),
        mix=draw(st.floats(0.0, 1.0)),
        output_gain_db=draw(st.floats(-60.0, 24.0)),
        latency_mode=draw(st.sampled_from(["default", "low"])),
        phase_mode=draw(st.sampled_from(["input", "pghi"])),
        midi_program=program,
        midi_bank=bank,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(presets())
def test_save_load_save_is_byte_identical(preset):
    first = preset.to_toml()
    loaded = Preset.from_toml(first)
    assert loaded == preset
    assert loaded.to_toml() == first


@settings(max_examples=20, deadline=None)
@given(presets())
def test_file_round_trip_is_byte_identical(tmp_path_factory, preset):
    folder = tmp_path_factory.mktemp("presets")
    path = preset.save(folder / "p.toml")
    first = path.read_bytes()
    Preset.load(path).save(path)
    assert path.read_bytes() == first
    assert [p.name for p in folder.iterdir()] == ["p.toml"]  # no temp files left
