"""Notices (通知公告) staff publish to a community or some of its buildings, and the TV page's record.

A notice without buildings is for the whole community; residents see those and the ones naming their
building. The elderly feed on the cable-TV channel (``GET /tv/{cid}``) shows only whole-community
notices, with the service phone numbers and a weather note staff keep in the community's TV record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.errors import BadInput

MAX_TITLE = 100
MAX_BODY = 4000
MAX_BUILDINGS = 100
MAX_BUILDING = 20  # as a residence's building (services/identity.MAX_ADDRESS_PART)
MAX_PHONES = 20
MAX_WEATHER_NOTE = 200
MAX_LISTED = 100  # notices kept visible at once per community
PHONE_TEXT = re.compile(r"[0-9+()\- ]{3,20}")  # use fullmatch; "110", "0571-8888 8888", "+86 138…"


@dataclass(frozen=True)
class Notice:
    notice_id: str
    community_id: str
    title: str
    body: str
    buildings: tuple[str, ...]  # empty: the whole community
    published_at_ms: int
    expires_at_ms: int | None = None
    published_by: str = ""

    def current(self, now_ms: int) -> bool:
        return self.expires_at_ms is None or self.expires_at_ms > now_ms

    def for_building(self, building: str | None) -> bool:
        return not self.buildings or (building is not None and building in self.buildings)


@dataclass(frozen=True)
class ServicePhone:
    name: str
    phone: str


@dataclass(frozen=True)
class TvInfo:
    service_phones: tuple[ServicePhone, ...] = ()
    weather_note: str = ""


def _text(raw: Any, name: str, maximum: int, code: str) -> str:
    if not isinstance(raw, str) or not 1 <= len(raw.strip()) <= maximum:
        raise BadInput(f"{name} is 1–{maximum} characters", code=code)
    return raw.strip()


def parse_expiry(raw: Any, now_ms: int) -> int | None:
    """ISO-8601 with a zone (``2026-03-01T08:00:00+08:00`` or ``…Z``), in the future; None: no expiry."""
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise BadInput("expires_at is an ISO-8601 time with a zone", code="invalid_notice")
    expires_ms = int(at.timestamp() * 1000)
    if expires_ms <= now_ms:
        raise BadInput("expires_at is in the past", code="invalid_notice")
    return expires_ms


def new_notice(notice_id: str, community_id: str, body: Mapping[str, Any], now_ms: int, by: str) -> Notice:
    buildings = body.get("buildings") or []
    if not isinstance(buildings, list) or len(buildings) > MAX_BUILDINGS:
        raise BadInput(f"buildings is a list of at most {MAX_BUILDINGS}", code="invalid_notice")
    names = tuple(sorted({_text(b, "a building", MAX_BUILDING, "invalid_notice") for b in buildings}))
    return Notice(notice_id=notice_id, community_id=community_id,
                  title=_text(body.get("title"), "title", MAX_TITLE, "invalid_notice"),
                  body=_text(body.get("body"), "body", MAX_BODY, "invalid_notice"), buildings=names,
                  published_at_ms=now_ms, expires_at_ms=parse_expiry(body.get("expires_at"), now_ms),
                  published_by=by)


def parse_tv_info(body: Mapping[str, Any]) -> TvInfo:
    raw_phones = body.get("service_phones") or []
    if not isinstance(raw_phones, list) or len(raw_phones) > MAX_PHONES:
        raise BadInput(f"service_phones is a list of at most {MAX_PHONES}", code="invalid_tv")
    phones = []
    for entry in raw_phones:
        if not isinstance(entry, Mapping):
            raise BadInput("each service phone is {\"name\", \"phone\"}", code="invalid_tv")
        phone = _text(entry.get("phone"), "phone", 20, "invalid_tv")
        if not PHONE_TEXT.fullmatch(phone):
            raise BadInput(f"phone {phone!r} is not a phone number", code="invalid_tv")
        phones.append(ServicePhone(name=_text(entry.get("name"), "name", 30, "invalid_tv"), phone=phone))
    note = body.get("weather_note") or ""
    if not isinstance(note, str) or len(note) > MAX_WEATHER_NOTE:
        raise BadInput(f"weather_note is at most {MAX_WEATHER_NOTE} characters", code="invalid_tv")
    return TvInfo(service_phones=tuple(phones), weather_note=note.strip())
