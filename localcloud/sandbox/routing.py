"""Sandbox HTTP plumbing: requests, responses, JSON errors and method + path-template routing."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    path_params: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body parsed as JSON; ``None`` for an empty body. Raises ``HttpError`` (400) if malformed."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HttpError(400, "bad_json", f"body is not JSON: {exc}") from exc

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise HttpError(400, "bad_json", "body must be a JSON object")
        return data


@dataclass(frozen=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return Response(status=status, body=body, headers=dict(headers or {}))


class HttpError(Exception):
    """Raised by a handler to answer ``{"error": {"code", "message"}}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        return json_response({"error": {"code": self.code, "message": self.message}}, self.status)


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class _Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Handler


def _compile(template: str) -> re.Pattern[str]:
    parts = []
    for segment in template.strip("/").split("/"):
        match = re.fullmatch(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", segment)
        parts.append(f"(?P<{match.group(1)}>[^/]+)" if match else re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "/?$")


class Router:
    """Method + path-template routing; ``{name}`` segments become ``request.path_params``."""

    def __init__(self) -> None:
        self._routes: list[_Route] = []
        self._lock = threading.Lock()

    def add(self, method: str, template: str, handler: Handler) -> None:
        method = method.upper()
        with self._lock:
            if any(r.method == method and r.template == template for r in self._routes):
                raise ValueError(f"route already registered: {method} {template}")
            self._routes.append(_Route(method, template, _compile(template), handler))

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        """The handler and path params; ``HttpError`` 404 (no path) or 405 (path, other method)."""
        with self._lock:
            routes = list(self._routes)
        path_known = False
        for route in routes:
            match = route.regex.match(path)
            if match is None:
                continue
            path_known = True
            if route.method == method:
                return route.handler, match.groupdict()
        if path_known:
            raise HttpError(405, "method_not_allowed", f"{method} not allowed on {path}")
        raise HttpError(404, "not_found", f"no sandbox route for {path}")
