"""The seed scenario through localcloud, over MQTT and HTTP only: a bin weighs cardboard, the resident's
wallet is credited, she withdraws, confirms in the (sandbox) mini-program and the money has left — or
she rejects it and the money returns."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Hub
from tests.e2e.test_localcloud import Device, now_ms, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def recycling_community(hub: Hub) -> Iterator[tuple[str, str, Device]]:
    cid = requests.post(hub.api + "/v1/admin/communities", json={"name": f"e2e {uuid.uuid4().hex[:6]}"},
                        headers=hub.admin(), timeout=10).json()["community_id"]
    prices = requests.put(f"{hub.api}/v1/admin/communities/{cid}/recycling-prices",
                          json={"prices": {"paper": 80, "plastic": 120}}, headers=hub.admin(), timeout=10)
    assert prices.status_code == 200, prices.text
    thing = f"bin-{uuid.uuid4().hex[:8]}"
    registered = requests.post(f"{hub.api}/v1/admin/communities/{cid}/devices",
                               json={"thing_name": thing, "type": "recycling_bin"}, headers=hub.admin(), timeout=10)
    assert registered.status_code == 201
    device = Device(hub, thing)
    yield cid, thing, device
    device.close()


def resident(hub: Hub, phone: str) -> dict[str, str]:
    login = requests.post(hub.api + "/v1/auth/wechat", json={"code": f"sandbox-{uuid.uuid4().hex}"}, timeout=10)
    auth = {"Authorization": f"Bearer {login.json()['token']}"}
    bound = requests.post(hub.api + "/v1/me/phone", json={"code": f"sandbox-phone-{phone}"}, headers=auth, timeout=10)
    assert bound.status_code == 200, bound.text
    # what the mini-program reports after wx.requestSubscribeMessage: "回收到账" may be sent once
    granted = requests.post(hub.api + "/v1/me/subscriptions", json={"grants": {"recycling-credited": "accept"}},
                            headers=auth, timeout=10)
    assert granted.status_code == 200, granted.text
    return auth


def get(hub: Hub, path: str, auth: dict[str, str]) -> Any:
    response = requests.get(hub.api + path, headers=auth, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def fresh_phone() -> str:
    return f"13{random.randint(0, 10**9 - 1):09d}"


def weigh(cid: str, thing: str, device: Device, phone: str, weight_g: int = 2350) -> None:
    device.publish(f"dt/linli/{cid}/{thing}/weighin", {"event_id": f"w-{uuid.uuid4().hex[:8]}", "ts": now_ms(),
                                                        "category": "paper", "weight_g": weight_g, "phone": phone})


def test_mqtt_weighin_to_wallet_to_confirmed_withdrawal(hub: Hub, recycling_community: tuple[str, str, Device]) -> None:
    cid, thing, device = recycling_community
    phone = fresh_phone()
    auth = resident(hub, phone)
    started = time.monotonic()
    weigh(cid, thing, device, phone)
    wallet = wait_for(lambda: (w := get(hub, "/v1/wallet", auth))["balance_fen"] == 188 and w)
    assert time.monotonic() - started < 5
    assert wallet == {"balance_fen": 188, "in_flight_fen": 0, "currency": "CNY"}
    [weighin] = get(hub, "/v1/recycling/weighins", auth)["items"]
    assert (weighin["category"], weighin["weight_g"], weighin["credit_fen"]) == ("paper", 2350, 188)
    openid = None
    for _ in range(50):  # the "回收到账" subscribe message, sent from the outbox stream
        messages = [m for m in requests.get(hub.sandbox + "/_sandbox/wechat/messages", timeout=10).json()["items"]
                    if m.get("data", {}).get("amount2", {}).get("value") == "1.88元"]
        if messages:
            openid = messages[-1].get("touser")
            break
        time.sleep(0.1)
    assert openid, "no recycling subscribe message reached the sandbox"

    created = requests.post(hub.api + "/v1/wallet/withdrawals", json={"amount_fen": 150},
                            headers={**auth, "Idempotency-Key": uuid.uuid4().hex}, timeout=15)
    assert created.status_code == 201, created.text
    withdrawal = created.json()
    assert withdrawal["status"] == "wait_user_confirm" and withdrawal["package_info"]
    assert get(hub, "/v1/wallet", auth)["in_flight_fen"] == 150

    confirm = requests.post(f"{hub.sandbox}/_sandbox/wechat/transfers/{withdrawal['out_bill_no']}/confirm", timeout=10)
    assert confirm.status_code == 200, confirm.text
    wait_for(lambda: get(hub, f"/v1/wallet/withdrawals/{withdrawal['withdrawal_id']}", auth)["status"] == "succeeded")
    assert get(hub, "/v1/wallet", auth) == {"balance_fen": 38, "in_flight_fen": 0, "currency": "CNY"}
    ledger = get(hub, f"/v1/admin/communities/{cid}/ledger", hub.admin())
    assert ledger["invariants_ok"] is True and ledger["totals"]["recycling_expense"] == -188


def test_rejected_transfer_returns_the_money(hub: Hub, recycling_community: tuple[str, str, Device]) -> None:
    cid, thing, device = recycling_community
    phone = fresh_phone()
    weigh(cid, thing, device, phone, weight_g=5000)  # before anyone binds the phone: held
    wait_for(lambda: get(hub, f"/v1/admin/communities/{cid}/ledger", hub.admin())["totals"]["credits"] == 1)
    auth = resident(hub, phone)  # binding claims the held 400 fen
    assert get(hub, "/v1/wallet", auth)["balance_fen"] == 400
    created = requests.post(hub.api + "/v1/wallet/withdrawals", json={"amount_fen": 400}, headers=auth, timeout=15)
    assert created.status_code == 201, created.text
    withdrawal = created.json()
    rejected = requests.post(f"{hub.sandbox}/_sandbox/wechat/transfers/{withdrawal['out_bill_no']}/reject",
                             json={}, timeout=10)
    assert rejected.status_code == 200, rejected.text
    wait_for(lambda: get(hub, f"/v1/wallet/withdrawals/{withdrawal['withdrawal_id']}", auth)["status"] == "failed")
    assert get(hub, "/v1/wallet", auth) == {"balance_fen": 400, "in_flight_fen": 0, "currency": "CNY"}
