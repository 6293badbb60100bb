"""Resident API for the home's away mode (家庭安防): arm, disarm, see where the panel is."""

from __future__ import annotations

from typing import Any, Literal

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import Ctx, route
from chalicelib.domain.identity import Role
from chalicelib.domain.security import HomeSecurity
from chalicelib.services import home_security

bp = Blueprint(__name__)
RESIDENT = (Role.RESIDENT,)
PATH = "/v1/me/home/security"


class SecurityModeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["armed_away", "disarmed"]


def security_view(home: HomeSecurity, now_ms: int) -> dict[str, Any]:
    return {"community_id": home.community_id, "household": home.household, "mode": home.mode.value,
            "state": home.state(now_ms).value, "armed_at": views.iso(home.armed_at_ms), "armed_by": home.armed_by,
            "exit_delay_s": home.exit_delay_ms // 1000, "entry_delay_s": home.entry_delay_ms // 1000,
            "armed_away_at": views.iso(None if home.armed_at_ms is None else home.armed_at_ms + home.exit_delay_ms),
            "entry_deadline": views.iso(home.entry_deadline_ms), "triggered_at": views.iso(home.triggered_at_ms)}


@route(bp, PATH, "GET", summary="My home's away mode: disarmed, arming, armed_away, pending or triggered",
       auth=RESIDENT)
def get_security(ctx: Ctx) -> dict[str, Any]:
    deps = bootstrap.deps()
    return security_view(home_security.current(deps, ctx.caller), deps.clock.now_ms())


@route(bp, PATH, "PUT", summary="Arm away (exit delay, then armed) or disarm my home", auth=RESIDENT,
       body=SecurityModeBody)
def put_security(ctx: Ctx) -> dict[str, Any]:
    deps = bootstrap.deps()
    home = home_security.set_mode(deps, ctx.caller, ctx.body(SecurityModeBody).mode)
    return security_view(home, deps.clock.now_ms())
