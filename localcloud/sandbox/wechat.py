"""The WeChat mini-program server API, stood in for on one machine.

Same paths and response shapes as ``https://api.weixin.qq.com/`` (errors are HTTP 200 with
``{"errcode", "errmsg"}``, as WeChat does), so wechatpy pointed at the sandbox works unmodified.

Rules (DESIGN.md §5 "Sandbox"):
- login code ``sandbox-<openid>`` → that openid; any other code → errcode 40029. Codes may be reused.
- phone code ``sandbox-phone-<11 digits>`` → that phone number; any other code → errcode 40029.

Inspect / control (not WeChat's):
- ``GET /_sandbox/wechat/messages?openid=`` → ``{"items": [...]}`` subscribe messages, oldest first
- ``GET /_sandbox/wechat/stats`` → request counters per endpoint (``token``, ``jscode2session``, ...)
- ``POST /_sandbox/wechat/revoke-token`` ``{"access_token"?, "errcode"?: 40001|42001}`` → revoke one or all
- ``POST /_sandbox/wechat/reset`` → forget tokens, messages and counters

Fault points: ``wechat.token`` (both token endpoints), ``wechat.jscode2session``,
``wechat.getuserphonenumber``, ``wechat.subscribe_send``.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
from collections import Counter
from typing import Any

from localcloud.sandbox.faults import Fault
from localcloud.sandbox.routing import HttpError, Request, Response, json_response
from localcloud.sandbox.server import SandboxServer

DEFAULT_APPID = "wx-sandbox-app"
DEFAULT_SECRET = "sandbox-secret"  # noqa: S105 - the sandbox's well-known test secret

LOGIN_CODE = re.compile(r"sandbox-(?P<openid>[A-Za-z0-9_\-]{1,64})")
PHONE_CODE = re.compile(r"sandbox-phone-(?P<phone>\d{11})")

INVALID_TOKEN = 40001
EXPIRED_TOKEN = 42001

FAULT_POINTS = ("wechat.token", "wechat.jscode2session", "wechat.getuserphonenumber", "wechat.subscribe_send")


def wx_error(errcode: int, errmsg: str) -> Response:
    """WeChat's error shape: HTTP 200, ``errcode`` and ``errmsg`` with a request id."""
    return json_response({"errcode": errcode, "errmsg": f"{errmsg} rid: {secrets.token_hex(6)}"})


def _fault_error(fault: Fault) -> Response:
    return wx_error(fault.errcode, fault.errmsg)


class WeChatSandbox:
    """WeChat's mini-program APIs for one app (``appid``/``secret``). Thread-safe."""

    def __init__(
        self,
        appid: str = DEFAULT_APPID,
        secret: str = DEFAULT_SECRET,
        *,
        token_ttl_s: int = 7200,
        with_unionid: bool = False,
    ) -> None:
        self.appid = appid
        self.secret = secret
        self.token_ttl_s = token_ttl_s
        self.with_unionid = with_unionid
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # token -> expires at (epoch s)
        self._revoked: dict[str, int] = {}  # token -> errcode it now answers
        self._stable_token: str | None = None
        self._messages: list[dict[str, Any]] = []
        self._next_msgid = 1_000_000
        self._counts: Counter[str] = Counter()
        self._server: SandboxServer | None = None

    def register(self, server: SandboxServer) -> None:
        self._server = server
        server.faults.declare(*FAULT_POINTS)
        server.route("GET", "/cgi-bin/token", self._token)
        server.route("POST", "/cgi-bin/stable_token", self._stable)
        server.route("GET", "/sns/jscode2session", self._jscode2session)
        server.route("POST", "/wxa/business/getuserphonenumber", self._phone)
        server.route("POST", "/cgi-bin/message/subscribe/send", self._subscribe_send)
        server.route("GET", "/_sandbox/wechat/messages", self._list_messages)
        server.route("GET", "/_sandbox/wechat/stats", lambda _r: json_response(self.stats()))
        server.route("POST", "/_sandbox/wechat/revoke-token", self._revoke)
        server.route("POST", "/_sandbox/wechat/reset", self._reset)

    # ------------------------------------------------------------------------ in-process inspection
    def messages(self, openid: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self._messages if openid is None or m["touser"] == openid]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def revoke_tokens(self, token: str | None = None, errcode: int = INVALID_TOKEN) -> int:
        """Make one token (or every token issued so far) answer ``errcode``; the number revoked."""
        with self._lock:
            victims = [token] if token is not None else list(self._tokens)
            for victim in victims:
                self._tokens.pop(victim, None)
                self._revoked[victim] = errcode
            if self._stable_token in victims:
                self._stable_token = None
            return len(victims)

    def reset(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._revoked.clear()
            self._stable_token = None
            self._messages.clear()
            self._counts.clear()

    # ---------------------------------------------------------------------------------- helpers
    def _fault(self, point: str) -> Response | None:
        assert self._server is not None, "register() first"
        return self._server.faults.apply(point, _fault_error)

    def _hit(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def _check_app(self, appid: str | None, secret: str | None) -> Response | None:
        if not appid:
            return wx_error(41002, "appid missing")
        if not secret:
            return wx_error(41004, "appsecret missing")
        if appid != self.appid:
            return wx_error(40013, "invalid appid")
        if not secrets.compare_digest(secret.encode(), self.secret.encode()):
            return wx_error(40125, "invalid appsecret")
        return None

    def _check_token(self, request: Request) -> Response | None:
        token = request.query.get("access_token")
        if not token:
            return wx_error(41001, "access_token missing")
        with self._lock:
            expires_at = self._tokens.get(token)
            revoked = self._revoked.get(token)
        if revoked is not None:
            return wx_error(revoked, "access_token expired" if revoked == EXPIRED_TOKEN else "invalid credential")
        if expires_at is None:
            return wx_error(INVALID_TOKEN, "invalid credential, access_token is invalid or not latest")
        if expires_at <= time.time():
            return wx_error(EXPIRED_TOKEN, "access_token expired")
        return None

    def _issue(self) -> str:
        token = "sandbox-at-" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.time() + self.token_ttl_s
        return token

    def _token_answer(self, token: str) -> Response:
        with self._lock:
            remaining = round(self._tokens.get(token, time.time()) - time.time())
        return json_response({"access_token": token, "expires_in": max(remaining, 0)})

    # --------------------------------------------------------------------------------- WeChat API
    def _token(self, request: Request) -> Response:
        self._hit("token")
        if (faulted := self._fault("wechat.token")) is not None:
            return faulted
        if request.query.get("grant_type") != "client_credential":
            return wx_error(40002, "invalid grant_type")
        if (bad := self._check_app(request.query.get("appid"), request.query.get("secret"))) is not None:
            return bad
        return self._token_answer(self._issue())

    def _stable(self, request: Request) -> Response:
        self._hit("stable_token")
        if (faulted := self._fault("wechat.token")) is not None:
            return faulted
        body = request.json_object()
        if body.get("grant_type") != "client_credential":
            return wx_error(40002, "invalid grant_type")
        if (bad := self._check_app(body.get("appid"), body.get("secret"))) is not None:
            return bad
        with self._lock:
            current = self._stable_token
            fresh = current is not None and self._tokens.get(current, 0) - time.time() > 300
        if body.get("force_refresh") or not fresh or current is None:
            current = self._issue()
            with self._lock:
                self._stable_token = current
        return self._token_answer(current)

    def _jscode2session(self, request: Request) -> Response:
        self._hit("jscode2session")
        if (faulted := self._fault("wechat.jscode2session")) is not None:
            return faulted
        q = request.query
        if (bad := self._check_app(q.get("appid"), q.get("secret"))) is not None:
            return bad
        if q.get("grant_type") != "authorization_code":
            return wx_error(40002, "invalid grant_type")
        code = q.get("js_code")
        if not code:
            return wx_error(41008, "missing code")
        match = LOGIN_CODE.fullmatch(code)
        if match is None:
            return wx_error(40029, "invalid code")
        openid = match.group("openid")
        answer = {"openid": openid, "session_key": base64.b64encode(secrets.token_bytes(16)).decode()}
        if self.with_unionid:
            answer["unionid"] = f"sandbox-union-{openid}"
        return json_response(answer)

    def _phone(self, request: Request) -> Response:
        self._hit("getuserphonenumber")
        if (faulted := self._fault("wechat.getuserphonenumber")) is not None:
            return faulted
        if (bad := self._check_token(request)) is not None:
            return bad
        try:
            code = request.json_object().get("code")
        except HttpError:
            return wx_error(47001, "data format error")
        if not isinstance(code, str) or not code:
            return wx_error(47001, "data format error: code missing")
        match = PHONE_CODE.fullmatch(code)
        if match is None:
            return wx_error(40029, "invalid code")
        phone = match.group("phone")
        watermark = {"timestamp": int(time.time()), "appid": self.appid}
        info = {"phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86", "watermark": watermark}
        return json_response({"errcode": 0, "errmsg": "ok", "phone_info": info})

    def _subscribe_send(self, request: Request) -> Response:
        self._hit("subscribe_send")
        if (faulted := self._fault("wechat.subscribe_send")) is not None:
            return faulted
        if (bad := self._check_token(request)) is not None:
            return bad
        try:
            body = request.json_object()
        except HttpError:
            return wx_error(47001, "data format error")
        touser, template_id, data = body.get("touser"), body.get("template_id"), body.get("data")
        if not isinstance(touser, str) or not touser:
            return wx_error(40003, "invalid openid")
        if not isinstance(template_id, str) or not template_id:
            return wx_error(40037, "invalid template_id")
        if not isinstance(data, dict):
            return wx_error(47003, "argument invalid! data.* is empty or not an object")
        with self._lock:
            self._next_msgid += 1
            msgid = self._next_msgid
            self._messages.append(
                {
                    "msgid": msgid,
                    "touser": touser,
                    "template_id": template_id,
                    "page": body.get("page"),
                    "data": data,
                    "miniprogram_state": body.get("miniprogram_state", "formal"),
                    "lang": body.get("lang", "zh_CN"),
                    "received_at_ms": int(time.time() * 1000),
                }
            )
        return json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    # ----------------------------------------------------------------------------- inspect routes
    def _list_messages(self, request: Request) -> Response:
        openid = request.query.get("openid") or None
        return json_response({"items": self.messages(openid)})

    def _revoke(self, request: Request) -> Response:
        body = request.json_object()
        token, errcode = body.get("access_token"), body.get("errcode", INVALID_TOKEN)
        if token is not None and not isinstance(token, str):
            raise HttpError(400, "bad_request", "access_token must be a string")
        if errcode not in (INVALID_TOKEN, EXPIRED_TOKEN):
            raise HttpError(400, "bad_request", "errcode must be 40001 or 42001")
        return json_response({"revoked": self.revoke_tokens(token, errcode)})

    def _reset(self, _request: Request) -> Response:
        self.reset()
        return json_response({"status": "ok"})
