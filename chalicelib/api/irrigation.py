"""Staff API for irrigation: zones (threshold, skip days, watering state) and the commands issued."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import STAFF_OR_ADMIN, Ctx, route
from chalicelib.domain.irrigation import Rules, WaterCommand, Zone
from chalicelib.domain.staff import Area
from chalicelib.services import irrigation

bp = Blueprint(__name__)
BASE = "/v1/admin/communities/{cid}/irrigation"


class ZoneSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    moisture_pct: Any = Field(None, description="the zone's threshold 0–100; null: the community's")
    skip_days: Any = Field(None, description="China dates YYYY-MM-DD on which the zone is not watered")


def command_view(c: WaterCommand) -> dict[str, Any]:
    return {"command_id": c.command_id, "zone": c.zone, "thing_name": c.thing_name, "duration_s": c.duration_s,
            "ts": views.iso(c.ts_ms), "moisture_pct": c.moisture_pct}


def zone_view(z: Zone, rules: Rules) -> dict[str, Any]:
    last = z.last_command
    return {"zone": z.zone, "moisture_pct": z.moisture_pct, "threshold_pct": rules.threshold_pct,
            "skip_days": list(z.skip_days),
            "last_moisture_pct": z.last_moisture_pct, "last_reading_at": views.iso(z.last_reading_ts_ms),
            "resting": z.resting, "last_watered_at": views.iso(last.ts_ms) if last else None,
            "last_command": command_view(last) if last else None}


@route(bp, BASE + "/zones/{zone}", "PUT", summary="Set a zone's threshold and skip days", auth=STAFF_OR_ADMIN,
       body=ZoneSettings)
def put_zone(ctx: Ctx, cid: str, zone: str) -> dict[str, Any]:
    ctx.community(cid, Area.MANAGE)
    changes = ctx.body(ZoneSettings).model_dump(exclude_unset=True)
    return zone_view(*irrigation.configure_zone(bootstrap.deps(), cid, zone, changes))


@route(bp, BASE + "/zones", "GET", summary="Irrigation zones and when each was last watered",
       auth=STAFF_OR_ADMIN)
def list_zones(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid, Area.MANAGE)
    return {"items": [zone_view(z, r) for z, r in irrigation.list_zones(bootstrap.deps(), cid)],
            "next_cursor": None}


@route(bp, BASE + "/commands", "GET", summary="Water commands issued, newest first", auth=STAFF_OR_ADMIN,
       query=("limit", "cursor"))
def list_commands(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid, Area.MANAGE)
    page = irrigation.list_commands(bootstrap.deps(), cid, ctx.limit(), ctx.query("cursor"))
    return views.page(page, command_view)
