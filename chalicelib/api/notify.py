"""Notification routes: residents' subscribe-message consent and quiet hours; the staff inbox."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import Ctx, route
from chalicelib.domain.identity import Role
from chalicelib.ports import InboxItem
from chalicelib.services import channel_staff, subscriptions

bp = Blueprint(__name__)
RESIDENT = (Role.RESIDENT,)
STAFF = (Role.STAFF,)


class Grants(BaseModel):
    """Exactly what ``wx.requestSubscribeMessage`` answered: template id → accept | reject | ban."""

    model_config = ConfigDict(extra="forbid")
    grants: dict[str, str]


class NotificationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quiet_hours: dict[str, str] | None


@route(bp, "/v1/me/subscriptions", "POST", summary="Record the subscribe-message consent the mini-program got",
       auth=RESIDENT, body=Grants)
def record_grants(ctx: Ctx) -> dict[str, Any]:
    return subscriptions.record_grants(bootstrap.deps(), ctx.caller, ctx.body(Grants).model_dump())


@route(bp, "/v1/me/subscriptions", "GET", summary="Subscribe messages the hub may still send, per template",
       auth=RESIDENT)
def my_subscriptions(ctx: Ctx) -> dict[str, Any]:
    return subscriptions.view(bootstrap.deps(), ctx.caller)


@route(bp, "/v1/me/notification-settings", "GET", summary="Quiet hours (China time)", auth=RESIDENT)
def my_settings(ctx: Ctx) -> dict[str, Any]:
    return subscriptions.settings(bootstrap.deps(), ctx.caller)


@route(bp, "/v1/me/notification-settings", "PUT", summary="Set quiet hours: non-urgent messages wait, alarms never",
       auth=RESIDENT, body=NotificationSettings)
def set_settings(ctx: Ctx) -> dict[str, Any]:
    return subscriptions.set_settings(bootstrap.deps(), ctx.caller, ctx.body(NotificationSettings).model_dump())


def inbox_view(item: InboxItem) -> dict[str, Any]:
    return {"type": item.type, "text": item.text, "at": views.iso(item.at_ms), "community_id": item.community_id,
            "data": dict(item.data)}


@route(bp, "/v1/staff/inbox", "GET", summary="The calling staff member's notifications, newest first",
       auth=STAFF, query=("limit", "cursor"))
def staff_inbox(ctx: Ctx) -> dict[str, Any]:
    page = channel_staff.inbox(bootstrap.deps(), ctx.caller.subject, ctx.limit(), ctx.query("cursor"))
    return views.page(page, inbox_view)
