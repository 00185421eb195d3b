"""The panel's own process: ``python -m stylepedal.host.panel.child`` (started by
:class:`~stylepedal.host.panel.process.PanelProcess`, not by hand).

HTTP parsing, JSON, the page and every client's thread live here, so none of it competes with
the audio callback for the live process's GIL. The protocol is JSON lines:

* stdin, first line: ``{"host", "port", "token", "current", "presets": [...]}``; then one state
  snapshot per line (the live process sends them at :data:`~.process.PUSH_SECONDS`); end of
  input ends the panel;
* stdout, first line: ``{"address": [host, port]}`` or ``{"error": message}``; then one line
  per command that passed validation here (``{"cmd": "params", "values": {...}}``,
  ``{"cmd": "preset", "name": ...}``) or was refused (``{"cmd": "refused", "reason": ...}``);
  last, ``{"summary": {...}}``.

Commands are validated here with the same :class:`~stylepedal.host.control.Controls` rules
(so a refusal is answered at once, naming the field) and once more by the live process.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO

from ...errors import ParameterError
from ..control import Controls, PresetInfo
from .server import PanelServer

__all__ = ["ForwardingControls", "RemoteState", "main"]


class ForwardingControls(Controls):
    """Controls that validate here and forward what passed (and each refusal) as a line."""

    def __init__(self, presets: Any, *, current: str, out: TextIO) -> None:
        super().__init__(presets, current=current)
        self._out = out
        self._write_lock = threading.Lock()  # one line at a time from the handler threads

    def send(self, doc: Mapping[str, Any]) -> None:
        line = json.dumps(doc, separators=(",", ":"))
        with self._write_lock:
            self._out.write(line + "\n")
            self._out.flush()

    def set_params(self, source: str, values: Mapping[str, Any]) -> None:
        super().set_params(source, values)
        self.send({"cmd": "params", "values": dict(values)})  # as given: checked again there

    def select_preset(self, source: str, *, name: Any = None, program: Any = None,
                      bank: Any = 0) -> str:
        chosen = super().select_preset(source, name=name, program=program, bank=bank)
        self.take_preset()  # nothing plays here: the live process has the queue that counts
        self.send({"cmd": "preset", "name": chosen})
        return chosen

    def refuse(self, source: str, reason: str = "") -> None:
        super().refuse(source, reason)
        self.send({"cmd": "refused", "reason": reason})


class RemoteState:
    """The newest snapshot the live process sent (replaced whole: no lock needed)."""

    def __init__(self) -> None:
        self._state: dict[str, Any] = {}

    def update(self, state: dict[str, Any]) -> None:
        self._state = state

    def snapshot(self) -> dict[str, Any]:
        return dict(self._state)


def main(stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """Serve until stdin ends."""
    try:
        os.nice(10)  # on a busy machine the audio process goes first
    except OSError:
        pass
    # Ctrl-C in the terminal reaches this process too: the live process ends it (by closing
    # stdin) once it has stopped the audio.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config = json.loads(stdin.readline())
    presets = [PresetInfo(**p) for p in config["presets"]]
    controls = ForwardingControls(presets, current=config["current"], out=stdout)
    state = RemoteState()
    first = stdin.readline()
    if first:
        state.update(json.loads(first))
    try:
        server = PanelServer(state, controls, config["host"], config["port"],
                             token=config["token"])
    except ParameterError as exc:
        controls.send({"error": str(exc)})
        return 2
    controls.send({"address": list(server.address)})
    try:
        for line in stdin:
            try:
                state.update(json.loads(line))
            except ValueError:
                continue
    finally:
        server.close()
        controls.send({"summary": server.summary()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
