"""One HTTP middleware for the whole API: the DESIGN §5 error shape everywhere, one log line per call."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, Response

from chalicelib.api.http import error
from chalicelib.observability import logger

_CHALICE_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                  415: "unsupported_media_type", 500: "internal_error"}


def _reshape(response: Response) -> Response:
    """Chalice's own errors ({"Code", "Message"}) become {"error": {"code", "message"}}."""
    body = response.body
    if isinstance(body, dict) and set(body) == {"Code", "Message"}:
        status = response.status_code
        code = _CHALICE_CODES.get(status, "error")
        message = str(body["Message"]) if status != 500 else "internal error"
        allow = {k: str(v) for k, v in response.headers.items() if k.lower() == "allow"}
        return error(status, code, message, allow)
    return response


def install(app: Chalice) -> None:
    @app.middleware("http")
    def api_edge(event: Any, get_response: Callable[[Any], Response]) -> Response:
        started = time.perf_counter()
        try:
            response = _reshape(get_response(event))
        except Exception:
            logger.exception("unhandled error")
            response = error(500, "internal_error", "internal error")
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        logger.info(f"{event.method} {event.path} -> {response.status_code}",
                    extra={"status": response.status_code, "ms": elapsed_ms})
        return response

