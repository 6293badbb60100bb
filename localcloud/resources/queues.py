"""``AWS::SQS::Queue``: created in dependency order, so a ``RedrivePolicy`` resolves its DLQ's ARN."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from localcloud.resources.clients import Clients, attribute_value, error_code, required
from localcloud.template import Resolver, references

QUEUE = "AWS::SQS::Queue"

#: CloudFormation AWS::SQS::Queue properties that are SQS queue attributes of the same name.
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "RedrivePolicy",  # JSON in the template, a JSON string as an attribute
    "RedriveAllowPolicy",
)


@dataclass(frozen=True)
class Queue:
    logical_id: str
    name: str
    url: str
    arn: str
    #: logical id of the queue that RedrivePolicy sends to, and after how many receives
    redrive_target: str | None
    max_receive_count: int | None


def create_queue(clients: Clients, resolver: Resolver, logical_id: str, props: Mapping[str, Any]) -> Queue:
    name = str(resolver.resolve(required(props, "QueueName", logical_id)))
    attributes = {key: attribute_value(resolver.resolve(props[key])) for key in _QUEUE_ATTRIBUTES if key in props}
    try:
        url = clients.sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if error_code(exc) not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
        url = clients.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive_target: str | None = None
    max_receive_count: int | None = None
    redrive = props.get("RedrivePolicy")
    if isinstance(redrive, dict):
        targets = references(redrive.get("deadLetterTargetArn"))
        redrive_target = next(iter(targets)) if len(targets) == 1 else None
        max_receive_count = int(resolver.resolve(redrive["maxReceiveCount"]))
    resolver.register(logical_id, url, Arn=arn, QueueName=name, QueueUrl=url)
    return Queue(logical_id=logical_id, name=name, url=url, arn=arn, redrive_target=redrive_target,
                 max_receive_count=max_receive_count)
