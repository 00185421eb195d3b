"""OSC input for the live host (``stylepedal live --osc [HOST:]PORT``), parsed with python-osc.

Addresses (one argument each)::

    /stylepedal/preset   int program (bank 0) or string preset name
    /stylepedal/mix      float 0..1
    /stylepedal/bypass   int 0/1 (or OSC true/false)
    /stylepedal/gain     float output gain in dB, -60..24

A thread reads the UDP socket, takes every datagram waiting in one batch, and submits only the
newest preset request and the newest value of each parameter to the shared
:class:`~stylepedal.host.control.Controls` queue. Anything else (unparseable datagrams, other
addresses, a wrong number or type of arguments) is ignored and counted as malformed; values out
of range are refused and counted by the queue.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from ..errors import ParameterError, PresetError

__all__ = ["ADDRESSES", "OscInput"]

log = logging.getLogger(__name__)

ADDRESSES = {
    "/stylepedal/preset": "preset",
    "/stylepedal/mix": "mix",
    "/stylepedal/bypass": "bypass",
    "/stylepedal/gain": "output_gain_db",
}
_BATCH_DATAGRAMS = 1024  # at most this many per batch: one batch never holds the GIL long
_MAX_DATAGRAM = 65536


class OscInput:
    """Listens for OSC on UDP ``host:port`` (port 0: a free one) until :meth:`close`.

    Parameters
    ----------
    controls : Controls
    host : str
    port : int
    """

    def __init__(self, controls: Any, host: str, port: int) -> None:
        self.controls = controls
        self.counts = {"received": 0, "malformed": 0, "refused": 0, "commands": 0}
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise ParameterError(f"--osc {host}:{port} cannot be bound: {exc}") from exc
        self._sock.settimeout(0.5)  # how soon close() is noticed; no busy wake-ups
        bound = self._sock.getsockname()
        self._address = (str(bound[0]), int(bound[1]))
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stylepedal-osc", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """The host and port listened on."""
        return self._address

    def close(self) -> None:
        """Stop listening."""
        self._halt.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def summary(self) -> dict[str, Any]:
        host, port = self.address
        return {"address": f"{host}:{port}", **self.counts}

    def _run(self) -> None:
        while not self._halt.is_set():
            try:
                first = self._sock.recv(_MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:  # closed under us
                return
            batch = [first]
            self._sock.setblocking(False)
            try:
                while len(batch) < _BATCH_DATAGRAMS:
                    batch.append(self._sock.recv(_MAX_DATAGRAM))
            except (BlockingIOError, OSError):
                pass
            finally:
                self._sock.settimeout(0.5)
            self.handle_batch(batch)

    def handle_batch(self, datagrams: list[bytes]) -> None:
        """Parse ``datagrams`` in order; submit the newest command of each kind. Never raises."""
        preset: Any = None
        values: dict[str, Any] = {}
        for data in datagrams:
            for address, params in self._messages(data):
                self.counts["received"] += 1
                target = ADDRESSES.get(address)
                if target is None or len(params) != 1 or not _well_typed(target, params[0]):
                    self.counts["malformed"] += 1
                    self.controls.refuse("osc", f"OSC {address} {params!r} is not understood")
                    continue
                if target == "preset":
                    preset = params[0]
                else:
                    values[target] = params[0]
        if values:
            self._submit(self.controls.set_params, "osc", values)
        if isinstance(preset, str):
            self._submit(self.controls.select_preset, "osc", name=preset)
        elif preset is not None:
            self._submit(self.controls.select_preset, "osc", program=preset)

    def _submit(self, command: Any, *args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
            self.counts["commands"] += 1
        except (ParameterError, PresetError) as exc:  # counted by Controls
            self.counts["refused"] += 1
            log.debug("OSC command refused: %s", exc)
        except Exception:  # a sender must never take the host down
            self.counts["malformed"] += 1
            log.debug("OSC command failed", exc_info=True)

    def _messages(self, data: bytes) -> list[tuple[str, list[Any]]]:
        from pythonosc.osc_packet import OscPacket

        try:
            packet = OscPacket(data)
            return [(m.message.address, list(m.message.params)) for m in packet.messages]
        except Exception:  # python-osc raises ParseError, and others on odd bytes
            self.counts["received"] += 1
            self.counts["malformed"] += 1
            self.controls.refuse("osc", "unparseable OSC datagram")
            return []


def _well_typed(target: str, value: Any) -> bool:
    """Whether ``value``'s OSC type fits ``target`` (the range is checked by Controls)."""
    if target == "preset":
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    if target == "bypass":
        return isinstance(value, bool) or (isinstance(value, int) and value in (0, 1))
    return isinstance(value, (int, float)) and not isinstance(value, bool)
