"""The panel's HTTP server: the page, ``GET /api/state``, ``GET /api/events`` (server-sent
events), ``POST /api/preset`` and ``POST /api/params``.

It runs on threads of the live process (the standard library's ``ThreadingHTTPServer``) and
only reads the engine's counters and submits commands to the shared
:class:`~stylepedal.host.control.Controls` queue. Every refusal is a 4xx with a JSON body
``{"error": message, "field": name}`` and changes nothing. A panel bound beyond loopback
requires its token on every request (``?token=``, or ``Authorization: Bearer``).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ...errors import ParameterError, PresetError
from ..control import check_param

__all__ = ["EVENT_SECONDS", "MAX_BODY_BYTES", "MAX_EVENT_CLIENTS", "PanelServer"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4096
EVENT_SECONDS = 0.08  # 12.5 updates a second to every open page
MAX_EVENT_CLIENTS = 8  # each open page holds a thread: bounded
PARAM_FIELDS = ("mix", "style", "bypass", "output_gain_db", "gate_db")
PRESET_FIELDS = ("name", "program")
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
           "/index.html": ("index.html", "text/html; charset=utf-8"),
           "/panel.js": ("panel.js", "text/javascript; charset=utf-8"),
           "/panel.css": ("panel.css", "text/css; charset=utf-8")}


class _Refusal(Exception):
    def __init__(self, status: int, message: str, field: str | None = None, *,
                 counted: bool = False) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field
        self.counted = counted  # already counted as refused by Controls


class PanelServer:
    """Serves the panel on ``host:port`` (port 0: a free one) until :meth:`close`.

    Parameters
    ----------
    state : LiveState
    controls : Controls
    host : str
    port : int
    token : str or None
        Required on every request when given.
    """

    def __init__(self, state: Any, controls: Any, host: str, port: int, *,
                 token: str | None = None) -> None:
        self.state = state
        self.controls = controls
        self.token = token
        self.closing = threading.Event()
        self.counts = {"requests": 0, "refused": 0, "unauthorized": 0, "event_clients": 0}
        self._events = threading.BoundedSemaphore(MAX_EVENT_CLIENTS)
        self._files = {path: resources.files(__package__).joinpath(name).read_bytes()
                       for path, (name, _) in _STATIC.items()}
        handler = type("Handler", (_Handler,), {"panel": self})
        try:
            self._httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ParameterError(f"--panel {host}:{port} cannot be served: {exc}") from exc
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={
            "poll_interval": 0.5}, name="stylepedal-panel", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """The page's URL (with the token, when one is required)."""
        host, port = self.address
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/" + (f"?token={self.token}" if self.token else "")

    def close(self) -> None:
        """Stop serving; open event streams end within one update."""
        self.closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def summary(self) -> dict[str, Any]:
        host, port = self.address
        return {"address": f"{host}:{port}", "token_required": self.token is not None,
                **self.counts}

    def static(self, path: str) -> tuple[bytes, str] | None:
        if path not in _STATIC:
            return None
        return self._files[path], _STATIC[path][1]


class _Handler(BaseHTTPRequestHandler):
    panel: PanelServer
    server_version = "stylepedal-panel"
    protocol_version = "HTTP/1.1"  # keep-alive: a page polling does not reconnect each time
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart
    timeout = 10  # a client that stalls mid-request does not hold its thread for long

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        log.debug("panel %s: " + format, self.client_address[0], *args)

    # ------------------------------------------------------------------ dispatch
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        panel = self.panel
        panel.counts["requests"] += 1
        url = urlsplit(self.path)
        try:
            self._authorise(url.query)
            if url.path == "/api/events" and method == "GET":
                self._events()
            elif url.path == "/api/state" and method == "GET":
                self._json(HTTPStatus.OK, panel.state.snapshot())
            elif url.path == "/api/preset" and method == "POST":
                self._json(HTTPStatus.OK, self._preset(self._body()))
            elif url.path == "/api/params" and method == "POST":
                self._json(HTTPStatus.OK, self._params(self._body()))
            elif url.path in ("/api/state", "/api/events", "/api/preset", "/api/params"):
                raise _Refusal(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} {url.path} is not "
                               "allowed: GET /api/state, /api/events; POST /api/preset, "
                               "/api/params")
            elif method == "GET" and panel.static(url.path) is not None:
                body, kind = panel.static(url.path)  # type: ignore[misc]
                self._send(HTTPStatus.OK, body, kind)
            else:
                raise _Refusal(HTTPStatus.NOT_FOUND, f"{method} {url.path} is not here")
        except _Refusal as r:
            self.close_connection = True  # a body may be left unread: start afresh
            panel.counts["refused"] += 1
            if r.status == HTTPStatus.UNAUTHORIZED:
                panel.counts["unauthorized"] += 1
            if url.path in ("/api/preset", "/api/params") and not r.counted:
                panel.controls.refuse("panel", r.message)
            self._json(r.status, {"error": r.message, "field": r.field})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _authorise(self, query: str) -> None:
        token = self.panel.token
        if token is None:
            # Loopback without a token: refuse a page of another site that reaches it through
            # a name of its own resolving to this machine (DNS rebinding).
            host = self.headers.get("Host", "").rsplit(":", 1)[0].strip("[]").lower()
            if host not in _LOOPBACK_NAMES:
                raise _Refusal(HTTPStatus.FORBIDDEN, f"Host {host!r} is not this machine: "
                               "open the panel as 127.0.0.1 or localhost", "Host")
            return
        given = parse_qs(query).get("token", [""])[0]
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given = header[len("Bearer "):].strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise _Refusal(HTTPStatus.UNAUTHORIZED, "this panel needs its token: open the URL "
                           "printed at start (…/?token=…) or send 'Authorization: Bearer "
                           "TOKEN'", "token")

    # ------------------------------------------------------------------ API
    def _body(self) -> dict[str, Any]:
        # A page of another site can POST form or text bodies here without asking; a JSON
        # body needs the browser's permission, which this server never gives.
        kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise _Refusal(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"Content-Type {kind!r} is not "
                           "accepted: send application/json", "Content-Type")
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            raise _Refusal(HTTPStatus.LENGTH_REQUIRED, "a JSON body with Content-Length is "
                           "required")
        try:
            length = int(length_text)
        except ValueError:
            raise _Refusal(HTTPStatus.BAD_REQUEST,
                           f"Content-Length={length_text!r} is not a number") from None
        if length > MAX_BODY_BYTES or length < 0:
            self.close_connection = True  # the body is not read
            raise _Refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                           f"body of {length} bytes: allowed are at most {MAX_BODY_BYTES}")
        raw = self.rfile.read(length)
        try:
            doc = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            raise _Refusal(HTTPStatus.BAD_REQUEST, f"the body is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise _Refusal(HTTPStatus.BAD_REQUEST,
                           f"the body must be a JSON object, not {type(doc).__name__}")
        return doc

    def _preset(self, doc: dict[str, Any]) -> dict[str, Any]:
        _only(doc, PRESET_FIELDS)
        if len(doc) != 1:
            raise _Refusal(HTTPStatus.BAD_REQUEST, 'give one of {"name": ...} or '
                           '{"program": n}', "name" if not doc else "program")
        field = next(iter(doc))
        try:
            name = self.panel.controls.select_preset("panel", **doc)
        except PresetError as exc:
            raise _Refusal(HTTPStatus.NOT_FOUND, str(exc), field, counted=True) from None
        except ParameterError as exc:
            raise _Refusal(HTTPStatus.BAD_REQUEST, str(exc), field, counted=True) from None
        return {"ok": True, "preset": name}

    def _params(self, doc: dict[str, Any]) -> dict[str, Any]:
        _only(doc, PARAM_FIELDS)
        if not doc:
            raise _Refusal(HTTPStatus.BAD_REQUEST, f"give at least one of "
                           f"{', '.join(PARAM_FIELDS)}")
        for name, value in doc.items():  # find the field at fault before anything changes
            try:
                check_param(name, value)
            except ParameterError as exc:
                raise _Refusal(HTTPStatus.BAD_REQUEST, str(exc), name) from None
        self.panel.controls.set_params("panel", doc)
        return {"ok": True, "values": {k: self.panel.controls.values[k] for k in doc}}

    def _events(self) -> None:
        panel = self.panel
        if not panel._events.acquire(blocking=False):
            raise _Refusal(HTTPStatus.SERVICE_UNAVAILABLE,
                           f"at most {MAX_EVENT_CLIENTS} pages may follow the state at once")
        panel.counts["event_clients"] += 1
        try:
            self.close_connection = True  # the stream has no length: it ends with the connection
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            while not panel.closing.is_set():
                data = json.dumps(panel.state.snapshot(), separators=(",", ":"))
                self.wfile.write(f"data: {data}\n\n".encode())
                self.wfile.flush()
                panel.closing.wait(EVENT_SECONDS)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        finally:
            panel._events.release()

    # ------------------------------------------------------------------ replies
    def _json(self, status: int, doc: Any) -> None:
        self._send(status, json.dumps(doc).encode(), "application/json")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _only(doc: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in doc:
        if key not in allowed:
            raise _Refusal(HTTPStatus.BAD_REQUEST,
                           f"unknown field {key!r}: allowed are {', '.join(allowed)}", str(key))
