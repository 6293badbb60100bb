"""Who hears of which event, and when: the notification fan-out's rules (issue 5).

An outbox event is published once per *audience* (SNS message attribute ``audience``); each audience is
one SQS queue subscribed with a filter policy, drained by one channel worker:

* ``resident`` — WeChat one-time subscribe messages (SMS when the resident's allowance is used up);
* ``staff`` — the staff inbox (and SMS to staff who gave a phone);
* ``partner`` — partner webhooks;
* ``tv`` — the elderly residents' TV feed is refreshed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import BadInput
from chalicelib.domain.recycling import CHINA_UTC_OFFSET_MS


class Audience(StrEnum):
    RESIDENT = "resident"
    STAFF = "staff"
    PARTNER = "partner"
    TV = "tv"


R, S, P, TV = Audience.RESIDENT, Audience.STAFF, Audience.PARTNER, Audience.TV

#: event type → who hears of it. Types not listed notify nobody (they may still be acted on elsewhere).
AUDIENCES: dict[str, tuple[Audience, ...]] = {
    "recycling.credited": (R,),
    "order.updated": (R,),
    "order.offered": (P,),
    "order.cancelled": (P,),
    "order.withdrawn": (P,),
    "order.escalated": (S,),
    "order.staff_work": (S,),
    "order.refund_failed": (S,),
    "partner.endpoint_disabled": (S,),
    "task.opened": (S,),
    "alarm.raised": (S,),
    "alarm.escalated": (S,),
    "notice.published": (TV, R),
}

#: alarm events the resident concerned also hears of (a leak at home, an intrusion while away)
RESIDENT_ALARMS = frozenset({"alarm.raised"})


def audiences(event_type: str, data: Mapping[str, Any]) -> tuple[Audience, ...]:
    """The audiences of one event: the table, plus the resident an alarm is about."""
    found = AUDIENCES.get(event_type, ())
    if event_type in RESIDENT_ALARMS and data.get("resident_id") and R not in found:
        found = (*found, R)
    return found


URGENT_SEVERITIES = frozenset({"critical", "warning"})


def is_urgent(event_type: str, data: Mapping[str, Any]) -> bool:
    """Alarms are never held for quiet hours; neither is anything of severity critical or warning."""
    return event_type.startswith("alarm.") or str(data.get("severity", "")) in URGENT_SEVERITIES


# -------------------------------------------------------------------------------------- subscriptions
class Grant(StrEnum):
    """What ``wx.requestSubscribeMessage`` answers per template id."""

    ACCEPT = "accept"
    REJECT = "reject"
    BAN = "ban"
    FILTER = "filter"  # the template was filtered by WeChat (title repeated): nothing granted


MAX_TEMPLATES_PER_GRANT = 20
_TEMPLATE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def accepted_templates(grants: object) -> list[str]:
    """The template ids a ``wx.requestSubscribeMessage`` result accepted: one allowance each."""
    if not isinstance(grants, Mapping) or not 1 <= len(grants) <= MAX_TEMPLATES_PER_GRANT:
        raise BadInput(f"grants maps 1–{MAX_TEMPLATES_PER_GRANT} template ids to accept|reject|ban",
                       code="invalid_grants")
    accepted = []
    for template_id, answer in grants.items():
        if not isinstance(template_id, str) or not _TEMPLATE_ID.fullmatch(template_id):
            raise BadInput("a template id is 1–64 letters, digits, - or _", code="invalid_grants")
        try:
            grant = Grant(str(answer))
        except ValueError as exc:
            raise BadInput(f"grant for {template_id} is accept, reject, ban or filter",
                           code="invalid_grants") from exc
        if grant is Grant.ACCEPT:
            accepted.append(template_id)
    return accepted


# -------------------------------------------------------------------------------------- quiet hours
DAY_S = 24 * 3600
#: SQS's longest visibility timeout: a message cannot be held longer in one go
MAX_HOLD_S = 12 * 3600
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class QuietHours:
    """Minutes after midnight, China time. ``start > end`` crosses midnight (22:00–07:00)."""

    start_min: int
    end_min: int

    def view(self) -> dict[str, str]:
        return {"start": _hhmm(self.start_min), "end": _hhmm(self.end_min)}


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_quiet_hours(raw: object) -> QuietHours | None:
    """``{"start": "22:00", "end": "07:00"}``, or None (no quiet hours)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise BadInput("quiet_hours is {\"start\": \"HH:MM\", \"end\": \"HH:MM\"} or null", code="invalid_settings")
    parsed = []
    for name in ("start", "end"):
        match = _HHMM.fullmatch(str(raw.get(name, "")))
        if match is None:
            raise BadInput(f"quiet_hours.{name} is HH:MM (China time)", code="invalid_settings")
        parsed.append(int(match[1]) * 60 + int(match[2]))
    if parsed[0] == parsed[1]:
        raise BadInput("quiet hours must start and end at different times", code="invalid_settings")
    return QuietHours(parsed[0], parsed[1])


def hold_seconds(quiet: QuietHours | None, now_ms: int) -> int:
    """How long a non-urgent message arriving at ``now_ms`` waits: 0 outside quiet hours, otherwise until
    they end (at most ``MAX_HOLD_S``; a longer wait is held again when it comes back)."""
    if quiet is None:
        return 0
    now_s = (now_ms + CHINA_UTC_OFFSET_MS) // 1000 % DAY_S  # seconds since midnight, China time
    start_s, end_s = quiet.start_min * 60, quiet.end_min * 60
    inside = start_s <= now_s < end_s if start_s < end_s else (now_s >= start_s or now_s < end_s)
    if not inside:
        return 0
    wait = (end_s - now_s) % DAY_S
    return min(wait, MAX_HOLD_S)
