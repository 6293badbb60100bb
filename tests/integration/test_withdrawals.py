"""Withdrawals end to end inside one process: the API (chalice test client) over moto, the real
wechatpayv3 adapter against the WeChat Pay sandbox, and the sandbox's signed callbacks posted back to
``/callbacks/wechatpay`` exactly as received."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.adapters.system import SystemClock
from chalicelib.adapters.wechatpay import WeChatPayClient
from chalicelib.domain.errors import InsufficientBalance
from chalicelib.domain.identity import Principal, Role
from chalicelib.services import communities, ledger_audit, recycling, withdrawals
from chalicelib.services.deps import Deps
from localcloud.sandbox import (
    Fault,
    SandboxServer,
    WeChatPayCredentials,
    WeChatPaySandbox,
    generate_wechatpay_credentials,
)
from tests.integration.test_api import Api
from tests.support import events
from tests.support.fakes import FakeWeChat

ROOT = Path(__file__).resolve().parents[2]
BIN = "bin-0001"
CALLBACK = "/callbacks/wechatpay"


@dataclass
class Receiver:
    """Where the sandbox sends its callbacks: kept as received (headers and bytes) for the test to post."""

    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[dict[str, str], bytes]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), self.received
            return list(self.received)


def start_receiver(receiver: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with receiver.arrived:
                receiver.received.append(({k: v for k, v in self.headers.items()}, body))
                receiver.arrived.notify_all()
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Pay:
    sandbox: WeChatPaySandbox
    server: SandboxServer
    receiver: Receiver


@pytest.fixture(scope="module")
def credentials() -> WeChatPayCredentials:
    """RSA key generation takes a second or two: one merchant and platform key pair per module."""
    return generate_wechatpay_credentials(appid=FakeWeChat().appid)


@pytest.fixture
def pay(hub: Deps, credentials: WeChatPayCredentials) -> Iterator[Pay]:
    sandbox = WeChatPaySandbox(**credentials.sandbox, retry_scale=0.001)
    server = SandboxServer(port=0, modules=[sandbox])
    server.start()
    receiver = Receiver()
    http = start_receiver(receiver)
    hub.wechatpay = WeChatPayClient(credentials.secret, api_base=server.base_url, timeout_s=1.0,
                                    notify_url=f"http://127.0.0.1:{http.server_port}{CALLBACK}")
    try:
        yield Pay(sandbox, server, receiver)
    finally:
        http.shutdown()
        server.stop()


@pytest.fixture
def api(hub: Deps) -> Iterator[Api]:
    with Client(app, project_dir=str(ROOT)) as client:
        yield Api(client)


def login(api: Api, openid: str, phone: str) -> str:
    status, body, _ = api("POST", "/v1/auth/wechat", {"code": f"sandbox-{openid}"})
    assert status == 200
    token = str(body["token"])
    status, _, _ = api("POST", "/v1/me/phone", {"code": f"sandbox-phone-{phone}"}, token=token)
    assert status == 200
    return token


@pytest.fixture
def cid(hub: Deps) -> str:
    cid = communities.create_community(hub, "Sunny Gardens").community_id
    communities.register_device(hub, cid, BIN, "recycling_bin")
    recycling.set_prices(hub, cid, {"paper": 80, "metal": 200})
    return cid


def earn(cid: str, event_id: str, phone: str, weight_g: int = 2350) -> None:
    received_at = time.time_ns() // 1_000_000
    payload = events.device_payload("weighin", event_id=event_id, ts=received_at - 1000, weight_g=weight_g,
                                    category="paper", phone=phone)
    event = events.sqs_device_event(payload, events.topic(cid, BIN, "weighin"), BIN, received_at)
    assert app.handler_map["handle_device_events"](event, None) == {"batchItemFailures": []}


@pytest.fixture
def alice(api: Api, cid: str) -> str:
    token = login(api, "o-alice", "13800138000")
    earn(cid, "w-1", "13800138000")  # 188 fen
    return token


def wallet(api: Api, token: str) -> dict[str, Any]:
    status, body, _ = api("GET", "/v1/wallet", token=token)
    assert status == 200
    return dict(body)


def withdraw(api: Api, token: str, amount: Any, key: str | None = None) -> tuple[int, Any]:
    headers = {"Idempotency-Key": key} if key else None
    status, body, _ = api("POST", "/v1/wallet/withdrawals", {"amount_fen": amount}, token=token, headers=headers)
    return status, body


def status_of(api: Api, token: str, withdrawal_id: str) -> str:
    status, body, _ = api("GET", f"/v1/wallet/withdrawals/{withdrawal_id}", token=token)
    assert status == 200
    return str(body["status"])


def post_callback(api: Api, headers: dict[str, str], body: bytes) -> int:
    status, _, _ = api("POST", CALLBACK, raw=body.decode(), headers=headers)
    return status


def books_ok(hub: Deps) -> None:
    result = ledger_audit.reconcile(hub)
    assert result.violations == [] and result.total_fen == 0


def test_withdraw_confirm_succeeds_and_the_money_leaves_once(api: Api, hub: Deps, pay: Pay, alice: str) -> None:
    status, body = withdraw(api, alice, 100)
    assert status == 201, body
    assert body["status"] == "wait_user_confirm" and body["package_info"]
    assert body["out_bill_no"].startswith("LLW") and body["out_bill_no"].isalnum()
    assert wallet(api, alice) == {"balance_fen": 88, "in_flight_fen": 100, "currency": "CNY"}

    pay.sandbox.confirm(body["out_bill_no"])
    [(headers, raw)] = pay.receiver.wait_for(1)
    assert post_callback(api, headers, raw) == 204
    assert status_of(api, alice, body["withdrawal_id"]) == "succeeded"
    assert wallet(api, alice) == {"balance_fen": 88, "in_flight_fen": 0, "currency": "CNY"}
    assert pay.sandbox.stats()["succeeded_total_fen"] == 100

    assert post_callback(api, headers, raw) == 204  # WeChat retries: answered, applied once
    assert wallet(api, alice)["balance_fen"] == 88
    books_ok(hub)


def test_a_rejected_bill_returns_the_money(api: Api, hub: Deps, pay: Pay, alice: str) -> None:
    _, body = withdraw(api, alice, 150)
    pay.sandbox.reject(body["out_bill_no"])
    [(headers, raw)] = pay.receiver.wait_for(1)
    assert post_callback(api, headers, raw) == 204
    assert status_of(api, alice, body["withdrawal_id"]) == "failed"
    assert wallet(api, alice) == {"balance_fen": 188, "in_flight_fen": 0, "currency": "CNY"}
    books_ok(hub)


def test_forged_tampered_and_stale_callbacks_change_nothing(api: Api, hub: Deps, pay: Pay, alice: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _, body = withdraw(api, alice, 100)
    pay.sandbox.confirm(body["out_bill_no"])
    [(headers, raw)] = pay.receiver.wait_for(1)
    tampered = json.loads(raw)
    tampered["resource"]["ciphertext"] = tampered["resource"]["ciphertext"][:-4] + "AAAA"
    assert post_callback(api, headers, json.dumps(tampered).encode()) == 401
    assert post_callback(api, {**headers, "Wechatpay-Signature": "Zm9yZ2Vk"}, raw) == 401
    assert post_callback(api, {k: v for k, v in headers.items() if k.lower() != "wechatpay-signature"}, raw) == 401
    assert post_callback(api, {**headers, "Wechatpay-Serial": "PUB_KEY_ID_SOMEONE_ELSE"}, raw) == 401

    class Later(SystemClock):
        def now_ms(self) -> int:
            return super().now_ms() + 301_000

    monkeypatch.setattr(hub, "clock", Later())
    assert post_callback(api, headers, raw) == 401  # stale: more than 300 s old
    monkeypatch.undo()
    assert status_of(api, alice, body["withdrawal_id"]) == "wait_user_confirm"
    assert wallet(api, alice)["in_flight_fen"] == 100
    assert post_callback(api, headers, raw) == 204
    assert status_of(api, alice, body["withdrawal_id"]) == "succeeded"


@pytest.mark.parametrize(("amount", "status", "code"), [
    (9, 422, "amount_below_minimum"), (189, 422, "insufficient_balance"), ("100", 400, "invalid_amount"),
    (10.0, 400, "invalid_amount"), (None, 400, "invalid_amount"),
])
def test_bad_withdrawals_are_refused_and_move_nothing(api: Api, pay: Pay, alice: str, amount: Any, status: int,
                                                      code: str) -> None:
    answer_status, body = withdraw(api, alice, amount)
    assert (answer_status, body["error"]["code"]) == (status, code)
    assert wallet(api, alice) == {"balance_fen": 188, "in_flight_fen": 0, "currency": "CNY"}
    assert pay.sandbox.bills() == []


def test_the_smallest_withdrawal_is_10_fen(api: Api, pay: Pay, alice: str) -> None:
    assert withdraw(api, alice, 10)[0] == 201


def test_idempotency_key_same_body_same_withdrawal_other_body_409(api: Api, pay: Pay, alice: str) -> None:
    first_status, first = withdraw(api, alice, 50, key="k-1")
    again_status, again = withdraw(api, alice, 50, key="k-1")
    assert (first_status, again_status) == (201, 201)
    assert again["withdrawal_id"] == first["withdrawal_id"]
    status, body = withdraw(api, alice, 60, key="k-1")
    assert (status, body["error"]["code"]) == (409, "idempotency_key_reused")
    assert len(pay.sandbox.bills()) == 1
    assert wallet(api, alice)["balance_fen"] == 138


def test_concurrent_withdrawals_cannot_overdraw(hub: Deps, pay: Pay, alice: str, cid: str,
                                                atomic_moto: None) -> None:
    principal = Principal(Role.RESIDENT, _resident_id(hub, "o-alice"))
    results: list[str] = []

    def spend() -> None:
        try:
            results.append(withdrawals.request_withdrawal(hub, principal, {"amount_fen": 100}, None).status.value)
        except InsufficientBalance:
            results.append("insufficient")

    threads = [threading.Thread(target=spend) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["insufficient"] * 4 + ["wait_user_confirm"]
    assert len(pay.sandbox.bills()) == 1
    books_ok(hub)


def _resident_id(hub: Deps, openid: str) -> str:
    from chalicelib.domain.identity import resident_id_for

    return resident_id_for(hub.secrets.app_secrets().phone_pepper, hub.wechat.appid, openid)


@pytest.mark.parametrize("fault", [Fault("timeout", delay_s=2.0), Fault("error", status=500, code="SYSTEM_ERROR"),
                                   Fault("http_error", status=502)])
def test_an_ambiguous_create_is_resolved_by_query_never_a_second_bill(api: Api, hub: Deps, pay: Pay, alice: str,
                                                                      fault: Fault) -> None:
    pay.server.faults.arm({"wechatpay.create": fault})
    status, body = withdraw(api, alice, 100)
    assert status == 201, body
    assert body["status"] == "wait_user_confirm" and body["package_info"]
    [bill] = pay.sandbox.bills()
    assert bill["out_bill_no"] == body["out_bill_no"]
    pay.sandbox.confirm(body["out_bill_no"])
    [(headers, raw)] = pay.receiver.wait_for(1)
    assert post_callback(api, headers, raw) == 204
    assert status_of(api, alice, body["withdrawal_id"]) == "succeeded"
    books_ok(hub)


def test_a_refused_create_fails_the_withdrawal_and_returns_the_money(api: Api, hub: Deps, pay: Pay,
                                                                     alice: str) -> None:
    pay.server.faults.arm({"wechatpay.create_refuse": Fault("error", status=403, code="NOT_ENOUGH")})
    status, body = withdraw(api, alice, 100)
    assert (status, body["error"]["code"]) == (503, "payout_refused")
    status, listed, _ = api("GET", "/v1/wallet/withdrawals", token=alice)
    assert [w["status"] for w in listed["items"]] == ["failed"]
    assert wallet(api, alice) == {"balance_fen": 188, "in_flight_fen": 0, "currency": "CNY"}
    books_ok(hub)


def test_a_bill_unconfirmed_for_24_h_is_cancelled_by_the_job_and_the_money_returns(
        api: Api, hub: Deps, pay: Pay, alice: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _, body = withdraw(api, alice, 100)
    assert withdrawals.settle_open_withdrawals(hub)["checked"] == 0  # too young to look at

    class DayLater(SystemClock):
        def now_ms(self) -> int:
            return super().now_ms() + 24 * 3600 * 1000 + 1000

    monkeypatch.setattr(hub, "clock", DayLater())
    counts = withdrawals.settle_open_withdrawals(hub)
    assert (counts["checked"], counts["cancelled"], counts["ended"]) == (1, 1, 1)
    monkeypatch.undo()
    assert status_of(api, alice, body["withdrawal_id"]) == "cancelled"
    assert wallet(api, alice) == {"balance_fen": 188, "in_flight_fen": 0, "currency": "CNY"}
    assert pay.sandbox.bill(body["out_bill_no"])["state"] == "CANCELLED"  # type: ignore[index]
    [(headers, raw)] = pay.receiver.wait_for(1)  # WeChat's CANCELLED callback arrives too: a no-op
    assert post_callback(api, headers, raw) == 204
    assert wallet(api, alice)["balance_fen"] == 188
    books_ok(hub)


def test_a_resident_sees_and_spends_only_their_own_money(api: Api, hub: Deps, pay: Pay, alice: str, cid: str) -> None:
    bob = login(api, "o-bob", "13900139000")
    _, mine = withdraw(api, alice, 100)
    wid = mine["withdrawal_id"]
    assert api("GET", f"/v1/wallet/withdrawals/{wid}", token=bob)[0] == 404
    assert api("GET", "/v1/wallet/withdrawals", token=bob)[1]["items"] == []
    assert api("GET", "/v1/wallet/entries", token=bob)[1]["items"] == []
    assert api("GET", "/v1/recycling/weighins", token=bob)[1]["items"] == []
    assert wallet(api, bob)["balance_fen"] == 0
    status, body = withdraw(api, bob, 50)
    assert (status, body["error"]["code"]) == (422, "insufficient_balance")
    cursor_of_alice = api("GET", "/v1/wallet/entries?limit=1", token=alice)[1]
    assert cursor_of_alice["items"]
    for path in ("/v1/wallet", "/v1/wallet/entries", "/v1/recycling/weighins", "/v1/wallet/withdrawals",
                 f"/v1/wallet/withdrawals/{wid}"):
        assert api("GET", path)[0] == 401
        assert api.admin("GET", path)[0] == 403  # the admin token is not a resident
    assert api("POST", "/v1/wallet/withdrawals", {"amount_fen": 50})[0] == 401
