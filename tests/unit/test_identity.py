"""Who is calling: signed tokens, key rotation, phone privacy, WeChat login, phone binding, bearer auth."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from chalicelib.domain.errors import (
    BadInput,
    Forbidden,
    NotFound,
    PhoneTaken,
    Unauthorized,
    UpstreamUnavailable,
    WeChatCodeInvalid,
)
from chalicelib.domain.identity import (
    Principal,
    Role,
    issue_token,
    mask_phone,
    phone_key,
    resident_id_for,
    verify_token,
)
from chalicelib.services import identity
from tests.support.fakes import ADMIN_TOKEN, PHONE_PEPPER, SIGNING_KEY, Fakes

NOW_S = 1_767_225_600
KEYS = {"k1": SIGNING_KEY}
ALICE = Principal(role=Role.RESIDENT, subject="r_alice")


def token_for(principal: Principal = ALICE, *, key: bytes = SIGNING_KEY, kid: str = "k1", now_s: int = NOW_S,
              ttl_s: int = 3600) -> str:
    return issue_token(key, kid, principal, now_s, ttl_s)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    assert isinstance(claims, dict)
    return claims


def unauthorized_code(keys: dict[str, bytes], token: str, now_s: int = NOW_S) -> str:
    with pytest.raises(Unauthorized) as caught:
        verify_token(keys, token, now_s)
    return caught.value.code


# -------------------------------------------------------------------------------------------- tokens


def test_an_issued_token_verifies_to_its_principal() -> None:
    assert verify_token(KEYS, token_for(), NOW_S) == ALICE
    staff = Principal(role=Role.STAFF, subject="s_1", community_id="c_1")
    assert verify_token(KEYS, token_for(staff), NOW_S) == staff


def test_a_token_says_who_signed_it_and_until_when() -> None:
    claims = _claims(token_for(ttl_s=600))
    assert claims == {"sub": "r_alice", "role": "resident", "kid": "k1", "iat": NOW_S, "exp": NOW_S + 600}


def test_a_token_signed_with_another_key_is_refused() -> None:
    assert unauthorized_code(KEYS, token_for(key=b"someone-elses-key")) == "invalid_token"


def test_a_token_with_a_tampered_payload_is_refused() -> None:
    token = token_for()
    claims = _claims(token)
    claims["role"] = "admin"
    version, _, signature = token.split(".")
    forged = f"{version}.{_b64(json.dumps(claims).encode())}.{signature}"
    assert unauthorized_code(KEYS, forged) == "invalid_token"


def test_a_token_with_a_tampered_expiry_is_refused() -> None:
    token = token_for(now_s=NOW_S - 7200)
    claims = _claims(token)
    claims["exp"] = NOW_S + 10 ** 6
    _, _, signature = token.split(".")
    assert unauthorized_code(KEYS, f"v1.{_b64(json.dumps(claims).encode())}.{signature}") == "invalid_token"


def test_a_token_is_valid_until_its_expiry_and_not_at_it() -> None:
    token = token_for(ttl_s=60)
    assert verify_token(KEYS, token, NOW_S + 59) == ALICE
    assert unauthorized_code(KEYS, token, NOW_S + 60) == "token_expired"
    assert unauthorized_code(KEYS, token, NOW_S + 10 ** 6) == "token_expired"


def test_a_token_naming_an_unknown_key_is_refused() -> None:
    assert unauthorized_code(KEYS, token_for(kid="k9")) == "invalid_token"
    # even when it is really signed with a key we know, under another name
    assert unauthorized_code(KEYS, token_for(key=SIGNING_KEY, kid="k2")) == "invalid_token"


@pytest.mark.parametrize("token", [
    "",
    "garbage",
    "v1.only-two",
    "v1.a.b.c",
    "v2." + token_for().split(".", 1)[1],
    "v1.%%%%.%%%%",
    "v1..",
    "v1." + _b64(b"[1, 2]") + ".c2ln",
    "v1." + _b64(b"not json") + ".c2ln",
    "v1." + _b64("不是".encode()) + ".c2ln",
    "v1.ünïcödé.sig",
])
def test_a_malformed_token_is_refused_without_an_error(token: str) -> None:
    assert unauthorized_code(KEYS, token) == "invalid_token"


def test_a_properly_signed_token_with_an_unknown_role_is_refused() -> None:
    body = "v1." + _b64(json.dumps({"sub": "x", "role": "root", "kid": "k1", "iat": NOW_S,
                                    "exp": NOW_S + 60}).encode())
    token = body + "." + _b64(hmac.new(SIGNING_KEY, body.encode(), hashlib.sha256).digest())
    assert unauthorized_code(KEYS, token) == "invalid_token"


def test_after_rotation_tokens_signed_with_the_previous_key_still_verify() -> None:
    old = token_for(kid="k1", key=SIGNING_KEY)
    new = token_for(kid="k2", key=b"the-new-key")
    rotated = {"k2": b"the-new-key", "k1": SIGNING_KEY}
    assert verify_token(rotated, old, NOW_S) == ALICE
    assert verify_token(rotated, new, NOW_S) == ALICE
    # once the previous key is retired, its tokens stop working
    assert unauthorized_code({"k2": b"the-new-key"}, old) == "invalid_token"


# ---------------------------------------------------------------------------------------- phones


def test_a_phone_is_looked_up_by_a_keyed_hash_that_does_not_reveal_it() -> None:
    key = phone_key(b"pepper", "13800138000")
    assert key == phone_key(b"pepper", "13800138000")
    assert key != phone_key(b"pepper", "13800138001")
    assert key != phone_key(b"other-pepper", "13800138000")
    assert "13800138000" not in key and "8000" not in key
    assert len(key) == 64


def test_a_phone_is_shown_masked() -> None:
    assert mask_phone("13800138000") == "138****8000"


def test_a_resident_id_is_stable_per_app_and_openid() -> None:
    rid = resident_id_for(b"pepper", "wx-app", "openid-1")
    assert rid == resident_id_for(b"pepper", "wx-app", "openid-1")
    assert rid.startswith("r_")
    assert rid != resident_id_for(b"pepper", "wx-app", "openid-2")
    assert rid != resident_id_for(b"pepper", "wx-other-app", "openid-1")
    assert "openid-1" not in rid


# -------------------------------------------------------------------------------- WeChat login


def test_login_exchanges_a_wechat_code_for_a_resident_token(fakes: Fakes) -> None:
    login = identity.login_with_wechat(fakes.deps, "sandbox-openid-alice")

    assert login.expires_in == fakes.deps.token_ttl_s
    principal = verify_token(KEYS, login.token, fakes.clock.now_ms() // 1000)
    assert principal == Principal(role=Role.RESIDENT, subject=login.resident_id)
    assert _claims(login.token)["exp"] == fakes.clock.now_ms() // 1000 + fakes.deps.token_ttl_s
    resident = fakes.residents.items[login.resident_id]
    assert resident.openid == "openid-alice"
    assert resident.created_at_ms == fakes.clock.now_ms()
    assert fakes.residents.session_keys[login.resident_id] == "session-key-of-openid-alice"
    assert "session" not in login.token


def test_logging_in_again_is_the_same_resident(fakes: Fakes) -> None:
    first = identity.login_with_wechat(fakes.deps, "sandbox-openid-alice")
    fakes.clock.advance(3_600_000)
    second = identity.login_with_wechat(fakes.deps, "sandbox-openid-alice")
    assert second.resident_id == first.resident_id
    assert len(fakes.residents.items) == 1
    assert fakes.residents.items[first.resident_id].created_at_ms == fakes.clock.now_ms() - 3_600_000
    other = identity.login_with_wechat(fakes.deps, "sandbox-openid-bob")
    assert other.resident_id != first.resident_id


def test_login_with_a_code_wechat_refuses_fails_and_creates_nobody(fakes: Fakes) -> None:
    with pytest.raises(WeChatCodeInvalid):
        identity.login_with_wechat(fakes.deps, "used-or-made-up")
    assert fakes.residents.items == {}


@pytest.mark.parametrize("code", ["", "x" * 257])
def test_login_without_a_sensible_code_is_bad_input_and_asks_wechat_nothing(fakes: Fakes, code: str) -> None:
    with pytest.raises(BadInput) as caught:
        identity.login_with_wechat(fakes.deps, code)
    assert caught.value.code == "invalid_code"
    assert fakes.wechat.codes_seen == []


def test_login_while_wechat_is_down_is_surfaced_not_swallowed(fakes: Fakes) -> None:
    fakes.wechat.down = True
    with pytest.raises(UpstreamUnavailable):
        identity.login_with_wechat(fakes.deps, "sandbox-openid-alice")
    assert fakes.residents.items == {}


def test_login_signs_with_the_current_key_after_rotation(fakes: Fakes) -> None:
    before = identity.login_with_wechat(fakes.deps, "sandbox-openid-alice")
    fakes.secrets.rotate("k2", b"rotated-signing-key")
    after = identity.login_with_wechat(fakes.deps, "sandbox-openid-alice")
    assert _claims(after.token)["kid"] == "k2"
    for login in (before, after):
        assert identity.authenticate(fakes.deps, f"Bearer {login.token}").subject == login.resident_id


# -------------------------------------------------------------------------------- phone binding


def _resident(fakes: Fakes, openid: str) -> Principal:
    login = identity.login_with_wechat(fakes.deps, f"sandbox-{openid}")
    return Principal(role=Role.RESIDENT, subject=login.resident_id)


def test_binding_a_phone_stores_only_its_keyed_hash_and_mask(fakes: Fakes) -> None:
    alice = _resident(fakes, "alice")
    resident = identity.bind_phone(fakes.deps, alice, "sandbox-phone-13800138000")
    assert resident.phone_masked == "138****8000"
    assert resident.phone_key == phone_key(PHONE_PEPPER, "13800138000")
    assert fakes.residents.phones == {phone_key(PHONE_PEPPER, "13800138000"): alice.subject}
    assert "13800138000" not in repr(fakes.residents.items)


def test_a_phone_another_resident_holds_is_taken(fakes: Fakes) -> None:
    alice, bob = _resident(fakes, "alice"), _resident(fakes, "bob")
    identity.bind_phone(fakes.deps, alice, "sandbox-phone-13800138000")
    with pytest.raises(PhoneTaken):
        identity.bind_phone(fakes.deps, bob, "sandbox-phone-13800138000")
    assert identity.current_resident(fakes.deps, bob).phone_key is None
    assert identity.current_resident(fakes.deps, alice).phone_masked == "138****8000"


def test_binding_the_same_phone_again_is_fine(fakes: Fakes) -> None:
    alice = _resident(fakes, "alice")
    identity.bind_phone(fakes.deps, alice, "sandbox-phone-13800138000")
    assert identity.bind_phone(fakes.deps, alice, "sandbox-phone-13800138000").phone_masked == "138****8000"


def test_rebinding_moves_the_phone_and_frees_the_old_one(fakes: Fakes) -> None:
    alice, bob = _resident(fakes, "alice"), _resident(fakes, "bob")
    identity.bind_phone(fakes.deps, alice, "sandbox-phone-13800138000")

    moved = identity.bind_phone(fakes.deps, alice, "sandbox-phone-13900139000")

    assert moved.phone_masked == "139****9000"
    assert identity.bind_phone(fakes.deps, bob, "sandbox-phone-13800138000").phone_masked == "138****8000"
    assert fakes.residents.phones == {phone_key(PHONE_PEPPER, "13900139000"): alice.subject,
                                      phone_key(PHONE_PEPPER, "13800138000"): bob.subject}


@pytest.mark.parametrize("phone", ["85291234567", "12345678901", "1380013800", "4155550100"])
def test_only_mainland_mobiles_can_be_bound(fakes: Fakes, phone: str) -> None:
    alice = _resident(fakes, "alice")
    with pytest.raises(BadInput) as caught:
        identity.bind_phone(fakes.deps, alice, f"sandbox-phone-{phone}")
    assert caught.value.code == "unsupported_phone"
    assert fakes.residents.phones == {}


def test_a_phone_code_wechat_refuses_binds_nothing(fakes: Fakes) -> None:
    alice = _resident(fakes, "alice")
    with pytest.raises(WeChatCodeInvalid):
        identity.bind_phone(fakes.deps, alice, "made-up")
    with pytest.raises(BadInput):
        identity.bind_phone(fakes.deps, alice, "")
    assert fakes.residents.phones == {}


def test_a_token_of_a_resident_who_does_not_exist_finds_nobody(fakes: Fakes) -> None:
    ghost = Principal(role=Role.RESIDENT, subject="r_ghost")
    with pytest.raises(NotFound):
        identity.current_resident(fakes.deps, ghost)
    with pytest.raises(NotFound):
        identity.bind_phone(fakes.deps, ghost, "sandbox-phone-13800138000")


# -------------------------------------------------------------------------------- authenticate


def test_the_admin_token_authenticates_as_admin(fakes: Fakes) -> None:
    assert identity.authenticate(fakes.deps, f"Bearer {ADMIN_TOKEN}") == Principal(role=Role.ADMIN,
                                                                                   subject="admin")
    assert identity.authenticate(fakes.deps, f"bearer {ADMIN_TOKEN}").role is Role.ADMIN


def test_a_resident_token_authenticates_as_that_resident(fakes: Fakes) -> None:
    login = identity.login_with_wechat(fakes.deps, "sandbox-openid-alice")
    principal = identity.authenticate(fakes.deps, f"Bearer {login.token}")
    assert principal == Principal(role=Role.RESIDENT, subject=login.resident_id)


@pytest.mark.parametrize(("header", "code"), [
    (None, "missing_token"),
    ("", "missing_token"),
    ("Bearer", "invalid_token"),
    ("Bearer    ", "invalid_token"),
    (f"Basic {ADMIN_TOKEN}", "invalid_token"),
    (ADMIN_TOKEN, "invalid_token"),
    ("Bearer not-a-token", "invalid_token"),
    (f"Bearer {ADMIN_TOKEN}x", "invalid_token"),
    (f"Bearer {ADMIN_TOKEN[:-1]}", "invalid_token"),
])
def test_a_missing_or_bad_header_is_unauthorized(fakes: Fakes, header: str | None, code: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        identity.authenticate(fakes.deps, header)
    assert caught.value.code == code


def test_an_expired_resident_token_is_unauthorized(fakes: Fakes) -> None:
    login = identity.login_with_wechat(fakes.deps, "sandbox-openid-alice")
    fakes.clock.advance(fakes.deps.token_ttl_s * 1000)
    with pytest.raises(Unauthorized) as caught:
        identity.authenticate(fakes.deps, f"Bearer {login.token}")
    assert caught.value.code == "token_expired"


def test_roles_are_enforced() -> None:
    admin = Principal(role=Role.ADMIN, subject="admin")
    assert identity.require_role(admin, Role.ADMIN) is admin
    with pytest.raises(Forbidden):
        identity.require_role(ALICE, Role.ADMIN)
    with pytest.raises(Forbidden):
        identity.require_role(admin, Role.RESIDENT)
