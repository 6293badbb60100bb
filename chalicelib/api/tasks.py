"""Staff API for cleaning tasks (cleaners and managers): list them, close one by hand."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import STAFF_OR_ADMIN, Ctx, route
from chalicelib.domain.bins import CleaningTask
from chalicelib.domain.staff import Area
from chalicelib.services import cleaning_tasks

bp = Blueprint(__name__)
BASE = "/v1/admin/communities/{cid}/tasks"


def task_view(t: CleaningTask) -> dict[str, Any]:
    return {"task_id": t.task_id, "kind": t.kind, "status": t.status.value, "thing_name": t.thing_name,
            "location": t.location, "fill_pct": t.fill_pct, "opened_at": views.iso(t.opened_at_ms),
            "closed_at": views.iso(t.closed_at_ms), "closed_by": t.closed_by, "time_to_empty_s": t.time_to_empty_s}


@route(bp, BASE, "GET", summary="Cleaning tasks, newest first (status=open|closed; open by default)",
       auth=STAFF_OR_ADMIN, query=("status", "limit", "cursor"))
def list_tasks(ctx: Ctx, cid: str) -> dict[str, Any]:
    ctx.community(cid, Area.TASKS)
    page = cleaning_tasks.list_tasks(bootstrap.deps(), cid, ctx.query("status"), ctx.limit(), ctx.query("cursor"))
    return views.page(page, task_view)


@route(bp, BASE + "/{task_id}/close", "POST", summary="Close a cleaning task by hand", auth=STAFF_OR_ADMIN)
def close_task(ctx: Ctx, cid: str, task_id: str) -> dict[str, Any]:
    ctx.community(cid, Area.TASKS)
    return task_view(cleaning_tasks.close_by_hand(bootstrap.deps(), ctx.caller, cid, task_id))
