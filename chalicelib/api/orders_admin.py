"""Staff API for service orders: the catalog, partner companies, staff members and the staff work list."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import bootstrap
from chalicelib.api import order_views, views
from chalicelib.api.http import STAFF_OR_ADMIN, Ctx, route
from chalicelib.api.partner import WorkEvent
from chalicelib.domain.errors import NotFound
from chalicelib.domain.orders import Order
from chalicelib.domain.staff import Area
from chalicelib.services import catalog, order_flow, orders, partners, webhooks

bp = Blueprint(__name__)
BASE = "/v1/admin/communities/{cid}"


class ServiceDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    price_fen: Any = Field(description="whole fen; 0 for a free property service")
    fulfilled_by: str = Field(description="partner | staff")
    accept_sla_s: Any = 600
    complete_sla_s: Any = 4 * 3600
    active: bool = True


class NewPartner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    services: list[str]
    webhook_url: str = Field(max_length=2048)
    stripe_account: str | None = None


class NewStaff(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    role: str = Field(description="manager | guard | cleaner")
    phone: str | None = Field(default=None, description="mainland mobile for SMS alerts (stored sealed)")


class WebhookUrl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    webhook_url: str = Field(max_length=2048)


def _community_order(ctx: Ctx, cid: str, order_id: str) -> Order:
    order = orders.get_order(bootstrap.deps(), ctx.caller, order_id)
    if order.community_id != cid:
        raise NotFound("order not found", code="order_not_found")
    return order


@route(bp, BASE + "/services/{service_id}", "PUT", summary="Define a service residents can order",
       auth=STAFF_OR_ADMIN, body=ServiceDefinition)
def put_service(ctx: Ctx, cid: str, service_id: str) -> dict[str, Any]:
    ctx.community(cid)
    raw = ctx.body(ServiceDefinition).model_dump()
    return order_views.service(catalog.put_service(bootstrap.deps(), cid, service_id, raw))


@route(bp, BASE + "/services", "GET", summary="The community's services", auth=STAFF_OR_ADMIN)
def list_services(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid)
    return {"items": [order_views.service(s) for s in catalog.list_services(bootstrap.deps(), cid)],
            "next_cursor": None}


@route(bp, BASE + "/partners", "POST", summary="Register a partner (API key and webhook secret shown once)",
       auth=STAFF_OR_ADMIN, body=NewPartner, status=201)
def register_partner(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid)
    done = partners.register_partner(bootstrap.deps(), cid, ctx.body(NewPartner).model_dump())
    return {**order_views.partner(done.partner), "api_key": done.api_key, "webhook_secret": done.webhook_secret}


@route(bp, BASE + "/partners", "GET", summary="The community's partners and their webhook health",
       auth=STAFF_OR_ADMIN)
def list_partners(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid)
    deps = bootstrap.deps()
    items = [{**order_views.partner(p),
              "webhook": order_views.webhook_endpoint(webhooks.get_endpoint(deps, p.partner_id))}
             for p in deps.partners.list_for_community(cid)]
    return {"items": items, "next_cursor": None}


@route(bp, BASE + "/partners/{partner_id}/api-key", "POST", summary="Rotate the API key (old one works 24 h)",
       auth=STAFF_OR_ADMIN)
def rotate_api_key(ctx: Ctx, cid: str, partner_id: str) -> dict[str, Any]:
    ctx.community(cid)
    return {"partner_id": partner_id, "api_key": partners.rotate_api_key(bootstrap.deps(), cid, partner_id)}


@route(bp, BASE + "/partners/{partner_id}/webhook-secret", "POST",
       summary="Rotate the webhook secret (the old one keeps signing for 24 h)", auth=STAFF_OR_ADMIN)
def rotate_webhook_secret(ctx: Ctx, cid: str, partner_id: str) -> dict[str, Any]:
    ctx.community(cid)
    deps = bootstrap.deps()
    partners.community_partner(deps, cid, partner_id)
    return {"partner_id": partner_id, "webhook_secret": webhooks.rotate_secret(deps, partner_id)}


@route(bp, BASE + "/partners/{partner_id}/webhook", "PUT", summary="Change the webhook URL (re-enables it)",
       auth=STAFF_OR_ADMIN, body=WebhookUrl)
def set_webhook_url(ctx: Ctx, cid: str, partner_id: str) -> dict[str, Any]:
    ctx.community(cid)
    deps = bootstrap.deps()
    partners.community_partner(deps, cid, partner_id)
    webhooks.set_endpoint_url(deps, partner_id, ctx.body(WebhookUrl).webhook_url)
    return {"partner_id": partner_id, "webhook": order_views.webhook_endpoint(webhooks.get_endpoint(deps, partner_id))}


@route(bp, BASE + "/staff", "POST", summary="Add a staff member (token shown once)", auth=STAFF_OR_ADMIN,
       body=NewStaff, status=201)
def add_staff(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid)
    added = catalog.add_staff(bootstrap.deps(), cid, ctx.body(NewStaff).model_dump())
    return {**order_views.staff(added.member), "token": added.token}


@route(bp, BASE + "/orders/work", "GET", summary="Orders waiting for staff (staff services, declined, expired)",
       auth=STAFF_OR_ADMIN, query=("limit", "cursor"))
def staff_work(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid, Area.TASKS)
    page = order_flow.staff_work(bootstrap.deps(), cid, ctx.limit(), ctx.query("cursor"))
    return views.page(page, order_views.order)


@route(bp, BASE + "/orders/{order_id}", "GET", summary="One order of the community", auth=STAFF_OR_ADMIN)
def get_order(ctx: Ctx, cid: str, order_id: str) -> dict[str, Any]:
    ctx.community(cid, Area.TASKS)
    return order_views.order(_community_order(ctx, cid, order_id))


@route(bp, BASE + "/orders/{order_id}/events", "POST", summary="Staff accept / start / complete an order",
       auth=STAFF_OR_ADMIN, body=WorkEvent)
def staff_event(ctx: Ctx, cid: str, order_id: str) -> dict[str, Any]:
    ctx.community(cid, Area.TASKS)
    _community_order(ctx, cid, order_id)
    body = ctx.body(WorkEvent).model_dump(exclude_none=True)
    after = order_flow.worker_event(bootstrap.deps(), ctx.caller, order_id, body)
    return order_views.order(after)
