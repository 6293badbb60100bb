"""Household usage of water and electricity: the resident's own, and any household's for staff."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import bootstrap
from chalicelib.api.http import STAFF_OR_ADMIN, Ctx, route
from chalicelib.domain.identity import Role
from chalicelib.domain.staff import Area
from chalicelib.services import usage
from chalicelib.services.usage import DayTotals

bp = Blueprint(__name__)


def _view(household: str, days: list[DayTotals]) -> dict[str, Any]:
    return {"household": household, "units": {"water": "L", "electricity": "Wh"},
            "items": [{"date": d.day, "water_l": d.water_l, "electricity_wh": d.electricity_wh} for d in days],
            "next_cursor": None}


@route(bp, "/v1/me/usage", "GET", summary="My household's water (L) and electricity (Wh) per day, newest first",
       auth=(Role.RESIDENT,), query=("days",))
def my_usage(ctx: Ctx) -> dict[str, Any]:
    household, days = usage.my_usage(bootstrap.deps(), ctx.caller, ctx.query("days"))
    return _view(household, days)


@route(bp, "/v1/admin/communities/{cid}/usage", "GET", summary="A household's usage per day, newest first",
       auth=STAFF_OR_ADMIN, query=("building", "room", "days"))
def household_usage(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid, Area.MANAGE)
    household, days = usage.household_usage(bootstrap.deps(), cid, ctx.query("building"), ctx.query("room"),
                                             ctx.query("days"))
    return _view(household, days)
