"""Doors (门禁): the access log, the "someone keeps trying" alarm, and visitor passes.

Every ``access`` message is one entry in its door's log, kept 90 days. Repeated refusals at one door
(``door_denied_limit`` within ``door_denied_window_s``, community settings) raise one alarm; each
refusal counts once however often the device resends it, because refusals are counted by event id.

A visitor pass (访客通行码) is a time-boxed code a resident hands to a visitor; the door scans it as a
QR code and asks the hub whether it is valid. The hub keeps only a hash of the code: the code has 192
random bits, so a plain SHA-256 cannot be reversed and needs no salt or slow hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from chalicelib.domain.errors import BadInput, DomainError, NotFound

ACCESS_LOG_TTL_S = 90 * 24 * 3600
MAX_PASS_DURATION_MS = 7 * 24 * 3600 * 1000
#: a pass's record is kept this long after it ended (the resident's list shows recent ones)
PASS_RETENTION_S = 30 * 24 * 3600
CODE_BYTES = 24  # 192 bits (≥ 128 asked for), 32 url-safe characters
QR_SCHEME = "linli-pass:"
#: door devices are set up once by staff; a token lasts a year (disabling the device revokes it sooner)
DEVICE_TOKEN_TTL_S = 365 * 24 * 3600
MAX_VISITOR_NAME = 40
MAX_DOOR_NAME = 64


@dataclass(frozen=True)
class AccessEntry:
    community_id: str
    door: str
    thing_name: str
    event_id: str
    ts_ms: int
    result: str  # granted | denied
    method: str  # face | qr | card
    pass_id: str | None = None


def denied_burst(refusals: Iterable[tuple[int, str]], limit: int, window_ms: int) -> bool:
    """Do ``limit`` distinct refusals (ts, event id) fit in some window of ``window_ms``?

    Checked over every window, not only the one ending now: a late refusal can complete a burst that
    happened earlier (messages arrive in any order).
    """
    first_seen: dict[str, int] = {}
    for ts, event_id in refusals:
        first_seen[event_id] = min(ts, first_seen.get(event_id, ts))
    times = sorted(first_seen.values())
    return any(times[i + limit - 1] - times[i] <= window_ms for i in range(len(times) - limit + 1))


def check_door(raw: str) -> str:
    if not raw or len(raw) > MAX_DOOR_NAME:
        raise BadInput(f"door is 1–{MAX_DOOR_NAME} characters", code="invalid_door")
    return raw


# ---------------------------------------------------------------------------------------- visitor passes


class PassStatus(StrEnum):
    VALID = "valid"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"


class PassGone(DomainError):
    """The pass existed but cannot open a door any more (expired or revoked): HTTP 410."""

    kind = "gone"
    code = "pass_gone"


class PassUnknown(NotFound):
    code = "pass_not_found"


@dataclass(frozen=True)
class VisitorPass:
    pass_id: str
    community_id: str
    resident_id: str
    building: str
    room: str
    code_hash: str
    valid_from_ms: int
    valid_until_ms: int
    created_at_ms: int
    visitor_name: str | None = None
    revoked_at_ms: int | None = None
    uses: int = 0
    last_used_at_ms: int | None = None

    def status(self, now_ms: int) -> PassStatus:
        if self.revoked_at_ms is not None:
            return PassStatus.REVOKED
        if now_ms >= self.valid_until_ms:
            return PassStatus.EXPIRED
        if now_ms < self.valid_from_ms:
            return PassStatus.NOT_YET_VALID
        return PassStatus.VALID


def hash_code(code: str) -> str:
    return hashlib.sha256(f"visitor-pass:{code}".encode()).hexdigest()


def qr_payload(code: str) -> str:
    """What the QR code holds; the door sends the part after the scheme to the hub."""
    return QR_SCHEME + code


def parse_instant(raw: str, name: str) -> int:
    """ISO-8601 with a zone (``…Z`` or ``…+08:00``) → epoch ms; a time without a zone is ambiguous."""
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadInput(f"{name} is not an ISO-8601 time", code="invalid_pass") from exc
    if parsed.tzinfo is None:
        raise BadInput(f"{name} needs a time zone (e.g. Z or +08:00)", code="invalid_pass")
    return int(parsed.astimezone(UTC).timestamp() * 1000)


def pass_window(valid_from: str | None, valid_until: str, now_ms: int) -> tuple[int, int]:
    """The checked window: it ends after it starts and after now, and lasts at most 7 days."""
    start = now_ms if valid_from is None else parse_instant(valid_from, "valid_from")
    end = parse_instant(valid_until, "valid_until")
    if end <= start or end <= now_ms:
        raise BadInput("valid_until must be after valid_from and in the future", code="invalid_pass")
    if end - start > MAX_PASS_DURATION_MS:
        raise BadInput("a visitor pass lasts at most 7 days", code="invalid_pass")
    return start, end


def check_visitor_name(raw: str | None) -> str | None:
    if raw is None:
        return None
    name = raw.strip()
    if not 1 <= len(name) <= MAX_VISITOR_NAME:
        raise BadInput(f"visitor_name is 1–{MAX_VISITOR_NAME} characters", code="invalid_pass")
    return name
