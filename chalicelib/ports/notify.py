"""Notification fan-out: the topic, SMS, quiet-hour holds, sealed contacts and the staff inbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.domain.notify import QuietHours
from chalicelib.ports.core import (
    Page,
)


@dataclass(frozen=True)
class Notification:
    """One outbox event for one audience, as the notification topic carries it to that audience's queue.
    ``key`` is the outbox item's key: channel workers dedupe on it."""

    type: str
    community_id: str
    key: str
    audience: str
    data: Mapping[str, Any] = field(default_factory=dict)
    at_ms: int = 0  # when it was published (stable across the queue's redeliveries)


class Notifier(Protocol):
    """The notification topic (SNS); message attributes ``type``, ``community``, ``audience``."""

    def publish(self, notification: Notification) -> None: ...


class SmsSender(Protocol):
    def send_sms(self, phone: str, text: str) -> None:
        """Hand a text to SMS (SNS ``Publish(PhoneNumber=…)``); raises ``UpstreamUnavailable`` if it failed."""


class MessageHold(Protocol):
    def hold(self, queue_arn: str, receipt_handle: str, seconds: int) -> None:
        """Keep a received queue message invisible for ``seconds`` (at most 12 h)."""


class Contacts(Protocol):
    """Phone numbers the hub may text, sealed at rest. ``owner`` is ``resident:{id}`` or ``staff:{id}``."""

    def set_phone(self, owner: str, phone: str) -> None: ...
    def phone(self, owner: str) -> str | None: ...


@dataclass(frozen=True)
class InboxItem:
    """One line in a staff member's inbox."""

    staff_id: str
    at_ms: int
    type: str
    community_id: str
    text: str
    key: str
    data: Mapping[str, Any] = field(default_factory=dict)


class NotifyBook(Protocol):
    """What the notification channels remember: delivery marks (idempotency), residents' subscribe-message
    allowances and quiet hours, who reads notices, staff inboxes, TV feed versions."""

    def claim(self, mark: str, now_ms: int) -> bool:
        """Start sending ``mark`` (channel, outbox key, recipient): False if it was sent already, or an
        attempt that has not timed out is sending it now."""

    def sent(self, mark: str, now_ms: int) -> None: ...
    def release(self, mark: str) -> None:
        """The attempt failed: a redelivery may claim the mark again."""

    def grant(self, resident_id: str, template_ids: Sequence[str]) -> None:
        """One more allowance per template id (a template id twice: two)."""

    def use(self, resident_id: str, template_id: str) -> bool:
        """Take one allowance; False (nothing taken) when none is left."""

    def give_back(self, resident_id: str, template_id: str) -> None: ...
    def use_up(self, resident_id: str, template_id: str) -> None:
        """WeChat says the resident has no allowance (43101): none is left."""

    def allowances(self, resident_id: str) -> dict[str, int]: ...
    def quiet_hours(self, resident_id: str) -> QuietHours | None: ...
    def set_quiet_hours(self, resident_id: str, quiet: QuietHours | None) -> None: ...
    def add_notice_reader(self, community_id: str, resident_id: str, building: str | None) -> None: ...
    def notice_readers(self, community_id: str) -> list[tuple[str, str | None]]:
        """(resident id, building) of the residents who subscribed to the community's notices."""

    def add_to_inbox(self, item: InboxItem) -> None: ...
    def inbox(self, staff_id: str, limit: int, cursor: str | None) -> Page[InboxItem]:
        """Newest first."""

    def refresh_tv(self, community_id: str, now_ms: int) -> int:
        """Record a refresh of the community's TV feed; its new version."""

    def tv_feed(self, community_id: str) -> tuple[int, int] | None:
        """(version, refreshed at ms) of the community's TV feed, or None if never refreshed."""
