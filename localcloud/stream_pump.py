"""Lambda's DynamoDB Streams event source mapping, on one machine.

Reads every shard of a table's stream, invokes the function with ``aws:dynamodb`` records, and with
ReportBatchItemFailures re-reads from the first failed sequence number. After ``max_retries`` failed
attempts the records are sent to the on-failure destination (an SQS queue) and the shard moves on — the
same contract the deployed event source mapping has.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from localcloud.lambda_runtime import FunctionInvoker, Poller

log = logging.getLogger("localcloud.streams")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


class StreamPump(Poller):
    def __init__(self, streams: Any, sqs: Any, stream_arn: str, region: str, invoke: FunctionInvoker,
                 batch_size: int = 100, max_retries: int = 3, on_failure_queue_url: str | None = None) -> None:
        self._streams = streams
        self._sqs = sqs
        self._stream_arn = stream_arn
        self._region = region
        self._invoke = invoke
        self._batch_size = batch_size
        self._max_retries = max_retries
        self._on_failure = on_failure_queue_url
        self._iterators: dict[str, str | None] = {}
        self._attempts: dict[tuple[str, str], int] = {}
        super().__init__(f"stream-pump-{invoke.name}")
        self.records_delivered = 0
        self.records_dead = 0

    def poll(self) -> int:
        return self.poll_once()

    def _refresh_shards(self) -> None:
        description = self._streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self._streams.get_shard_iterator(
                    StreamArn=self._stream_arn, ShardId=shard_id,
                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    def poll_once(self) -> int:
        self._refresh_shards()
        delivered = 0
        for shard_id, iterator in list(self._iterators.items()):
            if iterator is None:
                continue
            response = self._streams.get_records(ShardIterator=iterator, Limit=self._batch_size)
            records = response.get("Records", [])
            self._iterators[shard_id] = response.get("NextShardIterator")
            if records:
                delivered += self._deliver(shard_id, records)
        return delivered

    def _deliver(self, shard_id: str, records: list[dict[str, Any]]) -> int:
        event_records = [{**_jsonable(r), "eventSourceARN": self._stream_arn, "awsRegion": self._region}
                         for r in records]
        try:
            result = self._invoke({"Records": event_records})
            failures = [f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])]
        except Exception:
            log.exception("function %s failed on %d stream records", self._invoke.name, len(records))
            failures = [records[0]["dynamodb"]["SequenceNumber"]]
        if not failures:
            self.records_delivered += len(records)
            return len(records)
        first = min(failures, key=int)
        key = (shard_id, first)
        self._attempts[key] = self._attempts.get(key, 0) + 1
        if self._attempts[key] <= self._max_retries:
            self._iterators[shard_id] = self._streams.get_shard_iterator(
                StreamArn=self._stream_arn, ShardId=shard_id, ShardIteratorType="AT_SEQUENCE_NUMBER",
                SequenceNumber=first)["ShardIterator"]
            return 0
        del self._attempts[key]
        dead = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) >= int(first)]
        self.records_dead += 1
        if self._on_failure:
            self._sqs.send_message(QueueUrl=self._on_failure, MessageBody=json.dumps({
                "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": self._invoke.name},
                "DDBStreamBatchInfo": {"shardId": shard_id, "streamArn": self._stream_arn,
                                       "startSequenceNumber": first, "batchSize": len(dead)},
            }))
        log.error("stream records from %s sent to the on-failure destination after %d attempts",
                  first, self._max_retries + 1)
        self._iterators[shard_id] = self._streams.get_shard_iterator(
            StreamArn=self._stream_arn, ShardId=shard_id, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
            SequenceNumber=first)["ShardIterator"]
        return 0
