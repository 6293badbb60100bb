"""The wechatpy adapter against a running WeChat sandbox: login, phone, faults, access-token caching."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.wechat import TOKEN_REFRESH_MARGIN_S, WeChatMiniProgramClient
from chalicelib.domain.errors import BadInput, UpstreamUnavailable, WeChatCodeInvalid
from chalicelib.ports import WeChatMiniProgram, WeChatSession
from localcloud.sandbox import Fault, SandboxServer, WeChatSandbox

APPID, SECRET = "wx-linli-test", "linli-test-secret"
PHONE_CODE = "sandbox-phone-13800138000"
REPO_ROOT = Path(__file__).resolve().parents[2]


class DictTokenStore:
    def __init__(self) -> None:
        self.items: dict[str, tuple[str, int]] = {}
        self.puts = 0

    def get(self, appid: str) -> tuple[str, int] | None:
        return self.items.get(appid)

    def put(self, appid: str, token: str, expires_at_s: int) -> None:
        self.puts += 1
        self.items[appid] = (token, expires_at_s)


class BrokenTokenStore:
    def get(self, appid: str) -> tuple[str, int] | None:
        raise RuntimeError("store down")

    def put(self, appid: str, token: str, expires_at_s: int) -> None:
        raise RuntimeError("store down")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[SandboxServer, WeChatSandbox]]:
    wechat = WeChatSandbox(APPID, SECRET, with_unionid=True)
    with SandboxServer(modules=[wechat]) as server:
        yield server, wechat


@pytest.fixture
def wechat(sandbox: tuple[SandboxServer, WeChatSandbox]) -> Iterator[WeChatSandbox]:
    server, wechat = sandbox
    yield wechat
    wechat.reset()
    server.faults.clear()


@pytest.fixture
def server(sandbox: tuple[SandboxServer, WeChatSandbox], wechat: WeChatSandbox) -> SandboxServer:
    return sandbox[0]


def client(server: SandboxServer, **kwargs: Any) -> WeChatMiniProgramClient:
    kwargs.setdefault("timeout_s", 2)
    return WeChatMiniProgramClient(APPID, SECRET, server.base_url, **kwargs)


def arm(server: SandboxServer, point: str, mode: str, count: int | None = 1, **extra: Any) -> None:
    server.faults.arm({point: Fault(mode, remaining=count, **extra)})


def test_implements_the_port(server: SandboxServer) -> None:
    port: WeChatMiniProgram = client(server)
    assert port.appid == APPID


def test_import_does_not_load_wechatpy_or_requests() -> None:
    code = (
        "import sys, chalicelib.adapters.wechat; "
        "assert 'wechatpy' not in sys.modules and 'requests' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=REPO_ROOT)


# ------------------------------------------------------------------------------------------- login


def test_login(server: SandboxServer, wechat: WeChatSandbox) -> None:
    session = client(server).code_to_session("sandbox-abc")
    assert isinstance(session, WeChatSession)
    assert session.openid == "abc"
    assert session.unionid == "sandbox-union-abc"
    assert len(session.session_key) == 24
    # jscode2session needs no access token: login does not fetch one
    assert wechat.stats() == {"jscode2session": 1}


def test_invalid_login_code(server: SandboxServer) -> None:
    with pytest.raises(WeChatCodeInvalid):
        client(server).code_to_session("not-a-sandbox-code")


def test_empty_code_is_refused_without_calling_wechat(server: SandboxServer, wechat: WeChatSandbox) -> None:
    wx = client(server)
    with pytest.raises(WeChatCodeInvalid):
        wx.code_to_session("")
    with pytest.raises(WeChatCodeInvalid):
        wx.phone_number("  ")
    assert wechat.stats() == {}


def test_wechat_busy_is_upstream_unavailable(server: SandboxServer) -> None:
    arm(server, "wechat.jscode2session", "error")
    wx = client(server)
    with pytest.raises(UpstreamUnavailable):
        wx.code_to_session("sandbox-abc")
    assert wx.code_to_session("sandbox-abc").openid == "abc"


def test_wechat_hanging_is_upstream_unavailable_within_the_timeout(server: SandboxServer) -> None:
    arm(server, "wechat.jscode2session", "timeout", delay_s=3)
    wx = client(server, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable):
        wx.code_to_session("sandbox-abc")
    assert time.monotonic() - started < 2


def test_http_error_is_upstream_unavailable(server: SandboxServer) -> None:
    arm(server, "wechat.jscode2session", "http_error", status=502)
    with pytest.raises(UpstreamUnavailable):
        client(server).code_to_session("sandbox-abc")


def test_wrong_secret_is_upstream_unavailable(server: SandboxServer) -> None:
    wx = WeChatMiniProgramClient(APPID, "wrong", server.base_url, timeout_s=2)
    with pytest.raises(UpstreamUnavailable):
        wx.code_to_session("sandbox-abc")
    with pytest.raises(UpstreamUnavailable):
        wx.phone_number(PHONE_CODE)


def test_wechat_unreachable_is_upstream_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    wx = WeChatMiniProgramClient(APPID, SECRET, f"http://127.0.0.1:{port}/", timeout_s=1)
    with pytest.raises(UpstreamUnavailable):
        wx.code_to_session("sandbox-abc")
    with pytest.raises(UpstreamUnavailable):
        wx.phone_number(PHONE_CODE)


# ------------------------------------------------------------------------------------------- phone


def test_phone_number(server: SandboxServer) -> None:
    assert client(server).phone_number(PHONE_CODE) == "13800138000"


def test_invalid_phone_code(server: SandboxServer) -> None:
    with pytest.raises(WeChatCodeInvalid):
        client(server).phone_number("sandbox-phone-123")


def test_phone_fault_is_upstream_unavailable(server: SandboxServer) -> None:
    arm(server, "wechat.getuserphonenumber", "error")
    with pytest.raises(UpstreamUnavailable):
        client(server).phone_number(PHONE_CODE)


def test_token_endpoint_down_breaks_phone_not_login(server: SandboxServer) -> None:
    arm(server, "wechat.token", "error", count=None)
    wx = client(server)
    with pytest.raises(UpstreamUnavailable):
        wx.phone_number(PHONE_CODE)
    assert wx.code_to_session("sandbox-abc").openid == "abc"


# ------------------------------------------------------------------------------------ access token


def test_token_is_cached_in_process(server: SandboxServer, wechat: WeChatSandbox) -> None:
    wx = client(server)
    for _ in range(3):
        assert wx.phone_number(PHONE_CODE) == "13800138000"
    assert wechat.stats() == {"token": 1, "getuserphonenumber": 3}


def test_token_store_is_shared_between_containers(server: SandboxServer, wechat: WeChatSandbox) -> None:
    store = DictTokenStore()
    first, second = client(server, token_store=store), client(server, token_store=store)
    first.phone_number(PHONE_CODE)
    second.phone_number(PHONE_CODE)
    assert wechat.stats()["token"] == 1
    assert store.puts == 1
    token, expires_at = store.items[APPID]
    assert token.startswith("sandbox-at-")
    assert 7100 < expires_at - time.time() <= 7200


def test_broken_token_store_still_works(server: SandboxServer, wechat: WeChatSandbox) -> None:
    wx = client(server, token_store=BrokenTokenStore())
    assert wx.phone_number(PHONE_CODE) == "13800138000"
    assert wx.phone_number(PHONE_CODE) == "13800138000"
    assert wechat.stats()["token"] == 1


@pytest.mark.parametrize("errcode", [40001, 42001])
def test_token_refreshed_once_after_wechat_revokes_it(
    server: SandboxServer, wechat: WeChatSandbox, errcode: int
) -> None:
    store = DictTokenStore()
    wx = client(server, token_store=store)
    wx.phone_number(PHONE_CODE)
    revoked = store.items[APPID][0]
    assert wechat.revoke_tokens(errcode=errcode) == 1

    assert wx.phone_number(PHONE_CODE) == "13800138000"
    assert wechat.stats() == {"token": 2, "getuserphonenumber": 3}
    assert store.items[APPID][0] != revoked


def test_revoked_token_in_the_store_is_not_reused(server: SandboxServer, wechat: WeChatSandbox) -> None:
    store = DictTokenStore()
    client(server, token_store=store).phone_number(PHONE_CODE)
    wechat.revoke_tokens()
    # a second container reads the revoked token from the store, is refused, and refreshes
    other = client(server, token_store=store)
    assert other.phone_number(PHONE_CODE) == "13800138000"
    assert wechat.stats() == {"token": 2, "getuserphonenumber": 3}


def test_token_refused_twice_is_upstream_unavailable(server: SandboxServer, wechat: WeChatSandbox) -> None:
    arm(server, "wechat.getuserphonenumber", "error", count=None, errcode=40001)
    with pytest.raises(UpstreamUnavailable):
        client(server).phone_number(PHONE_CODE)
    assert wechat.stats() == {"token": 2, "getuserphonenumber": 2}


def test_token_refreshed_shortly_before_expiry(server: SandboxServer, wechat: WeChatSandbox) -> None:
    clock = [time.time()]
    wx = client(server, now=lambda: clock[0])
    wx.phone_number(PHONE_CODE)
    clock[0] += 7200 - TOKEN_REFRESH_MARGIN_S - 10
    wx.phone_number(PHONE_CODE)
    assert wechat.stats()["token"] == 1
    clock[0] += 20
    wx.phone_number(PHONE_CODE)
    assert wechat.stats()["token"] == 2


# ---------------------------------------------------------------------------------------- messages


def test_subscribe_message_is_sent(server: SandboxServer, wechat: WeChatSandbox) -> None:
    wx = client(server)
    msgid = wx.send_subscribe_message(
        "abc", "tpl-credit", {"amount1": {"value": "¥1.20"}}, page="pages/wallet/index", lang="zh_CN"
    )
    assert msgid > 0
    [message] = wechat.messages("abc")
    assert message["msgid"] == msgid
    assert message["template_id"] == "tpl-credit"
    assert message["data"] == {"amount1": {"value": "¥1.20"}}
    assert message["page"] == "pages/wallet/index"


def test_subscribe_refused_is_bad_input(server: SandboxServer) -> None:
    arm(server, "wechat.subscribe_send", "error", errcode=43101, errmsg="user refuse to accept the msg")
    with pytest.raises(BadInput) as refused:
        client(server).send_subscribe_message("abc", "tpl", {"thing1": {"value": "x"}})
    assert refused.value.code == "subscribe_refused"
