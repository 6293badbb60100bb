"""Doors: the access log (guards, managers), residents' visitor passes, door devices checking a pass."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import STAFF_OR_ADMIN, Ctx, route
from chalicelib.domain.doors import AccessEntry, VisitorPass, qr_payload
from chalicelib.domain.identity import Role
from chalicelib.domain.staff import Area
from chalicelib.services import doors

bp = Blueprint(__name__)
BASE = "/v1/admin/communities/{cid}"
RESIDENT = (Role.RESIDENT,)
DEVICE = (Role.DEVICE,)


class NewVisitorPass(BaseModel):
    model_config = ConfigDict(extra="forbid")
    visitor_name: str | None = Field(default=None, max_length=200)
    valid_from: str | None = Field(default=None, max_length=64, description="ISO-8601 with zone; default now")
    valid_until: str = Field(max_length=64, description="ISO-8601 with zone; at most 7 days after valid_from")


def entry_view(e: AccessEntry) -> dict[str, Any]:
    return {"door": e.door, "thing_name": e.thing_name, "event_id": e.event_id, "ts": views.iso(e.ts_ms),
            "result": e.result, "method": e.method, "pass_id": e.pass_id}


def pass_view(p: VisitorPass) -> dict[str, Any]:
    now = bootstrap.deps().clock.now_ms()
    return {"pass_id": p.pass_id, "visitor_name": p.visitor_name, "valid_from": views.iso(p.valid_from_ms),
            "valid_until": views.iso(p.valid_until_ms), "status": p.status(now).value, "uses": p.uses,
            "last_used_at": views.iso(p.last_used_at_ms), "created_at": views.iso(p.created_at_ms)}


@route(bp, BASE + "/doors/{door}/access", "GET", summary="A door's access log, newest first (kept 90 days)",
       auth=STAFF_OR_ADMIN, query=("limit", "cursor"))
def access_log(ctx: Ctx, cid: str, door: str) -> dict[str, Any]:
    ctx.community(cid, Area.ALARMS)
    return views.page(doors.access_log(bootstrap.deps(), cid, door, ctx.limit(), ctx.query("cursor")), entry_view)


@route(bp, BASE + "/devices/{thing_name}/credentials", "POST", auth=STAFF_OR_ADMIN,
       summary="Issue a door device its bearer token (shown once)", status=201)
def device_credentials(ctx: Ctx, cid: str, thing_name: str) -> dict[str, Any]:
    ctx.community(cid, Area.MANAGE)
    return {"token": doors.issue_device_token(bootstrap.deps(), cid, thing_name), "token_type": "Bearer"}


@route(bp, "/v1/me/visitor-passes", "POST", summary="Invite a visitor: a time-boxed QR code (code shown once)",
       auth=RESIDENT, body=NewVisitorPass, status=201)
def create_pass(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body(NewVisitorPass)
    issued = doors.create_pass(bootstrap.deps(), ctx.caller, body.visitor_name, body.valid_from, body.valid_until)
    return {**pass_view(issued.visitor_pass), "code": issued.code, "qr_payload": qr_payload(issued.code)}


@route(bp, "/v1/me/visitor-passes", "GET", summary="My visitor passes, newest first", auth=RESIDENT,
       query=("limit", "cursor"))
def list_passes(ctx: Ctx) -> dict[str, Any]:
    return views.page(doors.list_passes(bootstrap.deps(), ctx.caller, ctx.limit(), ctx.query("cursor")), pass_view)


@route(bp, "/v1/me/visitor-passes/{pass_id}", "DELETE", summary="Revoke a visitor pass", auth=RESIDENT)
def revoke_pass(ctx: Ctx, pass_id: str) -> dict[str, Any]:
    return pass_view(doors.revoke_pass(bootstrap.deps(), ctx.caller, pass_id))


@route(bp, "/v1/devices/doors/passes/{code}", "GET", auth=DEVICE, query=("door",),
       summary="A door checks a scanned visitor pass (device token): 200 valid, 404 unknown, 410 expired/revoked")
def validate_pass(ctx: Ctx, code: str) -> dict[str, Any]:
    found = doors.validate_pass(bootstrap.deps(), ctx.caller, code, ctx.query("door"))
    return {"valid": True, "pass_id": found.pass_id, "valid_until": views.iso(found.valid_until_ms),
            "building": found.building, "visitor_name": found.visitor_name}
