"""The webhook delivery queue (SQS): one message per attempt to make, delayed until it is due."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.webhooks import SQS_MAX_DELAY_S


class SqsDeliveryQueue:
    """Sends ``{"message_id": …}`` with ``DelaySeconds``; the queue URL is looked up once, on first send."""

    def __init__(self, queue_name: str, client: Any = None) -> None:
        self._queue_name = queue_name
        self._client = client
        self._url: str | None = None

    def _sqs(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("sqs")
        return self._client

    def _queue_url(self) -> str:
        if self._url is None:
            self._url = str(self._sqs().get_queue_url(QueueName=self._queue_name)["QueueUrl"])
        return self._url

    def send(self, message_id: str, delay_s: int = 0) -> None:
        delay = max(0, min(int(delay_s), SQS_MAX_DELAY_S))
        self._sqs().send_message(QueueUrl=self._queue_url(), MessageBody=json.dumps({"message_id": message_id}),
                                 DelaySeconds=delay)


def message_id_of(body: str) -> str:
    """The message id a queue message carries; ValueError for anything else."""
    data = json.loads(body)
    message_id = data.get("message_id") if isinstance(data, dict) else None
    if not isinstance(message_id, str) or not message_id:
        raise ValueError("not a webhook delivery message")
    return message_id
