"""PynamoDB models. Every item lives in the hub table under ``pk``/``sk``; ``type`` says what it is.

Key layout (one line per item type; see docs/decisions.md):
  COMMUNITY#{cid}           META              community          gsi1: COMMUNITIES / {cid}
  THING#{thing}             DEVICE            device             gsi1: COMMUNITY#{cid}#DEVICES / {thing}
  EVENT#{thing}#{event_id}  SEEN              processed device event (TTL)
  REJECTS#{cid}             {received_ms}#{h} reject record (TTL), newest first by sort key
  RESIDENT#{rid}            PROFILE           resident
  PHONE#{phone_key}         OWNER             which resident holds a phone (keyed hash)
  WECHAT#TOKEN              {appid}           shared WeChat access token
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    DiscriminatorAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class Gsi1(GlobalSecondaryIndex["HubItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class HubItem(Model):
    class Meta:
        table_name = "linli-hub"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    type = DiscriminatorAttribute()
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True)  # epoch seconds; the table's TTL attribute
    by_gsi1 = Gsi1()


class CommunityItem(HubItem, discriminator="community"):
    community_id = UnicodeAttribute()
    name = UnicodeAttribute()
    created_at_ms = NumberAttribute()


class DeviceItem(HubItem, discriminator="device"):
    thing_name = UnicodeAttribute()
    community_id = UnicodeAttribute()
    device_type = UnicodeAttribute()
    status = UnicodeAttribute()
    registered_at_ms = NumberAttribute()
    last_seen_ms = NumberAttribute(null=True)
    last_event_kind = UnicodeAttribute(null=True)
    last_event_id = UnicodeAttribute(null=True)
    last_event_ts_ms = NumberAttribute(null=True)


class SeenEventItem(HubItem, discriminator="seen"):
    kind = UnicodeAttribute()
    received_at_ms = NumberAttribute()


class RejectItem(HubItem, discriminator="reject"):
    community_id = UnicodeAttribute()
    thing_name = UnicodeAttribute()
    kind = UnicodeAttribute()
    reason = UnicodeAttribute()
    detail = UnicodeAttribute()
    received_at_ms = NumberAttribute()
    payload = UnicodeAttribute()
    topic = UnicodeAttribute()
    client_id = UnicodeAttribute(null=True)
    event_id = UnicodeAttribute(null=True)


class ResidentItem(HubItem, discriminator="resident"):
    resident_id = UnicodeAttribute()
    openid = UnicodeAttribute()
    created_at_ms = NumberAttribute()
    session_key = UnicodeAttribute(null=True)
    phone_key = UnicodeAttribute(null=True)
    phone_masked = UnicodeAttribute(null=True)


class PhoneItem(HubItem, discriminator="phone"):
    resident_id = UnicodeAttribute()
    bound_at_ms = NumberAttribute()


class WeChatTokenItem(HubItem, discriminator="wechat_token"):
    token = UnicodeAttribute()
    expires_at_s = NumberAttribute()


class OutboxItem(Model):
    """A domain event; the outbox table's stream delivers it to the fan-out function."""

    class Meta:
        table_name = "linli-outbox"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    event_type = UnicodeAttribute()
    community_id = UnicodeAttribute()
    data = JSONAttribute()
    created_at_ms = NumberAttribute()
    expires_at = NumberAttribute(null=True)  # epoch seconds; the table's TTL attribute


ALL_MODELS: tuple[type[Model], ...] = (HubItem, OutboxItem)


def configure(hub_table: str, outbox_table: str, region: str, host: str | None = None) -> None:
    """Point the models at this stage's tables (called once by bootstrap, before any request)."""
    for model, table in ((HubItem, hub_table), (OutboxItem, outbox_table)):
        meta: Any = model.Meta
        meta.table_name = table
        meta.region = region
        meta.host = host
        model._connection = None
    for sub in HubItem.__subclasses__():
        sub._connection = None
