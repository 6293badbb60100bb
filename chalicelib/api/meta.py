"""Health and self-description."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api import openapi
from chalicelib.api.http import Ctx, error, route

bp = Blueprint(__name__)

#: Extra readiness checks (name → callable returning True when healthy). Empty in Lambda, where
#: API Gateway only routes to a running function; localcloud registers one per part it runs.
HEALTH_CHECKS: dict[str, Callable[[], bool]] = {}


@route(bp, "/healthz", "GET", summary="Liveness: 200 once every part is up", auth=None)
def healthz(ctx: Ctx) -> Any:
    failing = sorted(name for name, check in HEALTH_CHECKS.items() if not _safe(check))
    if failing:
        return error(503, "not_ready", "not ready: " + ", ".join(failing))
    return {"status": "ok"}


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:
        return False


@route(bp, "/openapi.json", "GET", summary="This API, described", auth=None)
def openapi_json(ctx: Ctx) -> Response:
    return Response(body=openapi.document(), headers={"Content-Type": "application/json"})
