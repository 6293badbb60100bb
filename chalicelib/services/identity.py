"""Who residents and staff are: WeChat login, phone binding, bearer-token checks."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.device_messages import MAINLAND_MOBILE
from chalicelib.domain.errors import BadInput, Forbidden, NotFound, Unauthorized
from chalicelib.domain.identity import (
    Principal,
    Role,
    issue_token,
    mask_phone,
    phone_key,
    resident_id_for,
    verify_token,
)
from chalicelib.domain.partners import KEY_PREFIX as PARTNER_KEY_PREFIX
from chalicelib.domain.staff import Area, require_area
from chalicelib.ports import Resident
from chalicelib.services import communities, pending_credit
from chalicelib.services.deps import Deps


@dataclass(frozen=True)
class Login:
    token: str
    resident_id: str
    expires_in: int


def login_with_wechat(deps: Deps, code: str) -> Login:
    """Exchange a ``wx.login`` code for a hub token. The WeChat session key stays on the server."""
    if not code or len(code) > 256:
        raise BadInput("code is required", code="invalid_code")
    session = deps.wechat.code_to_session(code)
    secrets = deps.secrets.app_secrets()
    now_ms = deps.clock.now_ms()
    resident = deps.residents.login(
        Resident(resident_id=resident_id_for(secrets.phone_pepper, deps.wechat.appid, session.openid),
                 openid=session.openid, created_at_ms=now_ms),
        session_key=session.session_key)
    principal = Principal(role=Role.RESIDENT, subject=resident.resident_id)
    token = issue_token(secrets.token_keys[secrets.current_kid], secrets.current_kid, principal,
                        now_ms // 1000, deps.token_ttl_s)
    return Login(token=token, resident_id=resident.resident_id, expires_in=deps.token_ttl_s)


def bind_phone(deps: Deps, principal: Principal, code: str) -> Resident:
    """Bind the phone WeChat vouches for (``getPhoneNumber`` code): a keyed hash + mask, and sealed for SMS."""
    if not code or len(code) > 256:
        raise BadInput("code is required", code="invalid_code")
    phone = deps.wechat.phone_number(code)
    if not MAINLAND_MOBILE.fullmatch(phone):
        raise BadInput("only mainland mobile numbers can be bound", code="unsupported_phone")
    pepper = deps.secrets.app_secrets().phone_pepper
    key = phone_key(pepper, phone)
    deps.residents.bind_phone(principal.subject, key, mask_phone(phone))
    if deps.notify_deps is not None:  # sealed (AES-GCM), for SMS when no subscribe message may be sent
        deps.notify_deps.contacts.set_phone(f"resident:{principal.subject}", phone)
    pending_credit.claim_pending(deps, principal.subject, key)
    return current_resident(deps, principal)


def current_resident(deps: Deps, principal: Principal) -> Resident:
    resident = deps.residents.get(principal.subject)
    if resident is None:
        raise NotFound("resident not found", code="resident_not_found")
    return resident


def authenticate(deps: Deps, authorization: str | None) -> Principal:
    """``Authorization: Bearer <token>`` → who is calling, or Unauthorized."""
    if not authorization:
        raise Unauthorized("Authorization header is missing", code="missing_token")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("use Authorization: Bearer <token>", code="invalid_token")
    secrets = deps.secrets.app_secrets()
    if hmac.compare_digest(token.encode(), secrets.admin_token.encode()):
        return Principal(role=Role.ADMIN, subject="admin")
    if token.startswith(PARTNER_KEY_PREFIX):
        from chalicelib.services import partners  # partners → webhooks → identity would be a cycle

        return partners.authenticate(deps, token)
    return verify_token(secrets.token_keys, token, deps.clock.now_ms() // 1000)


def require_role(principal: Principal, *roles: Role) -> Principal:
    if principal.role not in roles:
        raise Forbidden("this token may not call this route", code="forbidden")
    return principal


def require_community_access(principal: Principal, community_id: str, area: Area) -> None:
    """The admin token may act anywhere; a staff token only in its community and its role's area."""
    if principal.role is Role.ADMIN:
        return
    if principal.role is not Role.STAFF or principal.community_id != community_id:
        raise Forbidden("this token may not act in this community", code="forbidden")
    require_area(principal.staff_role, area)


MAX_ADDRESS_PART = 20


def set_residence(deps: Deps, principal: Principal, body: Mapping[str, Any]) -> Resident:
    """Where the resident lives: orders are for this community, building and room."""
    community_id, building, room = body.get("community_id"), body.get("building"), body.get("room")
    for name, value in (("building", building), ("room", room)):
        if not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_ADDRESS_PART:
            raise BadInput(f"{name} is 1–{MAX_ADDRESS_PART} characters", code="invalid_residence")
    if not isinstance(community_id, str):
        raise BadInput("community_id is required", code="invalid_residence")
    communities.require_community(deps, community_id)
    assert isinstance(building, str) and isinstance(room, str)
    deps.residents.set_residence(principal.subject, community_id, building.strip(), room.strip())
    if deps.household_book is not None:  # who lives there, for alarms about a household (a leak)
        deps.household_book.add_resident(community_id, building.strip(), room.strip(), principal.subject,
                                         deps.clock.now_ms())
    return current_resident(deps, principal)
