"""The sandbox HTTP server: a threaded stand-in for WeChat (and later Stripe) on one machine.

The server owns only the plumbing — routing, JSON helpers, fault switches, request logging.
Each outside system is a *module* (``localcloud.sandbox.wechat.WeChatSandbox``, ...) that registers
its routes and fault points with ``module.register(server)``; the server knows none of them.

Generic routes:
- ``GET /_sandbox/healthz`` → ``{"status": "ok"}``
- ``GET /_sandbox/faults`` → the armed faults
- ``POST /_sandbox/faults`` ``{"<point>": {"mode": "error"|"timeout"|"http_error", "count": n, ...}}``
- ``DELETE /_sandbox/faults`` → disarm all
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from localcloud.sandbox.faults import Faults, parse_fault
from localcloud.sandbox.routing import Handler, HttpError, Request, Response, Router, json_response

log = logging.getLogger("localcloud.sandbox")

MAX_BODY_BYTES = 1 << 20


class SandboxModule(Protocol):
    """One outside system the sandbox stands in for."""

    def register(self, server: SandboxServer) -> None:
        """Add routes (``server.route``) and fault points (``server.faults.declare``)."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    sandbox: SandboxServer


class _RequestHandler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "LinliSandbox/1"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = self.server.sandbox.handle(self.command, url.path, url.query, headers, self._read_body())
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            log.info("%s %s: client went away before the answer", self.command, url.path)

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(min(max(length, 0), MAX_BODY_BYTES)) if length > 0 else b""

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's stderr access log; ``SandboxServer.handle`` logs each request."""


class SandboxServer:
    """A threaded HTTP server on ``host:port`` (port 0 = any free port) serving the registered modules."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", modules: Iterable[SandboxModule] = ()) -> None:
        self.host = host
        self._requested_port = port
        self._stopping = threading.Event()
        self.faults = Faults(self._stopping)
        self.router = Router()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.route("GET", "/_sandbox/healthz", lambda _r: json_response({"status": "ok"}))
        self.route("GET", "/_sandbox/faults", self._get_faults)
        self.route("POST", "/_sandbox/faults", self._post_faults)
        self.route("DELETE", "/_sandbox/faults", self._delete_faults)
        for module in modules:
            self.add_module(module)

    # -- composition
    def add_module(self, module: SandboxModule) -> None:
        module.register(self)

    def route(self, method: str, template: str, handler: Handler) -> None:
        self.router.add(method, template, handler)

    # -- lifecycle
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("sandbox not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/`` — with the trailing slash WeChat clients expect."""
        return f"http://{self.host}:{self.port}/"

    def start(self) -> None:
        """Bind and listen (returns once connections are accepted), serving from a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("sandbox already started")
        self._stopping.clear()
        httpd = _HTTPServer((self.host, self._requested_port), _RequestHandler)
        httpd.sandbox = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-http", daemon=True
        )
        self._thread.start()
        log.info("sandbox listening on %s", self.base_url)

    def stop(self, timeout_s: float = 5.0) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()  # releases handlers hanging in a "timeout" fault
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout_s)
        self._httpd = self._thread = None
        log.info("sandbox stopped")

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- request handling
    def handle(self, method: str, path: str, query_string: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Route one request to its handler; never raises. Logs one line: method, path, status."""
        query = {k: v[0] for k, v in parse_qs(query_string, keep_blank_values=True).items()}
        try:
            handler, params = self.router.resolve(method, path)
            response = handler(Request(method, path, query, dict(headers), body, params))
        except HttpError as exc:
            response = exc.response()
        except Exception:
            log.exception("%s %s: handler failed", method, path)
            response = HttpError(500, "sandbox_error", "the sandbox handler failed").response()
        # Path only: query strings carry secrets and access tokens.
        log.info("%s %s -> %d", method, path, response.status)
        return response

    def _get_faults(self, _request: Request) -> Response:
        return json_response({"armed": self.faults.armed(), "points": self.faults.points()})

    def _post_faults(self, request: Request) -> Response:
        body = request.json_object()
        if not body:
            raise HttpError(400, "bad_fault", "name at least one fault point")
        parsed = {point: parse_fault(point, spec) for point, spec in body.items()}
        self.faults.arm(parsed)
        return json_response({"armed": self.faults.armed()})

    def _delete_faults(self, _request: Request) -> Response:
        self.faults.clear()
        return json_response({"armed": {}})
