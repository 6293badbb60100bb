"""The HTTP edge's shared pieces: the error shape, body parsing, auth, and the route registry
that ``/openapi.json`` is generated from."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chalice.app import Blueprint, Response
from pydantic import BaseModel, ValidationError

from chalicelib import bootstrap
from chalicelib.domain.errors import BadInput, DomainError, IllegalTransition
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.staff import Area
from chalicelib.services import identity
from chalicelib.validation import validation_message

#: community-scoped admin routes: the admin token, or a staff token of that community (role checked per route)
STAFF_OR_ADMIN = (Role.ADMIN, Role.STAFF)
STATUS_BY_KIND = {"bad_input": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404,
                  "conflict": 409, "gone": 410, "rule": 422, "upstream": 503}

M = TypeVar("M", bound=BaseModel)
#: Bodies are parsed as JSON whatever the client labels them (curl's default is form-encoded).
BODY_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream"]


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
          **extra: Any) -> Response:
    return Response(body={"error": {"code": code, "message": message, **extra}}, status_code=status,
                    headers={"Content-Type": "application/json", **(headers or {})})


def domain_error(exc: DomainError) -> Response:
    status = STATUS_BY_KIND.get(exc.kind, 422)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, IllegalTransition):  # a 409 says what state the order is in now
        return error(status, exc.code, exc.message, headers, current_status=exc.current)
    return error(status, exc.code, exc.message, headers)


@dataclass
class RouteDoc:
    path: str
    method: str
    summary: str
    auth: tuple[Role, ...] | None
    body: type[BaseModel] | None
    status: int
    query: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default_factory=tuple)


ROUTES: list[RouteDoc] = []


class Ctx:
    """What a view gets: the caller (if the route needs one), the parsed body and the request."""

    def __init__(self, bp: Blueprint, principal: Principal | None, body: BaseModel | None) -> None:
        self.request = bp.current_request
        self.principal = principal
        self._body = body

    def body(self, model: type[M]) -> M:
        assert isinstance(self._body, model)
        return self._body

    @property
    def caller(self) -> Principal:
        assert self.principal is not None
        return self.principal

    def community(self, community_id: str, area: Area = Area.MANAGE) -> None:
        """Admin anywhere; staff only inside their own community and their role's area."""
        identity.require_community_access(self.caller, community_id, area)

    def idempotency_key(self) -> str | None:
        key = self.request.headers.get("idempotency-key")
        if key is not None and not 1 <= len(key) <= 128:
            raise BadInput("Idempotency-Key is 1–128 characters", code="invalid_idempotency_key")
        return key

    def query(self, name: str) -> str | None:
        params: Any = self.request.query_params or {}
        value = params.get(name)
        return None if value is None else str(value)

    def limit(self, default: int = 50, maximum: int = 100) -> int:
        raw = self.query("limit")
        if raw is None:
            return default
        if not raw.isdigit() or not 1 <= int(raw) <= maximum:
            raise BadInput(f"limit must be an integer 1–{maximum}", code="invalid_limit")
        return int(raw)


def _parse_body(bp: Blueprint, model: type[BaseModel]) -> BaseModel:
    data = bp.current_request.raw_body
    if not data:
        raise _BadBody("a JSON object body is required", "missing_body")
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise _BadBody("request body is not valid JSON", "invalid_json") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _BadBody(validation_message(exc), "invalid_body") from exc


class _BadBody(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def route(bp: Blueprint, path: str, method: str, *, summary: str, auth: tuple[Role, ...] | None,
          body: type[BaseModel] | None = None, status: int = 200,
          query: tuple[str, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a view: parse + validate the body, authorize, map domain errors to the error shape."""
    ROUTES.append(RouteDoc(path=path, method=method, summary=summary, auth=auth, body=body,
                           status=status, query=query))

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(**path_args: str) -> Response:
            try:
                principal = None
                if auth is not None:
                    principal = identity.authenticate(
                        bootstrap.deps(), bp.current_request.headers.get("authorization"))
                    identity.require_role(principal, *auth)
                parsed = _parse_body(bp, body) if body is not None else None
                result = view(Ctx(bp, principal, parsed), **path_args)
            except DomainError as exc:
                return domain_error(exc)
            except _BadBody as exc:
                return error(400, exc.code, exc.message)
            if isinstance(result, Response):
                return result
            return Response(body=result, status_code=status, headers={"Content-Type": "application/json"})

        bp.route(path, methods=[method], content_types=BODY_TYPES)(wrapper)
        return wrapper

    return decorate
