"""SQS: each message costs O(1), not O(messages in the queue).

Why and what is measured: "SQS: per message, not per queue length" in the package docstring
(:mod:`localcloud.moto_patches`).
"""

from __future__ import annotations

from typing import Any

from moto.core.utils import unix_time, unix_time_millis
from moto.sqs import models as sqs_models


def _visible_messages(queue: sqs_models.Queue) -> list[sqs_models.Message]:
    """``Queue.messages``: the messages that are visible and not delayed, against one clock reading."""
    now = unix_time_millis()
    return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]


def _count_delayed(queue: sqs_models.Queue) -> int:
    now = unix_time_millis()
    return sum(1 for m in queue._messages if now < m.delayed_until)


def _count_not_visible(queue: sqs_models.Queue) -> int:
    now = unix_time_millis()
    return sum(1 for m in queue._messages if not now > m.visible_at)


def _count_visible(queue: sqs_models.Queue) -> int:
    return len(_visible_messages(queue))


def _valid_for_retention(self: sqs_models.SQSBackend, queue_name: str, message: sqs_models.Message) -> bool:
    """moto's ``is_message_valid_based_on_retention_period`` without building the attribute map three times."""
    retention_period = self.get_queue(queue_name).message_retention_period  # type: ignore[attr-defined]
    retain_until = retention_period + message.sent_timestamp / 1000  # type: ignore[operator]
    return bool(retain_until > unix_time())


def class_replacements() -> dict[tuple[type, str], Any]:
    return {
        (sqs_models.Queue, "messages"): property(_visible_messages),
        (sqs_models.Queue, "approximate_number_of_messages"): property(_count_visible),
        (sqs_models.Queue, "approximate_number_of_messages_delayed"): property(_count_delayed),
        (sqs_models.Queue, "approximate_number_of_messages_not_visible"): property(_count_not_visible),
        (sqs_models.SQSBackend, "is_message_valid_based_on_retention_period"): _valid_for_retention,
    }
