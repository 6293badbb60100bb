"""PynamoDB items of partner webhooks, in the hub table (see models.py for the rest of the layout).

  WEBHOOK_ENDPOINT#{pid}  EP       a partner's endpoint: URL, signing secrets, status
  DELIVERY#{msg_id}       D        a delivery   gsi1: DELIVERIES#{pid} / {created_ms}#{msg_id}
                                   gsi2 (while pending): WEBHOOK_DUE#{n} / {wake_ms}#{msg_id}
  DELIVERY#{msg_id}       A#{nn}   one attempt (TTL 30 days)

A delivery's gsi2 entry is when the hub must look at it if no queue message did: a retry later than
SQS can delay, or — for every other pending delivery — a backstop a while after its queue message was
due, in case that message was lost.
"""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.adapters.dynamo.models import HubItem

DUE_SHARDS = 4


def endpoint_key(partner_id: str) -> tuple[str, str]:
    return f"WEBHOOK_ENDPOINT#{partner_id}", "EP"


def delivery_key(message_id: str) -> tuple[str, str]:
    return f"DELIVERY#{message_id}", "D"


def attempt_sk(number: int) -> str:
    return f"A#{number:02d}"


def deliveries_of(partner_id: str) -> str:
    return f"DELIVERIES#{partner_id}"


def due_partition(shard: int) -> str:
    return f"WEBHOOK_DUE#{shard}"


class WebhookEndpointItem(HubItem, discriminator="webhook_endpoint"):
    partner_id = UnicodeAttribute()
    community_id = UnicodeAttribute()
    url = UnicodeAttribute()
    #: [{"secret": "whsec_…", "expires_at_ms": int | null}], the current one first
    secrets = JSONAttribute()
    status = UnicodeAttribute()
    created_at_ms = NumberAttribute()
    disabled_reason = UnicodeAttribute(null=True)
    disabled_at_ms = NumberAttribute(null=True)
    failing_since_ms = NumberAttribute(null=True)


class DeliveryItem(HubItem, discriminator="webhook_delivery"):
    message_id = UnicodeAttribute()
    partner_id = UnicodeAttribute()
    community_id = UnicodeAttribute()
    event_type = UnicodeAttribute()
    body = UnicodeAttribute()
    created_at_ms = NumberAttribute()
    status = UnicodeAttribute()
    next_attempt_at_ms = NumberAttribute(null=True)
    wake_at_ms = NumberAttribute(null=True)
    attempts = NumberAttribute(default=0)
    round_start = NumberAttribute(default=0)
    last_status = NumberAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    version = NumberAttribute(default=0)


class AttemptItem(HubItem, discriminator="webhook_attempt"):
    message_id = UnicodeAttribute()
    number = NumberAttribute()
    at_ms = NumberAttribute()
    status = NumberAttribute(null=True)
    latency_ms = NumberAttribute()
    response_head = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
