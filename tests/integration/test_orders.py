"""Service orders end to end inside one process: the API over moto; WeChat Pay JSAPI and Stripe through
their real client libraries against the sandbox, whose signed callbacks are posted back exactly as sent;
the outbox → stream → webhook queue → sender pipeline run by hand into partner receivers that verify
every delivery with the ``standardwebhooks`` library."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from time_machine import TimeMachineFixture

from chalicelib.adapters.stripe_pay import StripeCardPayments
from chalicelib.adapters.wechatpay import WeChatPayClient
from chalicelib.domain import ledger
from chalicelib.services import communities, ledger_audit, order_flow, order_payments
from chalicelib.services.deps import Deps
from localcloud.resources import LocalResources
from localcloud.sandbox import SandboxServer, WeChatPayCredentials, WeChatPaySandbox, generate_wechatpay_credentials
from localcloud.sandbox.stripe import StripeSandbox
from tests.integration.test_api import Api
from tests.integration.test_api import api as api  # the fixture
from tests.integration.test_withdrawals import Receiver, start_receiver
from tests.support.fakes import FakeWeChat
from tests.support.order_pipeline import PartnerReceiver, Pipeline, callback_headers, start_partner

PRICE = 5000


@pytest.fixture(scope="module")
def credentials() -> WeChatPayCredentials:
    return generate_wechatpay_credentials(appid=FakeWeChat().appid)


@dataclass
class Shop:
    api: Api
    hub: Deps
    wechatpay: WeChatPaySandbox
    stripe: StripeSandbox
    callbacks: Receiver
    pipeline: Pipeline
    cid: str
    partners: dict[str, tuple[str, PartnerReceiver]]  # name → (api key, receiver)
    posted: int = 0

    def admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, answer, _ = self.api.admin(method, path, body)
        return status, answer

    def deliver_callbacks(self) -> list[int]:
        """Post every callback the sandbox sent (since the last call) to the hub, as received."""
        received = self.callbacks.received[self.posted:]
        self.posted += len(received)
        statuses = []
        for headers, body in received:
            path = "/callbacks/stripe" if "Stripe-Signature" in headers else "/callbacks/wechatpay"
            status, _, _ = self.api("POST", path, raw=body.decode(), headers=callback_headers(headers))
            statuses.append(status)
        self.pipeline.run()
        return statuses

    def resident(self, openid: str, building: str = "3", room: str = "502") -> str:
        status, body, _ = self.api("POST", "/v1/auth/wechat", {"code": f"sandbox-{openid}"})
        assert status == 200
        token = str(body["token"])
        status, _, _ = self.api("PUT", "/v1/me/residence", {"community_id": self.cid, "building": building,
                                                               "room": room}, token=token)
        assert status == 200
        return token

    def order(self, token: str, service_id: str = "cleaning", **extra: Any) -> dict[str, Any]:
        status, body, _ = self.api("POST", "/v1/orders", {"service_id": service_id, **extra}, token=token,
                                   headers={"Idempotency-Key": secrets.token_hex(8)})
        assert status == 201, body
        return dict(body)

    def pay_wechat(self, order: dict[str, Any]) -> None:
        self.wechatpay.pay(order["payment"]["out_trade_no"])
        self.callbacks.wait_for(self.posted + 1)
        assert self.deliver_callbacks() == [204]

    def partner_event(self, name: str, order_id: str, event: dict[str, Any]) -> tuple[int, Any]:
        status, body, _ = self.api("POST", f"/v1/partner/orders/{order_id}/events", event,
                                   token=self.partners[name][0])
        self.pipeline.run()
        return status, body

    def get(self, token: str, order_id: str) -> dict[str, Any]:
        status, body, _ = self.api("GET", f"/v1/orders/{order_id}", token=token)
        assert status == 200
        return dict(body)

    def balance(self, account: ledger.Account) -> int:
        return self.hub.ledger.balances([account])[account][0]

    def books_ok(self) -> None:
        assert ledger_audit.reconcile(self.hub).violations == []


@pytest.fixture
def shop(hub: Deps, moto: LocalResources, credentials: WeChatPayCredentials, api: Api) -> Iterator[Shop]:
    callbacks = Receiver()
    http = start_receiver(callbacks)
    callback_url = f"http://127.0.0.1:{http.server_port}/callbacks"
    wechatpay = WeChatPaySandbox(**credentials.sandbox, retry_scale=0.001)
    stripe = StripeSandbox("sk_test_linli", "whsec_" + secrets.token_hex(16), retry_scale=0.001,
                           webhook_url=callback_url)
    server = SandboxServer(port=0, modules=[wechatpay, stripe])
    server.start()
    assert hub.order_deps is not None
    client = WeChatPayClient(credentials.secret, api_base=server.base_url, timeout_s=1.0, notify_url=callback_url)
    hub.wechatpay = client
    hub.order_deps.jsapi = client
    hub.order_deps.card_payments = StripeCardPayments("sk_test_linli", stripe.webhook_secret,
                                                      api_base=server.base_url.rstrip("/"), timeout_s=2)
    cid = communities.create_community(hub, "Sunny Gardens").community_id
    pipeline = Pipeline(moto.queue_named("linli-webhook-deliveries").url)
    shop = Shop(api, hub, wechatpay, stripe, callbacks, pipeline, cid, {})
    assert shop.admin("PUT", f"/v1/admin/communities/{cid}/services/cleaning",
                      {"name": "一小时保洁", "price_fen": PRICE, "fulfilled_by": "partner",
                       "accept_sla_s": 600})[0] == 200
    assert shop.admin("PUT", f"/v1/admin/communities/{cid}/services/laundry",
                      {"name": "雨天收衣", "price_fen": 0, "fulfilled_by": "staff"})[0] == 200
    receivers = []
    for name, stripe_account in (("clean1", "acct_clean000001"), ("clean2", None)):
        receiver = start_partner(PartnerReceiver())
        receivers.append(receiver)
        status, body = shop.admin("POST", f"/v1/admin/communities/{cid}/partners",
                                  {"name": name, "services": ["cleaning"], "webhook_url": receiver.url,
                                   "stripe_account": stripe_account})
        assert status == 201, body
        assert body["webhook_secret"].startswith("whsec_") and body["api_key"].startswith("lpk_")
        receiver.secret = body["webhook_secret"]
        shop.partners[name] = (body["api_key"], receiver)
    try:
        yield shop
    finally:
        for receiver in receivers:
            assert receiver.server is not None
            receiver.server.shutdown()
        server.stop()
        http.shutdown()


def test_paid_order_is_offered_accepted_done_and_settled_once(shop: Shop) -> None:
    alice = shop.resident("alice")
    order = shop.order(alice)
    assert order["status"] == "pending_payment" and order["amount_fen"] == PRICE
    params = order["payment"]["request_payment"]
    assert params["package"].startswith("prepay_id=") and params["signType"] == "RSA" and params["paySign"]
    shop.pay_wechat(order)
    oid = order["order_id"]
    assert shop.get(alice, oid)["status"] == "offered"
    clean1 = shop.partners["clean1"][1]
    assert clean1.types() == ["order.offered"] and clean1.refused == 0
    assert clean1.received[0]["data"]["order_id"] == oid and clean1.received[0]["data"]["room"] == "502"
    # the same callback again changes nothing; work out of order is 409 with the current state
    shop.callbacks.received.append(shop.callbacks.received[-1])
    assert shop.deliver_callbacks() == [204]
    status, body = shop.partner_event("clean1", oid, {"type": "complete"})
    assert status == 409 and body["error"]["current_status"] == "offered"
    for event in ({"type": "accept", "eta_minutes": 20}, {"type": "accept", "eta_minutes": 20}, {"type": "start"},
                  {"type": "complete"}, {"type": "complete"}):
        status, body = shop.partner_event("clean1", oid, event)
        assert status == 200, body
    assert shop.get(alice, oid)["status"] == "completed"
    pid = shop.get(alice, oid)["partner_id"]
    # 10 % commission: 4,500 fen owed to the partner, paid out by a Stripe Connect transfer
    assert shop.balance(ledger.order_escrow(oid)) == 0
    assert shop.balance(ledger.commission(shop.cid, oid)) == PRICE // 10
    assert shop.balance(ledger.partner_payable(pid)) == 0
    transfers = shop.stripe.objects("transfers")
    assert [(t["amount"], t["destination"]) for t in transfers] == [(4500, "acct_clean000001")]
    shop.books_ok()


def test_a_paid_order_cancelled_is_refunded_through_wechat(shop: Shop) -> None:
    alice = shop.resident("alice")
    order = shop.order(alice)
    shop.pay_wechat(order)
    status, body, _ = shop.api("POST", f"/v1/orders/{order['order_id']}/cancel", token=alice)
    assert status == 200 and body["status"] == "cancelled" and body["refund_status"] == "pending"
    shop.pipeline.run()
    shop.callbacks.wait_for(shop.posted + 1)
    shop.deliver_callbacks()
    after = shop.get(alice, order["order_id"])
    assert after["status"] == "refunded" and after["refund_status"] == "succeeded"
    assert shop.partners["clean1"][1].types() == ["order.offered", "order.cancelled"]
    assert shop.balance(ledger.order_escrow(order["order_id"])) == 0
    shop.books_ok()


def test_card_payment_and_refund_through_stripe(shop: Shop) -> None:
    assert shop.admin("PUT", f"/v1/admin/communities/{shop.cid}/settings", {"card_payments": 1})[0] == 200
    bob = shop.resident("bob")
    order = shop.order(bob, provider="stripe")
    intent = order["payment"]["payment_intent"]
    assert order["payment"]["client_secret"].startswith(intent)
    shop.stripe.succeed(intent)
    shop.callbacks.wait_for(shop.posted + 1)
    shop.deliver_callbacks()
    assert shop.get(bob, order["order_id"])["status"] == "offered"
    status, _, _ = shop.api("POST", f"/v1/orders/{order['order_id']}/cancel", token=bob)
    assert status == 200
    shop.pipeline.run()
    shop.callbacks.wait_for(shop.posted + 1)
    shop.deliver_callbacks()
    assert shop.get(bob, order["order_id"])["status"] == "refunded"
    assert [r["amount"] for r in shop.stripe.objects("refunds")] == [PRICE]
    shop.books_ok()


def test_card_payments_only_where_the_community_allows_them(shop: Shop) -> None:
    status, body, _ = shop.api("POST", "/v1/orders", {"service_id": "cleaning", "provider": "stripe"},
                               token=shop.resident("carol"))
    assert status == 400 and body["error"]["code"] == "provider_not_available"


def test_no_answer_in_time_offers_the_next_partner_and_a_decline_leaves_it_to_staff(
        shop: Shop, hub: Deps, time_machine: TimeMachineFixture) -> None:
    alice = shop.resident("alice")
    order = shop.order(alice)
    shop.pay_wechat(order)
    oid = order["order_id"]
    assert order_flow.expire_offers(hub) == 0
    # the whole world (hub, AWS, partners' clocks) ten minutes and a second later
    time_machine.move_to(datetime.now(tz=UTC) + timedelta(seconds=601), tick=True)
    assert order_flow.expire_offers(hub) == 1
    shop.pipeline.run()
    assert shop.partners["clean1"][1].types() == ["order.offered", "order.withdrawn"]
    assert shop.partners["clean2"][1].types() == ["order.offered"]
    status, _ = shop.partner_event("clean1", oid, {"type": "accept"})
    assert status == 409
    status, body = shop.partner_event("clean2", oid, {"type": "decline", "reason": "no staff today"})
    assert status == 200
    assert shop.get(alice, oid)["status"] == "declined"
    status, work = shop.admin("GET", f"/v1/admin/communities/{shop.cid}/orders/work")
    assert [o["order_id"] for o in work["items"]] == [oid]
    status, body = shop.admin("POST", f"/v1/admin/communities/{shop.cid}/orders/{oid}/events", {"type": "accept"})
    assert status == 200 and body["status"] == "accepted"
    # taken by staff: still on the work list until done
    work = shop.admin("GET", f"/v1/admin/communities/{shop.cid}/orders/work")[1]["items"]
    assert [(o["order_id"], o["status"]) for o in work] == [(oid, "accepted")]


def test_a_free_staff_service_lands_in_the_staff_work_list(shop: Shop) -> None:
    alice = shop.resident("alice")
    order = shop.order(alice, service_id="laundry", note="3号楼阳台")
    assert order["status"] == "offered" and "payment" not in order and order["amount_fen"] == 0
    status, body = shop.admin("POST", f"/v1/admin/communities/{shop.cid}/staff", {"name": "王师傅", "role": "cleaner"})
    assert status == 201
    cleaner = body["token"]
    status, work, _ = shop.api("GET", f"/v1/admin/communities/{shop.cid}/orders/work", token=cleaner)
    assert status == 200 and [o["note"] for o in work["items"]] == ["3号楼阳台"]
    for kind in ("accept", "complete"):
        status, _, _ = shop.api("POST", f"/v1/admin/communities/{shop.cid}/orders/{order['order_id']}/events",
                                {"type": kind}, token=cleaner)
        assert status == 200
    assert shop.get(alice, order["order_id"])["status"] == "completed"
    # a cleaner manages nothing else
    status, _, _ = shop.api("GET", f"/v1/admin/communities/{shop.cid}/partners", token=cleaner)
    assert status == 403


def test_idempotency_key_same_body_same_order_other_body_409(shop: Shop) -> None:
    alice = shop.resident("alice")
    headers = {"Idempotency-Key": "order-1"}
    first = shop.api("POST", "/v1/orders", {"service_id": "cleaning"}, token=alice, headers=headers)
    again = shop.api("POST", "/v1/orders", {"service_id": "cleaning"}, token=alice, headers=headers)
    other = shop.api("POST", "/v1/orders", {"service_id": "cleaning", "note": "x"}, token=alice, headers=headers)
    assert first[0] == again[0] == 201 and first[1]["order_id"] == again[1]["order_id"]
    assert other[0] == 409 and other[1]["error"]["code"] == "idempotency_key_reused"
    assert len(shop.wechatpay.orders()) == 1


def test_ordering_needs_a_residence_and_a_known_service(shop: Shop) -> None:
    status, body, _ = shop.api("POST", "/v1/auth/wechat", {"code": "sandbox-dave"})
    dave = body["token"]
    status, body, _ = shop.api("POST", "/v1/orders", {"service_id": "cleaning"}, token=dave)
    assert status == 422 and body["error"]["code"] == "residence_required"
    status, body, _ = shop.api("POST", "/v1/orders", {"service_id": "massage"}, token=shop.resident("erin"))
    assert status == 404


def test_everyone_sees_only_their_own_orders(shop: Shop) -> None:
    alice, mallory = shop.resident("alice"), shop.resident("mallory")
    order = shop.order(alice)
    shop.pay_wechat(order)
    oid = order["order_id"]
    assert shop.api("GET", f"/v1/orders/{oid}", token=mallory)[0] == 404
    assert shop.api("POST", f"/v1/orders/{oid}/cancel", token=mallory)[0] == 404
    assert shop.api("GET", "/v1/orders", token=mallory)[1]["items"] == []
    # clean2 was never offered this order
    clean2 = shop.partners["clean2"][0]
    assert shop.api("GET", f"/v1/partner/orders/{oid}", token=clean2)[0] == 404
    assert shop.api("POST", f"/v1/partner/orders/{oid}/events", {"type": "accept"}, token=clean2)[0] == 404
    assert shop.api("GET", "/v1/partner/orders", token=clean2)[1]["items"] == []
    assert shop.api("GET", "/v1/partner/orders", token=shop.partners["clean1"][0])[1]["items"][0]["order_id"] == oid
    # staff of another community
    other = communities.create_community(shop.hub, "Other Gardens").community_id
    manager = shop.admin("POST", f"/v1/admin/communities/{other}/staff", {"name": "李经理", "role": "manager"})[1]
    for method, path in (("GET", f"/v1/admin/communities/{shop.cid}/orders/work"),
                         ("GET", f"/v1/admin/communities/{shop.cid}/orders/{oid}"),
                         ("GET", f"/v1/admin/communities/{shop.cid}/partners"),
                         ("PUT", f"/v1/admin/communities/{shop.cid}/services/cleaning")):
        status, _, _ = shop.api(method, path, {"name": "x", "price_fen": 1, "fulfilled_by": "partner"}
                                if method == "PUT" else None, token=manager["token"])
        assert status == 403, path
    # residents and partners are not staff
    assert shop.api("GET", f"/v1/admin/communities/{shop.cid}/orders/work", token=alice)[0] == 403
    assert shop.api("GET", f"/v1/admin/communities/{shop.cid}/orders/work", token=clean2)[0] == 403
    # a wrong partner key
    assert shop.api("GET", "/v1/partner/orders", token=clean2 + "x")[0] == 401


def test_an_unpaid_order_is_closed_after_two_hours_unless_wechat_says_it_was_paid(
        shop: Shop, hub: Deps, time_machine: TimeMachineFixture) -> None:
    alice = shop.resident("alice")
    unpaid, lost_callback = shop.order(alice), shop.order(alice)
    # the second was paid, but its callback never reached the hub
    shop.wechatpay.pay(lost_callback["payment"]["out_trade_no"])
    shop.callbacks.wait_for(shop.posted + 1)
    shop.posted = len(shop.callbacks.received)
    assert order_payments.expire_unpaid(hub) == 0  # not yet two hours
    time_machine.move_to(datetime.now(tz=UTC) + timedelta(hours=2, seconds=1), tick=True)
    assert order_payments.expire_unpaid(hub) == 2
    shop.pipeline.run()
    assert shop.get(alice, unpaid["order_id"])["status"] == "cancelled"
    closed = shop.wechatpay.order(unpaid["payment"]["out_trade_no"])
    assert closed is not None and closed["trade_state"] == "CLOSED"
    assert shop.get(alice, lost_callback["order_id"])["status"] == "offered"
    assert shop.partners["clean1"][1].types().count("order.offered") == 1
    shop.books_ok()
