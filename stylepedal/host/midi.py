"""MIDI control for the live host: program change -> preset, CCs -> mix, style and bypass.

Input is *polled*, never called back: python-rtmidi queues incoming messages in C++ (on JACK,
in the MIDI client's real-time thread, which so never waits for the GIL), dropping SysEx, clock
and active sensing there; a thread of ours (:class:`MidiInput`) drains the queue every
:data:`DRAIN_SECONDS` in one batch. :class:`MidiControl` decodes the batch, keeps only the newest
preset request and the newest value of each CC, and hands them to the one command queue
(:class:`~stylepedal.host.control.Controls`) that every control source shares. A flood of 20k
messages a second so costs the audio side nothing and this thread a few ms a second.

Everything else (notes, other CCs, other channels, unmapped programs, garbage bytes) is counted
and dropped; unmapped program changes are logged at most once a second, as a summary.
:meth:`MidiControl.handle_batch` never raises.

Backends: ``"jack"`` (python-rtmidi's ``UNIX_JACK``), ``"alsa"`` (``LINUX_ALSA``, where the
ALSA sequencer exists) or ``"auto"`` (``$MIDO_BACKEND`` if set, else JACK when a JACK server
runs, else the platform's default rtmidi API: ALSA on Linux, CoreMIDI on macOS, Windows MM).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from typing import Any

from ..errors import DeviceError, ParameterError, PresetError
from .control import Controls, PresetInfo, RateLimitedLog

__all__ = ["BACKENDS", "DRAIN_SECONDS", "MidiControl", "MidiInput", "backend_name",
           "list_input_ports", "open_input"]

log = logging.getLogger(__name__)

# How often the input thread drains the backend's queue: a wake-up takes the GIL, so rarely,
# but well within a foot-switch press (a preset switch crossfades over 10 ms anyway).
DRAIN_SECONDS = 0.010
QUEUE_MESSAGES = 8192  # rtmidi's queue: 0.4 s of a 20k msg/s flood between two drains
BATCH_MESSAGES = 4096  # at most this many per drain, so one drain never holds the GIL long

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
    sink: Any,
    *,
    backend: str = "auto",
    virtual: bool = False,
    poll_s: float = DRAIN_SECONDS,
) -> MidiInput:
    """Open MIDI input ``port`` and drain it into ``sink`` on a thread of its own.

    ``sink`` is a :class:`MidiControl` (it gets each batch of raw messages) or any callable
    taking one mido message. ``virtual=True`` creates a port of that name for others to connect
    to (JACK, ALSA); otherwise ``port`` must name an existing output of another client (or a
    unique part of it). Close the returned :class:`MidiInput` when done.

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
    name = b.name + (f"/{b.api}" if b.api else "")
    try:
        if name.startswith("mido.backends.rtmidi"):
            source: Any = _RtMidiSource(name, port, virtual)
        else:  # another mido backend: its own queue, drained the same way
            source = _MidoSource(b.open_input(port, virtual=virtual))
    except Exception as exc:  # rtmidi's SystemError/RtMidiError when the API is unusable
        raise DeviceError(f"MIDI input {port!r} cannot be opened: {exc}") from exc
    return MidiInput(source, sink, poll_s=poll_s)


class _RtMidiSource:
    """A python-rtmidi input polled from Python. Without a callback, rtmidi queues messages
    in C++ on the backend's own (for JACK: real-time) thread, which then never waits for the
    GIL; SysEx, clock and active sensing are dropped there, before Python sees them."""

    def __init__(self, backend: str, port: str, virtual: bool) -> None:
        import rtmidi

        api_name = backend.partition("/")[2]
        api = getattr(rtmidi, f"API_{api_name}", rtmidi.API_UNSPECIFIED)
        self._rt = rtmidi.MidiIn(rtapi=api, queue_size_limit=QUEUE_MESSAGES)
        try:
            self._rt.ignore_types(sysex=True, timing=True, active_sense=True)
            if virtual:
                self._rt.open_virtual_port(port)
            else:
                self._rt.open_port(self._rt.get_ports().index(port))
        except Exception:
            self._rt.delete()
            raise
        self.raw = True

    def drain(self, limit: int) -> list[Any]:
        get = self._rt.get_message
        out = []
        for _ in range(limit):
            m = get()
            if m is None:
                break
            out.append(m[0])
        return out

    def close(self) -> None:
        self._rt.close_port()
        self._rt.delete()


class _MidoSource:
    """Any other mido input port: its messages are already parsed."""

    def __init__(self, port: Any) -> None:
        self._port = port
        self.raw = False

    def drain(self, limit: int) -> list[Any]:
        out = []
        for msg in self._port.iter_pending():
            out.append(msg)
            if len(out) >= limit:
                break
        return out

    def close(self) -> None:
        self._port.close()


class MidiInput:
    """An open MIDI input and the thread that drains it every ``poll_s`` seconds.

    A flood costs one wake-up per ``poll_s`` and a little Python per message, in one batch;
    the newest command of a batch is the only one that goes on to :class:`Controls`.
    """

    def __init__(self, source: Any, sink: Any, *, poll_s: float = DRAIN_SECONDS) -> None:
        self._source = source
        self._sink = sink
        self.poll_s = float(poll_s)
        self.batches = 0
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stylepedal-midi-in", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        batch_sink = getattr(self._sink, "handle_batch", None)
        while not self._halt.wait(self.poll_s):
            try:
                batch = self._source.drain(BATCH_MESSAGES)
            except Exception:  # a closing port: stop quietly
                log.debug("MIDI input drain failed", exc_info=True)
                return
            if batch:
                self.batches += 1
                if batch_sink is not None:
                    batch_sink(batch, raw=self._source.raw)
                else:
                    for item in batch:
                        msg = _as_mido(item) if self._source.raw else item
                        if msg is not None:
                            self._sink(msg)
            tick = getattr(self._sink, "tick", None)
            if tick is not None:
                tick()

    def close(self) -> None:
        """Stop draining and close the port."""
        self._halt.set()
        self._thread.join(timeout=5)
        self._source.close()


def _as_mido(data: Any) -> Any:
    import mido

    try:
        return mido.Message.from_bytes(data)
    except (ValueError, TypeError):
        return None


class _Raw:
    """A channel message decoded from raw bytes: the attributes :class:`MidiSelector` reads."""

    __slots__ = ("channel", "control", "program", "type", "value")

    def __init__(self, kind: str, channel: int, a: int, b: int) -> None:
        self.type, self.channel = kind, channel
        self.control = self.program = a
        self.value = b


def _decode(data: Any) -> _Raw | None:
    """Program change or control change from raw bytes; None for anything else or garbage."""
    n = len(data)
    if n < 2:
        return None
    status = data[0]
    kind = status & 0xF0
    if kind == 0xC0 and n == 2 and 0 <= data[1] <= 127:
        return _Raw("program_change", status & 0x0F, data[1], 0)
    if kind == 0xB0 and n == 3 and 0 <= data[1] <= 127 and 0 <= data[2] <= 127:
        return _Raw("control_change", status & 0x0F, data[1], data[2])
    return None


class MidiControl:
    """Turns MIDI messages into commands on a :class:`~stylepedal.host.control.Controls` queue.

    Parameters
    ----------
    midimap : stylepedal.presets.midimap.MidiMap
        Program (+ bank) -> preset name, and the CC numbers of the mix, style and bypass.
    channel : int or None
        Listen to this MIDI channel (0-15) only; None: all channels.
    controls : Controls, optional
        The shared command queue (source ``"midi"``); by default one of its own that knows the
        map's presets.

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

    COUNTERS = ("received", "program_changes", "mix_changes", "style_changes",
                "bypass_changes", "unmapped", "ignored", "errors")

    def __init__(
        self,
        midimap: Any,
        *,
        channel: int | None = None,
        controls: Controls | None = None,
    ) -> None:
        from ..presets.midimap import MidiSelector

        self._selector = MidiSelector(midimap, channel=channel)
        if controls is None:
            controls = Controls(PresetInfo(e.preset, e.program, e.bank)
                                for e in midimap.entries())
        self.controls = controls
        self.counts = dict.fromkeys(self.COUNTERS, 0)
        self._unmapped_log = RateLimitedLog(
            log, "%d program change(s) with no preset mapped ignored; the last: %s")

    def handle(self, message: Any) -> None:
        """Handle one mido message. Never raises."""
        self.handle_batch([message], raw=False)

    __call__ = handle

    def handle_batch(self, messages: list[Any], *, raw: bool = True) -> None:
        """Handle a batch in order (raw byte lists, or mido messages with ``raw=False``) and
        pass on only the newest preset request and parameter values. Never raises."""
        preset: str | None = None
        values: dict[str, Any] = {}
        weights: dict[int, int] = {}
        if raw:
            messages, weights = self._fold(messages)
        for i, message in enumerate(messages):
            try:
                action = self._action(message, raw, weights.get(i, 1))
            except Exception:  # a controller must never take the host down
                self.counts["errors"] += 1
                log.debug("MIDI message %r could not be handled", message, exc_info=True)
                continue
            if action is None:
                continue
            if isinstance(action, str):
                preset = action
            else:
                values[action[0]] = action[1]
        try:
            if values:
                self.controls.set_params("midi", values)
            if preset is not None:
                self.controls.select_preset("midi", name=preset)
        except (ParameterError, PresetError) as exc:  # counted as refused by Controls
            log.debug("MIDI command refused: %s", exc)
        except Exception:
            self.counts["errors"] += 1
            log.debug("MIDI batch could not be handled", exc_info=True)

    def tick(self) -> None:
        """Write a due summary of suppressed log lines (called by the draining thread)."""
        self._unmapped_log.flush()

    def _fold(self, batch: list[Any]) -> tuple[list[Any], dict[int, int]]:
        """The raw messages of ``batch`` that matter, in order, and how many each stands for.

        A flood is mostly CCs, whose newest value per channel and controller is all that
        counts, and messages nobody listens to: those are folded or counted here without
        decoding, so a 20k msg/s flood costs a few ms of Python a second. Bank selects and
        program changes keep their order.
        """
        kept: list[Any] = []
        last: dict[tuple[int, int], int] = {}  # (status, controller) -> index in kept
        weights: dict[int, int] = {}
        ignored = 0
        for data in batch:
            status = data[0] if data else 0
            if (0xB0 <= status <= 0xBF and len(data) == 3 and data[1] not in (0, 32)
                    and data[1] < 128 and data[2] < 128):
                key = (status, data[1])
                at = last.get(key)
                if at is not None:
                    kept[at] = data  # the newest value, counted as all of them
                    weights[at] = weights.get(at, 1) + 1
                    continue
                last[key] = len(kept)
            elif not 0xB0 <= status <= 0xCF:  # notes, pitch bend, system bytes, garbage
                ignored += 1
                continue
            kept.append(data)
        self.counts["received"] += ignored
        self.counts["ignored"] += ignored
        return kept, weights

    def _action(self, message: Any, raw: bool, weight: int = 1) -> str | tuple[str, Any] | None:
        self.counts["received"] += weight
        if raw:
            msg: Any = _decode(message)
        else:
            import mido

            msg = message if isinstance(message, mido.Message) else None
        if msg is None:
            self.counts["ignored"] += weight
            return None
        from ..presets.midimap import SelectPreset, SetParameter

        action = self._selector.handle(msg)
        if isinstance(action, SelectPreset):
            self.counts["program_changes"] += 1
            return action.name
        if isinstance(action, SetParameter):
            value = float(action.value)
            if not 0.0 <= value <= 1.0:  # NaN fails too
                self.counts["ignored"] += 1
                return None
            self.counts[f"{action.name}_changes"] += weight
            return (action.name, bool(value) if action.name == "bypass" else value)
        kind = msg.type
        if kind == "program_change":
            if self._selector.channel is None or msg.channel == self._selector.channel:
                self.counts["unmapped"] += 1
                bank, program = self._selector.unmapped or (0, msg.program)
                self._unmapped_log.event(f"program {program} bank {bank}")
                return None
        elif kind == "control_change" and msg.control in (0, 32):
            return None  # bank select: remembered by the selector for the next program change
        self.counts["ignored"] += weight
        return None

    # ------------------------------------------------------------------ the queue's side
    @property
    def wake(self) -> threading.Event:
        return self.controls.wake

    def take_preset(self) -> str | None:
        """The newest requested preset name, once (None if none is pending)."""
        return self.controls.take_preset()

    @property
    def mix(self) -> float | None:
        """The newest mix asked for (None before the first)."""
        return self.controls.values.get("mix")

    @property
    def values(self) -> dict[str, float]:
        """The newest value of every parameter set so far."""
        return self.controls.values
