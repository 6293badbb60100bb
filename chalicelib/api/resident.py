"""Resident API (the WeChat mini-program): login, phone binding, profile."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import Ctx, route
from chalicelib.domain.identity import Role
from chalicelib.services import identity

bp = Blueprint(__name__)
RESIDENT = (Role.RESIDENT,)


class WeChatCode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=256)


@route(bp, "/v1/auth/wechat", "POST", summary="Log in with a wx.login code", auth=None, body=WeChatCode)
def login(ctx: Ctx) -> dict[str, Any]:
    result = identity.login_with_wechat(bootstrap.deps(), ctx.body(WeChatCode).code)
    return {"token": result.token, "resident_id": result.resident_id, "expires_in": result.expires_in,
            "token_type": "Bearer"}


@route(bp, "/v1/me/phone", "POST", summary="Bind the phone number of a getPhoneNumber code",
       auth=RESIDENT, body=WeChatCode)
def bind_phone(ctx: Ctx) -> dict[str, Any]:
    return views.resident(identity.bind_phone(bootstrap.deps(), ctx.caller, ctx.body(WeChatCode).code))


@route(bp, "/v1/me", "GET", summary="The calling resident", auth=RESIDENT)
def me(ctx: Ctx) -> dict[str, Any]:
    return views.resident(identity.current_resident(bootstrap.deps(), ctx.caller))
