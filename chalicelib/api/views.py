"""How domain objects look on the wire (DESIGN §5): ISO-8601 UTC times, masked phones, no secrets."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.community import Community
from chalicelib.domain.devices import Device
from chalicelib.domain.rejects import Reject
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
            "last_seen": iso(d.last_seen_ms), "last_event": last_event}


def reject(r: Reject) -> dict[str, Any]:
    payload: Any = r.payload
    with contextlib.suppress(ValueError):
        payload = json.loads(r.payload)
    return {"thing_name": r.thing_name, "kind": r.kind, "reason": r.reason.value, "detail": r.detail,
            "received_at": iso(r.received_at_ms), "payload": payload, "topic": r.topic,
            "client_id": r.client_id, "event_id": r.event_id}


def resident(r: Resident) -> dict[str, Any]:
    return {"resident_id": r.resident_id, "phone": r.phone_masked, "phone_bound": r.phone_key is not None,
            "created_at": iso(r.created_at_ms)}


def page(p: Page[Any], shape: Any) -> dict[str, Any]:
    return {"items": [shape(item) for item in p.items], "next_cursor": p.next_cursor}
