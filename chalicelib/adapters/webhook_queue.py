"""The webhook delivery queue (SQS): one message per attempt to make, delayed until it is due."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.sqs_sender import SqsSender


class SqsDeliveryQueue:
    """Sends ``{"message_id": …}`` with ``DelaySeconds``."""

    def __init__(self, queue_name: str, client: Any = None) -> None:
        self._sender = SqsSender(queue_name, client)

    def send(self, message_id: str, delay_s: int = 0) -> None:
        self._sender.send(json.dumps({"message_id": message_id}), delay_s)


def message_id_of(body: str) -> str:
    """The message id a queue message carries; ValueError for anything else."""
    data = json.loads(body)
    message_id = data.get("message_id") if isinstance(data, dict) else None
    if not isinstance(message_id, str) or not message_id:
        raise ValueError("not a webhook delivery message")
    return message_id
