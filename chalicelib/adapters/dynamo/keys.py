"""The hub table's key scheme in one place (see models.py for the full layout)."""

from __future__ import annotations


def community(cid: str) -> tuple[str, str]:
    return f"COMMUNITY#{cid}", "META"


def device(thing_name: str) -> tuple[str, str]:
    return f"THING#{thing_name}", "DEVICE"


def devices_of(cid: str) -> str:
    return f"COMMUNITY#{cid}#DEVICES"


def seen_event(thing_name: str, event_id: str) -> tuple[str, str]:
    return f"EVENT#{thing_name}#{event_id}", "SEEN"


def rejects_of(cid: str) -> str:
    return f"REJECTS#{cid}"


def resident(rid: str) -> tuple[str, str]:
    return f"RESIDENT#{rid}", "PROFILE"


def phone(phone_key: str) -> tuple[str, str]:
    return f"PHONE#{phone_key}", "OWNER"


def outbox(event_type: str, key: str) -> tuple[str, str]:
    """Deterministic: the same business event written twice is one outbox item."""
    return f"EVT#{event_type}#{key}", "EVT"


def terms(cid: str) -> tuple[str, str]:
    return f"COMMUNITY#{cid}", "TERMS"


def account(account_id: str) -> str:
    return f"ACCT#{account_id}"


BALANCE_SK = "BALANCE"
ENTRY_SK_PREFIX = "E#"


def entry_sk(at_ms: int, transfer_id: str) -> str:
    return f"{ENTRY_SK_PREFIX}{at_ms:013d}#{transfer_id}"


def transfer(transfer_id: str) -> tuple[str, str]:
    return f"XFER#{transfer_id}", "XFER"


def weighins_of_phone(phone_key: str) -> str:
    return f"WEIGHINS#{phone_key}"


def weighins_of_day(cid: str, day: str) -> str:
    return f"WEIGHINS#{cid}#{day}"


def daily_cap(cid: str, phone_key: str, day: str) -> tuple[str, str]:
    return f"CAP#{cid}#{phone_key}#{day}", "CAP"


def withdrawal(wid: str) -> tuple[str, str]:
    return f"WITHDRAWAL#{wid}", "W"


def withdrawals_of(rid: str) -> str:
    return f"WITHDRAWALS#{rid}"


OPEN_WITHDRAWAL_SHARDS = 4


def open_withdrawals(shard: int) -> str:
    return f"OPEN_WITHDRAWALS#{shard}"


def open_withdrawals_in(community_id: str) -> str:
    """The partition of a community's open withdrawals (one link item each, gone when it ends)."""
    return f"OPEN_WITHDRAWALS_IN#{community_id}"


def idempotency(rid: str, key: str) -> tuple[str, str]:
    return f"IDEM#{rid}#{key}", "IDEM"


def pay_notification(notification_id: str) -> tuple[str, str]:
    return f"WXPAY_NOTIFY#{notification_id}", "N"


def service(cid: str, service_id: str) -> tuple[str, str]:
    return f"COMMUNITY#{cid}", f"SERVICE#{service_id}"


def partner(pid: str) -> tuple[str, str]:
    return f"PARTNER#{pid}", "P"


def partners_of(cid: str) -> str:
    return f"COMMUNITY#{cid}#PARTNERS"


def staff(sid: str) -> tuple[str, str]:
    return f"STAFF#{sid}", "S"


def staff_of(cid: str) -> str:
    return f"COMMUNITY#{cid}#STAFF"


def order(oid: str) -> tuple[str, str]:
    return f"ORDER#{oid}", "O"


def orders_of(rid: str) -> str:
    return f"ORDERS#{rid}"


def partner_orders(pid: str) -> str:
    return f"PARTNER_ORDERS#{pid}"


ORDER_QUEUE_SHARDS = 4


def offer_due(shard: int) -> str:
    return f"OFFER_DUE#{shard}"


def payment_due(shard: int) -> str:
    return f"PAYMENT_DUE#{shard}"


def refund_due(shard: int) -> str:
    return f"REFUND_DUE#{shard}"


def staff_work(cid: str) -> str:
    return f"STAFF_WORK#{cid}"


def applied(marker: str) -> tuple[str, str]:
    return f"APPLIED#{marker}", "N"


def alarm(alarm_id: str) -> tuple[str, str]:
    return f"ALARM#{alarm_id}", "A"


def alarm_condition(cid: str, dedup_key: str) -> tuple[str, str]:
    return f"ALARM_KEY#{cid}#{dedup_key}", "K"


def alarms_of(cid: str, status: str) -> str:
    return f"ALARMS#{cid}#{status}"


ALARM_ESCALATION_SHARDS = 4


def alarm_escalation(shard: int) -> str:
    return f"ALARM_ESCALATION#{shard}"
