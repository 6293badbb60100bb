"""Sending to one SQS queue, delayed: the shared plumbing of the hub's work queues (webhook attempts,
timers). The queue URL is looked up once, on the first send; boto3 loads only then (cold start)."""

from __future__ import annotations

from typing import Any

#: SQS delays a message by at most 15 minutes (one constant: the webhook retry schedule depends on it)
from chalicelib.domain.webhooks import SQS_MAX_DELAY_S as SQS_MAX_DELAY_S


class SqsSender:
    def __init__(self, queue_name: str, client: Any = None) -> None:
        self._queue_name = queue_name
        self._client = client
        self._url: str | None = None

    def _sqs(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("sqs")
        return self._client

    def send(self, body: str, delay_s: int = 0) -> None:
        """``delay_s`` is clamped to what SQS can do (0–900 s)."""
        if self._url is None:
            self._url = str(self._sqs().get_queue_url(QueueName=self._queue_name)["QueueUrl"])
        self._sqs().send_message(QueueUrl=self._url, MessageBody=body,
                                 DelaySeconds=max(0, min(int(delay_s), SQS_MAX_DELAY_S)))
