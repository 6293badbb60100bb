"""Service orders through localcloud, over HTTP only: a resident orders cleaning and pays in the
(sandbox) mini-program; the partner's receiver — written with the ``standardwebhooks`` library, as a
partner would — verifies every delivery; the partner accepts and completes through its API; its share
is paid by a Stripe Connect transfer. A receiver that was down gets its message once it is back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Hub
from tests.e2e.test_localcloud import wait_for
from tests.support.order_pipeline import PartnerReceiver, start_partner

pytestmark = pytest.mark.e2e
PRICE = 3800


def admin(hub: Hub, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, hub.api + path, json=body, headers=hub.admin(), timeout=10)
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture
def shop(hub: Hub) -> Iterator[tuple[str, PartnerReceiver, str]]:
    cid = admin(hub, "POST", "/v1/admin/communities", {"name": f"orders {uuid.uuid4().hex[:6]}"})["community_id"]
    admin(hub, "PUT", f"/v1/admin/communities/{cid}/services/water",
          {"name": "桶装水配送", "price_fen": PRICE, "fulfilled_by": "partner", "accept_sla_s": 600})
    receiver = start_partner(PartnerReceiver())
    partner = admin(hub, "POST", f"/v1/admin/communities/{cid}/partners",
                    {"name": "清泉送水", "services": ["water"], "webhook_url": receiver.url,
                     "stripe_account": "acct_qingquan0001"})
    receiver.secret = partner["webhook_secret"]
    yield cid, receiver, partner["api_key"]
    assert receiver.server is not None
    receiver.server.shutdown()


def resident(hub: Hub, cid: str) -> dict[str, str]:
    login = requests.post(hub.api + "/v1/auth/wechat", json={"code": f"sandbox-{uuid.uuid4().hex}"}, timeout=10)
    auth = {"Authorization": f"Bearer {login.json()['token']}"}
    moved = requests.put(hub.api + "/v1/me/residence", json={"community_id": cid, "building": "7", "room": "1201"},
                         headers=auth, timeout=10)
    assert moved.status_code == 200, moved.text
    return auth


def order_and_pay(hub: Hub, auth: dict[str, str]) -> str:
    created = requests.post(hub.api + "/v1/orders", json={"service_id": "water", "note": "两桶"}, headers={
        **auth, "Idempotency-Key": uuid.uuid4().hex}, timeout=10)
    assert created.status_code == 201, created.text
    order = created.json()
    # what the mini-program passes to wx.requestPayment; the sandbox checks paySign like WeChat would
    paid = requests.post(hub.sandbox + "/_sandbox/wechat/request-payment", json=order["payment"]["request_payment"],
                         timeout=10)
    assert paid.status_code == 200, paid.text
    return str(order["order_id"])


def status_of(hub: Hub, auth: dict[str, str], order_id: str) -> str:
    return str(requests.get(f"{hub.api}/v1/orders/{order_id}", headers=auth, timeout=10).json()["status"])


def test_order_paid_offered_by_signed_webhook_completed_and_settled(hub: Hub, shop: tuple[str, PartnerReceiver, str]
                                                                    ) -> None:
    cid, receiver, api_key = shop
    auth = resident(hub, cid)
    order_id = order_and_pay(hub, auth)
    wait_for(lambda: receiver.types() == ["order.offered"], timeout_s=15)
    assert receiver.refused == 0 and receiver.received[0]["data"]["room"] == "1201"
    assert status_of(hub, auth, order_id) == "offered"
    partner = {"Authorization": f"Bearer {api_key}"}
    for event in ({"type": "accept", "eta_minutes": 25}, {"type": "start"}, {"type": "complete"}):
        answer = requests.post(f"{hub.api}/v1/partner/orders/{order_id}/events", json=event, headers=partner,
                               timeout=10)
        assert answer.status_code == 200, answer.text
    assert status_of(hub, auth, order_id) == "completed"
    share = PRICE - PRICE * 10 // 100

    def transferred() -> list[Any]:
        found = requests.get(hub.sandbox + "/_sandbox/stripe/transfers", timeout=10).json()["items"]
        return [t for t in found if t["destination"] == "acct_qingquan0001"]

    wait_for(lambda: [t["amount"] for t in transferred()] == [share], timeout_s=15)
    deliveries = requests.get(hub.api + "/v1/partner/deliveries", headers=partner, timeout=10).json()["items"]
    assert [(d["type"], d["status"]) for d in deliveries] == [("order.offered", "delivered")]
    assert deliveries[0]["attempts"][0]["status"] == 200


def test_a_partner_down_for_a_while_gets_the_message_when_back(hub: Hub, shop: tuple[str, PartnerReceiver, str]
                                                               ) -> None:
    cid, receiver, _ = shop
    receiver.status = 503
    order_and_pay(hub, resident(hub, cid))
    wait_for(lambda: receiver.attempts >= 2, timeout_s=20)
    receiver.status = 200
    wait_for(lambda: receiver.types() == ["order.offered"], timeout_s=30)
    assert receiver.attempts <= 8 and len(set(receiver.ids())) == 1
