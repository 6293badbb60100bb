"""Property staff (物业人员) and what each role may do inside its one community.

DESIGN §5: a staff token may call its community's admin routes that its role allows — a manager all of
them, a guard the alarms, a cleaner the tasks (cleaning tasks and staff work orders). The admin token
may call everything everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.device_messages import MAINLAND_MOBILE
from chalicelib.domain.errors import BadInput, Forbidden

#: staff tokens are handed out on paper or by message; they outlive a resident's session
STAFF_TOKEN_TTL_S = 180 * 24 * 3600


class StaffRole(StrEnum):
    MANAGER = "manager"
    GUARD = "guard"
    CLEANER = "cleaner"


class Area(StrEnum):
    """What a route is about, for the role check."""

    MANAGE = "manage"  # communities, devices, prices, settings, services, partners, staff, ledger
    ALARMS = "alarms"
    TASKS = "tasks"  # cleaning tasks and staff work orders (free property services, escalations)


ALLOWED: dict[StaffRole, frozenset[Area]] = {
    StaffRole.MANAGER: frozenset(Area),
    StaffRole.GUARD: frozenset({Area.ALARMS}),
    StaffRole.CLEANER: frozenset({Area.TASKS}),
}


@dataclass(frozen=True)
class StaffMember:
    staff_id: str
    community_id: str
    name: str
    role: StaffRole
    created_at_ms: int


def parse_role(raw: object) -> StaffRole:
    try:
        return StaffRole(str(raw))
    except ValueError as exc:
        raise BadInput("role is manager, guard or cleaner", code="invalid_staff") from exc


def check_name(raw: object) -> str:
    if not isinstance(raw, str) or not 1 <= len(raw.strip()) <= 60:
        raise BadInput("name is 1–60 characters", code="invalid_staff")
    return raw.strip()


def check_phone(raw: object) -> str | None:
    """The optional mainland mobile a staff member is texted at (stored sealed, never shown again)."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not MAINLAND_MOBILE.fullmatch(raw):
        raise BadInput("phone is an 11-digit mainland mobile number", code="invalid_staff")
    return raw


def require_area(role: str | None, area: Area) -> None:
    try:
        allowed = ALLOWED[StaffRole(str(role))]
    except ValueError as exc:
        raise Forbidden("this staff token has no role", code="forbidden") from exc
    if area not in allowed:
        raise Forbidden(f"a {role} may not do this", code="forbidden")
