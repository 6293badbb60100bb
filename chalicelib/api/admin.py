"""Admin API (admin token): communities, devices, rejects."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import Ctx, route
from chalicelib.domain.devices import DeviceStatus
from chalicelib.domain.identity import Role
from chalicelib.services import communities

bp = Blueprint(__name__)
ADMIN = (Role.ADMIN,)
BASE = "/v1/admin/communities"


class NewCommunity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)


class NewDevice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    thing_name: str = Field(min_length=1, max_length=128)
    type: str


@route(bp, BASE, "POST", summary="Create a community", auth=ADMIN, body=NewCommunity, status=201)
def create_community(ctx: Ctx) -> dict[str, Any]:
    return views.community(communities.create_community(bootstrap.deps(), ctx.body(NewCommunity).name))


@route(bp, BASE + "/{cid}", "GET", summary="A community", auth=ADMIN)
def get_community(ctx: Ctx, cid: str) -> dict[str, Any]:
    return views.community(communities.require_community(bootstrap.deps(), cid))


@route(bp, BASE + "/{cid}/devices", "POST", summary="Register a device", auth=ADMIN, body=NewDevice, status=201)
def register_device(ctx: Ctx, cid: str) -> dict[str, Any]:
    body = ctx.body(NewDevice)
    return views.device(communities.register_device(bootstrap.deps(), cid, body.thing_name, body.type))


@route(bp, BASE + "/{cid}/devices", "GET", summary="List devices", auth=ADMIN, query=("limit", "cursor"))
def list_devices(ctx: Ctx, cid: str) -> dict[str, Any]:
    page = communities.list_devices(bootstrap.deps(), cid, ctx.limit(), ctx.query("cursor"))
    return views.page(page, views.device)


@route(bp, BASE + "/{cid}/devices/{thing_name}", "GET", summary="A device and its status", auth=ADMIN)
def get_device(ctx: Ctx, cid: str, thing_name: str) -> dict[str, Any]:
    return views.device(communities.community_device(bootstrap.deps(), cid, thing_name))


@route(bp, BASE + "/{cid}/devices/{thing_name}/disable", "POST", summary="Disable a device", auth=ADMIN)
def disable_device(ctx: Ctx, cid: str, thing_name: str) -> dict[str, Any]:
    device = communities.set_device_status(bootstrap.deps(), cid, thing_name, DeviceStatus.DISABLED)
    return views.device(device)


@route(bp, BASE + "/{cid}/devices/{thing_name}/enable", "POST", summary="Enable a device", auth=ADMIN)
def enable_device(ctx: Ctx, cid: str, thing_name: str) -> dict[str, Any]:
    device = communities.set_device_status(bootstrap.deps(), cid, thing_name, DeviceStatus.ACTIVE)
    return views.device(device)


@route(bp, BASE + "/{cid}/rejects", "GET", summary="Rejected device messages, newest first", auth=ADMIN,
       query=("limit", "cursor"))
def list_rejects(ctx: Ctx, cid: str) -> dict[str, Any]:
    page = communities.list_rejects(bootstrap.deps(), cid, ctx.limit(), ctx.query("cursor"))
    return views.page(page, views.reject)
