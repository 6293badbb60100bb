"""Partner companies (合作商家) that fulfil a community's services, and how they prove who they are.

A partner's API key is ``lpk_<partner id>.<secret>``: the id part finds the partner in one read, the
secret part is compared — as a keyed hash, in constant time — with the stored hash, so a table dump
reveals no usable key. Keys rotate: the previous key keeps working for ``KEY_OVERLAP_MS`` so a partner
can deploy the new one without downtime.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from chalicelib.domain.errors import BadInput, Unauthorized

KEY_PREFIX = "lpk_"
KEY_OVERLAP_MS = 24 * 3600 * 1000
STRIPE_ACCOUNT = re.compile(r"acct_[A-Za-z0-9]{6,64}")
MAX_SERVICES = 50


@dataclass(frozen=True)
class KeyHash:
    digest: str
    expires_at_ms: int | None = None  # None: the current key


@dataclass(frozen=True)
class Partner:
    partner_id: str
    community_id: str
    name: str
    services: tuple[str, ...]
    stripe_account: str | None
    created_at_ms: int
    key_hashes: tuple[KeyHash, ...] = field(default_factory=tuple)
    active: bool = True


def hash_key(pepper: bytes, secret: str) -> str:
    return hmac.new(pepper, f"partner-key:{secret}".encode(), hashlib.sha256).hexdigest()


def new_api_key(pepper: bytes, partner_id: str) -> tuple[str, KeyHash]:
    """A fresh key (shown once) and the hash kept of it."""
    secret = base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=")
    return f"{KEY_PREFIX}{partner_id}.{secret}", KeyHash(hash_key(pepper, secret))


def rotated(current: tuple[KeyHash, ...], fresh: KeyHash, now_ms: int) -> tuple[KeyHash, ...]:
    """The new key becomes current; the old current one stays valid for a day; expired ones go."""
    kept = [KeyHash(h.digest, now_ms + KEY_OVERLAP_MS) if h.expires_at_ms is None else h
            for h in current if h.expires_at_ms is None or h.expires_at_ms > now_ms]
    return (fresh, *kept)


def partner_id_of_key(key: str) -> str:
    if not key.startswith(KEY_PREFIX) or "." not in key:
        raise Unauthorized("partner API key is malformed", code="invalid_token")
    return key[len(KEY_PREFIX):].split(".", 1)[0]


def key_matches(partner: Partner, pepper: bytes, key: str, now_ms: int) -> bool:
    secret = key.split(".", 1)[1] if "." in key else ""
    digest = hash_key(pepper, secret)
    ok = False
    for known in partner.key_hashes:  # compare with every live key: no early exit to time
        live = known.expires_at_ms is None or known.expires_at_ms > now_ms
        ok |= hmac.compare_digest(known.digest, digest) and live
    return ok


def check_registration(name: object, services: object,
                       stripe_account: object) -> tuple[str, tuple[str, ...], str | None]:
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
        raise BadInput("name is 1–100 characters", code="invalid_partner")
    if not isinstance(services, list) or not 1 <= len(services) <= MAX_SERVICES \
            or not all(isinstance(s, str) and s for s in services):
        raise BadInput(f"services is a list of 1–{MAX_SERVICES} service ids", code="invalid_partner")
    if stripe_account is not None and (not isinstance(stripe_account, str)
                                       or not STRIPE_ACCOUNT.fullmatch(stripe_account)):
        raise BadInput("stripe_account is a Stripe connected account id (acct_…)", code="invalid_partner")
    return name.strip(), tuple(dict.fromkeys(services)), stripe_account
