"""The MIDI map: program change (+ bank select) -> preset name, and the CCs that set the mix
and the style amount.

A foot controller sends *bank select* (CC 0 = bank MSB, CC 32 = bank LSB, so bank = MSB * 128 +
LSB, 0-16383) and then a *program change* 0-127. The map is built from the presets' own
``[midi] program/bank`` fields, with explicit overrides (and the mix CC) kept in ``midimap.toml``
in the store::

    format_version = 1
    mix_cc = 1                  # CC number that sets the mix (default 1, the mod wheel)
    style_cc = 4                # CC number that sets the style amount (default 4, foot pedal)
    bypass_cc = 64              # CC number that bypasses the pedal (default 64, a footswitch):
                                # a value of 64 or more bypasses, below 64 plays the effect

    [[program]]                 # explicit entries win over the presets' own numbers
    bank = 0
    program = 5
    preset = "Organ"

A program with no preset maps to ``None``: the caller counts it (and logs a summary) and ignores
it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._validate import check_int_range
from ..errors import ParameterError, PresetError
from ._io import atomic_write_text, parse_toml, read_small_file
from .format import BANK_RANGE, PROGRAM_RANGE, Preset, check_name

__all__ = [
    "DEFAULT_BYPASS_CC",
    "DEFAULT_MIX_CC",
    "MIDIMAP_FORMAT_VERSION",
    "MidiEntry",
    "MidiMap",
    "MidiMapFile",
    "MidiSelector",
    "SelectPreset",
    "SetParameter",
    "check_bank",
    "check_cc",
    "check_program",
]

log = logging.getLogger(__name__)

MIDIMAP_FORMAT_VERSION = 1
DEFAULT_MIX_CC = 1
DEFAULT_STYLE_CC = 4  # the foot controller: an expression pedal sweeps subtle to full
# the sustain-pedal CC: the footswitch every keyboard input and foot controller can send
DEFAULT_BYPASS_CC = 64
BYPASS_ON = 64  # a bypass CC value of 64-127 bypasses (the MIDI convention for switches)
# CC 0/32 are bank select and 120-127 channel-mode messages: none of them may set the mix.
_RESERVED_CC = (0, 32)
_CC_RANGE = (1, 119)


def check_program(program: Any) -> int:
    """Return ``program`` if it is a MIDI program number 0-127, else raise ParameterError."""
    return check_int_range(program, "program", *PROGRAM_RANGE)


def check_bank(bank: Any) -> int:
    """Return ``bank`` if it is a bank number 0-16383 (MSB * 128 + LSB), else ParameterError."""
    return check_int_range(bank, "bank", *BANK_RANGE)


def _check_ccs(mix_cc: Any, style_cc: Any, bypass_cc: Any = DEFAULT_BYPASS_CC
               ) -> tuple[int, int, int]:
    ccs = {"mix_cc": check_cc(mix_cc), "style_cc": check_cc(style_cc, name="style_cc"),
           "bypass_cc": check_cc(bypass_cc, name="bypass_cc")}
    names = list(ccs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if ccs[a] == ccs[b]:
                raise ParameterError(
                    f"{a}={ccs[a]} and {b}={ccs[b]} are the same CC: choose different ones"
                )
    return ccs["mix_cc"], ccs["style_cc"], ccs["bypass_cc"]


def check_cc(cc: Any, *, name: str = "mix_cc") -> int:
    """Return ``cc`` if it can carry the mix: 1-119 except 32 (0/32 select banks)."""
    check_int_range(cc, name, *_CC_RANGE)
    if cc in _RESERVED_CC:
        raise ParameterError(f"{name}={cc} is bank select (CC 0/32): choose another CC in [1, 119]")
    return int(cc)


@dataclass(frozen=True)
class MidiEntry:
    """One mapping ``(bank, program) -> preset``; ``source``: ``"preset"`` or ``"midimap.toml"``."""

    bank: int
    program: int
    preset: str
    source: str = "preset"


@dataclass
class MidiMapFile:
    """The contents of ``midimap.toml``: the mix CC and explicit program overrides.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = MidiMapFile(mix_cc=7, overrides={(0, 5): "Organ"})
    >>> path = f.save(pathlib.Path(tempfile.mkdtemp()) / "midimap.toml")
    >>> MidiMapFile.load(path) == f
    True
    """

    mix_cc: int = DEFAULT_MIX_CC
    overrides: dict[tuple[int, int], str] = field(default_factory=dict)
    style_cc: int = DEFAULT_STYLE_CC
    bypass_cc: int = DEFAULT_BYPASS_CC

    def __post_init__(self) -> None:
        _check_ccs(self.mix_cc, self.style_cc, self.bypass_cc)
        for (bank, program), preset in self.overrides.items():
            check_bank(bank)
            check_program(program)
            check_name(preset, field_name=f"program {program} bank {bank} preset")

    def to_toml(self) -> str:
        """Deterministic TOML text, entries sorted by (bank, program)."""
        import tomli_w

        doc: dict[str, Any] = {"format_version": MIDIMAP_FORMAT_VERSION, "mix_cc": self.mix_cc,
                               "style_cc": self.style_cc, "bypass_cc": self.bypass_cc}
        if self.overrides:
            doc["program"] = [
                {"bank": bank, "program": program, "preset": self.overrides[(bank, program)]}
                for bank, program in sorted(self.overrides)
            ]
        return tomli_w.dumps(doc)

    @classmethod
    def from_toml(cls, text: str, *, source: str = "midimap.toml") -> MidiMapFile:
        """Parse and validate; errors are PresetError naming ``source`` and the field."""
        doc = parse_toml(text, source)
        try:
            return cls._from_doc(doc)
        except ParameterError as exc:
            raise PresetError(f"{source}: {exc}") from exc
        except PresetError as exc:
            raise PresetError(f"{source}: {exc}") from exc
        except RecursionError:
            raise PresetError(f"{source}: a value is nested too deeply") from None
        except (OverflowError, ValueError, TypeError) as exc:
            raise PresetError(f"{source}: a value is out of range: {str(exc)[:200]}") from None

    @classmethod
    def _from_doc(cls, doc: Mapping[str, Any]) -> MidiMapFile:
        version = doc.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise PresetError(f"format_version={version!r} must be a positive integer (this is 1)")
        if version > MIDIMAP_FORMAT_VERSION:
            raise PresetError(
                f"format_version={version} is newer than this stylepedal reads "
                f"({MIDIMAP_FORMAT_VERSION}): upgrade stylepedal"
            )
        allowed = ("format_version", "mix_cc", "style_cc", "bypass_cc", "program")
        unknown = [k for k in doc if k not in allowed]
        if unknown:
            raise PresetError(f"unknown keys {unknown}: allowed are {', '.join(allowed)}")
        entries = doc.get("program", [])
        if not isinstance(entries, list):
            raise PresetError(f"program={entries!r} must be an array of tables [[program]]")
        overrides: dict[tuple[int, int], str] = {}
        for i, item in enumerate(entries):
            if not isinstance(item, Mapping):
                raise PresetError(
                    f"program[{i}]={item!r} must be a table with program, bank, preset"
                )
            bad = [k for k in item if k not in ("bank", "program", "preset")]
            if bad:
                raise PresetError(
                    f"unknown keys {bad} in program[{i}]: allowed are bank, program, preset"
                )
            if "program" not in item or "preset" not in item:
                raise PresetError(f"program[{i}] needs both program and preset")
            key = (check_bank(item.get("bank", 0)), check_program(item["program"]))
            if key in overrides:
                raise PresetError(f"program[{i}]: bank {key[0]} program {key[1]} is mapped twice")
            overrides[key] = check_name(item["preset"], field_name=f"program[{i}].preset")
        return cls(mix_cc=doc.get("mix_cc", DEFAULT_MIX_CC), overrides=overrides,
                   style_cc=doc.get("style_cc", DEFAULT_STYLE_CC),
                   bypass_cc=doc.get("bypass_cc", DEFAULT_BYPASS_CC))

    @classmethod
    def load(cls, path: str | Path) -> MidiMapFile:
        """Load ``path``; a missing file gives the defaults (mix CC 1, no overrides)."""
        path = Path(path)
        if not path.exists() and not path.is_symlink():
            return cls()
        data = read_small_file(path, what="MIDI map", error=PresetError)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PresetError(f"{path} cannot be read: {exc}") from exc
        return cls.from_toml(text, source=str(path))

    def save(self, path: str | Path) -> Path:
        """Write atomically; return the path."""
        return atomic_write_text(path, self.to_toml(), error=PresetError)


class MidiMap:
    """Program change + bank -> preset name, and the mix CC.

    Parameters
    ----------
    entries : iterable of MidiEntry
        Later entries for the same (bank, program) replace earlier ones.
    mix_cc : int
        CC number (1-119, not 32) that sets the mix; its value 0-127 maps to mix 0-1.
    style_cc : int
        CC number that sets the style amount (0 = the dry spectrum, 127 = the full style).
    bypass_cc : int
        CC number that bypasses the pedal (64-127) or plays it (0-63).

    Examples
    --------
    >>> m = MidiMap([MidiEntry(0, 0, "Organ"), MidiEntry(1, 0, "Strings")])
    >>> m.lookup(0), m.lookup(0, bank=1), m.lookup(5)
    ('Organ', 'Strings', None)
    """

    def __init__(
        self,
        entries: Iterable[MidiEntry] = (),
        *,
        mix_cc: int = DEFAULT_MIX_CC,
        style_cc: int = DEFAULT_STYLE_CC,
        bypass_cc: int = DEFAULT_BYPASS_CC,
    ) -> None:
        self.mix_cc, self.style_cc, self.bypass_cc = _check_ccs(mix_cc, style_cc, bypass_cc)
        self._map: dict[tuple[int, int], MidiEntry] = {}
        for e in entries:
            check_bank(e.bank)
            check_program(e.program)
            self._map[(e.bank, e.program)] = e

    @classmethod
    def build(
        cls,
        presets: Iterable[Preset],
        file: MidiMapFile | None = None,
        *,
        known_names: Iterable[str] | None = None,
    ) -> MidiMap:
        """Build the map from presets' ``midi_program``/``midi_bank`` plus ``file``'s overrides.

        When two presets claim the same program the first one given wins (the store passes user
        presets before factory ones) and the clash is logged. Overrides naming a preset not in
        ``known_names`` (case-insensitive) are logged and skipped.
        """
        file = file or MidiMapFile()
        entries: dict[tuple[int, int], MidiEntry] = {}
        for p in presets:
            if p.midi_program is None:
                continue
            key = (p.midi_bank or 0, p.midi_program)
            if key in entries:
                log.warning(
                    "presets %r and %r both claim bank %d program %d; using %r",
                    entries[key].preset,
                    p.name,
                    key[0],
                    key[1],
                    entries[key].preset,
                )
                continue
            entries[key] = MidiEntry(key[0], key[1], p.name, "preset")
        known = None if known_names is None else {n.casefold() for n in known_names}
        for (bank, program), name in file.overrides.items():
            if known is not None and name.casefold() not in known:
                log.warning(
                    "midimap.toml maps bank %d program %d to unknown preset %r; ignored",
                    bank,
                    program,
                    name,
                )
                continue
            entries[(bank, program)] = MidiEntry(bank, program, name, "midimap.toml")
        return cls(entries.values(), mix_cc=file.mix_cc, style_cc=file.style_cc,
                   bypass_cc=file.bypass_cc)

    def lookup(self, program: int, bank: int = 0) -> str | None:
        """The preset name for ``program`` in ``bank``, or None if nothing is mapped there.

        Raises
        ------
        ParameterError
            if ``program`` is not 0-127 or ``bank`` not 0-16383.
        """
        entry = self._map.get((check_bank(bank), check_program(program)))
        return entry.preset if entry else None

    def entries(self) -> list[MidiEntry]:
        """Every mapping, sorted by (bank, program)."""
        return [self._map[k] for k in sorted(self._map)]

    def __len__(self) -> int:
        return len(self._map)


@dataclass(frozen=True)
class SelectPreset:
    """Action: switch to preset ``name`` (from bank ``bank``, program ``program``)."""

    name: str
    bank: int
    program: int


@dataclass(frozen=True)
class SetParameter:
    """Action: set the parameter ``name`` (``"mix"`` or ``"style"``, a value in [0, 1]; or
    ``"bypass"``, 1.0 or 0.0)."""

    name: str
    value: float


class MidiSelector:
    """Turns incoming MIDI messages into actions using a :class:`MidiMap`.

    Keeps the bank-select state (CC 0 MSB, CC 32 LSB) as the MIDI spec says: the bank applies
    to the next program change. Works with :mod:`mido` messages or anything with the same
    attributes (``type``, ``channel``, ``control``, ``value``, ``program``).

    Parameters
    ----------
    midimap : MidiMap
    channel : int or None
        Listen only to this channel (0-15); None listens to all.

    Examples
    --------
    >>> import mido
    >>> sel = MidiSelector(MidiMap([MidiEntry(2, 4, "Sax")]))
    >>> sel.handle(mido.Message("control_change", control=32, value=2))
    >>> sel.handle(mido.Message("program_change", program=4))
    SelectPreset(name='Sax', bank=2, program=4)
    >>> sel.handle(mido.Message("control_change", control=1, value=127))
    SetParameter(name='mix', value=1.0)
    """

    def __init__(self, midimap: MidiMap, *, channel: int | None = None) -> None:
        self.midimap = midimap
        self.channel = None if channel is None else check_int_range(channel, "channel", 0, 15)
        self.bank_msb = 0
        self.bank_lsb = 0
        self.unmapped: tuple[int, int] | None = None  # (bank, program) of the last unmapped

    @property
    def bank(self) -> int:
        """The bank the next program change selects from."""
        return self.bank_msb * 128 + self.bank_lsb

    def handle(self, message: Any) -> SelectPreset | SetParameter | None:
        """Return the action for ``message`` or None (an unmapped program too: the caller
        counts those, see :attr:`unmapped`)."""
        kind = getattr(message, "type", None)
        if self.channel is not None and getattr(message, "channel", None) != self.channel:
            return None
        if kind == "control_change":
            control, value = int(message.control), int(message.value)
            if not (0 <= control <= 127 and 0 <= value <= 127):
                return None
            if control == 0:
                self.bank_msb = value
            elif control == 32:
                self.bank_lsb = value
            elif control == self.midimap.mix_cc:
                return SetParameter("mix", value / 127.0)
            elif control == self.midimap.style_cc:
                return SetParameter("style", value / 127.0)
            elif control == self.midimap.bypass_cc:
                return SetParameter("bypass", 1.0 if value >= BYPASS_ON else 0.0)
            return None
        if kind == "program_change":
            program = int(message.program)
            if not 0 <= program <= 127:
                return None
            name = self.midimap.lookup(program, self.bank)
            if name is None:
                # no line per message: a flood of them would flood the log
                self.unmapped = (self.bank, program)
                return None
            return SelectPreset(name, self.bank, program)
        return None
