"""Staff's view of their community's recycling money: the day's totals and withdrawals still open."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import STAFF_OR_ADMIN, Ctx, route
from chalicelib.domain.recycling import china_day
from chalicelib.domain.withdrawals import Withdrawal
from chalicelib.services import communities, recycling_summary, withdrawals
from chalicelib.services.recycling_summary import CategoryTotal

bp = Blueprint(__name__)
BASE = "/v1/admin/communities/{cid}"


def withdrawal_view(w: Withdrawal) -> dict[str, Any]:
    """What staff may see: never the bill's package (the resident's confirmation ticket) or openid."""
    return {"withdrawal_id": w.withdrawal_id, "resident_id": w.resident_id, "amount_fen": w.amount_fen,
            "status": w.status.value, "out_bill_no": w.out_bill_no, "created_at": views.iso(w.created_at_ms),
            "updated_at": views.iso(w.updated_at_ms)}


def _total(t: CategoryTotal) -> dict[str, int]:
    return {"weighins": t.weighins, "weight_g": t.weight_g, "credit_fen": t.credit_fen}


@route(bp, BASE + "/withdrawals", "GET",
       summary="Open withdrawals of the community's residents, newest first (status=processing|wait_user_confirm)",
       auth=STAFF_OR_ADMIN, query=("status", "limit", "cursor"))
def list_withdrawals(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid)
    deps = bootstrap.deps()
    communities.require_community(deps, cid)
    page = withdrawals.open_in_community(deps, cid, ctx.query("status"), ctx.limit(), ctx.query("cursor"))
    return views.page(page, withdrawal_view)


@route(bp, BASE + "/recycling/summary", "GET",
       summary="A day's recycling in the community (China time): weight and fen credited per category",
       auth=STAFF_OR_ADMIN, query=("day",))
def recycling_day(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid)
    deps = bootstrap.deps()
    communities.require_community(deps, cid)
    summary = recycling_summary.day_summary(deps, cid, ctx.query("day") or china_day(deps.clock.now_ms()))
    return {"community_id": cid, "day": summary.day, "currency": "CNY", "total": _total(summary.total),
            "categories": {name: _total(t) for name, t in summary.by_category.items()}}
