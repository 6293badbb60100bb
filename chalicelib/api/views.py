"""How domain objects look on the wire (DESIGN §5): ISO-8601 UTC times, masked phones, no secrets."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.community import Community
from chalicelib.domain.devices import Device
from chalicelib.domain.ledger import Entry
from chalicelib.domain.recycling import WeighinRecord
from chalicelib.domain.rejects import Reject
from chalicelib.domain.withdrawals import Withdrawal
from chalicelib.ports import Page, Resident


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def community(c: Community) -> dict[str, Any]:
    return {"community_id": c.community_id, "name": c.name, "created_at": iso(c.created_at_ms)}


def device(d: Device) -> dict[str, Any]:
    last_event = None
    if d.last_event is not None:
        last_event = {"kind": d.last_event.kind, "event_id": d.last_event.event_id, "ts": iso(d.last_event.ts_ms)}
    return {"thing_name": d.thing_name, "community_id": d.community_id, "type": d.type.value,
            "status": d.status.value, "registered_at": iso(d.registered_at_ms),
            "last_seen": iso(d.last_seen_ms), "last_event": last_event, "building": d.building, "room": d.room,
            "location": d.location, "serial": d.serial, "certificate_id": d.certificate_id,
            "provisioned_at": iso(d.provisioned_at_ms)}


def reject(r: Reject) -> dict[str, Any]:
    payload: Any = r.payload
    with contextlib.suppress(ValueError):
        payload = json.loads(r.payload)
    return {"thing_name": r.thing_name, "kind": r.kind, "reason": r.reason.value, "detail": r.detail,
            "received_at": iso(r.received_at_ms), "payload": payload, "topic": r.topic,
            "client_id": r.client_id, "event_id": r.event_id}


def resident(r: Resident) -> dict[str, Any]:
    residence = None
    if r.community_id:
        residence = {"community_id": r.community_id, "building": r.building, "room": r.room}
    return {"resident_id": r.resident_id, "phone": r.phone_masked, "phone_bound": r.phone_key is not None,
            "residence": residence, "created_at": iso(r.created_at_ms)}


def page(p: Page[Any], shape: Any) -> dict[str, Any]:
    return {"items": [shape(item) for item in p.items], "next_cursor": p.next_cursor}


def entry(e: Entry) -> dict[str, Any]:
    memo = dict(e.memo)
    counterparty = memo.pop("counterparty", None)
    return {"transfer_id": e.transfer_id, "kind": e.kind.value, "amount_fen": e.amount_fen,
            "at": iso(e.at_ms), "counterparty": counterparty, "memo": memo}


def weighin(w: WeighinRecord) -> dict[str, Any]:
    return {"community_id": w.community_id, "thing_name": w.thing_name, "event_id": w.event_id,
            "category": w.category, "weight_g": w.weight_g, "price_fen_per_kg": w.price_fen_per_kg,
            "credit_fen": w.credit_fen, "ts": iso(w.ts_ms), "received_at": iso(w.received_at_ms),
            "phone": w.phone_masked, "held_for_phone": w.resident_id is None}


def withdrawal(w: Withdrawal) -> dict[str, Any]:
    return {"withdrawal_id": w.withdrawal_id, "out_bill_no": w.out_bill_no, "amount_fen": w.amount_fen,
            "status": w.status.value, "package_info": w.package_info, "fail_reason": w.fail_reason,
            "created_at": iso(w.created_at_ms), "updated_at": iso(w.updated_at_ms)}
