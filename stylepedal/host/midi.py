"""MIDI control for the live host: program change -> preset, CC -> mix, everything else ignored.

Messages arrive on mido's callback thread. :class:`MidiControl` turns them into two validated,
coalescing commands and nothing else reaches the audio side:

* a preset request (a preset *name* from the MIDI map, bank select CC 0/32 honoured) goes into a
  one-slot ``deque(maxlen=1)``: a flood of program changes leaves only the last one, which a
  loader thread builds off the audio thread;
* a mix value (a float in [0, 1]) overwrites a single slot that the audio callback reads once per
  block; a flood of CCs costs the audio thread nothing.

Everything else (notes, clock, sysex, other CCs, other channels, unmapped programs, anything that
is not a mido message) is counted and dropped. mido's parser already discards malformed bytes
(stray data bytes, truncated messages); :meth:`MidiControl.handle` never raises.

Backends: ``"jack"`` (python-rtmidi's ``UNIX_JACK``), ``"alsa"`` (``LINUX_ALSA``, where the
ALSA sequencer exists) or ``"auto"`` (``$MIDO_BACKEND`` if set, else JACK when a JACK server
runs, else the platform's default rtmidi API: ALSA on Linux, CoreMIDI on macOS, Windows MM).
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from ..errors import DeviceError, ParameterError

__all__ = ["BACKENDS", "MidiControl", "backend_name", "list_input_ports", "open_input"]

log = logging.getLogger(__name__)

BACKENDS = {
    "jack": "mido.backends.rtmidi/UNIX_JACK",
    "alsa": "mido.backends.rtmidi/LINUX_ALSA",
}
# rtmidi without an API name: the platform's own (ALSA, CoreMIDI, Windows MM)
_PLATFORM_DEFAULT = "mido.backends.rtmidi"


def _jack_running() -> bool:
    if not shutil.which("jack_wait"):
        return False
    try:
        done = subprocess.run(
            ["jack_wait", "-c"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "running" in done.stdout and "not" not in done.stdout


def backend_name(backend: str = "auto") -> str:
    """The mido backend string for ``backend`` ("auto", "jack", "alsa" or a mido name).

    Examples
    --------
    >>> backend_name("jack")
    'mido.backends.rtmidi/UNIX_JACK'
    """
    if backend in BACKENDS:
        return BACKENDS[backend]
    if backend == "auto":
        env = os.environ.get("MIDO_BACKEND")
        if env:
            return env
        return BACKENDS["jack"] if _jack_running() else _PLATFORM_DEFAULT
    if backend.startswith("mido.backends."):
        return backend
    raise ParameterError(
        f"midi backend={backend!r} is not supported: choose one of 'auto', 'jack', 'alsa' "
        "or a mido backend name"
    )


def _backend(backend: str) -> Any:
    import mido

    name = backend_name(backend)
    try:
        b = mido.Backend(name, load=True)
    except (ImportError, AttributeError, OSError, RuntimeError) as exc:
        raise DeviceError(f"MIDI backend {name!r} cannot be loaded: {exc}") from exc
    return b


def list_input_ports(backend: str = "auto") -> list[str]:
    """Names of the MIDI input ports the backend sees ([] if it cannot list them)."""
    try:
        b = _backend(backend)
    except Exception as exc:
        log.debug("cannot list MIDI inputs: %s", exc)
        return []
    return _input_names(b)


def _input_names(b: Any) -> list[str]:
    """Input port names of a loaded backend ([] if it cannot list them)."""
    try:
        return list(b.get_input_names())
    except Exception as exc:  # rtmidi raises its own types when the API is absent
        log.debug("cannot list MIDI inputs: %s", exc)
        return []


def open_input(
    port: str,
    callback: Callable[[Any], None],
    *,
    backend: str = "auto",
    virtual: bool = False,
) -> Any:
    """Open MIDI input ``port`` with ``callback`` (called on the backend's thread).

    ``virtual=True`` creates a port of that name for others to connect to (JACK, ALSA);
    otherwise ``port`` must name an existing output of another client (or a unique part of it).

    Raises
    ------
    DeviceError
        if the backend is missing or the port does not exist, listing the ports there are.
    """
    b = _backend(backend)
    if not virtual:
        names = _input_names(b)  # the backend once: "auto" may probe for a JACK server
        matches = [n for n in names if n == port] or [n for n in names if port in n]
        if len(matches) != 1:
            shown = ", ".join(repr(n) for n in names) or "none"
            what = "matches several ports" if matches else "is not there"
            raise DeviceError(f"MIDI input {port!r} {what}: available are {shown}")
        port = matches[0]
    try:
        return b.open_input(port, virtual=virtual, callback=callback)
    except Exception as exc:  # rtmidi's SystemError/RtMidiError when the API is unusable
        raise DeviceError(f"MIDI input {port!r} cannot be opened: {exc}") from exc


class MidiControl:
    """Turns MIDI messages into a pending preset name and pending mix and style values.

    Parameters
    ----------
    midimap : stylepedal.presets.midimap.MidiMap
        Program (+ bank) -> preset name, and the CC numbers for the mix and the style.
    channel : int or None
        Listen to this MIDI channel (0-15) only; None: all channels.

    Examples
    --------
    >>> import mido
    >>> from stylepedal.presets.midimap import MidiEntry, MidiMap
    >>> ctl = MidiControl(MidiMap([MidiEntry(0, 3, "Organ")], mix_cc=1))
    >>> ctl.handle(mido.Message("program_change", program=3))
    >>> ctl.handle(mido.Message("control_change", control=1, value=127))
    >>> ctl.handle(mido.Message("note_on", note=60))
    >>> ctl.take_preset(), ctl.mix, ctl.counts["ignored"]
    ('Organ', 1.0, 1)
    """

    COUNTERS = ("received", "program_changes", "mix_changes", "style_changes", "unmapped",
                "ignored", "errors")

    def __init__(
        self,
        midimap: Any,
        *,
        channel: int | None = None,
    ) -> None:
        from ..presets.midimap import MidiSelector

        self._selector = MidiSelector(midimap, channel=channel)
        self._presets: collections.deque[str] = collections.deque(maxlen=1)
        # the newest value each CC asked for, by parameter name (replaced whole: one reference
        # assignment, read by the audio side)
        self._values: dict[str, float] = {}
        self.counts = dict.fromkeys(self.COUNTERS, 0)
        self.wake = threading.Event()

    def handle(self, message: Any) -> None:
        """Handle one message (the port callback). Never raises."""
        try:
            self._handle(message)
        except Exception:  # a controller must never take the host down
            self.counts["errors"] += 1
            log.debug("MIDI message %r could not be handled", message, exc_info=True)

    __call__ = handle

    def _handle(self, message: Any) -> None:
        import mido

        self.counts["received"] += 1
        if not isinstance(message, mido.Message):
            self.counts["ignored"] += 1
            return
        from ..presets.midimap import SelectPreset, SetParameter

        kind = message.type
        action = self._selector.handle(message)
        if isinstance(action, SelectPreset):
            self.counts["program_changes"] += 1
            self._presets.append(action.name)  # maxlen=1: the newest request wins
            self.wake.set()
        elif isinstance(action, SetParameter):
            value = float(action.value)
            if 0.0 <= value <= 1.0:  # NaN fails too
                self.counts[f"{action.name}_changes"] += 1
                self._values = {**self._values, action.name: value}
            else:
                self.counts["ignored"] += 1
        elif kind == "program_change":
            self.counts["unmapped"] += 1
        elif kind == "control_change" and message.control in (0, 32):
            pass  # bank select: remembered by the selector for the next program change
        else:
            self.counts["ignored"] += 1

    def take_preset(self) -> str | None:
        """The newest requested preset name, once (None if none is pending)."""
        try:
            return self._presets.pop()
        except IndexError:
            return None

    @property
    def mix(self) -> float | None:
        """The newest mix a CC asked for (None before the first). The audio side compares it
        with the mix it applied last: no clearing, so no update can be lost between threads."""
        return self._values.get("mix")

    @property
    def values(self) -> dict[str, float]:
        """The newest value of every parameter a CC has set (``"mix"``, ``"style"``)."""
        return self._values
