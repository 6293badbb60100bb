"""PynamoDB models. Every item lives in the hub table under ``pk``/``sk``; ``type`` says what it is.

Key layout (one line per item type; see docs/decisions.md):
  COMMUNITY#{cid}           META              community          gsi1: COMMUNITIES / {cid}
  THING#{thing}             DEVICE            device             gsi1: COMMUNITY#{cid}#DEVICES / {thing}
                                              (read by functions/preprovision, which records its certificate)
  EVENT#{thing}#{event_id}  SEEN              processed device event (TTL)
  REJECTS#{cid}             {received_ms}#{h} reject record (TTL), newest first by sort key
  RESIDENT#{rid}            PROFILE           resident
  PHONE#{phone_key}         OWNER             which resident holds a phone (keyed hash)
  WECHAT#TOKEN              {appid}           shared WeChat access token
  COMMUNITY#{cid}           TERMS             recycling prices and community settings
  ACCT#{account}            BALANCE           an account's balance and version
  ACCT#{account}            E#{at_ms}#{xfer}  one entry (leg of a transfer), oldest first
  XFER#{transfer_id}        XFER              a transfer; its key is the business event's (idempotency)
  WEIGHINS#{phone_key}      {recv_ms}#{thing}#{event_id}  a credited weigh-in
                                              gsi1: WEIGHINS#{cid}#{YYYYMMDD} / same sort key
  CAP#{cid}#{phone}#{day}   CAP               fen credited to a phone in a community on a day (TTL)
  WITHDRAWAL#{wid}          W                 a withdrawal   gsi1: WITHDRAWALS#{rid} / {created_ms}#{wid}
                                              gsi2 (while open): OPEN_WITHDRAWALS#{n} / {created_ms}#{wid}
  OPEN_WITHDRAWALS_IN#{cid} {created_ms}#{wid} link to an open withdrawal of the community's resident
  IDEM#{rid}#{key}          IDEM              an Idempotency-Key a resident used (TTL)
  WXPAY_NOTIFY#{id}         N                 a WeChat Pay callback already applied (TTL)
  COMMUNITY#{cid}           SERVICE#{sid}     a service residents can order
  PARTNER#{pid}             P                 a partner company  gsi1: COMMUNITY#{cid}#PARTNERS / {created_ms}#{pid}
  STAFF#{sid}               S                 a staff member     gsi1: COMMUNITY#{cid}#STAFF / {created_ms}#{sid}
  ORDER#{oid}               O                 a service order    gsi1: ORDERS#{rid} / {created_ms}#{oid}
                                              gsi2 while offered: OFFER_DUE#{n} / {deadline_ms}#{oid}
                                              gsi2 while staff must act: STAFF_WORK#{cid} / {created_ms}#{oid}
                                              gsi2 while a refund is due: REFUND_DUE#{n} / {updated_ms}#{oid}
                                              gsi2 while unpaid: PAYMENT_DUE#{n} / {created_ms}#{oid}
  PARTNER_ORDERS#{pid}      {created_ms}#{oid} an order offered to a partner (its list)
  APPLIED#{marker}          N                 a payment callback / partner event already applied (TTL)

Later capabilities keep their items in a module of their own (alarms_models.py, notify_models.py, …).
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


class Gsi2(GlobalSecondaryIndex["HubItem"]):  # type: ignore[no-untyped-call]
    """Sparse work queues: only items that still need attention carry ``gsi2pk``."""

    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class HubItem(Model):
    class Meta:
        table_name = "linli-hub"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    type = DiscriminatorAttribute()
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True)  # epoch seconds; the table's TTL attribute
    by_gsi1 = Gsi1()
    by_gsi2 = Gsi2()


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
    building = UnicodeAttribute(null=True)
    room = UnicodeAttribute(null=True)
    location = UnicodeAttribute(null=True)
    # fleet provisioning: functions/preprovision reads these and writes the last two (its linli_preprovision/hub.py
    # names them too; tests/integration/test_preprovision.py keeps the two in step)
    serial = UnicodeAttribute(null=True)
    provision_cert_id = UnicodeAttribute(null=True)
    provisioned_at_ms = NumberAttribute(null=True)


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
    community_id = UnicodeAttribute(null=True)
    building = UnicodeAttribute(null=True)
    room = UnicodeAttribute(null=True)


class PhoneItem(HubItem, discriminator="phone"):
    resident_id = UnicodeAttribute()
    bound_at_ms = NumberAttribute()


class WeChatTokenItem(HubItem, discriminator="wechat_token"):
    token = UnicodeAttribute()
    expires_at_s = NumberAttribute()


class TermsItem(HubItem, discriminator="terms"):
    prices = JSONAttribute(null=True)
    settings = JSONAttribute(null=True)


class BalanceItem(HubItem, discriminator="balance"):
    account_id = UnicodeAttribute()
    balance_fen = NumberAttribute(default=0)
    version = NumberAttribute(default=0)


class EntryItem(HubItem, discriminator="entry"):
    account_id = UnicodeAttribute()
    transfer_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    amount_fen = NumberAttribute()
    at_ms = NumberAttribute()
    counterparty = UnicodeAttribute()
    memo = JSONAttribute(null=True)


class TransferItem(HubItem, discriminator="transfer"):
    kind = UnicodeAttribute()
    debit = UnicodeAttribute()
    credit = UnicodeAttribute()
    amount_fen = NumberAttribute()
    at_ms = NumberAttribute()
    memo = JSONAttribute(null=True)


class WeighinItem(HubItem, discriminator="weighin"):
    community_id = UnicodeAttribute()
    thing_name = UnicodeAttribute()
    event_id = UnicodeAttribute()
    category = UnicodeAttribute()
    weight_g = NumberAttribute()
    price_fen_per_kg = NumberAttribute()
    credit_fen = NumberAttribute()
    ts_ms = NumberAttribute()
    received_at_ms = NumberAttribute()
    phone_key = UnicodeAttribute()
    phone_masked = UnicodeAttribute()
    resident_id = UnicodeAttribute(null=True)
    transfer_id = UnicodeAttribute()


class CapItem(HubItem, discriminator="cap"):
    credited_fen = NumberAttribute(default=0)


class WithdrawalItem(HubItem, discriminator="withdrawal"):
    withdrawal_id = UnicodeAttribute()
    resident_id = UnicodeAttribute()
    openid = UnicodeAttribute()
    amount_fen = NumberAttribute()
    status = UnicodeAttribute()
    out_bill_no = UnicodeAttribute()
    created_at_ms = NumberAttribute()
    updated_at_ms = NumberAttribute()
    package_info = UnicodeAttribute(null=True)
    transfer_bill_no = UnicodeAttribute(null=True)
    fail_reason = UnicodeAttribute(null=True)
    community_id = UnicodeAttribute(null=True)


class CommunityWithdrawalItem(HubItem, discriminator="community_withdrawal"):
    """Staff's list of a community's open withdrawals: written with the withdrawal, deleted as it ends."""

    withdrawal_id = UnicodeAttribute()


class IdempotencyItem(HubItem, discriminator="idempotency"):
    request_hash = UnicodeAttribute()
    resource_id = UnicodeAttribute()


class NotificationSeenItem(HubItem, discriminator="pay_notification"):
    received_at_ms = NumberAttribute()


class ServiceItem(HubItem, discriminator="service"):
    community_id = UnicodeAttribute()
    service_id = UnicodeAttribute()
    name = UnicodeAttribute()
    price_fen = NumberAttribute()
    fulfilled_by = UnicodeAttribute()
    accept_sla_s = NumberAttribute()
    complete_sla_s = NumberAttribute()
    active = NumberAttribute(default=1)


class PartnerItem(HubItem, discriminator="partner"):
    partner_id = UnicodeAttribute()
    community_id = UnicodeAttribute()
    name = UnicodeAttribute()
    services = JSONAttribute()
    stripe_account = UnicodeAttribute(null=True)
    created_at_ms = NumberAttribute()
    key_hashes = JSONAttribute()  # [[sha256 hex, expires_at_ms | null], ...]
    active = NumberAttribute(default=1)


class StaffItem(HubItem, discriminator="staff"):
    staff_id = UnicodeAttribute()
    community_id = UnicodeAttribute()
    name = UnicodeAttribute()
    role = UnicodeAttribute()
    created_at_ms = NumberAttribute()


class OrderItem(HubItem, discriminator="order"):
    """The order as JSON plus what conditions and indexes need: writes are conditional on ``version``."""

    order_id = UnicodeAttribute()
    status = UnicodeAttribute()
    version = NumberAttribute()
    data = JSONAttribute()


class PartnerOrderItem(HubItem, discriminator="partner_order"):
    order_id = UnicodeAttribute()


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
