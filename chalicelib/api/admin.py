"""Admin API (admin token): communities, devices, rejects."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import STAFF_OR_ADMIN, Ctx, route
from chalicelib.domain.devices import Device, DeviceStatus
from chalicelib.domain.identity import Role
from chalicelib.domain.recycling import china_day
from chalicelib.services import communities, device_overview, ledger_audit, recycling
from chalicelib.services.device_overview import DeviceOverview

bp = Blueprint(__name__)
ADMIN = (Role.ADMIN,)
BASE = "/v1/admin/communities"


class NewCommunity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)


class Prices(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prices: Any  # checked strictly by the domain (whole fen per kg, known categories)


class SettingsChange(BaseModel):
    """Only the keys named change; each is checked by the domain."""

    model_config = ConfigDict(extra="allow")


class NewDevice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    thing_name: str = Field(min_length=1, max_length=128)
    type: str
    building: str | None = Field(default=None, min_length=1, max_length=20)
    room: str | None = Field(default=None, min_length=1, max_length=20)
    location: str | None = Field(default=None, min_length=1, max_length=60)
    #: manufacturer serial number: lets the device provision its own certificate (functions/preprovision)
    serial: str | None = Field(default=None, min_length=1, max_length=64)


def device_at_a_glance(o: DeviceOverview) -> dict[str, Any]:
    """The device plus ``online`` and a trash bin's last ``fill_pct`` (additive fields)."""
    return {**views.device(o.device), "online": o.online, "fill_pct": o.fill_pct}


def _device_view(cid: str, device: Device) -> dict[str, Any]:
    [found] = device_overview.overview(bootstrap.deps(), cid, [device])
    return device_at_a_glance(found)


@route(bp, BASE, "POST", summary="Create a community", auth=ADMIN, body=NewCommunity, status=201)
def create_community(ctx: Ctx) -> dict[str, Any]:
    return views.community(communities.create_community(bootstrap.deps(), ctx.body(NewCommunity).name))


@route(bp, BASE + "/{cid}", "GET", summary="A community", auth=STAFF_OR_ADMIN)
def get_community(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid)
    return views.community(communities.require_community(bootstrap.deps(), cid))


@route(bp, BASE + "/{cid}/devices", "POST", summary="Register a device", auth=STAFF_OR_ADMIN, body=NewDevice,
       status=201)
def register_device(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid)
    body = ctx.body(NewDevice)
    return _device_view(cid, communities.register_device(bootstrap.deps(), cid, body.thing_name, body.type,
                                                         body.building, body.room, body.location, body.serial))


@route(bp, BASE + "/{cid}/devices", "GET", summary="List devices", auth=STAFF_OR_ADMIN, query=("limit", "cursor"))
def list_devices(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid)
    deps = bootstrap.deps()
    page = communities.list_devices(deps, cid, ctx.limit(), ctx.query("cursor"))
    return {"items": [device_at_a_glance(o) for o in device_overview.overview(deps, cid, page.items)],
            "next_cursor": page.next_cursor}


@route(bp, BASE + "/{cid}/devices/{thing_name}", "GET", summary="A device and its status", auth=STAFF_OR_ADMIN)
def get_device(ctx: Ctx, cid: str, thing_name: str) -> dict[str, Any]:
    ctx.community(cid)
    return _device_view(cid, communities.community_device(bootstrap.deps(), cid, thing_name))


@route(bp, BASE + "/{cid}/devices/{thing_name}/disable", "POST", summary="Disable a device", auth=STAFF_OR_ADMIN)
def disable_device(ctx: Ctx, cid: str, thing_name: str) -> dict[str, Any]:
    ctx.community(cid)
    device = communities.set_device_status(bootstrap.deps(), cid, thing_name, DeviceStatus.DISABLED)
    return _device_view(cid, device)


@route(bp, BASE + "/{cid}/devices/{thing_name}/enable", "POST", summary="Enable a device", auth=STAFF_OR_ADMIN)
def enable_device(ctx: Ctx, cid: str, thing_name: str) -> dict[str, Any]:
    ctx.community(cid)
    device = communities.set_device_status(bootstrap.deps(), cid, thing_name, DeviceStatus.ACTIVE)
    return _device_view(cid, device)


# Fleet provisioning (functions/preprovision, docs/decisions.md 41): a replacement certificate needs staff.
@route(bp, BASE + "/{cid}/devices/{thing_name}/reprovision", "POST",
       summary="Let a device provision a new certificate (forgets the one accepted; revoke that one in IoT Core)",
       auth=STAFF_OR_ADMIN)
def reprovision_device(ctx: Ctx, cid: str, thing_name: str) -> dict[str, Any]:
    ctx.community(cid)
    device, previous = communities.allow_reprovisioning(bootstrap.deps(), cid, thing_name)
    return {**views.device(device), "previous_certificate_id": previous}


@route(bp, BASE + "/{cid}/rejects", "GET", summary="Rejected device messages, newest first", auth=STAFF_OR_ADMIN,
       query=("limit", "cursor"))
def list_rejects(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid)
    page = communities.list_rejects(bootstrap.deps(), cid, ctx.limit(), ctx.query("cursor"))
    return views.page(page, views.reject)


@route(bp, BASE + "/{cid}/recycling-prices", "PUT", summary="Set recycling prices (fen per kg by category)",
       auth=STAFF_OR_ADMIN, body=Prices)
def set_prices(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid)
    prices = recycling.set_prices(bootstrap.deps(), cid, ctx.body(Prices).prices)
    return {"community_id": cid, "prices": prices}


@route(bp, BASE + "/{cid}/recycling-prices", "GET", summary="Recycling prices", auth=STAFF_OR_ADMIN)
def get_prices(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid)
    return {"community_id": cid, "prices": dict(recycling.get_terms(bootstrap.deps(), cid).prices)}


@route(bp, BASE + "/{cid}/settings", "GET", summary="Community settings", auth=STAFF_OR_ADMIN)
def get_settings(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid)
    return recycling.get_terms(bootstrap.deps(), cid).settings.as_dict()


@route(bp, BASE + "/{cid}/settings", "PUT", summary="Change community settings (only the keys named)",
       auth=STAFF_OR_ADMIN, body=SettingsChange)
def put_settings(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid)
    changes = ctx.body(SettingsChange).model_extra or {}
    return recycling.change_settings(bootstrap.deps(), cid, changes).as_dict()


@route(bp, BASE + "/{cid}/ledger", "GET", summary="Recycling money totals and a live invariant check",
       auth=STAFF_OR_ADMIN)
def get_ledger(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid)
    deps = bootstrap.deps()
    communities.require_community(deps, cid)
    book = ledger_audit.community_ledger(deps, cid)
    return {"community_id": cid, "currency": "CNY", "totals": book.totals, "invariants_ok": book.invariants_ok,
            "violations": [{"rule": v.rule, "account": v.account, "detail": v.detail} for v in book.violations]}


@route(bp, BASE + "/{cid}/recycling/weighins", "GET", summary="A day's weigh-ins in the community (China time)",
       auth=STAFF_OR_ADMIN, query=("day", "limit", "cursor"))
def community_weighins(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid)
    deps = bootstrap.deps()
    communities.require_community(deps, cid)
    day = ctx.query("day") or china_day(deps.clock.now_ms())
    page = recycling.weighins_of_day(deps, cid, day, ctx.limit(), ctx.query("cursor"))
    return views.page(page, views.weighin)
