"""Running the serverless pipeline by hand inside one process: outbox rows → the stream handler →
the notification topic → the channel queues' workers → the webhook queue → the sender — so an
integration test sees what partners would receive.

Also the loopback receivers: a partner endpoint that verifies every delivery with the
``standardwebhooks`` library (as a partner's code would), and a payment-callback collector.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from standardwebhooks import Webhook

from chalicelib.adapters.dynamo.models import OutboxItem
from chalicelib.handlers import outbox_stream, webhook_jobs
from tests.support import events, notify_queues


@dataclass
class PartnerReceiver:
    """A partner's webhook endpoint. ``status`` is what it answers (503 while "down", 410 when gone)."""

    secret: str = ""
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)  # verified deliveries
    refused: int = 0  # deliveries that failed verification
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_port}/linli/webhooks"

    def types(self) -> list[str]:
        with self.lock:
            return [d["type"] for d in self.received]

    def ids(self) -> list[str]:
        with self.lock:
            return [d["webhook-id"] for d in self.received]


def start_partner(receiver: PartnerReceiver) -> PartnerReceiver:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with receiver.lock:
                receiver.attempts += 1
                status = receiver.status
                if status == 200:
                    try:
                        payload = Webhook(receiver.secret).verify(body, headers)
                    except Exception:
                        receiver.refused += 1
                        status = 400
                    else:
                        receiver.received.append({**payload, "webhook-id": headers["webhook-id"],
                                                  "_arrived": time.monotonic()})
            self.send_response(status)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver


@dataclass
class Pipeline:
    """Feeds new outbox rows to the stream handler and queued webhooks to the sender."""

    queue_url: str
    seen: set[str] = field(default_factory=set)

    def outbox(self) -> int:
        handled = 0
        for item in OutboxItem.scan():
            if item.pk in self.seen:
                continue
            self.seen.add(item.pk)
            data = item.data if isinstance(item.data, dict) else json.loads(item.data)
            event = events.outbox_insert(item.event_type, item.community_id, item.pk.split("#", 2)[2], data)
            outbox_stream.handle_record(DynamoDBRecord(event["Records"][0]))
            handled += 1
        return handled

    def webhooks(self) -> int:
        sqs = boto3.client("sqs")
        sent = 0
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = got.get("Messages", [])
            if not messages:
                return sent
            records = [events.sqs_record(m["Body"], message_id=m["MessageId"]) for m in messages]
            webhook_jobs.deliver_webhooks(events.sqs_event(*records))
            for m in messages:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
            sent += len(messages)

    def run(self) -> None:
        """Until nothing new happens: outbox events notify the channels (partner webhooks among them),
        which may queue webhooks, and so on."""
        while self.outbox() + notify_queues.drain_all() + self.webhooks():
            pass


def callback_headers(raw: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in raw.items() if k.lower().startswith(("wechatpay-", "stripe-", "content-type"))}
