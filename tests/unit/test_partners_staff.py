"""Partner API keys (hashed, rotatable with a day's overlap) and what each staff role may do."""

from __future__ import annotations

import pytest

from chalicelib.domain import partners
from chalicelib.domain.errors import BadInput, Forbidden, Unauthorized
from chalicelib.domain.identity import Principal, Role, issue_token, verify_token
from chalicelib.domain.partners import Partner
from chalicelib.domain.staff import Area, require_area

PEPPER = b"pepper"
T0 = 1_767_225_600_000
DAY = 24 * 3600 * 1000


def partner_with(*hashes: partners.KeyHash) -> Partner:
    return Partner("p_1", "c_1", "洁净家政", ("cleaning",), None, T0, key_hashes=hashes)


def test_a_key_names_its_partner_and_only_its_hash_is_kept() -> None:
    key, kept = partners.new_api_key(PEPPER, "p_1")
    assert key.startswith("lpk_p_1.") and key.split(".", 1)[1] not in kept.digest
    assert partners.partner_id_of_key(key) == "p_1"
    partner = partner_with(kept)
    assert partners.key_matches(partner, PEPPER, key, T0)
    assert not partners.key_matches(partner, PEPPER, key + "x", T0)
    assert not partners.key_matches(partner, b"other pepper", key, T0)


def test_rotation_keeps_the_old_key_for_a_day_only() -> None:
    old_key, old = partners.new_api_key(PEPPER, "p_1")
    new_key, new = partners.new_api_key(PEPPER, "p_1")
    partner = partner_with(*partners.rotated((old,), new, T0))
    assert partners.key_matches(partner, PEPPER, new_key, T0)
    assert partners.key_matches(partner, PEPPER, old_key, T0 + DAY - 1)
    assert not partners.key_matches(partner, PEPPER, old_key, T0 + DAY)
    assert partners.key_matches(partner, PEPPER, new_key, T0 + 30 * DAY)
    # rotating again drops the expired key altogether
    assert len(partners.rotated(partner.key_hashes, partners.new_api_key(PEPPER, "p_1")[1], T0 + DAY)) == 2


@pytest.mark.parametrize("key", ["", "Bearer x", "lpk_nodot", "sk_live_123"])
def test_malformed_keys_are_unauthorized(key: str) -> None:
    with pytest.raises(Unauthorized):
        partners.partner_id_of_key(key)


@pytest.mark.parametrize(("name", "services", "stripe_account"), [
    ("", ["cleaning"], None), ("洁净", [], None), ("洁净", "cleaning", None), ("洁净", ["cleaning"], "acct"),
    ("洁净", ["cleaning"], "sk_test_123456"),
])
def test_registration_is_checked(name: str, services: object, stripe_account: object) -> None:
    with pytest.raises(BadInput):
        partners.check_registration(name, services, stripe_account)


def test_registration_dedupes_services() -> None:
    checked = partners.check_registration(" 洁净 ", ["a", "a", "b"], "acct_1234567")
    assert checked == ("洁净", ("a", "b"), "acct_1234567")


@pytest.mark.parametrize(("role", "area", "allowed"), [
    ("manager", Area.MANAGE, True), ("manager", Area.ALARMS, True), ("manager", Area.TASKS, True),
    ("guard", Area.ALARMS, True), ("guard", Area.TASKS, False), ("guard", Area.MANAGE, False),
    ("cleaner", Area.TASKS, True), ("cleaner", Area.ALARMS, False), ("cleaner", Area.MANAGE, False),
    (None, Area.TASKS, False),
])
def test_staff_roles(role: str | None, area: Area, allowed: bool) -> None:
    if allowed:
        require_area(role, area)
    else:
        with pytest.raises(Forbidden):
            require_area(role, area)


def test_a_staff_token_carries_community_and_role() -> None:
    staff = Principal(Role.STAFF, "s_1", community_id="c_1", staff_role="cleaner")
    token = issue_token(b"k", "k1", staff, 100, 3600)
    assert verify_token({"k1": b"k"}, token, 200) == staff
