"""Lambda's SQS event source mapping, on one machine.

Long-polls the queue, hands batches to the function in the real ``aws:sqs`` event shape, deletes
what succeeded and — with ReportBatchItemFailures — leaves the failed records to become visible again.
SQS itself (moto) counts receives and moves a message to the DLQ after the redrive policy's
maxReceiveCount, exactly as in AWS.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from localcloud.lambda_runtime import FunctionInvoker, Poller

log = logging.getLogger("localcloud.sqs")


def to_lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", "0"),
            "SenderId": attributes.get("SenderId", "localcloud"),
            "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0"),
        },
        "messageAttributes": {
            name: {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
                   "stringListValues": [], "binaryListValues": [], "dataType": value.get("DataType")}
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody")
        or hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class SqsPump(Poller):
    #: ``poll()`` long-polls (up to a second), as the event source mapping does: no idle between polls
    idle_s = 0.0

    def __init__(self, sqs: Any, queue_url: str, queue_arn: str, region: str, invoke: FunctionInvoker,
                 batch_size: int = 10, retry_after_s: int = 2) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._invoke = invoke
        self._batch_size = batch_size
        self._retry_after_s = retry_after_s
        super().__init__(f"sqs-pump-{invoke.name}")
        self.batches = 0
        self.failed_records = 0

    def poll(self) -> int:
        return self.poll_once(wait_s=1)

    def poll_once(self, wait_s: int = 0) -> int:
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=self._batch_size, WaitTimeSeconds=wait_s,
            AttributeNames=["All"], MessageAttributeNames=["All"])
        messages = response.get("Messages", [])
        if not messages:
            return 0
        records = [to_lambda_record(m, self._queue_arn, self._region) for m in messages]
        failed: set[str] = set()
        kept: set[str] = set()
        try:
            result = self._invoke({"Records": records})
            for item in (result or {}).get("batchItemFailures", []):
                failed.add(item["itemIdentifier"])
            # records whose visibility the function set itself (a quiet-hours hold) keep it, as in AWS
            kept = set((result or {}).get("visibilityKept", []))
        except Exception:
            log.exception("function %s failed on a batch of %d", self._invoke.name, len(records))
            failed = {r["messageId"] for r in records}
        self.batches += 1
        self.failed_records += len(failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start:start + 10]
            self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)])
        for message in messages:
            if message["MessageId"] in failed and message["MessageId"] not in kept:
                # Lambda leaves failures to the visibility timeout; locally we shorten it so retries are quick.
                self._sqs.change_message_visibility(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"],
                                                    VisibilityTimeout=self._retry_after_s)
        return len(messages)
