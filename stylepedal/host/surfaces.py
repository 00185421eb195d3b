"""The live host's control surfaces besides MIDI: the web panel, OSC and the terminal keys.

Each runs on threads of its own and only *submits* commands to the one
:class:`~stylepedal.host.control.Controls` queue; none of them is ever waited on by the audio
callback. :class:`Surfaces` checks the addresses before anything starts, opens what was asked
for once the stream runs, announces where (with the panel's token when it listens beyond this
machine), and closes everything at the end.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from typing import Any

from ..errors import ParameterError

__all__ = ["DEFAULT_HOST", "Surfaces", "is_loopback", "parse_address"]

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"


def parse_address(text: Any, option: str = "--panel") -> tuple[str, int]:
    """``"[HOST:]PORT"`` -> ``(host, port)``; host defaults to 127.0.0.1, port 0 picks a free one.

    Raises
    ------
    ParameterError
        naming ``option`` and the value, if it is not of that form.

    Examples
    --------
    >>> parse_address("8000"), parse_address("0.0.0.0:8000"), parse_address("[::1]:9")
    (('127.0.0.1', 8000), ('0.0.0.0', 8000), ('::1', 9))
    """
    if not isinstance(text, str) or not text:
        raise ParameterError(f"{option}={text!r} must be [HOST:]PORT, e.g. 8000 or 0.0.0.0:8000")
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host = DEFAULT_HOST
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if sep and (not host or ":" in host and not text.startswith("[")):
        raise ParameterError(
            f"{option}={text!r} must be [HOST:]PORT (an IPv6 host goes in brackets: [::1]:8000)"
        )
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ParameterError(f"{option}={text!r}: the port must be an integer in [0, 65535]")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only reaches this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Surfaces:
    """The panel, OSC input and terminal keys of one live run.

    Parameters
    ----------
    panel, osc : str or None
        ``[HOST:]PORT`` to serve the web panel / listen for OSC on.
    keys : bool
        Read keys from the terminal (only when stdin is a TTY).
    """

    def __init__(self, *, panel: str | None = None, osc: str | None = None,
                 keys: bool = False) -> None:
        self.panel_address = None if panel is None else parse_address(panel, "--panel")
        self.osc_address = None if osc is None else parse_address(osc, "--osc")
        self.keys = bool(keys)
        self.token: str | None = None
        if self.panel_address is not None and not is_loopback(self.panel_address[0]):
            # beyond this machine, every request must carry it (a phone gets it in the URL)
            self.token = secrets.token_urlsafe(12)
        self._panel: Any = None
        self._state: Any = None
        self._osc: Any = None
        self._keys: Any = None

    @property
    def wanted(self) -> bool:
        """Whether any surface that can select presets was asked for."""
        return self.panel_address is not None or self.osc_address is not None or self.keys

    def start(self, engine: Any, controls: Any, *, announce: Any = None) -> None:
        """Open the surfaces asked for (before the stream starts: their start-up work never
        runs beside the callback); print where they listen."""
        if self.panel_address is not None:
            from .panel import LiveState, PanelProcess

            self._state = LiveState(engine, controls)
            self._panel = PanelProcess(self._state, controls, *self.panel_address,
                                       token=self.token)
            self._say(announce, f"panel: {self._panel.url}" + (
                "  (listening beyond this machine: the token in this URL is required)"
                if self.token else ""))
        if self.osc_address is not None:
            from .osc import OscInput

            self._osc = OscInput(controls, *self.osc_address)
            host, port = self._osc.address
            self._say(announce, f"OSC: udp {host}:{port} /stylepedal/preset|mix|bypass|gain")
        if self.keys:
            from .keys import KeyInput

            self._keys = KeyInput.open(controls)
            if self._keys is not None:
                self._say(announce, "keys: 1-9 preset, left/right step, b bypass")

    def stream_started(self, stream_latency: Any) -> None:
        """Tell the panel the stream's input and output latency (seconds)."""
        if self._state is not None:
            self._state.set_stream_latency(stream_latency)

    @staticmethod
    def _say(stream: Any, line: str) -> None:
        if stream is not None:
            print(line, file=stream, flush=True)

    @property
    def panel(self) -> Any:
        """The running :class:`~stylepedal.host.panel.PanelProcess` (None without one)."""
        return self._panel

    @property
    def osc(self) -> Any:
        """The running :class:`~stylepedal.host.osc.OscInput` (None without one)."""
        return self._osc

    def close(self) -> None:
        """Stop every surface (safe to call twice)."""
        for name in ("_keys", "_osc", "_panel"):
            surface = getattr(self, name)
            if surface is not None:
                try:
                    surface.close()
                except Exception:  # closing must not hide the run's result
                    log.debug("closing %s failed", name, exc_info=True)

    def summary(self) -> dict[str, Any]:
        """What the surfaces did, for the run's JSON summary."""
        out: dict[str, Any] = {}
        if self._panel is not None:
            out["panel"] = self._panel.summary()
        if self._osc is not None:
            out["osc"] = self._osc.summary()
        return out
