"""Terminal keys for the live host: 1-9 and 0 select the first ten presets, the arrow keys step
through them, ``b`` toggles bypass. Only when stdin is a terminal; Ctrl-C still stops the run.

The terminal is put in cbreak mode (keys arrive unbuffered, signals still work) and restored at
:meth:`KeyInput.close`. Keys become commands on the shared
:class:`~stylepedal.host.control.Controls` queue (source ``"keys"``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import select
import sys
import threading
from typing import Any

from ..errors import ParameterError, PresetError

__all__ = ["KeyInput"]

log = logging.getLogger(__name__)

_ARROWS = {b"\x1b[C": 1, b"\x1b[B": 1, b"\x1b[D": -1, b"\x1b[A": -1}  # right/down, left/up


class KeyInput:
    """Reads keys from the terminal file descriptor ``fd`` on a thread."""

    def __init__(self, controls: Any, fd: int) -> None:
        import termios
        import tty

        self.controls = controls
        self.fd = fd
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stylepedal-keys", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, controls: Any, stream: Any = None) -> KeyInput | None:
        """A KeyInput on ``stream`` (stdin) if it is a terminal, else None (also where the
        terminal cannot be read a key at a time: no ``termios``, e.g. on Windows)."""
        if importlib.util.find_spec("termios") is None:
            return None
        stream = sys.stdin if stream is None else stream
        try:
            fd = stream.fileno()
        except (AttributeError, ValueError, OSError):
            return None
        if not os.isatty(fd):
            return None
        return cls(controls, fd)

    def _run(self) -> None:
        while not self._halt.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(self.fd, 16)
            except OSError:
                return
            if not data:
                return
            self.handle(data)

    def handle(self, data: bytes) -> None:
        """Turn the bytes of one read into commands. Never raises."""
        try:
            if data in _ARROWS:
                self.controls.step_preset("keys", _ARROWS[data])
                return
            for ch in data.decode("ascii", errors="ignore"):
                if ch.isdigit():
                    index = (int(ch) - 1) % 10
                    presets = self.controls.presets
                    if index < len(presets):
                        self.controls.select_preset("keys", name=presets[index].name)
                    else:
                        self.controls.refuse("keys", f"no preset number {ch}")
                elif ch in "bB":
                    self.controls.toggle_bypass("keys")
        except (ParameterError, PresetError) as exc:
            log.debug("key refused: %s", exc)

    def close(self) -> None:
        """Stop reading and restore the terminal."""
        import termios

        self._halt.set()
        self._thread.join(timeout=2)
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
