"""The staff channel: a line in each concerned staff member's inbox, and an SMS to those who gave a phone.

Concerned: the staff an event names (``asked`` — the one an alarm asks now; ``cleaners`` — a task's),
or, when it names none, the community's managers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from chalicelib.domain.staff import StaffRole
from chalicelib.ports import InboxItem, Notification, Page
from chalicelib.services.deps import Deps
from chalicelib.services.notifications import SMS_SIGN, staff_text
from chalicelib.services.notify_fanout import once


@dataclass
class Outcome:
    inbox: int = 0
    sms: int = 0
    already_sent: int = 0


def _named(value: object) -> list[str]:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v]
    return []


def recipients(deps: Deps, note: Notification) -> list[str]:
    named = _named(note.data.get("asked")) + _named(note.data.get("cleaners"))
    if named:
        return list(dict.fromkeys(named))
    return [m.staff_id for m in deps.staff.list_for_community(note.community_id) if m.role is StaffRole.MANAGER]


def deliver(deps: Deps, note: Notification) -> Outcome:
    outcome = Outcome()
    text = staff_text(note)
    at_ms = note.at_ms or deps.clock.now_ms()

    def send(staff_id: str) -> None:
        deps.notify.book.add_to_inbox(InboxItem(staff_id=staff_id, at_ms=at_ms, type=note.type,
                                                community_id=note.community_id, text=text, key=note.key,
                                                data=dict(note.data)))
        outcome.inbox += 1
        phone = deps.notify.contacts.phone(f"staff:{staff_id}")
        if phone is not None:
            deps.notify.sms.send_sms(phone, SMS_SIGN + text)
            outcome.sms += 1

    for staff_id in recipients(deps, note):
        if not once(deps, f"staff#{note.key}#{staff_id}", partial(send, staff_id)):
            outcome.already_sent += 1
    return outcome


def inbox(deps: Deps, staff_id: str, limit: int, cursor: str | None) -> Page[InboxItem]:
    return deps.notify.book.inbox(staff_id, limit, cursor)
