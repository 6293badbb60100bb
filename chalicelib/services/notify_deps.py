"""What the notification fan-out touches (issue 5): the topic, SMS, queue holds, contacts, its book."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.ports import Contacts, MessageHold, Notifier, NotifyBook, SmsSender


@dataclass
class NotifyDeps:
    topic: Notifier
    sms: SmsSender
    hold: MessageHold
    contacts: Contacts
    book: NotifyBook
    #: WeChat subscribe-message templates for alarms ("安全告警") and community notices ("社区公告")
    alarm_template_id: str = "security-alarm"
    notice_template_id: str = "community-notice"
