"""Residents' say over their notifications: subscribe-message consent (allowances) and quiet hours."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.domain.identity import Principal
from chalicelib.domain.notify import accepted_templates, parse_quiet_hours
from chalicelib.services.deps import Deps


def templates(deps: Deps) -> dict[str, str]:
    """What each template id is for, so the mini-program knows which ones to ask consent for."""
    return {"recycling_credited": deps.credit_template_id, "order_status": deps.order_template_id,
            "alarm": deps.notify.alarm_template_id, "notice": deps.notify.notice_template_id}


def view(deps: Deps, principal: Principal) -> dict[str, Any]:
    """``GET /v1/me/subscriptions``: remaining sends per template (0 for the hub's templates not granted)."""
    remaining = {template_id: 0 for template_id in templates(deps).values()}
    remaining.update(deps.notify.book.allowances(principal.subject))
    return {"allowances": remaining, "templates": templates(deps)}


def record_grants(deps: Deps, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /v1/me/subscriptions`` with what ``wx.requestSubscribeMessage`` returned: one more send per
    "accept". Accepting the notice template also subscribes the resident to their community's notices."""
    accepted = accepted_templates(body.get("grants"))
    deps.notify.book.grant(principal.subject, accepted)
    if deps.notify.notice_template_id in accepted:
        resident = deps.residents.get(principal.subject)
        if resident is not None and resident.community_id:
            deps.notify.book.add_notice_reader(resident.community_id, principal.subject, resident.building)
    return view(deps, principal)


def settings(deps: Deps, principal: Principal) -> dict[str, Any]:
    quiet = deps.notify.book.quiet_hours(principal.subject)
    return {"quiet_hours": quiet.view() if quiet else None, "time_zone": "Asia/Shanghai"}


def set_settings(deps: Deps, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
    """``PUT /v1/me/notification-settings`` ``{"quiet_hours": {"start": "22:00", "end": "07:00"} | null}``."""
    deps.notify.book.set_quiet_hours(principal.subject, parse_quiet_hours(body.get("quiet_hours")))
    return settings(deps, principal)
