"""The WeChat Pay sandbox over raw HTTP: request signatures, transfer bills, signed answers, callbacks, faults."""

from __future__ import annotations

import base64
import functools
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from localcloud.sandbox import (
    Fault,
    SandboxServer,
    WeChatPayCredentials,
    WeChatPaySandbox,
    generate_wechatpay_credentials,
)

TIMEOUT = 5
API = "v3/fund-app/mch-transfer/transfer-bills"
CREDS = generate_wechatpay_credentials(appid="wx-pay-test", mchid="1900000109")
OTHER = generate_wechatpay_credentials(appid="wx-pay-test", mchid="1900000109")


# --------------------------------------------------------------------------- a callback receiver


@dataclass
class Receiver:
    """Records callbacks; answers the queued statuses, then 200."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.received.append((headers, body))
            return self.statuses.pop(0) if self.statuses else 200

    def wait_for(self, n: int, timeout_s: float = 5) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= n:
                    return list(self.received)
            time.sleep(0.01)
        raise AssertionError(f"expected {n} callbacks, got {len(self.received)}")


@pytest.fixture(scope="module")
def http_receiver() -> Iterator[tuple[ThreadingHTTPServer, list[Receiver]]]:
    current: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = current[0].answer(dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd, current
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def receiver(http_receiver: tuple[ThreadingHTTPServer, list[Receiver]]) -> Receiver:
    httpd, current = http_receiver
    fresh = Receiver(url=f"http://127.0.0.1:{httpd.server_address[1]}/callbacks/wechatpay")
    current[:] = [fresh]
    return fresh


# ------------------------------------------------------------------------------------- the sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[SandboxServer, WeChatPaySandbox]]:
    pay = WeChatPaySandbox(**CREDS.sandbox, retry_scale=0.001)
    with SandboxServer(modules=[pay]) as server:
        yield server, pay


@pytest.fixture
def pay(sandbox: tuple[SandboxServer, WeChatPaySandbox]) -> Iterator[WeChatPaySandbox]:
    server, pay = sandbox
    yield pay
    pay.reset()
    server.faults.clear()


@pytest.fixture
def base(sandbox: tuple[SandboxServer, WeChatPaySandbox], pay: WeChatPaySandbox) -> str:
    return sandbox[0].base_url


@functools.cache
def private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def sign(key_pem: str, message: str) -> str:
    signature = private_key(key_pem).sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def verifies(public_pem: str, message: str, signature: str) -> bool:
    key = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(base64.b64decode(signature), message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return False
    return True


def authorization(method: str, path: str, body: str, creds: WeChatPayCredentials = CREDS, **override: str) -> str:
    fields = {"mchid": creds.secret["mchid"], "nonce_str": secrets.token_hex(16), "timestamp": str(int(time.time())),
              "serial_no": creds.secret["merchant_serial"]}
    fields.update({k: v for k, v in override.items() if k != "signature"})
    message = f"{method}\n{path}\n{fields['timestamp']}\n{fields['nonce_str']}\n{body}\n"
    fields["signature"] = override.get("signature") or sign(creds.secret["merchant_private_key"], message)
    return "WECHATPAY2-SHA256-RSA2048 " + ",".join(f'{k}="{v}"' for k, v in fields.items())


def call(base: str, method: str, path: str, body: dict[str, Any] | None = None,
         creds: WeChatPayCredentials = CREDS, **auth: str) -> requests.Response:
    text = json.dumps(body) if body is not None else ""
    headers = {"Authorization": authorization(method, "/" + path, text, creds, **auth),
               "Content-Type": "application/json", "Accept": "application/json"}
    return requests.request(method, base + path, data=text.encode(), headers=headers, timeout=TIMEOUT)


def bill_request(out_bill_no: str = "wd0001abc", amount: int = 150, notify_url: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    body = {
        "appid": "wx-pay-test", "out_bill_no": out_bill_no, "transfer_scene_id": "1000", "openid": "o-resident-1",
        "transfer_amount": amount, "transfer_remark": "回收返现提现", "user_recv_perception": "现金奖励",
        "transfer_scene_report_infos": [{"info_type": "活动名称", "info_content": "垃圾分类回收奖励"},
                                        {"info_type": "奖励说明", "info_content": "回收物称重返现"}],
    }
    if notify_url:
        body["notify_url"] = notify_url
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def create(base: str, **kwargs: Any) -> dict[str, Any]:
    response = call(base, "POST", API, bill_request(**kwargs))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def query(base: str, out_bill_no: str) -> requests.Response:
    return call(base, "GET", f"{API}/out-bill-no/{out_bill_no}")


def control(base: str, path: str, body: object = None) -> requests.Response:
    return requests.post(base + "_sandbox/wechat/transfers/" + path, json=body, timeout=TIMEOUT)


def decrypt(body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    envelope = json.loads(body)
    resource = envelope["resource"]
    plain = AESGCM(CREDS.secret["apiv3_key"].encode()).decrypt(
        resource["nonce"].encode(), base64.b64decode(resource["ciphertext"]), resource["associated_data"].encode()
    )
    return envelope, json.loads(plain)


def assert_signed_by_platform(response: requests.Response) -> None:
    h = response.headers
    assert h["Wechatpay-Serial"] == CREDS.secret["public_key_id"]
    assert h["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert h["Request-ID"]
    message = f"{h['Wechatpay-Timestamp']}\n{h['Wechatpay-Nonce']}\n{response.text}\n"
    assert verifies(CREDS.secret["public_key"], message, h["Wechatpay-Signature"])
    assert not verifies(OTHER.secret["public_key"], message, h["Wechatpay-Signature"])


# ------------------------------------------------------------------------------------- credentials


def test_generated_credentials_pair_up() -> None:
    sandbox, secret = CREDS
    assert set(secret) == {"mchid", "appid", "merchant_private_key", "merchant_serial", "public_key",
                           "public_key_id", "apiv3_key"}
    assert secret["mchid"] == sandbox["mchid"] == "1900000109"
    assert secret["public_key_id"].startswith("PUB_KEY_ID_")
    assert len(secret["apiv3_key"].encode()) == 32
    assert secret["merchant_private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert "PRIVATE" not in secret["public_key"]
    assert verifies(sandbox["merchant_public_key"], "m", sign(secret["merchant_private_key"], "m"))
    assert verifies(secret["public_key"], "p", sign(sandbox["platform_private_key"], "p"))
    assert secret["apiv3_key"] != OTHER.secret["apiv3_key"]
    assert secret["merchant_private_key"] != OTHER.secret["merchant_private_key"]


# ------------------------------------------------------------------------------------ authentication


@pytest.mark.parametrize(
    "auth",
    [
        {"mchid": "1900000999"},
        {"serial_no": "0123456789ABCDEF"},
        {"timestamp": str(int(time.time()) - 600)},
        {"signature": base64.b64encode(b"x" * 256).decode()},
    ],
)
def test_badly_signed_requests_are_401_sign_error(base: str, pay: WeChatPaySandbox, auth: dict[str, str]) -> None:
    response = call(base, "POST", API, bill_request(), CREDS, **auth)
    assert response.status_code == 401
    assert response.json()["code"] == "SIGN_ERROR"
    assert pay.bills() == []


def test_missing_authorization_or_a_key_that_is_not_the_merchants(base: str, pay: WeChatPaySandbox) -> None:
    missing = requests.post(base + API, json=bill_request(), timeout=TIMEOUT)
    assert (missing.status_code, missing.json()["code"]) == (401, "SIGN_ERROR")
    other_key = call(base, "POST", API, bill_request(), creds=OTHER._replace(
        secret={**OTHER.secret, "merchant_serial": CREDS.secret["merchant_serial"]}))
    assert (other_key.status_code, other_key.json()["code"]) == (401, "SIGN_ERROR")
    assert pay.bills() == []


def test_a_body_other_than_the_signed_one_is_refused(base: str, pay: WeChatPaySandbox) -> None:
    signed = json.dumps(bill_request(amount=10))
    sent = json.dumps(bill_request(amount=100000))
    headers = {"Authorization": authorization("POST", "/" + API, signed), "Content-Type": "application/json"}
    response = requests.post(base + API, data=sent, headers=headers, timeout=TIMEOUT)
    assert response.status_code == 401
    assert pay.bills() == []


def test_answers_and_errors_are_signed_with_the_platform_key(base: str) -> None:
    created = call(base, "POST", API, bill_request())
    assert created.status_code == 200
    assert_signed_by_platform(created)
    missing = query(base, "nosuchbill1")
    assert (missing.status_code, missing.json()["code"]) == (404, "NOT_FOUND")
    assert_signed_by_platform(missing)


# ------------------------------------------------------------------------------------------- create


def test_create_waits_for_the_resident_to_confirm(base: str, pay: WeChatPaySandbox) -> None:
    answer = create(base, out_bill_no="wd0001abc", amount=150)
    assert answer["out_bill_no"] == "wd0001abc"
    assert answer["state"] == "WAIT_USER_CONFIRM"
    assert len(answer["transfer_bill_no"]) == 40 and answer["transfer_bill_no"].isdigit()
    assert answer["package_info"]
    assert answer["create_time"].endswith("+08:00")
    [listed] = requests.get(base + "_sandbox/wechat/transfers", timeout=TIMEOUT).json()["items"]
    assert listed["openid"] == "o-resident-1"
    assert listed["transfer_amount"] == 150
    assert listed["package_info"] == answer["package_info"]
    assert pay.stats()["waiting_total_fen"] == 150


def test_create_is_idempotent_by_out_bill_no(base: str, pay: WeChatPaySandbox) -> None:
    first = create(base, out_bill_no="wd0002abc")
    assert create(base, out_bill_no="wd0002abc") == first
    changed = call(base, "POST", API, bill_request(out_bill_no="wd0002abc", amount=151))
    assert (changed.status_code, changed.json()["code"]) == (400, "INVALID_REQUEST")
    [bill] = pay.bills()
    assert bill["transfer_amount"] == 150


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"out_bill_no": "wd01"}, 400, "PARAM_ERROR"),
        ({"out_bill_no": "wd-0001-abc"}, 400, "PARAM_ERROR"),
        ({"out_bill_no": "w" * 33}, 400, "PARAM_ERROR"),
        ({"transfer_amount": 9}, 400, "PARAM_ERROR"),
        ({"transfer_amount": "150"}, 400, "PARAM_ERROR"),
        ({"transfer_amount": 200_000}, 400, "PARAM_ERROR"),
        ({"transfer_remark": "备" * 33}, 400, "PARAM_ERROR"),
        ({"appid": "wx-someone-else"}, 400, "PARAM_ERROR"),
        ({"openid": None}, 400, "PARAM_ERROR"),
        ({"transfer_scene_report_infos": None}, 400, "PARAM_ERROR"),
        ({"user_recv_perception": "工资"}, 400, "PARAM_ERROR"),
        ({"notify_url": "http://127.0.0.1/cb?x=1"}, 400, "PARAM_ERROR"),
        ({"notify_url": "ftp://127.0.0.1/cb"}, 400, "PARAM_ERROR"),
        ({"transfer_scene_id": "1005"}, 403, "NO_AUTH"),
    ],
)
def test_invalid_bills_are_refused_and_not_stored(
    base: str, pay: WeChatPaySandbox, change: dict[str, Any], status: int, code: str
) -> None:
    response = call(base, "POST", API, bill_request(**change))
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert response.json()["message"]
    assert pay.bills() == []


def test_non_json_body_is_param_error(base: str) -> None:
    headers = {"Authorization": authorization("POST", "/" + API, "not json"), "Content-Type": "application/json"}
    response = requests.post(base + API, data=b"not json", headers=headers, timeout=TIMEOUT)
    assert (response.status_code, response.json()["code"]) == (400, "PARAM_ERROR")


# -------------------------------------------------------------------------------------------- query


def test_query_by_out_bill_no_and_by_transfer_bill_no(base: str) -> None:
    created = create(base, out_bill_no="wd0003abc", amount=230)
    by_out = query(base, "wd0003abc")
    assert by_out.status_code == 200
    bill = by_out.json()
    assert bill == call(base, "GET", f"{API}/transfer-bill-no/{created['transfer_bill_no']}").json()
    assert bill["mch_id"] == "1900000109"
    assert bill["appid"] == "wx-pay-test"
    assert bill["state"] == "WAIT_USER_CONFIRM"
    assert bill["transfer_amount"] == 230
    assert bill["transfer_remark"] == "回收返现提现"
    assert bill["openid"] == "o-resident-1"
    assert "fail_reason" not in bill
    assert "package_info" not in bill
    unknown = call(base, "GET", f"{API}/transfer-bill-no/1330000000000000000000000000000000000000")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "NOT_FOUND")


# ------------------------------------------------------------------------------------ state machine


def test_confirm_succeeds_once_and_notifies(base: str, pay: WeChatPaySandbox, receiver: Receiver) -> None:
    create(base, out_bill_no="wd0004abc", amount=300, notify_url=receiver.url)
    confirmed = control(base, "wd0004abc/confirm")
    assert confirmed.status_code == 200
    assert confirmed.json()["state"] == "SUCCESS"
    assert query(base, "wd0004abc").json()["state"] == "SUCCESS"
    [(_, body)] = receiver.wait_for(1)
    assert decrypt(body)[1]["state"] == "SUCCESS"

    again = control(base, "wd0004abc/confirm")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "bad_state")
    assert control(base, "wd0004abc/reject").status_code == 409
    cancel = call(base, "POST", f"{API}/out-bill-no/wd0004abc/cancel")
    assert (cancel.status_code, cancel.json()["code"]) == (400, "INVALID_REQUEST")
    stats = pay.stats()
    assert stats["succeeded_total_fen"] == 300
    assert stats["waiting_total_fen"] == 0
    assert stats["bills"] == {"SUCCESS": 1}


def test_reject_fails_the_bill_with_a_reason(base: str, receiver: Receiver) -> None:
    create(base, out_bill_no="wd0005abc", notify_url=receiver.url)
    create(base, out_bill_no="wd0006abc", notify_url=receiver.url)
    assert control(base, "wd0005abc/reject").json()["fail_reason"] == "PAYEE_ACCOUNT_ABNORMAL"
    bad = control(base, "wd0006abc/reject", {"fail_reason": "BECAUSE"})
    assert bad.status_code == 400
    assert control(base, "wd0006abc/reject", {"fail_reason": "ACCOUNT_FROZEN"}).status_code == 200
    bill = query(base, "wd0006abc").json()
    assert (bill["state"], bill["fail_reason"]) == ("FAIL", "ACCOUNT_FROZEN")
    resources = sorted((decrypt(body)[1] for _, body in receiver.wait_for(2)), key=lambda r: r["out_bill_no"])
    assert [(r["state"], r["fail_reason"]) for r in resources] == [
        ("FAIL", "PAYEE_ACCOUNT_ABNORMAL"), ("FAIL", "ACCOUNT_FROZEN")]


def test_cancel_answers_canceling_and_the_bill_is_cancelled(base: str, receiver: Receiver) -> None:
    create(base, out_bill_no="wd0007abc", notify_url=receiver.url)
    cancel = call(base, "POST", f"{API}/out-bill-no/wd0007abc/cancel")
    assert cancel.status_code == 200
    assert_signed_by_platform(cancel)
    assert cancel.json()["state"] == "CANCELING"
    assert query(base, "wd0007abc").json()["state"] == "CANCELLED"
    [(_, body)] = receiver.wait_for(1)
    assert decrypt(body)[1]["state"] == "CANCELLED"
    again = call(base, "POST", f"{API}/out-bill-no/wd0007abc/cancel")
    assert (again.status_code, again.json()["state"]) == (200, "CANCELLED")
    assert control(base, "wd0007abc/confirm").status_code == 409
    missing = call(base, "POST", f"{API}/out-bill-no/wd0404abc/cancel")
    assert (missing.status_code, missing.json()["code"]) == (404, "NOT_FOUND")


def test_control_routes_for_unknown_bills_are_404(base: str) -> None:
    assert control(base, "nosuch001/confirm").status_code == 404
    assert requests.get(base + "_sandbox/wechat/transfers/nosuch001", timeout=TIMEOUT).status_code == 404


def test_list_filters_by_state_and_openid(base: str) -> None:
    create(base, out_bill_no="wd0008abc")
    create(base, out_bill_no="wd0009abc", openid="o-resident-2")
    control(base, "wd0009abc/confirm")
    listed = requests.get(base + "_sandbox/wechat/transfers", params={"state": "SUCCESS"}, timeout=TIMEOUT).json()
    assert [b["out_bill_no"] for b in listed["items"]] == ["wd0009abc"]
    mine = requests.get(base + "_sandbox/wechat/transfers", params={"openid": "o-resident-1"}, timeout=TIMEOUT)
    assert [b["out_bill_no"] for b in mine.json()["items"]] == ["wd0008abc"]


# ---------------------------------------------------------------------------------------- callbacks


def test_callback_is_signed_and_encrypted_as_wechat_sends_it(base: str, receiver: Receiver) -> None:
    created = create(base, out_bill_no="wd0010abc", amount=420, notify_url=receiver.url)
    control(base, "wd0010abc/confirm")
    [(headers, body)] = receiver.wait_for(1)
    assert headers["Wechatpay-Serial"] == CREDS.secret["public_key_id"]
    assert headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert abs(int(headers["Wechatpay-Timestamp"]) - time.time()) < 60
    message = f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n{body.decode()}\n"
    assert verifies(CREDS.secret["public_key"], message, headers["Wechatpay-Signature"])
    envelope, resource = decrypt(body)
    assert envelope["id"]
    assert envelope["event_type"] == "MCHTRANSFER.BILL.FINISHED"
    assert envelope["resource_type"] == "encrypt-resource"
    assert envelope["summary"]
    assert envelope["resource"]["algorithm"] == "AEAD_AES_256_GCM"
    assert envelope["resource"]["original_type"] == "mch_payment"
    assert envelope["resource"]["associated_data"] == "mch_payment"
    assert resource == {
        "out_bill_no": "wd0010abc", "transfer_bill_no": created["transfer_bill_no"], "state": "SUCCESS",
        "mch_id": "1900000109", "transfer_amount": 420, "openid": "o-resident-1",
        "create_time": created["create_time"], "update_time": resource["update_time"],
    }
    assert "o-resident-1" not in body.decode()  # the bill travels encrypted


def test_callback_retried_with_the_same_id_until_answered_2xx(
    base: str, pay: WeChatPaySandbox, receiver: Receiver
) -> None:
    receiver.statuses = [500, 404]
    create(base, out_bill_no="wd0011abc", notify_url=receiver.url)
    control(base, "wd0011abc/confirm")
    received = receiver.wait_for(3)
    ids = {json.loads(body)["id"] for _, body in received}
    assert len(ids) == 1
    assert len({headers["Wechatpay-Nonce"] for headers, _ in received}) == 3  # re-signed each time
    for headers, body in received:
        message = f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n{body.decode()}\n"
        assert verifies(CREDS.secret["public_key"], message, headers["Wechatpay-Signature"])
    deadline = time.monotonic() + 2
    while not pay.callbacks()[0]["delivered"] and time.monotonic() < deadline:
        time.sleep(0.01)
    [delivery] = requests.get(base + "_sandbox/wechatpay/callbacks", params={"out_bill_no": "wd0011abc"},
                              timeout=TIMEOUT).json()["items"]
    assert delivery["id"] in ids
    assert delivery["delivered"] is True
    assert [a["status"] for a in delivery["attempts"]] == [500, 404, 200]
    assert pay.stats()["callbacks"] == {"delivered": 1, "gave_up": 0, "pending": 0}


def test_unreachable_receiver_is_retried_on_wechats_schedule_then_given_up() -> None:
    pay = WeChatPaySandbox(**CREDS.sandbox, retry_scale=0.00001, callback_timeout_s=1)
    with SandboxServer(modules=[pay]) as server:
        create(server.base_url, out_bill_no="wd0012abc", notify_url="http://127.0.0.1:9/callbacks")
        started = time.monotonic()
        control(server.base_url, "wd0012abc/confirm")
        deadline = started + 5
        while not pay.callbacks()[0]["gave_up"] and time.monotonic() < deadline:
            time.sleep(0.02)
        [delivery] = pay.callbacks()
    assert delivery["gave_up"] and not delivery["delivered"]
    assert len(delivery["attempts"]) == 16  # the first try and WeChat's 15 retries
    assert all(a["status"] is None and "refused" in a["error"].lower() for a in delivery["attempts"])
    assert time.monotonic() - started >= 86640 * 0.00001  # the whole schedule, scaled


def test_no_notify_url_no_callback(base: str, pay: WeChatPaySandbox) -> None:
    create(base, out_bill_no="wd0013abc")
    control(base, "wd0013abc/confirm")
    time.sleep(0.05)
    assert pay.callbacks() == []


def test_stop_ends_pending_deliveries_promptly(receiver: Receiver) -> None:
    receiver.statuses = [500] * 20
    pay = WeChatPaySandbox(**CREDS.sandbox, retry_scale=1.0)  # next retry in 15 s
    server = SandboxServer(modules=[pay])
    server.start()
    create(server.base_url, out_bill_no="wd0014abc", notify_url=receiver.url)
    control(server.base_url, "wd0014abc/confirm")
    receiver.wait_for(1)
    started = time.monotonic()
    server.stop()
    deadline = started + 2
    while any(t.name == "wechatpay-callbacks" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(t.name == "wechatpay-callbacks" for t in threading.enumerate())
    assert time.monotonic() - started < 1
    assert len(receiver.received) == 1


def test_reset_forgets_bills_and_pending_callbacks(base: str, pay: WeChatPaySandbox, receiver: Receiver) -> None:
    create(base, out_bill_no="wd0015abc", notify_url=receiver.url)
    assert requests.post(base + "_sandbox/wechatpay/reset", timeout=TIMEOUT).json() == {"status": "ok"}
    assert pay.bills() == []
    assert query(base, "wd0015abc").status_code == 404
    assert requests.get(base + "_sandbox/wechatpay/stats", timeout=TIMEOUT).json()["requests"] == {"query": 1}


# ------------------------------------------------------------------------------------------- faults


def arm(server: SandboxServer, point: str, mode: str, **extra: Any) -> None:
    server.faults.arm({point: Fault(mode, **extra)})


def test_create_timeout_fault_stores_the_bill_then_hangs(
    sandbox: tuple[SandboxServer, WeChatPaySandbox], base: str, pay: WeChatPaySandbox
) -> None:
    arm(sandbox[0], "wechatpay.create", "timeout", delay_s=1)
    text = json.dumps(bill_request(out_bill_no="wd0016abc"))
    headers = {"Authorization": authorization("POST", "/" + API, text), "Content-Type": "application/json"}
    with pytest.raises(requests.Timeout):
        requests.post(base + API, data=text, headers=headers, timeout=0.3)
    assert query(base, "wd0016abc").json()["state"] == "WAIT_USER_CONFIRM"


def test_create_error_fault_answers_5xx_after_storing(
    sandbox: tuple[SandboxServer, WeChatPaySandbox], base: str
) -> None:
    arm(sandbox[0], "wechatpay.create", "error", status=500)
    response = call(base, "POST", API, bill_request(out_bill_no="wd0017abc"))
    assert (response.status_code, response.json()["code"]) == (500, "SYSTEM_ERROR")
    assert_signed_by_platform(response)
    assert query(base, "wd0017abc").status_code == 200
    assert create(base, out_bill_no="wd0017abc")["state"] == "WAIT_USER_CONFIRM"  # the retry finds it


@pytest.mark.parametrize(
    ("extra", "status", "code"),
    [({}, 403, "NOT_ENOUGH"), ({"status": 400, "code": "INVALID_REQUEST"}, 400, "INVALID_REQUEST"),
     ({"status": 429}, 429, "FREQUENCY_LIMITED"), ({"status": 502}, 403, "NOT_ENOUGH")],
)
def test_create_refuse_fault_answers_4xx_and_stores_nothing(
    sandbox: tuple[SandboxServer, WeChatPaySandbox], base: str, pay: WeChatPaySandbox,
    extra: dict[str, Any], status: int, code: str,
) -> None:
    arm(sandbox[0], "wechatpay.create_refuse", "error", **extra)
    response = call(base, "POST", API, bill_request(out_bill_no="wd0018abc"))
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert pay.bills() == []


def test_query_faults(sandbox: tuple[SandboxServer, WeChatPaySandbox], base: str) -> None:
    create(base, out_bill_no="wd0019abc")
    requests.post(base + "_sandbox/faults", json={"wechatpay.query": {"mode": "http_error", "status": 502}},
                  timeout=TIMEOUT)
    assert query(base, "wd0019abc").status_code == 502
    arm(sandbox[0], "wechatpay.query", "error")
    assert (query(base, "wd0019abc").status_code, query(base, "wd0019abc").status_code) == (503, 200)


def test_callback_duplicate_fault_delivers_twice_with_one_id(
    sandbox: tuple[SandboxServer, WeChatPaySandbox], base: str, receiver: Receiver
) -> None:
    arm(sandbox[0], "wechatpay.callback", "duplicate")
    create(base, out_bill_no="wd0020abc", notify_url=receiver.url)
    control(base, "wd0020abc/confirm")
    first, second = receiver.wait_for(2)
    assert json.loads(first[1])["id"] == json.loads(second[1])["id"]
    assert first[0]["Wechatpay-Nonce"] != second[0]["Wechatpay-Nonce"]


def test_callback_delay_fault_delivers_late(
    sandbox: tuple[SandboxServer, WeChatPaySandbox], base: str, receiver: Receiver
) -> None:
    arm(sandbox[0], "wechatpay.callback", "delay", delay_s=1)
    create(base, out_bill_no="wd0021abc", notify_url=receiver.url)
    started = time.monotonic()
    control(base, "wd0021abc/confirm")
    time.sleep(0.2)
    assert receiver.received == []
    receiver.wait_for(1)
    assert time.monotonic() - started >= 1


@pytest.mark.parametrize(
    "body",
    [{"wechatpay.create": {"mode": "duplicate"}}, {"wechatpay.callback": {"mode": "error"}},
     {"wechatpay.create": {"mode": "error", "code": ""}}],
)
def test_modes_a_point_cannot_act_out_are_refused(base: str, body: dict[str, Any]) -> None:
    response = requests.post(base + "_sandbox/faults", json=body, timeout=TIMEOUT)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "bad_fault")
    listed = requests.get(base + "_sandbox/faults", timeout=TIMEOUT).json()
    assert listed["armed"] == {}
    assert {"wechatpay.create", "wechatpay.create_refuse", "wechatpay.query", "wechatpay.cancel",
            "wechatpay.callback"} <= set(listed["points"])
