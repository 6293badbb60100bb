"""Notices: staff publish and withdraw them, residents read theirs; staff set the TV page's record."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import STAFF_OR_ADMIN, Ctx, route
from chalicelib.domain.identity import Role
from chalicelib.domain.notices import Notice, TvInfo
from chalicelib.domain.staff import Area
from chalicelib.services import notices

bp = Blueprint(__name__)
BASE = "/v1/admin/communities/{cid}"


class NewNotice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Any
    body: Any
    buildings: Any = Field(None, description="buildings it is for; absent or empty: the whole community")
    expires_at: Any = Field(None, description="ISO-8601 with a zone; absent: until withdrawn")


class TvSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_phones: Any = Field(None, description='[{"name": "物业", "phone": "0571-8888 8888"}]')
    weather_note: Any = None


def notice_view(n: Notice) -> dict[str, Any]:
    return {"notice_id": n.notice_id, "title": n.title, "body": n.body, "buildings": list(n.buildings),
            "published_at": views.iso(n.published_at_ms), "expires_at": views.iso(n.expires_at_ms)}


def tv_view(info: TvInfo) -> dict[str, Any]:
    return {"service_phones": [{"name": p.name, "phone": p.phone} for p in info.service_phones],
            "weather_note": info.weather_note}


@route(bp, BASE + "/notices", "POST", summary="Publish a notice to the community or some buildings",
       auth=STAFF_OR_ADMIN, body=NewNotice, status=201)
def publish(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid, Area.MANAGE)
    body = ctx.body(NewNotice).model_dump(exclude_none=True)
    return notice_view(notices.publish(bootstrap.deps(), ctx.caller, cid, body))


@route(bp, BASE + "/notices", "GET", summary="The community's current notices, newest first", auth=STAFF_OR_ADMIN)
def list_notices(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid, Area.MANAGE)
    return {"items": [notice_view(n) for n in notices.community_notices(bootstrap.deps(), cid)],
            "next_cursor": None}


@route(bp, BASE + "/notices/{notice_id}", "DELETE", summary="Withdraw a notice", auth=STAFF_OR_ADMIN, status=204)
def withdraw(ctx: Ctx, cid: str, notice_id: str) -> Response:
    ctx.community(cid, Area.MANAGE)
    notices.withdraw(bootstrap.deps(), cid, notice_id)
    return Response(body="", status_code=204)


@route(bp, BASE + "/tv", "PUT", summary="The TV page's service phone numbers and weather note",
       auth=STAFF_OR_ADMIN, body=TvSettings)
def put_tv(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid, Area.MANAGE)
    return tv_view(notices.set_tv_info(bootstrap.deps(), cid, ctx.body(TvSettings).model_dump(exclude_none=True)))


@route(bp, "/v1/notices", "GET", summary="My community's notices for everyone or my building, newest first",
       auth=(Role.RESIDENT,))
def my_notices(ctx: Ctx) -> dict[str, Any]:
    return {"items": [notice_view(n) for n in notices.my_notices(bootstrap.deps(), ctx.caller)], "next_cursor": None}
