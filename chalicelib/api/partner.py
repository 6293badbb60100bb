"""Partner API (a partner company's API key): its orders, its answers, its webhook deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import bootstrap
from chalicelib.api import order_views, views
from chalicelib.api.http import Ctx, route
from chalicelib.domain.errors import BadInput
from chalicelib.domain.identity import Role
from chalicelib.services import order_flow, orders, webhooks

bp = Blueprint(__name__)
PARTNER = (Role.PARTNER,)


class WorkEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(description="accept | decline | start | complete")
    eta_minutes: int | None = None
    reason: str | None = Field(default=None, max_length=200)


class Replay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: str = Field(description="ISO-8601 time; failed deliveries created since then are sent again")


def since_ms(raw: str) -> int:
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadInput("since is an ISO-8601 time", code="invalid_since") from exc
    if at.tzinfo is None:
        raise BadInput("since needs a time zone (e.g. Z)", code="invalid_since")
    return int(at.timestamp() * 1000)


@route(bp, "/v1/partner/orders", "GET", summary="Orders offered to this partner, newest first", auth=PARTNER,
       query=("limit", "cursor"))
def list_orders(ctx: Ctx) -> dict[str, Any]:
    page = order_flow.partner_orders(bootstrap.deps(), ctx.caller, ctx.limit(), ctx.query("cursor"))
    return views.page(page, lambda o: order_views.partner_order(o, ctx.caller.subject))


@route(bp, "/v1/partner/orders/{order_id}", "GET", summary="One order offered to this partner", auth=PARTNER)
def get_order(ctx: Ctx, order_id: str) -> dict[str, Any]:
    return order_views.partner_order(orders.get_order(bootstrap.deps(), ctx.caller, order_id), ctx.caller.subject)


@route(bp, "/v1/partner/orders/{order_id}/events", "POST", summary="accept (eta_minutes) / decline (reason) / "
       "start / complete", auth=PARTNER, body=WorkEvent)
def order_event(ctx: Ctx, order_id: str) -> dict[str, Any]:
    after = order_flow.worker_event(bootstrap.deps(), ctx.caller, order_id,
                                    ctx.body(WorkEvent).model_dump(exclude_none=True))
    return order_views.partner_order(after, ctx.caller.subject)


@route(bp, "/v1/partner/deliveries", "GET", summary="Webhook deliveries to this partner and their attempts",
       auth=PARTNER, query=("limit", "cursor"))
def list_deliveries(ctx: Ctx) -> dict[str, Any]:
    page = webhooks.list_deliveries(bootstrap.deps(), ctx.caller.subject, ctx.limit(20, 100), ctx.query("cursor"))
    return views.page(page, order_views.delivery)


@route(bp, "/v1/partner/deliveries/replay", "POST", summary="Send failed deliveries since a time again",
       auth=PARTNER, body=Replay)
def replay(ctx: Ctx) -> dict[str, Any]:
    count = webhooks.replay_since(bootstrap.deps(), ctx.caller.subject, since_ms(ctx.body(Replay).since))
    return {"replayed": count}
