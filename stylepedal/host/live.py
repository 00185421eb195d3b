"""Live audio: a sounddevice stream through the chain, MIDI preset switching, honest counters.

``stylepedal live --preset NAME [--input-device D] [--output-device D] [--blocksize N]
[--sample-rate R] [--channels C] [--midi PORT] [--seconds S] [--pre SPEC] [--post SPEC]``

The audio callback (:meth:`LiveEngine.callback`) never raises and never blocks: it takes no lock,
does no I/O and allocates only what numpy and the effects must. On an internal error it writes
silence and counts a fault. It counts xruns (sounddevice's under/overflow flags: these include
xruns of the whole server, e.g. a late timer of JACK's dummy driver on a loaded machine, which
happen with an empty chain too), *overruns* (callbacks that took longer than the block budget:
the ones this process causes) and keeps the time of every callback in a preallocated ring,
from which the main thread reports median, p99 and max against the block budget (a status line
on stderr about once a second, and one JSON summary line on stdout at exit).

Preset switches: a loader thread builds the new chain (loads the model, pre-rolls the pedalboard
plugins) and hands it over with one reference assignment; the callback then crossfades from the
old chain's output to the new one's over :data:`CROSSFADE_SECONDS` and drops the old chain.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .._memory import keep_freed_memory
from .._threads import single_threaded_math
from .._validate import check_int_range, check_positive_int
from ..errors import DeviceError, StylepedalError
from .control import EFFECT_PARAMS
from .master import MasterSection, peak_db

__all__ = [
    "CROSSFADE_SECONDS",
    "MAX_BLOCKSIZE",
    "LiveEngine",
    "PresetLoader",
    "list_devices",
    "run_live",
]

log = logging.getLogger(__name__)

CROSSFADE_SECONDS = 0.010
# The largest block a live stream takes (pedalboard's default buffer size): a longer one is a
# delay no player wants, and each callback would hold seconds of audio that stop() waits for.
MAX_BLOCKSIZE = 8192
TIMING_RING = 1 << 16  # callback timings kept: ~3 minutes at 128 samples / 48 kHz
_XRUN_FLAGS = ("input_overflow", "input_underflow", "output_overflow", "output_underflow")


class LiveEngine:
    """The audio side: runs the current chain in the sounddevice callback.

    Parameters
    ----------
    chain : Chain
        The chain to start with; :meth:`Chain.start` is called here (off the audio thread).
    sample_rate : int
    blocksize : int
        Frames per callback (the block budget is ``blocksize / sample_rate``).
    channels : int
        Channels processed by the chain (1 for a guitar); the input's first ``channels``
        channels are used and the result is copied to every output channel.
    control : MidiControl, optional
        Read once per block for new mix and style values.

    Examples
    --------
    >>> import numpy as np
    >>> from stylepedal.host.chain import Chain
    >>> eng = LiveEngine(Chain(), sample_rate=48000, blocksize=64)
    >>> out = np.ones((64, 2), np.float32)
    >>> eng.callback(np.zeros((64, 1), np.float32), out, 64, None, None)
    >>> float(np.abs(out).max()), eng.callbacks, eng.faults
    (0.0, 1, 0)
    """

    def __init__(
        self,
        chain: Any,
        *,
        sample_rate: int,
        blocksize: int,
        channels: int = 1,
        control: Any = None,
        preset_name: str = "",
    ) -> None:
        blocksize = check_int_range(blocksize, "blocksize", 1, MAX_BLOCKSIZE)
        channels = check_positive_int(channels, "channels")
        self.sample_rate = int(sample_rate)
        self.blocksize = blocksize
        self.channels = channels
        self.control = control
        self.midi: Any = None  # the MIDI input's counters, when there is one (for reports)
        self.surfaces: Any = None  # the panel, OSC and keys of the run (host.surfaces)
        self.master = MasterSection(self.sample_rate, channels, blocksize)
        self.master.latency = self.prepare(chain)
        self._chain: Any = chain
        self._pending: Any = None  # set by the loader thread, taken by the callback
        self._old: Any = None  # chain being faded out
        self.preset_name = preset_name
        self._pending_name = ""
        self._pending_latency: int | None = None
        fade = max(1, int(round(CROSSFADE_SECONDS * self.sample_rate)))
        self._fade = np.linspace(0.0, 1.0, fade + 1, dtype=np.float32)[1:]
        self._fade_pos = fade
        self._applied: dict[str, float] | None = None  # the CC values last applied
        self._times = np.zeros(TIMING_RING, dtype=np.float64)
        # CPU time the audio thread spent in callbacks: wall time minus the time the thread was
        # descheduled (by the server's other threads, other processes or the hypervisor)
        self._cpu_seconds = 0.0
        self._budget_s = self.blocksize / self.sample_rate
        self.overruns = 0  # callbacks that took longer than the block budget (ours to fix)
        self.callbacks = 0
        self.xruns = 0
        self.faults = 0
        self.switches = 0
        self.frames = 0
        self.last_fault = ""
        self._xrun_at = np.full(256, -1, dtype=np.int64)  # callback index of the first xruns
        self._switch_at = np.full(16, -1, dtype=np.int64)  # ... and of the first switches

    # ------------------------------------------------------------------ audio thread
    def callback(self, indata: Any, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        """sounddevice callback: process ``indata`` into ``outdata``. Never raises."""
        t0 = time.perf_counter()
        c0 = time.thread_time()
        try:
            if status:
                for flag in _XRUN_FLAGS:
                    if getattr(status, flag, False):
                        if self.xruns < len(self._xrun_at):
                            self._xrun_at[self.xruns] = self.callbacks
                        self.xruns += 1
                        break
            self._process(indata, outdata, frames)
        except Exception as exc:  # silence, count, carry on: the callback must never raise
            try:
                outdata.fill(0)
                self.faults += 1
                self.last_fault = type(exc).__name__
            except Exception:  # pragma: no cover - outdata itself is broken
                pass
        dt = time.perf_counter() - t0
        self._cpu_seconds += time.thread_time() - c0
        self._times[self.callbacks % TIMING_RING] = dt
        if dt > self._budget_s:
            self.overruns += 1
        self.callbacks += 1
        self.frames += frames

    def _process(self, indata: Any, outdata: Any, frames: int) -> None:
        pending = self._pending
        if pending is not None:
            # The swap: one reference read, one assignment each; the loader never writes
            # _chain, so no lock is needed.
            self._pending = None
            self._old = self._chain
            self._chain = pending
            self.preset_name = self._pending_name
            if self._pending_latency is not None:
                self.master.latency = self._pending_latency
            self._applied = None  # the knobs' positions carry over to the new preset
            self._fade_pos = 0
            if self.switches < len(self._switch_at):
                self._switch_at[self.switches] = self.callbacks
            self.switches += 1
        chain = self._chain
        control = self.control
        if control is not None:
            values = control.values
            if values is not self._applied:  # replaced whole on every change: one comparison
                self._applied = values
                self.master.apply(values)
                for item in chain.items:
                    if hasattr(item, "latency_samples"):
                        for name, value in values.items():
                            if name in EFFECT_PARAMS and hasattr(item, name):
                                setattr(item, name, value)
        x = indata[:, : self.channels].T
        y = chain.process(x, self.sample_rate, reset=False)
        old = self._old
        if old is not None:
            y_old = old.process(x, self.sample_rate, reset=False)
            n_fade = len(self._fade)
            pos = self._fade_pos
            k = min(frames, n_fade - pos)
            if k > 0:
                ramp = self._fade[pos : pos + k]
                y[:, :k] = y_old[:, :k] + ramp * (y[:, :k] - y_old[:, :k])
            self._fade_pos = pos + max(k, 0)
            if self._fade_pos >= n_fade:
                self._old = None
        y = self.master.process(x, y)
        if y.shape[0] == outdata.shape[1] or y.shape[0] == 1:
            outdata[:] = y.T  # a mono result broadcasts to every output channel
        else:
            outdata[:] = y[0][:, np.newaxis]

    # ------------------------------------------------------------------ other threads
    def prepare(self, chain: Any) -> int:
        """Measure ``chain``'s latency, then start it (off the audio thread: both may run the
        chain's plugins); return the latency in samples, for :meth:`swap_in`."""
        latency = int(chain.latency_samples(self.sample_rate, channels=self.channels))
        chain.start(self.sample_rate, self.channels)
        return latency

    def swap_in(self, chain: Any, name: str = "", latency: int | None = None) -> None:
        """Hand a started chain to the callback (called by the loader thread); ``latency``
        (from :meth:`prepare`) re-times the bypass path, None keeps it."""
        self._pending_name = name
        self._pending_latency = latency
        self._pending = chain  # the one assignment the callback looks for

    @property
    def switching(self) -> bool:
        """True while a handed-over chain has not been taken or the crossfade runs."""
        return self._pending is not None or self._old is not None

    def timings_ms(self) -> np.ndarray:
        """Callback durations in ms (the last :data:`TIMING_RING` callbacks)."""
        n = min(self.callbacks, TIMING_RING)
        return 1000.0 * self._times[:n].copy()

    def summary(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Counts and callback-time statistics as a JSON-ready dict."""
        t = self.timings_ms()
        budget = 1000.0 * self.blocksize / self.sample_rate
        out: dict[str, Any] = {
            "sample_rate": self.sample_rate,
            "blocksize": self.blocksize,
            "channels": self.channels,
            "preset": self.preset_name,
            "callbacks": self.callbacks,
            "frames": self.frames,
            "xruns": self.xruns,
            "xrun_at_callback": [int(i) for i in self._xrun_at if i >= 0],
            "overruns": self.overruns,
            "faults": self.faults,
            "last_fault": self.last_fault,
            "preset_switches": self.switches,
            "bypass": self.master.bypassed,
            "output_gain_db": self.master.gain_db,
            "input_clip_blocks": self.master.input_clips,
            "output_clip_blocks": self.master.output_clips,
            "switch_at_callback": [int(i) for i in self._switch_at if i >= 0],
            "budget_ms": round(budget, 4),
            "callback_ms": {
                "median": round(float(np.median(t)), 4) if t.size else None,
                "p99": round(float(np.percentile(t, 99)), 4) if t.size else None,
                "max": round(float(t.max()), 4) if t.size else None,
                "mean": round(float(t.mean()), 4) if t.size else None,
            },
            "callback_load": round(float(t.mean()) / budget, 4) if t.size else None,
            "callback_cpu_load": (
                round(self._cpu_seconds / (self.callbacks * self._budget_s), 4)
                if self.callbacks else None
            ),
        }
        if extra:
            out.update(extra)
        return out

    def status_line(self) -> str:
        t = self.timings_ms()[-2048:]
        p99 = float(np.percentile(t, 99)) if t.size else 0.0
        budget = 1000.0 * self.blocksize / self.sample_rate
        peak_in, peak_out = self.master.meters()
        return (
            f"preset {self.preset_name!r}  callbacks {self.callbacks}  xruns {self.xruns}  "
            f"faults {self.faults}  switches {self.switches}  "
            f"p99 {p99:.3f} ms / {budget:.3f} ms  "
            f"in {peak_db(peak_in):.1f} dB  out {peak_db(peak_out):.1f} dB"
            + ("  BYPASS" if self.master.bypassed else "")
        )


class PresetLoader(threading.Thread):
    """Builds chains for requested presets off the audio thread and swaps them in.

    Parameters
    ----------
    engine : LiveEngine
    make_chain : callable
        ``make_chain(name) -> Chain`` (may take long: loads a model).
    control : MidiControl
        Source of requests (``take_preset()``; ``wake`` event).
    """

    def __init__(
        self,
        engine: LiveEngine,
        make_chain: Callable[[str], Any],
        control: Any,
        prebuilt: dict[str, Any] | None = None,
    ):
        super().__init__(name="stylepedal-preset-loader", daemon=True)
        self.engine = engine
        self.make_chain = make_chain
        self.control = control
        # Chains built before the stream started, by preset name: a switch to one of them does
        # no Python work beyond a reset, so nothing competes with the callback for the GIL.
        self.prebuilt = dict(prebuilt or {})
        self.loaded = 0
        self.load_errors = 0
        self.last_error = ""
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            # No timeout: an idle thread that wakes up competes for the GIL with the callback.
            self.control.wake.wait()
            self.control.wake.clear()
            name = self.control.take_preset()
            if name is None:
                continue
            try:
                chain = self.prebuilt.get(name)
                if chain is None:
                    chain = self.make_chain(name)
                # A prebuilt chain may be the one fading out: let the hand-over finish first.
                while self.engine.switching and not self._halt.is_set():
                    time.sleep(0.002)
                if chain is self.engine._chain:
                    continue  # already playing
                latency = self.engine.prepare(chain)
            except StylepedalError as exc:
                self.load_errors += 1
                self.last_error = str(exc)
                log.warning("preset %r cannot be loaded: %s", name, exc)
                continue
            except Exception as exc:  # keep the loader alive whatever a preset does
                self.load_errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("preset %r failed: %s", name, exc, exc_info=True)
                continue
            # (the wait above finished any earlier hand-over; only this thread hands over)
            self.engine.swap_in(chain, name, latency)
            self.loaded += 1

    def stop(self) -> None:
        self._halt.set()
        self.control.wake.set()


# ---------------------------------------------------------------------------- devices
def list_devices() -> dict[str, Any]:
    """sounddevice's devices and host APIs as plain data."""
    import sounddevice as sd

    apis = [dict(a) for a in sd.query_hostapis()]
    devices = [dict(d) for d in sd.query_devices()]
    return {"hostapis": apis, "devices": devices, "default": list(sd.default.device)}


def _device(value: str | None) -> int | str | None:
    if value is None:
        return None
    return int(value) if value.isdigit() else value


def run_live(
    chain_factory: Callable[[str], Any],
    preset: str,
    *,
    sample_rate: int | None = None,
    blocksize: int = 128,
    channels: int = 1,
    input_device: str | None = None,
    output_device: str | None = None,
    midi_port: str | None = None,
    midi_backend: str = "auto",
    midi_virtual: bool = False,
    midimap: Any = None,
    seconds: float | None = None,
    status_every_s: float = 1.0,
    status_stream: Any = None,
    on_started: Callable[[LiveEngine, Any], None] | None = None,
    panel: str | None = None,
    osc: str | None = None,
    keys: bool = False,
    presets: Any = None,
) -> dict[str, Any]:
    """Run the live host until ``seconds`` of sound have played (or Ctrl-C); return the
    summary dict.

    ``chain_factory(name)`` builds the chain of a preset; ``on_started(engine, loader)`` is
    called once the stream runs (tests use it to send MIDI or to inject faults). ``panel`` and
    ``osc`` (``[HOST:]PORT``) open the web panel and the OSC input, ``keys`` the terminal keys
    (:mod:`stylepedal.host.surfaces`); ``presets`` (:class:`~.control.PresetInfo` list) are
    the presets they offer (default: the store's). Every source feeds one
    :class:`~.control.Controls` queue.
    """
    import sounddevice as sd

    from ._rates import check_device_rate
    from .control import Controls, PresetInfo, store_presets
    from .midi import MidiControl, open_input
    from .surfaces import Surfaces

    blocksize = check_int_range(blocksize, "blocksize", 1, MAX_BLOCKSIZE)
    if midimap is None:
        from ..presets.store import Store

        midimap = Store().midimap()
    surfaces = Surfaces(panel=panel, osc=osc, keys=keys)  # addresses checked before any work
    if presets is None:
        presets = (store_presets(midimap) if surfaces.wanted else
                   [PresetInfo(e.preset, e.program, e.bank) for e in midimap.entries()])
    controls = Controls(presets, current=preset)
    control = MidiControl(midimap, controls=controls)
    try:
        dev_in = sd.query_devices(_device(input_device), "input")
        dev_out = sd.query_devices(_device(output_device), "output")
    except (ValueError, sd.PortAudioError) as exc:
        raise DeviceError(f"audio device not found: {exc}; see `stylepedal devices`") from exc
    rate = check_device_rate(int(sample_rate or dev_out["default_samplerate"]),
                             given=sample_rate is not None)
    out_channels = min(2, int(dev_out["max_output_channels"]))
    if int(dev_in["max_input_channels"]) < channels:
        raise DeviceError(
            f"input device {dev_in['name']!r} has {dev_in['max_input_channels']} channels: "
            f"channels={channels} is too many"
        )
    chain = chain_factory(preset)
    engine = LiveEngine(chain, sample_rate=rate, blocksize=blocksize, channels=channels,
                        control=controls, preset_name=preset)
    engine.midi, engine.surfaces = control, surfaces
    prebuilt: dict[str, Any] = {}
    selectable = {p.name for p in controls.presets} if surfaces.wanted else set()
    if midi_port:
        selectable |= {entry.preset for entry in midimap.entries()}
    if selectable:
        # Every preset a command can select, built (models loaded and verified) before
        # the stream starts: building one next to the running callback held the GIL long
        # enough to cause xruns at the switch.
        prebuilt[preset] = chain
        for name in sorted(selectable - {preset}):
            try:
                prebuilt[name] = chain_factory(name)
            except StylepedalError as exc:
                log.warning("preset %r cannot be loaded: %s", name, exc)
    loader = PresetLoader(engine, chain_factory, controls, prebuilt)
    port = None
    status_stream = status_stream if status_stream is not None else sys.stderr
    # No math-library thread pools spinning next to the real-time callback (stylepedal._threads).
    # Entered before the clock starts: it imports torch if nothing has yet (about 1 s).
    math_threads = single_threaded_math()
    math_threads.__enter__()
    started = time.monotonic()
    cpu0 = time.process_time()
    # The callback runs on JACK's real-time thread but needs the GIL: let other Python threads
    # hand it over quickly (the default switch interval is 5 ms, two blocks of 128 at 48 kHz).
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(switch_interval, 0.0005))
    # A full collection of the cyclic GC walks every object (torch alone brings hundreds of
    # thousands) and can run inside the callback: freeze what exists now so it is never walked.
    gc.collect()
    gc.freeze()
    # Freed block buffers stay in the process, so the callback never waits on a page fault.
    keep_freed_memory()
    try:
        if midi_port:
            port = open_input(midi_port, control, backend=midi_backend,
                              virtual=midi_virtual)
        loader.start()
        surfaces.start(engine, controls, announce=status_stream)
        try:
            stream = sd.Stream(
                samplerate=rate, blocksize=blocksize,
                device=(dev_in["index"], dev_out["index"]),
                channels=(channels, out_channels), dtype="float32",
                callback=engine.callback,
            )
        except sd.PortAudioError as exc:
            raise DeviceError(
                f"cannot open the audio stream at {rate} Hz, block {blocksize}: {exc}"
            ) from exc
        with stream:
            playing = time.monotonic()  # ``seconds`` of sound: setting up does not count
            surfaces.stream_started(stream.latency)
            if on_started is not None:
                on_started(engine, loader)
            next_status = time.monotonic() + status_every_s
            try:
                while seconds is None or time.monotonic() - playing < seconds:
                    # Wake rarely: every wake-up of this thread takes the GIL, and a thread
                    # descheduled while holding it stalls the real-time callback.
                    left = None if seconds is None else seconds - (time.monotonic() - playing)
                    time.sleep(max(0.0, min(0.25, next_status - time.monotonic(),
                                            left if left is not None else 0.25)))
                    if time.monotonic() >= next_status:
                        print(engine.status_line(), file=status_stream, flush=True)
                        next_status += status_every_s
            except KeyboardInterrupt:
                pass
            stream_latency = stream.latency
            # Drop the queued blocks: stop() would play them out first, a block late.
            stream.abort()
    finally:
        surfaces.close()
        math_threads.__exit__(None, None, None)
        sys.setswitchinterval(switch_interval)
        gc.unfreeze()
        loader.stop()
        if port is not None:
            port.close()
    wall = time.monotonic() - started
    return engine.summary(
        {
            "seconds": round(wall, 3),
            "cpu_share": round((time.process_time() - cpu0) / max(wall, 1e-9), 4),
            "stream_latency_s": list(stream_latency) if isinstance(stream_latency, tuple)
            else stream_latency,
            "chain_latency_samples": engine._chain.latency_samples(rate, channels=channels),
            "midi": dict(control.counts),
            "commands": controls.summary(),
            **surfaces.summary(),
            "presets_loaded": loader.loaded,
            "preset_load_errors": loader.load_errors,
        }
    )
