"""JSAPI payments and refunds: the wechatpayv3 adapter against a running WeChat Pay sandbox, with the
sandbox's signed callbacks caught by a loopback receiver and checked by ``verify_notification``."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.adapters.wechatpay import WeChatPayClient
from chalicelib.domain.errors import CallbackRejected, PaymentRefused, UpstreamUnavailable
from chalicelib.ports import Charge, ChargeState, PayNotification, Refund, RefundState, WeChatJsapi
from localcloud.sandbox import Fault, SandboxServer, WeChatPaySandbox, generate_wechatpay_credentials

APPID = "wx-linli-jsapi-test"
CREDS = generate_wechatpay_credentials(appid=APPID)
OTHER = generate_wechatpay_credentials(appid=APPID)
OPENID = "o-resident-9"
TIMEOUT = 5


class Receiver:
    """The hub's callback endpoint stand-in: records what WeChat Pay sends; answers the queued statuses, then 204."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.arrived:
                    receiver.received.append((dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 204
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/callbacks/wechatpay"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait_for(self, n: int, timeout_s: float = 5) -> list[tuple[dict[str, str], bytes]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= n, timeout_s), self.received
            return list(self.received)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[SandboxServer, WeChatPaySandbox, Receiver]]:
    pay = WeChatPaySandbox(**CREDS.sandbox, retry_scale=0.001, refund_settle_s=0.05)
    receiver = Receiver()
    with SandboxServer(modules=[pay]) as server:
        yield server, pay, receiver
    receiver.httpd.shutdown()
    receiver.httpd.server_close()


@pytest.fixture
def pay(sandbox: tuple[SandboxServer, WeChatPaySandbox, Receiver]) -> Iterator[WeChatPaySandbox]:
    server, pay, receiver = sandbox
    yield pay
    pay.reset()
    server.faults.clear()
    with receiver.arrived:
        receiver.received.clear()
        receiver.statuses.clear()


@pytest.fixture
def server(sandbox: tuple[SandboxServer, WeChatPaySandbox, Receiver], pay: WeChatPaySandbox) -> SandboxServer:
    return sandbox[0]


@pytest.fixture
def receiver(sandbox: tuple[SandboxServer, WeChatPaySandbox, Receiver], pay: WeChatPaySandbox) -> Receiver:
    return sandbox[2]


@pytest.fixture
def wx(server: SandboxServer, receiver: Receiver) -> WeChatPayClient:
    return client(server, notify_url=receiver.url)


def client(server: SandboxServer, credentials: Mapping[str, Any] = CREDS.secret, **kwargs: Any) -> WeChatPayClient:
    kwargs.setdefault("timeout_s", 2)
    return WeChatPayClient(credentials, server.base_url, **kwargs)


def arm(server: SandboxServer, point: str, mode: str, **extra: Any) -> None:
    server.faults.arm({point: Fault(mode, **extra)})


def pay_in_sandbox(server: SandboxServer, out_trade_no: str) -> None:
    response = requests.post(f"{server.base_url}_sandbox/wechat/transactions/{out_trade_no}/pay", timeout=TIMEOUT)
    assert response.status_code == 200, response.text


def verifies(public_pem: str, message: str, signature: str) -> bool:
    key = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(base64.b64decode(signature), message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return False
    return True


def platform_signed(headers: dict[str, str], body: bytes, key_pem: str = CREDS.sandbox["platform_private_key"]
                    ) -> dict[str, str]:
    """``headers`` re-signed over ``body`` with ``key_pem`` (by default the platform key: a genuine signature)."""
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    message = f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n{body.decode()}\n"
    signature = base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    return {**headers, "Wechatpay-Signature": signature}


def paid_order(wx: WeChatPayClient, server: SandboxServer, receiver: Receiver, out_trade_no: str,
               amount_fen: int = 100) -> None:
    """An order the resident paid, its payment callback received."""
    wx.create_jsapi_order(out_trade_no, OPENID, amount_fen, "保洁服务一小时")
    pay_in_sandbox(server, out_trade_no)
    receiver.wait_for(1)


# ------------------------------------------------------------------------------------------- payments


def test_implements_the_port(wx: WeChatPayClient) -> None:
    port: WeChatJsapi = wx
    assert port.query_order("od-never-placed") is None
    assert port.query_refund("rf-never-made") is None


def test_payment_round_trip(server: SandboxServer, pay: WeChatPaySandbox, receiver: Receiver,
                            wx: WeChatPayClient) -> None:
    charge = wx.create_jsapi_order("od0001round", OPENID, 3500, "保洁服务一小时")
    assert isinstance(charge, Charge)
    assert (charge.provider, charge.out_trade_no, charge.amount_fen, charge.state) == (
        "wechatpay", "od0001round", 3500, ChargeState.PENDING)
    asked = pay.order("od0001round")
    assert asked is not None
    assert (asked["payer"]["openid"], asked["amount"]["total"], asked["notify_url"]) == (OPENID, 3500, receiver.url)

    params = dict(charge.client_params)
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert (params["appId"], params["package"], params["signType"]) == (APPID, f"prepay_id={asked['prepay_id']}", "RSA")
    assert abs(int(params["timeStamp"]) - time.time()) < 60
    message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    assert verifies(CREDS.sandbox["merchant_public_key"], message, params["paySign"])

    before = wx.query_order("od0001round")
    assert before == Charge("wechatpay", "od0001round", 3500, ChargeState.PENDING)

    pay_in_sandbox(server, "od0001round")
    [(headers, body)] = receiver.wait_for(1)
    notification = wx.verify_notification(headers, body, int(time.time()))
    assert isinstance(notification, PayNotification)
    assert notification.event_type == "TRANSACTION.SUCCESS"
    assert notification.notification_id == json.loads(body)["id"]
    resource = notification.resource
    assert (resource["out_trade_no"], resource["trade_state"], resource["amount"]["total"]) == (
        "od0001round", "SUCCESS", 3500)
    assert resource["payer"]["openid"] == OPENID
    assert OPENID.encode() not in body  # the payment travels encrypted

    after = wx.query_order("od0001round")
    assert after is not None
    assert (after.state, after.amount_fen, after.provider_ref) == (
        ChargeState.SUCCEEDED, 3500, resource["transaction_id"])
    assert pay.stats()["paid_total_fen"] == 3500


def test_payment_callback_is_retried_with_the_same_id(server: SandboxServer, receiver: Receiver,
                                                      wx: WeChatPayClient) -> None:
    receiver.statuses = [500]
    wx.create_jsapi_order("od0002retry", OPENID, 100, "送水")
    pay_in_sandbox(server, "od0002retry")
    received = receiver.wait_for(2)
    assert len({json.loads(body)["id"] for _, body in received}) == 1
    for headers, body in received:
        assert wx.verify_notification(headers, body, int(time.time())).resource["out_trade_no"] == "od0002retry"


def test_request_payment_checks_pay_sign_then_pays(server: SandboxServer, pay: WeChatPaySandbox,
                                                   receiver: Receiver, wx: WeChatPayClient) -> None:
    params = dict(wx.create_jsapi_order("od0003client", OPENID, 800, "收衣服").client_params)
    url = f"{server.base_url}_sandbox/wechat/request-payment"
    for tampered in ({**params, "paySign": params["paySign"][:-4] + "AAA="},
                     {**params, "package": "prepay_id=wx" + "0" * 30},
                     {**params, "timeStamp": str(int(params["timeStamp"]) + 1)}):
        refused = requests.post(url, json=tampered, timeout=TIMEOUT)
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "bad_signature")
    assert wx.query_order("od0003client") == Charge("wechatpay", "od0003client", 800, ChargeState.PENDING)
    assert receiver.received == []

    paid = requests.post(url, json=params, timeout=TIMEOUT)
    assert paid.status_code == 200 and paid.json()["trade_state"] == "SUCCESS"
    [(headers, body)] = receiver.wait_for(1)
    assert wx.verify_notification(headers, body, int(time.time())).resource["out_trade_no"] == "od0003client"
    again = requests.post(url, json=params, timeout=TIMEOUT)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "bad_state")


def test_the_same_order_twice_is_one_order(pay: WeChatPaySandbox, wx: WeChatPayClient) -> None:
    first = wx.create_jsapi_order("od0004twice", OPENID, 500, "送水")
    second = wx.create_jsapi_order("od0004twice", OPENID, 500, "送水")
    assert first.client_params["package"] == second.client_params["package"]
    assert len(pay.orders()) == 1
    with pytest.raises(PaymentRefused, match="INVALID_REQUEST"):
        wx.create_jsapi_order("od0004twice", OPENID, 600, "送水")
    assert pay.orders()[0]["amount"]["total"] == 500


def test_a_timeout_after_storing_is_unavailable_and_a_retry_gets_the_same_prepay(
    server: SandboxServer, pay: WeChatPaySandbox, receiver: Receiver
) -> None:
    arm(server, "wechatpay.jsapi", "timeout", delay_s=1)
    wx = client(server, notify_url=receiver.url, timeout_s=0.3)
    with pytest.raises(UpstreamUnavailable) as lost:
        wx.create_jsapi_order("od0005slow", OPENID, 900, "保洁")
    assert not isinstance(lost.value, PaymentRefused)
    stored = pay.order("od0005slow")
    assert stored is not None
    retried = wx.create_jsapi_order("od0005slow", OPENID, 900, "保洁")
    assert retried.client_params["package"] == f"prepay_id={stored['prepay_id']}"
    assert len(pay.orders()) == 1


@pytest.mark.parametrize(("mode", "extra"), [("error", {"status": 500}), ("error", {"status": 429}),
                                             ("http_error", {"status": 502}), ("http_error", {"status": 404})])
def test_lost_answers_are_upstream_unavailable(server: SandboxServer, wx: WeChatPayClient, mode: str,
                                               extra: dict[str, Any]) -> None:
    arm(server, "wechatpay.jsapi", mode, **extra)
    with pytest.raises(UpstreamUnavailable):
        wx.create_jsapi_order("od0006lost", OPENID, 100, "保洁")
    arm(server, "wechatpay.order_query", mode, **extra)
    with pytest.raises(UpstreamUnavailable):
        wx.query_order("od0006lost")


def test_an_answer_that_does_not_verify_is_not_trusted(server: SandboxServer, pay: WeChatPaySandbox,
                                                       receiver: Receiver) -> None:
    wrong_platform_key = {**CREDS.secret, "public_key": OTHER.secret["public_key"]}
    with pytest.raises(UpstreamUnavailable, match="verify"):
        client(server, wrong_platform_key, notify_url=receiver.url).create_jsapi_order("od0007mitm", OPENID, 100, "x")
    assert pay.order("od0007mitm") is not None


def test_unreachable_wechat_is_upstream_unavailable(receiver: Receiver) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    wx = WeChatPayClient(CREDS.secret, f"http://127.0.0.1:{port}", notify_url=receiver.url, timeout_s=1)
    with pytest.raises(UpstreamUnavailable):
        wx.create_jsapi_order("od0008gone", OPENID, 100, "保洁")
    with pytest.raises(UpstreamUnavailable):
        wx.refund("rf0008gone", "od0008gone", 100, 100, "")


def test_wrong_merchant_key_is_refused(server: SandboxServer, pay: WeChatPaySandbox, receiver: Receiver) -> None:
    forged = {**CREDS.secret, "merchant_private_key": OTHER.secret["merchant_private_key"]}
    with pytest.raises(PaymentRefused, match="SIGN_ERROR"):
        client(server, forged, notify_url=receiver.url).create_jsapi_order("od0009forged", OPENID, 100, "保洁")
    assert pay.orders() == []


@pytest.mark.parametrize(
    ("out_trade_no", "openid", "amount_fen", "description"),
    [("od1", OPENID, 100, "保洁"), ("od0010/../x", OPENID, 100, "保洁"), ("od0010bad", "", 100, "保洁"),
     ("od0010bad", OPENID, 0, "保洁"), ("od0010bad", OPENID, 1.5, "保洁"), ("od0010bad", OPENID, 100, "")],
)
def test_unsendable_orders_are_refused_without_calling_wechat(
    pay: WeChatPaySandbox, wx: WeChatPayClient, out_trade_no: str, openid: str, amount_fen: Any, description: str
) -> None:
    with pytest.raises(PaymentRefused, match="not sent"):
        wx.create_jsapi_order(out_trade_no, openid, amount_fen, description)
    assert pay.stats()["requests"] == {}


def test_without_a_notify_url_nothing_is_sent(server: SandboxServer, pay: WeChatPaySandbox) -> None:
    with pytest.raises(PaymentRefused, match="notify_url"):
        client(server, notify_url=None).create_jsapi_order("od0011quiet", OPENID, 100, "保洁")
    assert pay.stats()["requests"] == {}


def test_close(server: SandboxServer, receiver: Receiver, wx: WeChatPayClient) -> None:
    wx.create_jsapi_order("od0012close", OPENID, 100, "保洁")
    wx.close_order("od0012close")
    wx.close_order("od0012close")  # closing again is fine
    closed = wx.query_order("od0012close")
    assert closed is not None and closed.state is ChargeState.CLOSED
    with pytest.raises(PaymentRefused, match="ORDER_CLOSED"):
        wx.create_jsapi_order("od0012close", OPENID, 100, "保洁")
    paid_order(wx, server, receiver, "od0013paid")
    with pytest.raises(PaymentRefused, match="ORDERPAID"):
        wx.close_order("od0013paid")
    with pytest.raises(PaymentRefused, match="ORDERPAID"):
        wx.create_jsapi_order("od0013paid", OPENID, 100, "保洁服务一小时")
    with pytest.raises(PaymentRefused, match="ORDER_NOT_EXIST"):
        wx.close_order("od0014never")


# -------------------------------------------------------------------------------------------- refunds


def test_refund_round_trip(server: SandboxServer, pay: WeChatPaySandbox, receiver: Receiver,
                           wx: WeChatPayClient) -> None:
    paid_order(wx, server, receiver, "od0020refund", 100)
    refund = wx.refund("rf0020part", "od0020refund", 60, 100, "订单取消")
    assert isinstance(refund, Refund)
    assert (refund.out_refund_no, refund.out_trade_no, refund.amount_fen, refund.state) == (
        "rf0020part", "od0020refund", 60, RefundState.PENDING)
    assert refund.provider_ref

    _, (headers, body) = receiver.wait_for(2)
    notification = wx.verify_notification(headers, body, int(time.time()))
    assert notification.event_type == "REFUND.SUCCESS"
    resource = notification.resource
    assert (resource["out_refund_no"], resource["out_trade_no"], resource["refund_status"]) == (
        "rf0020part", "od0020refund", "SUCCESS")
    assert (resource["amount"]["refund"], resource["amount"]["total"]) == (60, 100)

    assert wx.query_refund("rf0020part") == Refund("rf0020part", "od0020refund", 60, RefundState.SUCCEEDED,
                                                   refund.provider_ref)
    order = wx.query_order("od0020refund")
    assert order is not None and order.state is ChargeState.REFUNDED
    again = wx.refund("rf0020part", "od0020refund", 60, 100, "订单取消")
    assert (again.provider_ref, again.state) == (refund.provider_ref, RefundState.SUCCEEDED)
    assert len(pay.refunds()) == 1
    assert (pay.stats()["paid_total_fen"], pay.stats()["refunded_total_fen"]) == (100, 60)


def test_refunds_may_not_exceed_what_was_paid(server: SandboxServer, pay: WeChatPaySandbox, receiver: Receiver,
                                              wx: WeChatPayClient) -> None:
    with pytest.raises(PaymentRefused, match="not sent"):
        wx.refund("rf0021over", "od0021over", 101, 100, "")
    wx.create_jsapi_order("od0021over", OPENID, 100, "保洁服务一小时")
    with pytest.raises(PaymentRefused, match="INVALID_REQUEST"):  # not paid yet
        wx.refund("rf0021unpaid", "od0021over", 100, 100, "")
    pay_in_sandbox(server, "od0021over")
    wx.refund("rf0021first", "od0021over", 60, 100, "")
    with pytest.raises(PaymentRefused, match="INVALID_REQUEST"):
        wx.refund("rf0021second", "od0021over", 41, 100, "")
    with pytest.raises(PaymentRefused, match="PARAM_ERROR"):  # total is not the order's
        wx.refund("rf0021total", "od0021over", 10, 200, "")
    with pytest.raises(PaymentRefused, match="RESOURCE_NOT_EXISTS"):
        wx.refund("rf0021none", "od0021nothing", 10, 100, "")
    assert [r["out_refund_no"] for r in pay.refunds()] == ["rf0021first"]
    assert wx.refund("rf0021rest", "od0021over", 40, 100, "").amount_fen == 40


def test_a_refund_timeout_after_storing_is_unavailable_and_a_retry_finds_it(
    server: SandboxServer, pay: WeChatPaySandbox, receiver: Receiver, wx: WeChatPayClient
) -> None:
    paid_order(wx, server, receiver, "od0022slow")
    arm(server, "wechatpay.refund", "timeout", delay_s=1)
    slow = client(server, notify_url=receiver.url, timeout_s=0.3)
    with pytest.raises(UpstreamUnavailable):
        slow.refund("rf0022slow", "od0022slow", 100, 100, "")
    [stored] = pay.refunds()
    retried = wx.refund("rf0022slow", "od0022slow", 100, 100, "")
    assert retried.provider_ref == stored["refund_id"]
    assert len(pay.refunds()) == 1


def test_an_abnormal_refund_fails_and_is_notified(server: SandboxServer, receiver: Receiver,
                                                  wx: WeChatPayClient) -> None:
    paid_order(wx, server, receiver, "od0023odd")
    arm(server, "wechatpay.refund_abnormal", "error")
    assert wx.refund("rf0023odd", "od0023odd", 100, 100, "").state is RefundState.PENDING
    _, (headers, body) = receiver.wait_for(2)
    notification = wx.verify_notification(headers, body, int(time.time()))
    assert (notification.event_type, notification.resource["refund_status"]) == ("REFUND.ABNORMAL", "ABNORMAL")
    refund = wx.query_refund("rf0023odd")
    assert refund is not None and refund.state is RefundState.FAILED


# ------------------------------------------------------------------------------------------ callbacks


def test_forged_or_tampered_payment_callbacks_are_rejected(server: SandboxServer, receiver: Receiver,
                                                           wx: WeChatPayClient) -> None:
    paid_order(wx, server, receiver, "od0030cb")
    [(headers, body)] = receiver.received
    now = int(headers["Wechatpay-Timestamp"])
    assert wx.verify_notification(headers, body, now).event_type == "TRANSACTION.SUCCESS"
    with pytest.raises(CallbackRejected, match="signature"):  # signed by someone else
        wx.verify_notification(platform_signed(headers, body, OTHER.sandbox["platform_private_key"]), body, now)
    bigger = body.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.SUCCESS" ')
    with pytest.raises(CallbackRejected, match="signature"):  # changed after signing
        wx.verify_notification(headers, bigger, now)

    # a resource encrypted with another APIv3 key, even signed with the genuine platform key
    envelope = json.loads(body)
    forged_resource = {"out_trade_no": "od0030cb", "trade_state": "SUCCESS", "amount": {"total": 1}}
    nonce = "0123456789ab"
    ciphertext = AESGCM(OTHER.secret["apiv3_key"].encode()).encrypt(
        nonce.encode(), json.dumps(forged_resource).encode(), b"transaction")
    envelope["resource"].update(nonce=nonce, ciphertext=base64.b64encode(ciphertext).decode())
    forged = json.dumps(envelope).encode()
    with pytest.raises(CallbackRejected, match="decrypt"):
        wx.verify_notification(platform_signed(headers, forged), forged, now)
