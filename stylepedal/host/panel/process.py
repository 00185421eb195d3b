"""The live process's side of the panel: start the panel's own process, feed it state, take
its commands.

Serving HTTP in a thread of the live process measurably delayed the audio callback (each
request is a few hundred microseconds of Python holding the GIL), so the server runs in
:mod:`~stylepedal.host.panel.child`. Here two threads remain: one sends a state snapshot every
:data:`PUSH_SECONDS` (one small JSON line), one blocks reading commands and submits them to the
shared :class:`~stylepedal.host.control.Controls` queue.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from ...errors import ParameterError, PresetError

__all__ = ["PUSH_SECONDS", "PanelProcess"]

log = logging.getLogger(__name__)

PUSH_SECONDS = 0.05  # 20 snapshots a second: the page's 12.5 updates never show a stale one


class PanelProcess:
    """The web panel in a process of its own, serving ``host:port`` (port 0: a free one).

    Parameters
    ----------
    state : LiveState
        Read every :data:`PUSH_SECONDS`.
    controls : Controls
        Where the panel's commands go (source ``"panel"``).
    host, port : str, int
    token : str or None
        Required on every request when given.

    Raises
    ------
    ParameterError
        if the address cannot be served.
    """

    def __init__(self, state: Any, controls: Any, host: str, port: int, *,
                 token: str | None = None) -> None:
        self.state = state
        self.controls = controls
        self.token = token
        self._summary: dict[str, Any] = {}
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[3])  # this stylepedal, whatever sys.path
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "stylepedal.host.panel.child"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, bufsize=1, env=env,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        config = {"host": host, "port": port, "token": token, "current": controls.requested,
                  "presets": [dataclasses.asdict(p) for p in controls.presets]}
        try:
            self._send(config)
            self._send(state.snapshot())
            reply = json.loads(self._proc.stdout.readline() or "{}")
        except (OSError, ValueError) as exc:
            self._kill()
            raise ParameterError(f"the panel process did not start: {exc}") from exc
        if "address" not in reply:
            self._kill()
            raise ParameterError(reply.get("error", "the panel process did not start"))
        self.address: tuple[str, int] = (str(reply["address"][0]), int(reply["address"][1]))
        self._halt = threading.Event()
        self._reader = threading.Thread(target=self._read, name="stylepedal-panel-in",
                                        daemon=True)
        self._pusher = threading.Thread(target=self._push, name="stylepedal-panel-out",
                                        daemon=True)
        self._reader.start()
        self._pusher.start()

    @property
    def url(self) -> str:
        """The page's URL (with the token, when one is required)."""
        host, port = self.address
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/" + (f"?token={self.token}" if self.token else "")

    def _send(self, doc: Any) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(doc, separators=(",", ":")) + "\n")
        self._proc.stdin.flush()

    def _push(self) -> None:
        while not self._halt.wait(PUSH_SECONDS):
            try:
                self._send(self.state.snapshot())
            except (OSError, ValueError):  # the panel process is gone
                return

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                doc = json.loads(line)
                cmd = doc.get("cmd")
                if cmd == "params":
                    self.controls.set_params("panel", doc["values"])
                elif cmd == "preset":
                    self.controls.select_preset("panel", name=doc["name"])
                elif cmd == "refused":
                    self.controls.refuse("panel", str(doc.get("reason", "")))
                elif "summary" in doc:
                    self._summary = doc["summary"]
            except (ParameterError, PresetError) as exc:  # counted by Controls
                log.debug("panel command refused: %s", exc)
            except (ValueError, KeyError, TypeError, AttributeError):
                log.debug("panel process sent %r", line)

    def close(self) -> None:
        """End the panel process (it answers with its summary) and the threads."""
        self._halt.set()
        self._pusher.join(timeout=2)
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._kill()
        self._reader.join(timeout=2)

    def _kill(self) -> None:
        self._proc.kill()
        self._proc.wait(timeout=5)

    def summary(self) -> dict[str, Any]:
        """The panel process's counts (requests, refused, unauthorized, ...)."""
        host, port = self.address
        return {**self._summary, "address": f"{host}:{port}",
                "token_required": self.token is not None, "process": True}
