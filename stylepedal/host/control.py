"""One command path from every control source (MIDI, web panel, OSC, keys) to the audio side.

:class:`Controls` validates every command where it enters, counts it by source (accepted or
refused) and coalesces it into one of two slots the audio side reads without waiting:

* a preset request goes into a one-slot ``deque(maxlen=1)`` and wakes the preset loader: a
  burst of requests leaves only the newest, built off the audio thread and crossfaded in;
* parameter values (``mix``, ``style``, ``gate_db``, ``output_gain_db``, ``bypass``) live in one
  dict that is *replaced whole* on every change. The audio callback reads the reference once
  per block and compares it with the one it applied last: one comparison, no lock, no update
  lost. Producers (several threads) serialise among themselves on a lock the callback never
  touches.

A refused command raises :class:`~stylepedal.errors.ParameterError` or
:class:`~stylepedal.errors.PresetError` naming the field, the value and what is allowed, and
changes nothing.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._validate import check_int_range, check_range
from ..effect.engine.constants import GAIN_DB_RANGE, GATE_DB_RANGE, MIX_RANGE, STYLE_RANGE
from ..errors import ParameterError, PresetError

__all__ = [
    "EFFECT_PARAMS",
    "HOST_PARAMS",
    "PARAM_RANGES",
    "SOURCES",
    "Controls",
    "PresetInfo",
    "RateLimitedLog",
    "check_param",
]

log = logging.getLogger(__name__)

SOURCES = ("midi", "panel", "osc", "keys")
# Parameters the live host applies itself (after the chain), and those it sets on every effect
# of the chain that has them (the style effect).
HOST_PARAMS = ("bypass", "output_gain_db")
EFFECT_PARAMS = ("mix", "style", "gate_db")
PARAM_RANGES: dict[str, tuple[float, float]] = {
    "mix": MIX_RANGE,
    "style": STYLE_RANGE,
    "gate_db": GATE_DB_RANGE,
    "output_gain_db": GAIN_DB_RANGE,
}


def check_param(name: Any, value: Any) -> float:
    """Validate one control value; return it as a float (``bypass``: 1.0 or 0.0).

    Raises
    ------
    ParameterError
        for an unknown name or a value out of range (naming both and what is allowed).

    Examples
    --------
    >>> check_param("mix", 0.5), check_param("bypass", True)
    (0.5, 1.0)
    """
    if name == "bypass":
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return float(value)
        raise ParameterError(f"bypass={value!r} must be true/false (or 1/0)")
    if name not in PARAM_RANGES:
        allowed = ", ".join(sorted((*PARAM_RANGES, "bypass")))
        raise ParameterError(f"unknown field {name!r}: allowed are {allowed}")
    return check_range(value, name, *PARAM_RANGES[name])


@dataclass(frozen=True)
class PresetInfo:
    """What a control surface shows of a preset."""

    name: str
    program: int | None = None
    bank: int = 0
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "program": self.program, "description": self.description}


class Controls:
    """The validated, coalescing command queue between the control sources and the audio side.

    Parameters
    ----------
    presets : iterable of PresetInfo
        The presets a command may select (by name, case-insensitive, or by program in bank 0).
    current : str
        The preset playing at start.
    values : mapping, optional
        Starting parameter values (validated like any command).

    Examples
    --------
    >>> c = Controls([PresetInfo("Organ", 0), PresetInfo("Flute", 1)], current="Organ")
    >>> c.set_params("panel", {"mix": 0.25, "bypass": True})
    >>> c.select_preset("osc", program=1)
    'Flute'
    >>> c.take_preset(), c.values["mix"], c.counts["panel"]["accepted"]
    ('Flute', 0.25, 1)
    """

    def __init__(
        self,
        presets: Iterable[PresetInfo] = (),
        *,
        current: str = "",
        values: Mapping[str, Any] | None = None,
    ) -> None:
        self.presets = tuple(presets)
        self._by_name = {p.name.casefold(): p for p in self.presets}
        self._by_program = {(p.bank, p.program): p for p in reversed(self.presets)
                            if p.program is not None}
        self._presets: collections.deque[str] = collections.deque(maxlen=1)
        self._lock = threading.Lock()  # producers only: the audio side never takes it
        self._values: dict[str, float] = {}
        self.requested = current  # the newest preset asked for (or playing at start)
        self.counts = {s: {"accepted": 0, "refused": 0} for s in SOURCES}
        self.last_refusal = ""
        self.wake = threading.Event()
        if values:
            self._values = {k: check_param(k, v) for k, v in values.items()}

    # ------------------------------------------------------------------ producers
    def set_params(self, source: str, values: Mapping[str, Any]) -> None:
        """Set any of the parameters at once, all or nothing.

        Raises
        ------
        ParameterError
            if a name is unknown or a value out of range; nothing is changed then.
        """
        try:
            clean = {k: check_param(k, v) for k, v in values.items()}
        except ParameterError as exc:
            self.refuse(source, str(exc))
            raise
        with self._lock:
            self._values = {**self._values, **clean}
            self.counts[source]["accepted"] += 1

    def toggle_bypass(self, source: str) -> bool:
        """Flip bypass; return the new state."""
        with self._lock:
            on = not self._values.get("bypass", 0.0)
            self._values = {**self._values, "bypass": float(on)}
            self.counts[source]["accepted"] += 1
        return on

    def select_preset(
        self, source: str, *, name: Any = None, program: Any = None, bank: Any = 0
    ) -> str:
        """Ask for a preset by ``name`` or by ``program`` (in ``bank``); return its name.

        Raises
        ------
        PresetError
            if no preset of that name or program is known (the message lists the names).
        ParameterError
            if the program or bank is not a MIDI number, or neither or both are given.
        """
        try:
            info = self._resolve(name, program, bank)
        except (ParameterError, PresetError) as exc:
            self.refuse(source, str(exc))
            raise
        with self._lock:
            self._presets.append(info.name)  # maxlen=1: the newest request wins
            self.requested = info.name
            self.counts[source]["accepted"] += 1
        self.wake.set()
        return info.name

    def step_preset(self, source: str, step: int) -> str:
        """Ask for the preset ``step`` places after the newest requested one (wrapping)."""
        if not self.presets:
            self.refuse(source, "no presets to step through")
            raise PresetError("no presets to step through")
        names = [p.name for p in self.presets]
        here = self._by_name.get(self.requested.casefold())
        i = names.index(here.name) if here is not None else -1
        return self.select_preset(source, name=names[(i + step) % len(names)])

    def refuse(self, source: str, reason: str = "") -> None:
        """Count a command of ``source`` that was malformed or refused."""
        self.counts[source]["refused"] += 1
        self.last_refusal = reason

    def _resolve(self, name: Any, program: Any, bank: Any) -> PresetInfo:
        if (name is None) == (program is None):
            raise ParameterError("give either a preset name or a program number, not both")
        if name is not None:
            if not isinstance(name, str):
                raise ParameterError(f"name={name!r} must be a preset name (a string)")
            info = self._by_name.get(name.casefold())
            if info is None:
                raise PresetError(f"name={name!r} is not a preset here: choose one of "
                                  f"{', '.join(p.name for p in self.presets) or 'none'}")
            return info
        key = (check_int_range(bank, "bank", 0, 16383), check_int_range(program, "program", 0, 127))
        info = self._by_program.get(key)
        if info is None:
            mapped = sorted(p for b, p in self._by_program if b == key[0])
            raise PresetError(f"program={key[1]} (bank {key[0]}) has no preset: mapped are "
                              f"{mapped or 'none'}")
        return info

    # ------------------------------------------------------------------ consumers
    def take_preset(self) -> str | None:
        """The newest requested preset name, once (None if none is pending)."""
        try:
            return self._presets.pop()
        except IndexError:
            return None

    @property
    def values(self) -> dict[str, float]:
        """The newest value of every parameter set so far; never mutated, only replaced."""
        return self._values

    def summary(self) -> dict[str, Any]:
        """Commands per source, accepted and refused (JSON-ready)."""
        out: dict[str, Any] = {s: dict(c) for s, c in self.counts.items()}
        out["refused"] = sum(c["refused"] for c in self.counts.values())
        return out


class RateLimitedLog:
    """At most one log line per ``interval_s`` for a recurring event; the rest are counted and
    summarised in the next line (:meth:`flush` writes a pending summary when it is due).

    Examples
    --------
    >>> r = RateLimitedLog(logging.getLogger("demo"), "%d unmapped program changes, last %s")
    >>> for i in range(1000):
    ...     r.event(i)
    >>> r.suppressed
    999
    """

    def __init__(self, logger: logging.Logger, fmt: str, *, interval_s: float = 1.0,
                 level: int = logging.INFO) -> None:
        self.logger, self.fmt, self.interval_s, self.level = logger, fmt, interval_s, level
        self.suppressed = 0
        self._last: Any = None
        self._next = -math.inf

    def event(self, detail: Any) -> None:
        """Record one occurrence; log now only if the last line is ``interval_s`` old."""
        self._last = detail
        now = time.monotonic()
        if now >= self._next:
            self.logger.log(self.level, self.fmt, 1 + self.suppressed, detail)
            self.suppressed = 0
            self._next = now + self.interval_s
        else:
            self.suppressed += 1

    def flush(self) -> None:
        """Log the summary of suppressed occurrences if their interval has passed."""
        if self.suppressed and time.monotonic() >= self._next:
            self.logger.log(self.level, self.fmt, self.suppressed, self._last)
            self.suppressed = 0
            self._next = time.monotonic() + self.interval_s


def store_presets(midimap: Any = None) -> list[PresetInfo]:
    """Every preset in the store as :class:`PresetInfo`, with the program and bank the MIDI map
    gives it (its own, or a ``midimap.toml`` override), in the store's order."""
    from ..presets.store import Store

    store = Store()
    midimap = midimap if midimap is not None else store.midimap()
    where: dict[str, tuple[int, int]] = {}
    for e in midimap.entries():
        where.setdefault(e.preset.casefold(), (e.bank, e.program))
    out = []
    for entry in store.list():
        bank, program = where.get(entry.name.casefold(), (0, None))
        out.append(PresetInfo(entry.name, program, bank, entry.preset.description))
    return out
