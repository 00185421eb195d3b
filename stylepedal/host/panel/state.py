"""What the panel shows: one JSON-ready snapshot of the live host, read without locks from the
audio side's counters (plain attribute reads; the callback never waits on them)."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from ..control import EFFECT_PARAMS
from ..master import peak_db

__all__ = ["CLIP_HOLD_SECONDS", "LiveState"]

CLIP_HOLD_SECONDS = 1.0  # a clip light stays on this long after the last clipped block
_CPU_WINDOW_SECONDS = 0.5  # the CPU share is measured over at least this much wall time
_CACHE_SECONDS = 0.02  # several clients within this share one snapshot


class LiveState:
    """Snapshots of a running :class:`~stylepedal.host.live.LiveEngine` for the panel.

    Parameters
    ----------
    engine : LiveEngine
    controls : Controls
    stream_latency : float or (float, float)
        The audio stream's input and output latency in seconds (sounddevice's
        ``Stream.latency``).
    """

    def __init__(self, engine: Any, controls: Any, stream_latency: Any = 0.0) -> None:
        self.engine = engine
        self.controls = controls
        self.stream_latency_s = 0.0
        self.set_stream_latency(stream_latency)
        self._presets = [p.as_dict() for p in controls.presets]
        self._lock = threading.Lock()  # between panel threads only
        now = time.monotonic()
        self._cpu_mark = (now, time.process_time())
        self._cpu_share = 0.0
        self._clip_marks = [(0, -math.inf), (0, -math.inf)]  # (count, when it last grew)
        self._cached: tuple[float, dict[str, Any]] = (-math.inf, {})

    def set_stream_latency(self, stream_latency: Any) -> None:
        """The audio stream's latency: seconds, or (input, output) seconds."""
        if isinstance(stream_latency, (tuple, list)):
            self.stream_latency_s = float(sum(stream_latency))
        else:
            self.stream_latency_s = float(stream_latency or 0.0)

    def snapshot(self) -> dict[str, Any]:
        """The state as the API's ``GET /api/state`` returns it (a fresh dict)."""
        with self._lock:
            now = time.monotonic()
            when, cached = self._cached
            if now - when < _CACHE_SECONDS:
                return dict(cached)
            state = self._build(now)
            self._cached = (now, state)
            return dict(state)

    def _build(self, now: float) -> dict[str, Any]:
        engine, master = self.engine, self.engine.master
        values = self.controls.values
        effect = next((item for item in engine._chain.items
                       if hasattr(item, "latency_samples") and hasattr(item, "mix")), None)
        state: dict[str, Any] = {"preset": engine.preset_name,
                                 "requested": self.controls.requested,
                                 "presets": self._presets}
        for name in EFFECT_PARAMS:
            current = getattr(effect, name, None) if effect is not None else None
            state[name] = values.get(name, current)
        state["has"] = {name: effect is not None and hasattr(effect, name)
                        for name in EFFECT_PARAMS}
        state["bypass"] = bool(values.get("bypass", master.bypassed))
        state["output_gain_db"] = float(values.get("output_gain_db", master.gain_db))
        peak_in, peak_out = master.meters()
        state["input_peak_db"] = peak_db(peak_in)
        state["output_peak_db"] = peak_db(peak_out)
        for i, (key, count) in enumerate((("input_clip", master.input_clips),
                                          ("output_clip", master.output_clips))):
            seen, at = self._clip_marks[i]
            if count != seen:
                self._clip_marks[i] = (count, now)
                at = now
            state[key] = now - at < CLIP_HOLD_SECONDS
        state["xruns"] = engine.xruns
        state["faults"] = engine.faults
        state["callbacks"] = engine.callbacks
        state["switching"] = engine.switching
        t0, c0 = self._cpu_mark
        if now - t0 >= _CPU_WINDOW_SECONDS:
            cpu = time.process_time()
            self._cpu_share = (cpu - c0) / (now - t0)
            self._cpu_mark = (now, cpu)
        state["cpu_share"] = round(self._cpu_share, 4)
        latency_s = master.latency / engine.sample_rate + self.stream_latency_s
        state["latency_ms"] = round(1000.0 * latency_s, 2)
        return state
