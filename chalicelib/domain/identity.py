"""Who is calling: signed resident tokens, and phone numbers kept as keyed hashes.

Tokens are ``v1.<payload>.<signature>`` with an HMAC-SHA256 over ``v1.<payload>`` — a compact JWS-like
format with one algorithm only, so there is no ``alg`` header to confuse. Keys are named (``kid``) so the
signing key can rotate while tokens signed with the previous key stay valid until they expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.errors import Unauthorized


class Role(StrEnum):
    RESIDENT = "resident"
    ADMIN = "admin"
    STAFF = "staff"
    PARTNER = "partner"
    DEVICE = "device"  # a door (or other device) calling the hub; subject = thing name


@dataclass(frozen=True)
class Principal:
    role: Role
    subject: str
    community_id: str | None = None
    staff_role: str | None = None  # manager | guard | cleaner, for Role.STAFF

    @property
    def actor(self) -> str:
        """``role:subject``: who did it, as alarms, tasks, notices and orders record it."""
        return f"{self.role.value}:{self.subject}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(key: bytes, kid: str, principal: Principal, now_s: int, ttl_s: int) -> str:
    claims = {"sub": principal.subject, "role": principal.role.value, "kid": kid,
              "iat": now_s, "exp": now_s + ttl_s}
    if principal.community_id:
        claims["cid"] = principal.community_id
    if principal.staff_role:
        claims["srole"] = principal.staff_role
    body = "v1." + _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signature = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


def verify_token(keys: Mapping[str, bytes], token: str, now_s: int) -> Principal:
    """Check the signature in constant time *before* trusting any claim, then the expiry."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != "v1":
        raise Unauthorized("token is malformed", code="invalid_token")
    try:
        claims = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except ValueError as exc:
        raise Unauthorized("token is malformed", code="invalid_token") from exc
    if not isinstance(claims, dict):
        raise Unauthorized("token is malformed", code="invalid_token")
    key = keys.get(str(claims.get("kid")))
    body = f"{parts[0]}.{parts[1]}".encode()
    if key is None or not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest(), signature):
        raise Unauthorized("token signature is invalid", code="invalid_token")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now_s:
        raise Unauthorized("token has expired", code="token_expired")
    try:
        role = Role(claims["role"])
    except (KeyError, ValueError) as exc:
        raise Unauthorized("token is malformed", code="invalid_token") from exc
    return Principal(role=role, subject=str(claims["sub"]), community_id=claims.get("cid"),
                     staff_role=claims.get("srole"))


def phone_key(pepper: bytes, phone: str) -> str:
    """A keyed hash for lookup: equal phones meet, and a table dump reveals no numbers."""
    return hmac.new(pepper, f"phone:{phone}".encode(), hashlib.sha256).hexdigest()


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"


def resident_id_for(pepper: bytes, appid: str, openid: str) -> str:
    """Deterministic, so a first login racing itself creates one resident, not two."""
    digest = hmac.new(pepper, f"wx:{appid}:{openid}".encode(), hashlib.sha256).digest()
    return "r_" + base64.b32encode(digest[:15]).decode().lower()
