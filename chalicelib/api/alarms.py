"""Staff API for alarms (guards and managers): list, acknowledge, clear."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import STAFF_OR_ADMIN, Ctx, route
from chalicelib.domain.alarms import Alarm
from chalicelib.domain.staff import Area
from chalicelib.services import alarms

bp = Blueprint(__name__)
BASE = "/v1/admin/communities/{cid}/alarms"


def alarm_view(a: Alarm) -> dict[str, Any]:
    return {"alarm_id": a.alarm_id, "community_id": a.community_id, "kind": a.kind, "severity": a.severity.value,
            "status": a.status.value, "title": a.title, "subject": a.subject, "detail": a.detail,
            "opened_at": views.iso(a.opened_at_ms), "last_triggered_at": views.iso(a.last_triggered_ms),
            "trigger_count": a.trigger_count, "acknowledged_by": a.acknowledged_by,
            "acknowledged_at": views.iso(a.acknowledged_at_ms), "cleared_by": a.cleared_by,
            "cleared_at": views.iso(a.cleared_at_ms), "asked": a.asked, "escalation_level": a.escalation_level}


@route(bp, BASE, "GET", summary="Alarms, newest first (status=open|acknowledged|cleared)", auth=STAFF_OR_ADMIN,
       query=("status", "limit", "cursor"))
def list_alarms(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid, Area.ALARMS)
    page = alarms.list_alarms(bootstrap.deps(), cid, ctx.query("status"), ctx.limit(), ctx.query("cursor"))
    return views.page(page, alarm_view)


@route(bp, BASE + "/{alarm_id}/ack", "POST", summary="Acknowledge: someone is on it", auth=STAFF_OR_ADMIN)
def acknowledge(ctx: Ctx, cid: str, alarm_id: str) -> dict[str, Any]:
    ctx.community(cid, Area.ALARMS)
    return alarm_view(alarms.acknowledge(bootstrap.deps(), ctx.caller, cid, alarm_id))


@route(bp, BASE + "/{alarm_id}/clear", "POST", summary="Clear: it is over", auth=STAFF_OR_ADMIN)
def clear(ctx: Ctx, cid: str, alarm_id: str) -> dict[str, Any]:
    ctx.community(cid, Area.ALARMS)
    return alarm_view(alarms.clear(bootstrap.deps(), ctx.caller, cid, alarm_id))
