"""Running the notification channels by hand: receive from a channel queue (moto), hand the batch to the
app's worker in Lambda's event shape, delete what succeeded — as the event source mapping does."""

from __future__ import annotations

from typing import Any

import boto3

from app import app
from localcloud.sqs_pump import to_lambda_record

#: channel queue → the app's handler draining it
WORKERS = {"linli-notify-residents": "notify_residents", "linli-notify-staff": "notify_staff",
           "linli-notify-partners": "notify_partners", "linli-notify-tv": "refresh_tv"}


def queue(name: str) -> tuple[str, str]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def bodies(name: str) -> list[dict[str, Any]]:
    """Peek: the messages waiting in a channel queue (made visible again at once)."""
    import json

    sqs = boto3.client("sqs")
    url, _ = queue(name)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])
    for m in got:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    return [json.loads(m["Body"]) for m in got]


def drain(name: str, retry_failed: bool = False) -> list[str]:
    """Run the channel's worker over everything in its queue; the message ids it reported failed.
    ``retry_failed``: make those visible again at once (Lambda would wait out the visibility timeout)."""
    sqs = boto3.client("sqs")
    url, arn = queue(name)
    failed: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not got:
            return failed
        records = [to_lambda_record(m, arn, "us-east-1") for m in got]
        result = app.handler_map[WORKERS[name]]({"Records": records}, None)
        failures = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        failed += list(failures)
        for m in got:
            if m["MessageId"] not in failures:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            elif retry_failed:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        if failures:
            return failed


def drain_all() -> int:
    """Every channel queue once; how many messages were handled."""
    handled = 0
    for name in WORKERS:
        before = len(bodies(name))
        drain(name)
        handled += before
    return handled
