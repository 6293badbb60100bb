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
