"""The serverless pipeline run by hand in one process, each function's share metered apart.

A :class:`Run` keeps one :class:`~bench.capacity_meter.Tally` per *phase*: the Lambda function that did
the work (``device``, ``api``, ``stream``, ``notify-residents``, ``webhook-deliveries`` …). After each
message :meth:`Harness.downstream` does what Lambda's event sources would: every new outbox item goes to
the stream handler (the stream read is free), and the channel / webhook / timer queues are drained by
their workers in Lambda's event shape — until nothing new happens. Receiving and deleting are the
harness's (uncounted here; the plan charges the event source mapping's SQS requests per batch).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.capacity_meter import ACCOUNT, REGION, Meter, Normalizer, Tally

#: queue → the app's function draining it (app.py)
WORKERS = {"linli-notify-residents": "notify_residents", "linli-notify-staff": "notify_staff",
           "linli-notify-partners": "notify_partners", "linli-notify-tv": "refresh_tv",
           "linli-webhook-deliveries": "deliver_webhooks", "linli-timers": "fire_timers"}
#: the function environment the numbers are measured with: INFO logs and EMF metrics on, as deployed
ENVIRONMENT = {"AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled", "AWS_ACCESS_KEY_ID": "bench",
               "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
               "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "false",
               "POWERTOOLS_METRICS_NAMESPACE": "Linli", "POWERTOOLS_LOG_LEVEL": "INFO"}


@dataclass
class Run:
    """One kind's messages and what each phase cost for all of them."""

    messages: int
    phases: dict[str, Tally] = field(default_factory=dict)


@dataclass
class Harness:
    deps: Any
    meter: Meter
    out: io.StringIO  # the functions' stdout: JSON log lines and EMF metrics, as CloudWatch Logs gets them
    cid: str = ""
    meter_names: Normalizer = field(default_factory=Normalizer)  # ids of this run → their names in key shapes
    seen_outbox: set[str] = field(default_factory=set)

    @contextlib.contextmanager
    def phase(self, run: Run, name: str, records: int = 1) -> Iterator[Tally]:
        tally = run.phases.setdefault(name, Tally())
        tally.records += records
        start = self.out.tell()
        self.meter.current = tally
        try:
            yield tally
        finally:
            self.meter.current = None
            tally.log_b += self.out.tell() - start

    def downstream(self, run: Run) -> None:
        """Outbox → stream handler → SNS → channel queues → workers → webhook queue → sender, until quiet."""
        from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

        from chalicelib.adapters.dynamo.models import OutboxItem
        from chalicelib.handlers import outbox_stream
        from tests.support import events

        while True:
            fresh = [i for i in OutboxItem.scan() if i.pk not in self.seen_outbox]
            self.seen_outbox.update(i.pk for i in fresh)
            for item in fresh:
                data = item.data if isinstance(item.data, dict) else json.loads(item.data)
                event = events.outbox_insert(item.event_type, item.community_id, item.pk.split("#", 2)[2], data)
                with self.phase(run, "stream"):
                    outbox_stream.handle_record(DynamoDBRecord(event["Records"][0]))
            if not fresh and not self._drain_queues(run):
                return

    def _drain_queues(self, run: Run) -> int:
        import boto3

        from app import app
        from localcloud.sqs_pump import to_lambda_record

        sqs = boto3.client("sqs", region_name=REGION)
        handled = 0
        for queue, worker in WORKERS.items():
            url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                      MessageAttributeNames=["All"]).get("Messages", [])
            if not got:
                continue
            with self.phase(run, queue.removeprefix("linli-"), records=len(got)):
                app.handler_map[worker]({"Records": [to_lambda_record(m, arn, REGION) for m in got]}, None)
            for m in got:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            handled += len(got)
        return handled


@contextlib.contextmanager
def environment() -> Iterator[None]:
    previous = {k: os.environ.get(k) for k in ENVIRONMENT}
    os.environ.update(ENVIRONMENT)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
