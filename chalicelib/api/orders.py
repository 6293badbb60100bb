"""Resident API for service orders: residence, order, pay, follow, cancel."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import bootstrap
from chalicelib.api import order_views, views
from chalicelib.api.http import Ctx, route
from chalicelib.domain.identity import Role
from chalicelib.services import identity, orders

bp = Blueprint(__name__)
RESIDENT = (Role.RESIDENT,)


class Residence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    community_id: str = Field(min_length=1, max_length=64)
    building: str = Field(min_length=1, max_length=20)
    room: str = Field(min_length=1, max_length=20)


class NewOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_id: str = Field(min_length=1, max_length=48)
    note: str | None = Field(default=None, max_length=200)
    provider: str | None = Field(default=None, description="wechatpay (default) or stripe where the community allows")


@route(bp, "/v1/me/residence", "PUT", summary="Where the resident lives (community, building, room)",
       auth=RESIDENT, body=Residence)
def put_residence(ctx: Ctx) -> dict[str, Any]:
    resident = identity.set_residence(bootstrap.deps(), ctx.caller, ctx.body(Residence).model_dump())
    return views.resident(resident)


@route(bp, "/v1/orders", "POST", summary="Order a service (honours Idempotency-Key)", auth=RESIDENT, body=NewOrder,
       status=201)
def create_order(ctx: Ctx) -> dict[str, Any]:
    placed = orders.place_order(bootstrap.deps(), ctx.caller, ctx.body(NewOrder).model_dump(exclude_none=True),
                                ctx.idempotency_key())
    return order_views.order(placed.order, placed.charge)


@route(bp, "/v1/orders", "GET", summary="The resident's orders, newest first", auth=RESIDENT,
       query=("limit", "cursor"))
def list_orders(ctx: Ctx) -> dict[str, Any]:
    page = orders.list_orders(bootstrap.deps(), ctx.caller, ctx.limit(), ctx.query("cursor"))
    return views.page(page, order_views.order)


@route(bp, "/v1/orders/{order_id}", "GET", summary="One order and its history", auth=RESIDENT)
def get_order(ctx: Ctx, order_id: str) -> dict[str, Any]:
    return order_views.order(orders.get_order(bootstrap.deps(), ctx.caller, order_id))


@route(bp, "/v1/orders/{order_id}/pay", "POST", summary="Payment parameters again for an unpaid order",
       auth=RESIDENT)
def pay_order(ctx: Ctx, order_id: str) -> dict[str, Any]:
    placed = orders.payment_for(bootstrap.deps(), ctx.caller, order_id)
    return order_views.order(placed.order, placed.charge)


@route(bp, "/v1/orders/{order_id}/cancel", "POST", summary="Cancel before the work starts (paid: refunded)",
       auth=RESIDENT)
def cancel_order(ctx: Ctx, order_id: str) -> dict[str, Any]:
    return order_views.order(orders.cancel_order(bootstrap.deps(), ctx.caller, order_id))
