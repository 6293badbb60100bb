"""Who residents and staff are: WeChat login, phone binding, bearer-token checks."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

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
from chalicelib.ports import Resident
from chalicelib.services import pending_credit
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
    """Bind the phone WeChat vouches for (``getPhoneNumber`` code); stored only as a keyed hash + mask."""
    if not code or len(code) > 256:
        raise BadInput("code is required", code="invalid_code")
    phone = deps.wechat.phone_number(code)
    if not MAINLAND_MOBILE.fullmatch(phone):
        raise BadInput("only mainland mobile numbers can be bound", code="unsupported_phone")
    pepper = deps.secrets.app_secrets().phone_pepper
    key = phone_key(pepper, phone)
    deps.residents.bind_phone(principal.subject, key, mask_phone(phone))
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
    return verify_token(secrets.token_keys, token, deps.clock.now_ms() // 1000)


def require_role(principal: Principal, *roles: Role) -> Principal:
    if principal.role not in roles:
        raise Forbidden("this token may not call this route", code="forbidden")
    return principal
