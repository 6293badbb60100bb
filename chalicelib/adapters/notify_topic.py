"""The notification topic (SNS), SMS (SNS ``Publish(PhoneNumber=…)``) and holding a queue message back.

boto3 is imported on first use, so a function that never notifies does not pay for the clients.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.errors import UpstreamUnavailable
from chalicelib.domain.notify import MAX_HOLD_S
from chalicelib.ports import Notification

#: SNS SMS attributes: notifications are transactional (delivered even to numbers opted out of marketing)
SMS_ATTRIBUTES = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}


def _client(service: str) -> Any:
    import boto3

    return boto3.client(service)


def message_attributes(notification: Notification) -> dict[str, dict[str, str]]:
    """What the channel queues' filter policies match on."""
    return {name: {"DataType": "String", "StringValue": value} for name, value in (
        ("type", notification.type), ("community", notification.community_id), ("audience", notification.audience))}


def message_body(notification: Notification) -> str:
    return json.dumps({"type": notification.type, "community_id": notification.community_id,
                       "key": notification.key, "audience": notification.audience, "at_ms": notification.at_ms,
                       "data": dict(notification.data)},
                      separators=(",", ":"), ensure_ascii=False)


class SnsNotifier:
    def __init__(self, topic_arn: str, client: Any = None) -> None:
        if not topic_arn:
            raise ValueError("LINLI_NOTIFY_TOPIC_ARN is not set")
        self._topic_arn = topic_arn
        self._client = client

    def publish(self, notification: Notification) -> None:
        if self._client is None:
            self._client = _client("sns")
        self._client.publish(TopicArn=self._topic_arn, Message=message_body(notification),
                             MessageAttributes=message_attributes(notification))


class SnsSms:
    def __init__(self, client: Any = None) -> None:
        self._client = client

    def send_sms(self, phone: str, text: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        if self._client is None:
            self._client = _client("sns")
        number = phone if phone.startswith("+") else f"+86{phone}"  # bound phones are mainland mobiles
        try:
            self._client.publish(PhoneNumber=number, Message=text, MessageAttributes=SMS_ATTRIBUTES)
        except (BotoCoreError, ClientError) as exc:
            raise UpstreamUnavailable(f"SMS not handed over: {type(exc).__name__}") from exc


class SqsMessageHold:
    """ChangeMessageVisibility on the queue a record came from (its ``eventSourceARN``)."""

    def __init__(self, client: Any = None) -> None:
        self._client = client
        self._urls: dict[str, str] = {}

    def hold(self, queue_arn: str, receipt_handle: str, seconds: int) -> None:
        if self._client is None:
            self._client = _client("sqs")
        if queue_arn not in self._urls:
            *_, account, name = queue_arn.split(":")
            self._urls[queue_arn] = str(self._client.get_queue_url(QueueName=name,
                                                                   QueueOwnerAWSAccountId=account)["QueueUrl"])
        self._client.change_message_visibility(QueueUrl=self._urls[queue_arn], ReceiptHandle=receipt_handle,
                                               VisibilityTimeout=max(0, min(seconds, MAX_HOLD_S)))
