"""A community's services (服务目录): what residents can order, at what price, fulfilled by whom.

Prices are whole fen; 0 is a free property service (laundry rescue when it rains). A service is
fulfilled by partner companies (offered to each partner that covers it, one at a time) or by the
property's own staff (it lands in the staff work list).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import BadInput

SERVICE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")
MAX_PRICE_FEN = 1_000_000  # 10,000 CNY: a home service priced above that is a typo
#: acceptance SLA bounds: long enough for a human to read the offer, short enough to matter
ACCEPT_SLA_RANGE_S = (60, 24 * 3600)
COMPLETE_SLA_RANGE_S = (300, 30 * 24 * 3600)


class FulfilledBy(StrEnum):
    PARTNER = "partner"
    STAFF = "staff"


@dataclass(frozen=True)
class Service:
    community_id: str
    service_id: str
    name: str
    price_fen: int
    fulfilled_by: FulfilledBy
    accept_sla_s: int
    complete_sla_s: int
    active: bool = True

    @property
    def is_free(self) -> bool:
        return self.price_fen == 0


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadInput(f"{name} must be a whole number from {low} to {high}", code="invalid_service")
    return value


def define_service(community_id: str, service_id: str, raw: dict[str, Any]) -> Service:
    """Validate a staff member's service definition strictly: money and timers are whole numbers."""
    if not SERVICE_ID.fullmatch(service_id):
        raise BadInput("service_id is 1–48 of a-z, 0-9, '_' and '-'", code="invalid_service")
    name = raw.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 60:
        raise BadInput("name is 1–60 characters", code="invalid_service")
    try:
        fulfilled_by = FulfilledBy(str(raw.get("fulfilled_by")))
    except ValueError as exc:
        raise BadInput("fulfilled_by is 'partner' or 'staff'", code="invalid_service") from exc
    price = _whole(raw.get("price_fen"), "price_fen", 0, MAX_PRICE_FEN)
    accept = _whole(raw.get("accept_sla_s", 600), "accept_sla_s", *ACCEPT_SLA_RANGE_S)
    complete = _whole(raw.get("complete_sla_s", 4 * 3600), "complete_sla_s", *COMPLETE_SLA_RANGE_S)
    active = raw.get("active", True)
    if not isinstance(active, bool):
        raise BadInput("active is true or false", code="invalid_service")
    return Service(community_id, service_id, name.strip(), price, fulfilled_by, accept, complete, active)
