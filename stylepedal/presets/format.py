"""The preset file format (TOML, ``format_version = 1``).

A preset is what a player saves, shares and recalls with a foot controller: which trained model
to use (by its cache key), how the effect is set, and which MIDI program selects it. Example::

    format_version = 1
    name = "Organ"
    description = "Drawbar organ: sustained, hollow, reedy"
    model_key = "3f5a...64 hex digits..."

    [effect]
    mix = 1.0
    output_gain_db = 0.0
    latency_mode = "default"    # or "low"
    phase_mode = "input"        # or "pghi"

    [midi]                      # optional; program 0-127, bank 0-16383
    program = 0
    bank = 0

    [[styles]]                  # the audio the model was trained on
    file = "organ.flac"
    sha256 = "..."              # of the file's bytes
    description = "..."

    [training]                  # the training config, as given to train_style
    steps = 2000

Loading validates every field: an error names the field, the value and what is allowed; unknown
keys are rejected by name. ``to_toml`` is deterministic, so save -> load -> save is
byte-identical.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._validate import check_choice, check_int_range, check_range
from ..effect.engine.constants import (
    GAIN_DB_RANGE,
    LATENCY_MODES,
    MIX_RANGE,
    PHASE_MODES,
    STYLE_RANGE,
)
from ..errors import ParameterError, PresetError
from ._io import atomic_write_text, parse_toml, read_small_file

__all__ = [
    "FORMAT_VERSION",
    "LATENCY_MODES",
    "PHASE_MODES",
    "Preset",
    "StyleSource",
    "check_name",
]

FORMAT_VERSION = 1
PROGRAM_RANGE = (0, 127)
BANK_RANGE = (0, 16383)
# Names are file names in the store too: letters, digits, space, - _ + . ( ), no leading dot.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _+.()\-]{0,63}")
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_TOP_KEYS = (
    "format_version",
    "name",
    "description",
    "model_key",
    "effect",
    "midi",
    "styles",
    "training",
)
_EFFECT_KEYS = ("mix", "style", "output_gain_db", "latency_mode", "phase_mode")
_MIDI_KEYS = ("program", "bank")
_STYLE_KEYS = ("file", "sha256", "description")
_MAX_TEXT = 2000


def check_name(name: Any, *, field_name: str = "name") -> str:
    """Return ``name`` if it is a valid preset name, else raise PresetError.

    A name is 1-64 characters: letters, digits, space and ``- _ + . ( )``, starting with a
    letter or digit and not ending with a space or dot (it is also a file name).
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name[-1] in " .":
        raise PresetError(
            f"{field_name}={name!r} is not a valid preset name: use 1-64 letters, digits, "
            "spaces or - _ + . ( ), starting with a letter or digit, not ending in a space or dot"
        )
    return name


def _text(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise PresetError(
            f"{field_name}={value!r} must be a string of at most {_MAX_TEXT} characters"
        )
    return value


def _sha(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or not _SHA_RE.fullmatch(value):
        raise PresetError(f"{field_name}={value!r} must be a sha256: 64 lowercase hex digits")
    return value


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [k for k in table if k not in allowed]
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise PresetError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {names} in {where}: allowed are "
            + ", ".join(allowed)
        )


def _config_value(value: Any, where: str) -> Any:
    """Validate and copy a training-config value: TOML-able, finite, string keys."""
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise PresetError(f"{where} key {k!r} must be a string")
            out[k] = _config_value(v, f"{where}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_config_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise PresetError(f"{where}={value!r} does not fit a TOML (64-bit) integer")
    if isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PresetError(f"{where}={value!r} must be a finite number")
        return value
    raise PresetError(
        f"{where}={value!r} of type {type(value).__name__} is not supported: use numbers, "
        "strings, booleans, lists and tables"
    )


def _sorted_config(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted_config(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_config(v) for v in value]
    return value


@dataclass(frozen=True)
class StyleSource:
    """One style clip a model was trained on.

    Parameters
    ----------
    file : str
        The clip's file name (not a path: presets travel between machines).
    sha256 : str
        sha256 of the clip file's bytes.
    description : str
        What the clip is, e.g. ``"FluidR3_GM Drawbar Organ, chords E2-E4"``.
    """

    file: str
    sha256: str
    description: str = ""

    def __post_init__(self) -> None:
        self.validate("styles[]")

    def validate(self, where: str) -> None:
        """Raise PresetError naming ``where`` if a field is invalid."""
        _text(self.file, f"{where}.file")
        if not self.file or "/" in self.file or "\\" in self.file:
            raise PresetError(
                f"{where}.file={self.file!r} must be a non-empty file name without folders"
            )
        _sha(self.sha256, f"{where}.sha256")
        _text(self.description, f"{where}.description")


@dataclass(frozen=True)
class Preset:
    """A validated preset. Construct it directly or with :meth:`from_toml` / :meth:`load`.

    Parameters
    ----------
    name : str
        What the player sees and types (case-insensitive in the store).
    model_key : str
        Cache key of the trained model (see :func:`stylepedal.presets.cache.cache_key`).
    description : str
    styles : tuple of StyleSource
    training : dict
        Training config (TOML-able values).
    mix : float
        Wet/dry in [0, 1].
    style : float
        Style amount in [0, 1] (0: the dry spectrum, 1: the full style).
    output_gain_db : float
        In [-60, 24] dB.
    latency_mode : {"default", "low"}
    phase_mode : {"input", "pghi"}
    midi_program : int or None
        MIDI program change 0-127 that selects this preset.
    midi_bank : int or None
        Bank 0-16383 (CC 0 MSB * 128 + CC 32 LSB); needs ``midi_program``. None means bank 0.

    Examples
    --------
    >>> p = Preset(name="Organ", model_key="0" * 64, mix=0.8, midi_program=0)
    >>> Preset.from_toml(p.to_toml()) == p
    True
    """

    name: str
    model_key: str
    description: str = ""
    styles: tuple[StyleSource, ...] = ()
    training: dict[str, Any] = field(default_factory=dict)
    mix: float = 1.0
    output_gain_db: float = 0.0
    latency_mode: str = "default"
    style: float = 1.0
    phase_mode: str = "input"
    midi_program: int | None = None
    midi_bank: int | None = None

    def __post_init__(self) -> None:
        check_name(self.name)
        _sha(self.model_key, "model_key")
        _text(self.description, "description")
        if not isinstance(self.styles, (tuple, list)):
            raise PresetError(f"styles={self.styles!r} must be a list of StyleSource")
        styles = tuple(self.styles)
        for i, s in enumerate(styles):
            if not isinstance(s, StyleSource):
                raise PresetError(f"styles[{i}]={s!r} must be a StyleSource")
        object.__setattr__(self, "styles", styles)
        if not isinstance(self.training, Mapping):
            raise PresetError(f"training={self.training!r} must be a table (dict)")
        training = _sorted_config(_config_value(self.training, "training"))
        object.__setattr__(self, "training", training)
        mix = check_range(self.mix, "effect.mix", *MIX_RANGE, error=PresetError)
        object.__setattr__(self, "mix", mix)
        style = check_range(self.style, "effect.style", *STYLE_RANGE, error=PresetError)
        object.__setattr__(self, "style", style)
        object.__setattr__(
            self,
            "output_gain_db",
            check_range(
                self.output_gain_db, "effect.output_gain_db", *GAIN_DB_RANGE, error=PresetError
            ),
        )
        check_choice(self.latency_mode, "effect.latency_mode", LATENCY_MODES, error=PresetError)
        check_choice(self.phase_mode, "effect.phase_mode", PHASE_MODES, error=PresetError)
        if self.midi_program is not None:
            check_int_range(self.midi_program, "midi.program", *PROGRAM_RANGE, error=PresetError)
        if self.midi_bank is not None:
            check_int_range(self.midi_bank, "midi.bank", *BANK_RANGE, error=PresetError)
            if self.midi_program is None:
                raise PresetError(
                    f"midi.bank={self.midi_bank} needs midi.program: a bank alone selects nothing"
                )

    def replace(self, **changes: Any) -> Preset:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    # -- TOML ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The preset as the plain, ordered dict that is written as TOML."""
        doc: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "description": self.description,
            "model_key": self.model_key,
            "effect": {
                "mix": self.mix,
                "style": self.style,
                "output_gain_db": self.output_gain_db,
                "latency_mode": self.latency_mode,
                "phase_mode": self.phase_mode,
            },
        }
        if self.midi_program is not None:
            midi: dict[str, Any] = {"program": self.midi_program}
            if self.midi_bank is not None:
                midi["bank"] = self.midi_bank
            doc["midi"] = midi
        doc["styles"] = [
            {"file": s.file, "sha256": s.sha256, "description": s.description} for s in self.styles
        ]
        doc["training"] = self.training
        return doc

    def to_toml(self) -> str:
        """Deterministic TOML text (same preset -> same bytes).

        Examples
        --------
        >>> print(Preset(name="X", model_key="0" * 64).to_toml().splitlines()[0])
        format_version = 1
        """
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Preset:
        """Validate a parsed TOML document and build the preset."""
        if not isinstance(doc, Mapping):
            raise PresetError(f"a preset must be a TOML table, got {type(doc).__name__}")
        version = doc.get("format_version")
        if version is None:
            raise PresetError("format_version is missing: a preset starts with format_version = 1")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise PresetError(f"format_version={version!r} must be a positive integer (this is 1)")
        if version > FORMAT_VERSION:
            raise PresetError(
                f"format_version={version} is newer than this stylepedal reads "
                f"({FORMAT_VERSION}): upgrade stylepedal to load this preset"
            )
        _check_keys(doc, _TOP_KEYS, "the preset")
        for required in ("name", "model_key"):
            if required not in doc:
                raise PresetError(f"{required} is missing: every preset needs a {required}")
        effect = doc.get("effect", {})
        if not isinstance(effect, Mapping):
            raise PresetError(f"effect={effect!r} must be a table [effect]")
        _check_keys(effect, _EFFECT_KEYS, "[effect]")
        midi = doc.get("midi", {})
        if not isinstance(midi, Mapping):
            raise PresetError(f"midi={midi!r} must be a table [midi]")
        _check_keys(midi, _MIDI_KEYS, "[midi]")
        raw_styles = doc.get("styles", [])
        if not isinstance(raw_styles, list):
            raise PresetError(f"styles={raw_styles!r} must be an array of tables [[styles]]")
        styles = []
        for i, s in enumerate(raw_styles):
            where = f"styles[{i}]"
            if not isinstance(s, Mapping):
                raise PresetError(f"{where}={s!r} must be a table with file, sha256, description")
            _check_keys(s, _STYLE_KEYS, where)
            for required in ("file", "sha256"):
                if required not in s:
                    raise PresetError(f"{where}.{required} is missing")
            src = object.__new__(StyleSource)
            for k in _STYLE_KEYS:
                object.__setattr__(src, k, s.get(k, ""))
            src.validate(where)  # names the index in the error
            styles.append(src)
        return cls(
            name=doc["name"],
            model_key=doc["model_key"],
            description=doc.get("description", ""),
            styles=tuple(styles),
            training=doc.get("training", {}),
            mix=effect.get("mix", 1.0),
            style=effect.get("style", 1.0),
            output_gain_db=effect.get("output_gain_db", 0.0),
            latency_mode=effect.get("latency_mode", "default"),
            phase_mode=effect.get("phase_mode", "input"),
            midi_program=midi.get("program"),
            midi_bank=midi.get("bank"),
        )

    @classmethod
    def from_toml(cls, text: str, *, source: str = "preset") -> Preset:
        """Parse and validate preset TOML text; errors name ``source``, the field and the value."""
        doc = parse_toml(text, source)
        try:
            return cls.from_dict(doc)
        except (PresetError, ParameterError) as exc:
            raise PresetError(f"{source}: {exc}") from exc
        except RecursionError:
            raise PresetError(f"{source}: a value is nested too deeply") from None
        except (OverflowError, ValueError, TypeError) as exc:
            # e.g. a 401-digit number where a float belongs: float() overflows
            raise PresetError(f"{source}: a value is out of range: {str(exc)[:200]}") from None

    @classmethod
    def load(cls, path: str | Path) -> Preset:
        """Load and validate a preset file.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> p = Preset(name="Flute", model_key="a" * 64)
        >>> f = p.save(pathlib.Path(tempfile.mkdtemp()) / "Flute.toml")
        >>> Preset.load(f) == p
        True
        """
        path = Path(path)
        data = read_small_file(path, what="preset file", error=PresetError)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PresetError(f"preset file {path} is not UTF-8 text: {exc}") from exc
        return cls.from_toml(text, source=f"preset file {path}")

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_toml` to ``path`` atomically; return the path."""
        return atomic_write_text(path, self.to_toml(), error=PresetError)
