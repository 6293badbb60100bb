"""The residents' channel: WeChat one-time subscribe messages, SMS when none may be sent.

A one-time subscribe message needs the resident's consent for its template, one send per "accept" the
mini-program's ``wx.requestSubscribeMessage`` returned (POST /v1/me/subscriptions). With no allowance left
— or WeChat answering 43101, it has none — the news goes by SMS to the phone the resident bound; with no
phone it is undeliverable (counted, logged, not retried). Non-urgent news waits out the resident's quiet
hours (the message is held in its queue); alarms never wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from chalicelib.domain.errors import BadInput
from chalicelib.domain.notify import hold_seconds, is_urgent
from chalicelib.ports import Notification, Resident
from chalicelib.services.deps import Deps
from chalicelib.services.notifications import ResidentMessage, resident_message
from chalicelib.services.notify_fanout import once


@dataclass
class Outcome:
    wechat: int = 0
    sms: int = 0
    undeliverable: int = 0
    already_sent: int = 0
    #: > 0: some recipients are in their quiet hours; hold the message this long and deliver it again
    hold_s: int = 0


def recipients(deps: Deps, note: Notification) -> list[str]:
    """The resident an event is about; for a notice, the residents who subscribed to the community's
    notices (in the buildings it names, if it names any)."""
    if note.type == "notice.published":
        buildings = set(note.data.get("buildings") or [])
        return [rid for rid, building in deps.notify.book.notice_readers(note.community_id)
                if not buildings or building in buildings]
    resident_id = note.data.get("resident_id")
    return [str(resident_id)] if resident_id else []


def deliver(deps: Deps, note: Notification) -> Outcome:
    outcome = Outcome()
    now = deps.clock.now_ms()
    message = resident_message(deps, note, note.at_ms or now)  # the same news for every recipient
    if message is None:
        return outcome
    urgent = is_urgent(note.type, note.data)
    # texting a whole community each notice would cost more than it tells: notices fall back to TV and the app
    text_fallback = note.type != "notice.published"
    for resident_id in recipients(deps, note):
        wait = 0 if urgent else hold_seconds(deps.notify.book.quiet_hours(resident_id), now)
        if wait:
            outcome.hold_s = min(outcome.hold_s or wait, wait)
            continue
        resident = deps.residents.get(resident_id)
        if resident is None:
            continue
        if not once(deps, f"resident#{note.key}#{resident_id}",
                    partial(_send, deps, resident, message, outcome, text_fallback)):
            outcome.already_sent += 1
    return outcome


def _send(deps: Deps, resident: Resident, message: ResidentMessage, outcome: Outcome, text_fallback: bool) -> None:
    book = deps.notify.book
    if book.use(resident.resident_id, message.template_id):
        try:
            deps.wechat.send_subscribe_message(resident.openid, message.template_id, message.data, page=message.page)
        except BadInput:  # 43101: WeChat says the resident has no allowance left for it
            book.use_up(resident.resident_id, message.template_id)
        except BaseException:  # WeChat unreachable: the allowance was not used; the queue retries
            book.give_back(resident.resident_id, message.template_id)
            raise
        else:
            outcome.wechat += 1
            return
    if not text_fallback:
        return
    phone = deps.notify.contacts.phone(f"resident:{resident.resident_id}")
    if phone is None:
        outcome.undeliverable += 1
        return
    deps.notify.sms.send_sms(phone, message.sms)
    outcome.sms += 1
