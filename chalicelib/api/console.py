"""The staff console (物业控制台): one page for a community's property staff, served by the hub itself.

Vanilla HTML, CSS and JavaScript from ``chalicelib/console/`` (packaged with the Lambda, no build step,
no other origin: the Content-Security-Policy allows only this one). The page keeps the staff token in
``sessionStorage`` and reads the community's admin routes with it; ``GET /v1/admin/me`` tells it whose
token it holds. Asset URLs are relative, so the page also works under an API Gateway stage prefix.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.http import STAFF_OR_ADMIN, Ctx, route
from chalicelib.domain.errors import BadInput, Forbidden
from chalicelib.domain.identity import Role
from chalicelib.services import communities

bp = Blueprint(__name__)

#: same origin only: no CDN, no inline script or style, no frames, no form posts elsewhere
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
ASSETS = {"index.html": "text/html; charset=utf-8", "console.js": "text/javascript; charset=utf-8",
          "console.css": "text/css; charset=utf-8"}


@cache
def _asset(name: str) -> str:
    return resources.files("chalicelib").joinpath("console", name).read_text(encoding="utf-8")


def _serve(name: str) -> Response:
    headers: dict[str, str | list[str]] = {
        "Content-Type": ASSETS[name], "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}
    return Response(body=_asset(name), status_code=200, headers=headers)


@route(bp, "/console", "GET", summary="The staff console (HTML page; log in with a staff token)", auth=None)
def console_page(ctx: Ctx) -> Response:
    return _serve("index.html")


@route(bp, "/console/console.js", "GET", summary="The staff console's script", auth=None)
def console_script(ctx: Ctx) -> Response:
    return _serve("console.js")


@route(bp, "/console/console.css", "GET", summary="The staff console's style sheet", auth=None)
def console_style(ctx: Ctx) -> Response:
    return _serve("console.css")


@route(bp, "/v1/admin/me", "GET", summary="Whose staff or admin token this is, and its community",
       auth=STAFF_OR_ADMIN, query=("community_id",))
def whoami(ctx: Ctx) -> dict[str, Any]:
    caller, asked = ctx.caller, ctx.query("community_id")
    if caller.role is Role.STAFF and asked not in (None, caller.community_id):
        raise Forbidden("this staff token belongs to another community", code="forbidden")
    cid = caller.community_id if caller.role is Role.STAFF else asked
    if not cid:
        raise BadInput("the admin token needs ?community_id=", code="missing_community")
    community = communities.require_community(bootstrap.deps(), cid)
    return {"role": caller.role.value, "staff_role": caller.staff_role,
            "staff_id": caller.subject if caller.role is Role.STAFF else None,
            "community_id": cid, "community_name": community.name}
