"""The REST API from the same Chalice app, served by Chalice's local server.

Two changes to Chalice local, both for fidelity with API Gateway + Lambda: requests are handled one at
a time (a Chalice app keeps ``current_request`` on the app object, like a single Lambda container), and
an unknown route answers 404 in the hub's error shape (deployed, an API Gateway response does that).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
    LocalGatewayException,
)

_serial = threading.Lock()


class _HubRequestHandler(ChaliceRequestHandler):
    def _generic_handle(self) -> None:
        with _serial:
            super()._generic_handle()

    def _send_error_response(self, error: LocalGatewayException) -> None:
        if error.CODE == 403 and b"Missing Authentication Token" in (error.body or b""):
            body = json.dumps({"error": {"code": "not_found", "message": f"no route {self.path}"}}).encode()
            self._send_http_response(404, {"Content-Type": "application/json"}, body)
            return
        super()._send_error_response(error)

    def log_message(self, format: str, *args: Any) -> None:
        """The app's middleware logs each API call; the raw access log would say it twice."""


class ApiServer:
    def __init__(self, app: Any, host: str, port: int) -> None:
        config = Config.create(chalice_stage="local", app_name="linli", chalice_app=app)
        if not isinstance(app, LocalChalice):  # what chalice.local.create_local_server does
            CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
            app.__class__ = CustomLocalChalice
        self._server = LocalDevServer(app, config, host, port, handler_cls=_HubRequestHandler)
        self._thread = threading.Thread(target=self._server.server.serve_forever, name="api", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.server.shutdown()
        self._server.server.server_close()
        self._thread.join(timeout=5)

    def alive(self) -> bool:
        return self._thread.is_alive()
