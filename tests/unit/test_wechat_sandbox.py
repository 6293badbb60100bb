"""The WeChat sandbox over HTTP: WeChat's paths and shapes, the sandbox rules, inspection and faults."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from localcloud.sandbox import DEFAULT_APPID, DEFAULT_SECRET, Fault, SandboxServer, WeChatSandbox

TIMEOUT = 5


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[SandboxServer, WeChatSandbox]]:
    wechat = WeChatSandbox()
    server = SandboxServer(port=0, modules=[wechat])
    server.start()
    try:
        yield server, wechat
    finally:
        server.stop()


@pytest.fixture
def base(sandbox: tuple[SandboxServer, WeChatSandbox]) -> Iterator[str]:
    server, wechat = sandbox
    yield server.base_url
    wechat.reset()
    server.faults.clear()


@pytest.fixture
def wechat(sandbox: tuple[SandboxServer, WeChatSandbox]) -> WeChatSandbox:
    return sandbox[1]


def get(base: str, path: str, **params: str) -> dict[str, Any]:
    response = requests.get(base + path, params=params, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def post(base: str, path: str, body: object, **params: str) -> dict[str, Any]:
    response = requests.post(base + path, params=params, json=body, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def token(base: str) -> str:
    answer = get(base, "cgi-bin/token", grant_type="client_credential", appid=DEFAULT_APPID, secret=DEFAULT_SECRET)
    return str(answer["access_token"])


def login(base: str, code: str, appid: str = DEFAULT_APPID, secret: str = DEFAULT_SECRET) -> dict[str, Any]:
    params = {"appid": appid, "secret": secret, "js_code": code, "grant_type": "authorization_code"}
    return get(base, "sns/jscode2session", **params)


# ------------------------------------------------------------------------------------------ server


def test_healthz_and_port_zero_resolved(sandbox: tuple[SandboxServer, WeChatSandbox], base: str) -> None:
    server, _ = sandbox
    assert server.port > 0
    assert base == f"http://127.0.0.1:{server.port}/"
    assert get(base, "_sandbox/healthz") == {"status": "ok"}


def test_unknown_path_is_404_and_wrong_method_405(base: str) -> None:
    missing = requests.get(base + "nope", timeout=TIMEOUT)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = requests.delete(base + "cgi-bin/token", timeout=TIMEOUT)
    assert wrong.status_code == 405


def test_one_log_line_per_request_without_query_string(base: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="localcloud.sandbox"):
        token(base)
    lines = [r.getMessage() for r in caplog.records if r.name == "localcloud.sandbox"]
    assert lines == ["GET /cgi-bin/token -> 200"]


def test_start_and_stop_a_second_server_on_its_own_port() -> None:
    with SandboxServer(modules=[WeChatSandbox("wx-other", "other-secret")]) as other:
        assert get(other.base_url, "_sandbox/healthz") == {"status": "ok"}
        port = other.port
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/_sandbox/healthz", timeout=1)


# ------------------------------------------------------------------------------------------ tokens


def test_token_only_for_the_configured_app(base: str) -> None:
    ok = get(base, "cgi-bin/token", grant_type="client_credential", appid=DEFAULT_APPID, secret=DEFAULT_SECRET)
    assert ok["access_token"]
    assert ok["expires_in"] == 7200
    wrong_appid = get(base, "cgi-bin/token", grant_type="client_credential", appid="wx-x", secret=DEFAULT_SECRET)
    assert wrong_appid["errcode"] == 40013
    wrong_secret = get(base, "cgi-bin/token", grant_type="client_credential", appid=DEFAULT_APPID, secret="x")
    assert wrong_secret["errcode"] == 40125
    assert "access_token" not in wrong_secret


def test_stable_token_is_stable_until_forced(base: str) -> None:
    body = {"grant_type": "client_credential", "appid": DEFAULT_APPID, "secret": DEFAULT_SECRET}
    first = post(base, "cgi-bin/stable_token", body)["access_token"]
    assert post(base, "cgi-bin/stable_token", body)["access_token"] == first
    forced = post(base, "cgi-bin/stable_token", {**body, "force_refresh": True})["access_token"]
    assert forced != first
    assert post(base, "cgi-bin/stable_token", {**body, "secret": "x"})["errcode"] == 40125


# ------------------------------------------------------------------------------------------- login


def test_sandbox_code_logs_in_as_that_openid(base: str) -> None:
    answer = login(base, "sandbox-abc")
    assert answer["openid"] == "abc"
    assert len(base64.b64decode(answer["session_key"])) == 16
    assert "errcode" not in answer
    assert "unionid" not in answer


def test_other_codes_are_invalid(base: str) -> None:
    for code in ("abc", "sandbox-", "real-wechat-code", "sandbox-a/b"):
        assert login(base, code)["errcode"] == 40029, code


def test_login_with_wrong_app_credentials(base: str) -> None:
    assert login(base, "sandbox-abc", secret="wrong")["errcode"] == 40125
    assert login(base, "sandbox-abc", appid="wx-other")["errcode"] == 40013


def test_unionid_when_configured() -> None:
    with SandboxServer(modules=[WeChatSandbox(with_unionid=True)]) as server:
        assert login(server.base_url, "sandbox-abc")["unionid"] == "sandbox-union-abc"


# ------------------------------------------------------------------------------------------- phone


def test_phone_code_gives_that_number(base: str) -> None:
    answer = post(
        base, "wxa/business/getuserphonenumber", {"code": "sandbox-phone-13800138000"}, access_token=token(base)
    )
    assert answer["errcode"] == 0
    info = answer["phone_info"]
    assert info["purePhoneNumber"] == "13800138000"
    assert info["phoneNumber"] == "13800138000"
    assert info["countryCode"] == "86"
    assert info["watermark"]["appid"] == DEFAULT_APPID
    assert abs(info["watermark"]["timestamp"] - time.time()) < 60


def test_bad_phone_codes(base: str) -> None:
    access_token = token(base)
    for code in ("sandbox-phone-1380013800", "sandbox-phone-138001380001", "sandbox-abc", "x"):
        answer = post(base, "wxa/business/getuserphonenumber", {"code": code}, access_token=access_token)
        assert answer["errcode"] == 40029, code


def test_phone_needs_a_valid_access_token(base: str, wechat: WeChatSandbox) -> None:
    body = {"code": "sandbox-phone-13800138000"}
    assert post(base, "wxa/business/getuserphonenumber", body, access_token="forged")["errcode"] == 40001
    assert post(base, "wxa/business/getuserphonenumber", body)["errcode"] == 41001
    access_token = token(base)
    wechat.revoke_tokens(access_token, errcode=42001)
    assert post(base, "wxa/business/getuserphonenumber", body, access_token=access_token)["errcode"] == 42001


def test_revoke_token_route(base: str) -> None:
    access_token = token(base)
    assert post(base, "_sandbox/wechat/revoke-token", {}) == {"revoked": 1}
    body = {"code": "sandbox-phone-13800138000"}
    assert post(base, "wxa/business/getuserphonenumber", body, access_token=access_token)["errcode"] == 40001
    assert post(base, "wxa/business/getuserphonenumber", body, access_token=token(base))["errcode"] == 0


def test_expired_token_answers_42001() -> None:
    with SandboxServer(modules=[WeChatSandbox(token_ttl_s=0)]) as server:
        access_token = token(server.base_url)
        body = {"code": "sandbox-phone-13800138000"}
        answer = post(server.base_url, "wxa/business/getuserphonenumber", body, access_token=access_token)
        assert answer["errcode"] == 42001


# ---------------------------------------------------------------------------------------- messages


def send(base: str, access_token: str, touser: str, template_id: str = "tpl-1", **extra: object) -> dict[str, Any]:
    body = {"touser": touser, "template_id": template_id, "data": {"thing1": {"value": "hi"}}, **extra}
    return post(base, "cgi-bin/message/subscribe/send", body, access_token=access_token)


def test_messages_are_recorded_and_listed_per_openid(base: str) -> None:
    access_token = token(base)
    first = send(base, access_token, "alice", "tpl-1", page="pages/wallet", miniprogram_state="trial")
    send(base, access_token, "bob", "tpl-2")
    third = send(base, access_token, "alice", "tpl-3", lang="en_US")
    assert first["errcode"] == 0
    assert third["msgid"] > first["msgid"]

    alice = get(base, "_sandbox/wechat/messages", openid="alice")["items"]
    assert [m["template_id"] for m in alice] == ["tpl-1", "tpl-3"]
    assert alice[0]["page"] == "pages/wallet"
    assert alice[0]["miniprogram_state"] == "trial"
    assert alice[0]["data"] == {"thing1": {"value": "hi"}}
    assert alice[1]["lang"] == "en_US"
    assert alice[1]["miniprogram_state"] == "formal"
    assert get(base, "_sandbox/wechat/messages", openid="carol") == {"items": []}
    assert len(get(base, "_sandbox/wechat/messages")["items"]) == 3


def test_messages_need_a_valid_token_and_fields(base: str) -> None:
    assert send(base, "forged", "alice")["errcode"] == 40001
    access_token = token(base)
    no_template = post(base, "cgi-bin/message/subscribe/send", {"touser": "a", "data": {}}, access_token=access_token)
    assert no_template["errcode"] == 40037
    assert get(base, "_sandbox/wechat/messages", openid="alice") == {"items": []}


def test_stats_count_requests(base: str) -> None:
    token(base)
    login(base, "sandbox-abc")
    login(base, "nope")
    assert get(base, "_sandbox/wechat/stats") == {"token": 1, "jscode2session": 2}


# ------------------------------------------------------------------------------------------ faults


def test_error_fault_answers_system_busy_n_times(base: str) -> None:
    armed = post(base, "_sandbox/faults", {"wechat.jscode2session": {"mode": "error", "count": 2}})
    assert armed["armed"]["wechat.jscode2session"]["count"] == 2
    assert login(base, "sandbox-abc")["errcode"] == -1
    assert login(base, "sandbox-abc")["errcode"] == -1
    assert login(base, "sandbox-abc")["openid"] == "abc"
    assert get(base, "_sandbox/faults")["armed"] == {}


def test_error_fault_with_custom_errcode(base: str) -> None:
    post(base, "_sandbox/faults", {"wechat.subscribe_send": {"mode": "error", "errcode": 43101, "errmsg": "refuse"}})
    assert send(base, token(base), "alice")["errcode"] == 43101


def test_timeout_fault_hangs_past_the_client_timeout(base: str) -> None:
    post(base, "_sandbox/faults", {"wechat.jscode2session": {"mode": "timeout", "delay_s": 2}})
    params = {
        "appid": DEFAULT_APPID,
        "secret": DEFAULT_SECRET,
        "js_code": "sandbox-abc",
        "grant_type": "authorization_code",
    }
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.get(base + "sns/jscode2session", params=params, timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert login(base, "sandbox-abc")["openid"] == "abc"


def test_http_error_fault(base: str) -> None:
    post(base, "_sandbox/faults", {"wechat.token": {"mode": "http_error", "status": 502}})
    response = requests.get(base + "cgi-bin/token", timeout=TIMEOUT)
    assert response.status_code == 502


def test_fault_forever_until_deleted(base: str) -> None:
    post(base, "_sandbox/faults", {"wechat.jscode2session": {"mode": "error", "count": None}})
    for _ in range(3):
        assert login(base, "sandbox-abc")["errcode"] == -1
    assert requests.delete(base + "_sandbox/faults", timeout=TIMEOUT).json() == {"armed": {}}
    assert login(base, "sandbox-abc")["openid"] == "abc"


@pytest.mark.parametrize(
    "body",
    [
        {"wechat.nope": {"mode": "error"}},
        {"wechat.jscode2session": {"mode": "explode"}},
        {"wechat.jscode2session": {"mode": "error", "count": 0}},
        {"wechat.jscode2session": {"mode": "timeout", "delay_s": 1000}},
        {"wechat.jscode2session": "error"},
        {},
    ],
)
def test_bad_fault_requests_are_400_and_arm_nothing(base: str, body: dict[str, Any]) -> None:
    response = requests.post(base + "_sandbox/faults", json=body, timeout=TIMEOUT)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"bad_fault", "unknown_fault_point"}
    assert get(base, "_sandbox/faults")["armed"] == {}


def test_fault_points_are_listed(base: str) -> None:
    points = get(base, "_sandbox/faults")["points"]
    assert {"wechat.token", "wechat.jscode2session", "wechat.getuserphonenumber", "wechat.subscribe_send"} <= set(
        points
    )


def test_stop_releases_a_hanging_request() -> None:
    wechat = WeChatSandbox()
    server = SandboxServer(modules=[wechat])
    server.start()
    server.faults.arm({"wechat.token": Fault("timeout", remaining=1, delay_s=60)})
    outcome: list[str] = []

    def hang() -> None:
        try:
            requests.get(server.base_url + "cgi-bin/token", timeout=30)
            outcome.append("answered")
        except requests.RequestException as exc:
            outcome.append(type(exc).__name__)

    thread = threading.Thread(target=hang)
    thread.start()
    deadline = time.monotonic() + 5
    while wechat.stats().get("token") != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    server.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - started < 5
    assert outcome
