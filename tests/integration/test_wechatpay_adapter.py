"""The wechatpayv3 adapter against a running WeChat Pay sandbox: transfer bills, ambiguity, callbacks."""

from __future__ import annotations

import base64
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from chalicelib.adapters.wechatpay import WeChatPayClient
from chalicelib.domain.errors import CallbackRejected, PayoutAmbiguous, PayoutRefused, UpstreamUnavailable
from chalicelib.ports import BillState, PayNotification, TransferBill, WeChatPay
from localcloud.sandbox import Fault, SandboxServer, WeChatPaySandbox, generate_wechatpay_credentials

REPO_ROOT = Path(__file__).resolve().parents[2]
APPID = "wx-linli-pay-test"
CREDS = generate_wechatpay_credentials(appid=APPID)
OTHER = generate_wechatpay_credentials(appid=APPID)
OPENID = "o-resident-7"


class Receiver:
    """The hub's callback endpoint stand-in: records what WeChat Pay sends, answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.received.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/callbacks/wechatpay"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait_for(self, n: int, timeout_s: float = 5) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= n:
                    return list(self.received)
            time.sleep(0.01)
        raise AssertionError(f"expected {n} callbacks, got {len(self.received)}")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[SandboxServer, WeChatPaySandbox, Receiver]]:
    pay = WeChatPaySandbox(**CREDS.sandbox, retry_scale=0.001)
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
    with receiver.lock:
        receiver.received.clear()


@pytest.fixture
def server(sandbox: tuple[SandboxServer, WeChatPaySandbox, Receiver], pay: WeChatPaySandbox) -> SandboxServer:
    return sandbox[0]


@pytest.fixture
def receiver(sandbox: tuple[SandboxServer, WeChatPaySandbox, Receiver], pay: WeChatPaySandbox) -> Receiver:
    return sandbox[2]


def client(server: SandboxServer, credentials: Mapping[str, Any] = CREDS.secret, **kwargs: Any) -> WeChatPayClient:
    kwargs.setdefault("timeout_s", 2)
    kwargs.setdefault("notify_url", None)
    return WeChatPayClient(credentials, server.base_url, **kwargs)


def arm(server: SandboxServer, point: str, mode: str, **extra: Any) -> None:
    server.faults.arm({point: Fault(mode, **extra)})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_implements_the_port(server: SandboxServer) -> None:
    port: WeChatPay = client(server)
    assert isinstance(port.query_transfer_bill("wd0000none"), type(None))


def test_import_does_not_load_wechatpayv3_or_requests() -> None:
    code = (
        "import sys, chalicelib.adapters.wechatpay; "
        "loaded = [m for m in ('wechatpayv3', 'requests', 'cryptography') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=REPO_ROOT)


def test_incomplete_credentials_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="apiv3_key"):
        WeChatPayClient({**CREDS.secret, "apiv3_key": ""}, "http://127.0.0.1:1/")
    with pytest.raises(ValueError, match="32 bytes"):
        WeChatPayClient({**CREDS.secret, "apiv3_key": "short"}, "http://127.0.0.1:1/")


# ------------------------------------------------------------------------------- the happy path


def test_withdrawal_round_trip(server: SandboxServer, pay: WeChatPaySandbox, receiver: Receiver) -> None:
    wx = client(server, notify_url=receiver.url)
    created = wx.create_transfer_bill("wd0001round", OPENID, 150, "回收返现提现")
    assert isinstance(created, TransferBill)
    assert created.state is BillState.WAIT_USER_CONFIRM
    assert created.amount_fen == 150
    assert created.package_info and created.transfer_bill_no
    # what the hub asked WeChat Pay for: scene 1000 with its report infos and what the resident sees
    asked = pay.bill("wd0001round")
    assert asked is not None
    assert (asked["openid"], asked["transfer_amount"], asked["transfer_scene_id"]) == (OPENID, 150, "1000")
    assert asked["user_recv_perception"] == "现金奖励"
    assert {i["info_type"] for i in asked["transfer_scene_report_infos"]} == {"活动名称", "奖励说明"}
    assert asked["notify_url"] == receiver.url

    queried = wx.query_transfer_bill("wd0001round")
    assert queried == TransferBill("wd0001round", BillState.WAIT_USER_CONFIRM, 150, created.transfer_bill_no)

    pay.confirm("wd0001round")
    [(headers, body)] = receiver.wait_for(1)
    notification = wx.verify_notification(headers, body, int(time.time()))
    assert isinstance(notification, PayNotification)
    assert notification.notification_id == json.loads(body)["id"]
    assert notification.event_type == "MCHTRANSFER.BILL.FINISHED"
    assert notification.resource["out_bill_no"] == "wd0001round"
    assert notification.resource["state"] == "SUCCESS"
    assert notification.resource["transfer_amount"] == 150
    assert notification.resource["transfer_bill_no"] == created.transfer_bill_no
    success = wx.query_transfer_bill("wd0001round")
    assert success is not None and success.state is BillState.SUCCESS


def test_creating_again_returns_the_same_bill(server: SandboxServer, pay: WeChatPaySandbox) -> None:
    wx = client(server)
    first = wx.create_transfer_bill("wd0002again", OPENID, 200, "提现")
    assert wx.create_transfer_bill("wd0002again", OPENID, 200, "提现") == first
    assert len(pay.bills()) == 1


def test_a_failed_transfer_reports_its_reason(server: SandboxServer, pay: WeChatPaySandbox) -> None:
    wx = client(server)
    wx.create_transfer_bill("wd0003fail", OPENID, 200, "提现")
    pay.reject("wd0003fail", "ACCOUNT_FROZEN")
    failed = wx.query_transfer_bill("wd0003fail")
    assert failed is not None
    assert (failed.state, failed.fail_reason) == (BillState.FAIL, "ACCOUNT_FROZEN")


def test_query_of_an_unknown_bill_is_none(server: SandboxServer) -> None:
    assert client(server).query_transfer_bill("wd0404none") is None


def test_cancel(server: SandboxServer, pay: WeChatPaySandbox, receiver: Receiver) -> None:
    wx = client(server, notify_url=receiver.url)
    wx.create_transfer_bill("wd0004cancel", OPENID, 120, "提现")
    cancelled = wx.cancel_transfer_bill("wd0004cancel")
    assert (cancelled.state, cancelled.amount_fen) == (BillState.CANCELLED, 120)
    [(headers, body)] = receiver.wait_for(1)
    assert wx.verify_notification(headers, body, int(time.time())).resource["state"] == "CANCELLED"
    wx.create_transfer_bill("wd0005done", OPENID, 120, "提现")
    pay.confirm("wd0005done")
    with pytest.raises(PayoutRefused, match="INVALID_REQUEST"):
        wx.cancel_transfer_bill("wd0005done")
    with pytest.raises(PayoutRefused, match="NOT_FOUND"):
        wx.cancel_transfer_bill("wd0404none")


# ------------------------------------------------------------------------------- refused creates


def test_wechat_refusal_is_payout_refused(server: SandboxServer, pay: WeChatPaySandbox) -> None:
    arm(server, "wechatpay.create_refuse", "error")
    wx = client(server)
    with pytest.raises(PayoutRefused, match="NOT_ENOUGH"):
        wx.create_transfer_bill("wd0006poor", OPENID, 150, "提现")
    assert wx.query_transfer_bill("wd0006poor") is None


def test_below_wechats_minimum_is_payout_refused(server: SandboxServer, pay: WeChatPaySandbox) -> None:
    with pytest.raises(PayoutRefused, match="PARAM_ERROR"):
        client(server).create_transfer_bill("wd0007tiny", OPENID, 9, "提现")
    assert pay.bills() == []


def test_wrong_merchant_key_is_payout_refused(server: SandboxServer, pay: WeChatPaySandbox) -> None:
    forged = {**CREDS.secret, "merchant_private_key": OTHER.secret["merchant_private_key"]}
    with pytest.raises(PayoutRefused, match="SIGN_ERROR"):
        client(server, forged).create_transfer_bill("wd0008forged", OPENID, 150, "提现")
    assert pay.bills() == []


@pytest.mark.parametrize(
    ("out_bill_no", "openid", "amount_fen", "remark"),
    [("x", OPENID, 150, "提现"), ("wd0009bad", "", 150, "提现"), ("wd0009bad", OPENID, 0, "提现"),
     ("wd0009bad", OPENID, 150, "")],
)
def test_unsendable_requests_are_refused_without_calling_wechat(
    server: SandboxServer, pay: WeChatPaySandbox, out_bill_no: str, openid: str, amount_fen: int, remark: str
) -> None:
    with pytest.raises(PayoutRefused, match="not sent"):
        client(server).create_transfer_bill(out_bill_no, openid, amount_fen, remark)
    assert pay.stats()["requests"] == {}


# ----------------------------------------------------------------------------- ambiguous creates


def test_timeout_is_ambiguous_and_the_bill_exists(server: SandboxServer) -> None:
    arm(server, "wechatpay.create", "timeout", delay_s=1)
    wx = client(server, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(PayoutAmbiguous):
        wx.create_transfer_bill("wd0010slow", OPENID, 180, "提现")
    assert time.monotonic() - started < 0.9
    found = wx.query_transfer_bill("wd0010slow")
    assert found is not None
    assert (found.state, found.amount_fen) == (BillState.WAIT_USER_CONFIRM, 180)


def test_5xx_after_success_is_ambiguous_and_a_retry_finds_the_bill(server: SandboxServer) -> None:
    arm(server, "wechatpay.create", "error", status=500)
    wx = client(server)
    with pytest.raises(PayoutAmbiguous, match="SYSTEM_ERROR"):
        wx.create_transfer_bill("wd0011busy", OPENID, 190, "提现")
    found = wx.query_transfer_bill("wd0011busy")
    assert found is not None and found.state is BillState.WAIT_USER_CONFIRM
    assert wx.create_transfer_bill("wd0011busy", OPENID, 190, "提现").transfer_bill_no == found.transfer_bill_no


@pytest.mark.parametrize(
    ("point", "mode", "extra"),
    [("wechatpay.create_refuse", "error", {"status": 429}), ("wechatpay.create", "http_error", {"status": 502})],
)
def test_429_and_gateway_errors_are_ambiguous(
    server: SandboxServer, point: str, mode: str, extra: dict[str, Any]
) -> None:
    arm(server, point, mode, **extra)
    with pytest.raises(PayoutAmbiguous):
        client(server).create_transfer_bill("wd0012gate", OPENID, 150, "提现")


def test_unreachable_wechat_is_ambiguous_and_query_unavailable() -> None:
    wx = WeChatPayClient(CREDS.secret, f"http://127.0.0.1:{free_port()}", timeout_s=1)
    with pytest.raises(PayoutAmbiguous):
        wx.create_transfer_bill("wd0013gone", OPENID, 150, "提现")
    with pytest.raises(UpstreamUnavailable):
        wx.query_transfer_bill("wd0013gone")


def test_an_answer_that_does_not_verify_is_not_trusted(server: SandboxServer, pay: WeChatPaySandbox) -> None:
    wrong_platform_key = {**CREDS.secret, "public_key": OTHER.secret["public_key"]}
    with pytest.raises(PayoutAmbiguous, match="verify"):
        client(server, wrong_platform_key).create_transfer_bill("wd0014mitm", OPENID, 150, "提现")
    assert pay.bill("wd0014mitm") is not None  # the request did reach WeChat: query, never create again


# ---------------------------------------------------------------------------------------- queries


def test_query_faults_are_upstream_unavailable(server: SandboxServer) -> None:
    wx = client(server, timeout_s=0.3)
    wx.create_transfer_bill("wd0015query", OPENID, 150, "提现")
    for mode, extra in (("error", {}), ("http_error", {"status": 502}), ("timeout", {"delay_s": 1})):
        arm(server, "wechatpay.query", mode, **extra)
        with pytest.raises(UpstreamUnavailable) as failed:
            wx.query_transfer_bill("wd0015query")
        assert not isinstance(failed.value, PayoutAmbiguous)
    assert wx.query_transfer_bill("wd0015query") is not None


def test_a_404_that_is_not_wechats_not_found_is_not_none(server: SandboxServer) -> None:
    misrouted = WeChatPayClient(CREDS.secret, server.base_url + "elsewhere", timeout_s=2)
    with pytest.raises(UpstreamUnavailable):
        misrouted.query_transfer_bill("wd0016route")


# -------------------------------------------------------------------------------------- callbacks


@pytest.fixture
def callback(server: SandboxServer, pay: WeChatPaySandbox, receiver: Receiver) -> tuple[dict[str, str], bytes]:
    """A genuine callback, as the sandbox delivered it."""
    client(server, notify_url=receiver.url).create_transfer_bill("wd0020cb", OPENID, 150, "提现")
    pay.confirm("wd0020cb")
    [received] = receiver.wait_for(1)
    return received


def sign(key_pem: str, message: str) -> str:
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def signed(headers: dict[str, str], body: bytes, key_pem: str = CREDS.sandbox["platform_private_key"],
           **changes: str) -> dict[str, str]:
    """``headers`` re-signed over ``body`` with ``key_pem`` (the platform key: a genuine signature)."""
    out = {**headers, **changes}
    message = f"{out['Wechatpay-Timestamp']}\n{out['Wechatpay-Nonce']}\n{body.decode(errors='replace')}\n"
    out["Wechatpay-Signature"] = sign(key_pem, message)
    return out


def test_callback_headers_are_case_insensitive(server: SandboxServer, callback: tuple[dict[str, str], bytes]) -> None:
    headers, body = callback
    lower = {k.lower(): v for k, v in headers.items()}
    now = int(headers["Wechatpay-Timestamp"])
    assert client(server).verify_notification(lower, body, now).resource["out_bill_no"] == "wd0020cb"


def test_forged_signature_is_rejected(server: SandboxServer, callback: tuple[dict[str, str], bytes]) -> None:
    headers, body = callback
    now = int(headers["Wechatpay-Timestamp"])
    with pytest.raises(CallbackRejected, match="signature"):
        client(server).verify_notification(signed(headers, body, OTHER.sandbox["platform_private_key"]), body, now)
    with pytest.raises(CallbackRejected, match="signature"):
        client(server).verify_notification(headers, body.replace(b'"id": "', b'"id": "X'), now)


def test_tampered_ciphertext_is_rejected_even_when_signed(
    server: SandboxServer, callback: tuple[dict[str, str], bytes]
) -> None:
    headers, body = callback
    envelope = json.loads(body)
    raw = bytearray(base64.b64decode(envelope["resource"]["ciphertext"]))
    raw[0] ^= 0x01
    envelope["resource"]["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    tampered = json.dumps(envelope).encode()
    with pytest.raises(CallbackRejected, match="decrypt"):
        client(server).verify_notification(signed(headers, tampered), tampered, int(headers["Wechatpay-Timestamp"]))


def test_wrong_serial_is_rejected_without_asking_wechat(
    server: SandboxServer, callback: tuple[dict[str, str], bytes], caplog: pytest.LogCaptureFixture
) -> None:
    headers, body = callback
    now = int(headers["Wechatpay-Timestamp"])
    wx = client(server)
    with caplog.at_level(logging.INFO, logger="localcloud.sandbox"), pytest.raises(CallbackRejected, match="Serial"):
        wx.verify_notification({**headers, "Wechatpay-Serial": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"}, body, now)
    assert [r for r in caplog.records if r.name == "localcloud.sandbox"] == []  # no certificate download


@pytest.mark.parametrize(("skew_s", "accepted"), [(300, True), (-300, True), (301, False), (-301, False)])
def test_timestamp_window(
    server: SandboxServer, callback: tuple[dict[str, str], bytes], skew_s: int, accepted: bool
) -> None:
    headers, body = callback
    now = int(headers["Wechatpay-Timestamp"]) + skew_s  # positive: stale; negative: from the future
    if accepted:
        assert client(server).verify_notification(headers, body, now).event_type == "MCHTRANSFER.BILL.FINISHED"
    else:
        with pytest.raises(CallbackRejected, match="timestamp"):
            client(server).verify_notification(headers, body, now)


@pytest.mark.parametrize(
    "changes",
    [{"Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}, {"Wechatpay-Timestamp": "soon"},
     {"Wechatpay-Nonce": ""}, {"Wechatpay-Signature": ""}],
)
def test_bad_headers_are_rejected(
    server: SandboxServer, callback: tuple[dict[str, str], bytes], changes: dict[str, str]
) -> None:
    headers, body = callback
    with pytest.raises(CallbackRejected):
        client(server).verify_notification({**headers, **changes}, body, int(time.time()))


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b"{}",
     b'{"id": "EV-1", "event_type": "X", "resource": "x", "resource_type": "encrypt-resource"}',
     b'{"id": "EV-1", "event_type": "X", "resource_type": "encrypt-resource", "resource": '
     b'{"algorithm": "AEAD_AES_256_GCM", "nonce": "n", "ciphertext": "%%%"}}',
     b'{"resource_type": "plain", "resource": {"algorithm": "AEAD_AES_256_GCM"}}', "签名".encode("gbk")],
)
def test_signed_garbage_is_rejected(
    server: SandboxServer, callback: tuple[dict[str, str], bytes], body: bytes
) -> None:
    headers, _ = callback
    with pytest.raises(CallbackRejected):
        client(server).verify_notification(signed(headers, body), body, int(headers["Wechatpay-Timestamp"]))
