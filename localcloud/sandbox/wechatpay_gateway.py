"""What every WeChat Pay v3 API of the sandbox shares: merchant authentication, signed answers, errors, faults.

- every request must carry ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",
  signature="..",timestamp="..",serial_no=".."`` signed with the merchant key over
  ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`` (timestamp within 5 minutes); else 401 SIGN_ERROR;
- every answer (errors and empty 204s too) is signed with the platform key: ``Wechatpay-Timestamp``,
  ``-Nonce``, ``-Serial`` (the public key id), ``-Signature`` over ``TIMESTAMP\\nNONCE\\nBODY\\n``,
  ``-Signature-Type``;
- errors are ``{"code", "message"}``.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit

from localcloud.sandbox.faults import Fault
from localcloud.sandbox.routing import Handler, Request, Response
from localcloud.sandbox.server import SandboxServer
from localcloud.sandbox.wechatpay_keys import load_private_key, load_public_key, rsa_sign, rsa_verify

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
CST = timezone(timedelta(hours=8), "Asia/Shanghai")
CLOCK_SKEW_S = 300
DEFAULT_CODES = {400: "PARAM_ERROR", 401: "SIGN_ERROR", 403: "NO_AUTH", 404: "NOT_FOUND", 429: "FREQUENCY_LIMITED"}
DEFAULT_MESSAGES = {"NOT_ENOUGH": "资金不足", "NO_AUTH": "商户无权限", "FREQUENCY_LIMITED": "频率超限，请降低请求频率"}


def cst_now() -> str:
    return datetime.now(CST).isoformat(timespec="seconds")


def nonce(length: int = 32) -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(length))


def callable_url(url: Any) -> bool:
    """http(s), a host, no query: WeChat's rule for notify_url (http allowed here, for one machine)."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.query
    except ValueError:
        return False


class PayError(Exception):
    """Raised inside an API handler: answered as WeChat's signed ``{"code", "message"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def json_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or PARAM_ERROR."""
    try:
        body = json.loads(request.body)
    except ValueError as exc:
        raise PayError(400, "PARAM_ERROR", "请求体不是合法的 JSON") from exc
    if not isinstance(body, dict):
        raise PayError(400, "PARAM_ERROR", "请求体必须是 JSON 对象")
    return body


def check_text(body: dict[str, Any], name: str, max_len: int, required: bool = True) -> None:
    """``body[name]`` is a non-empty string of at most ``max_len`` characters (or absent, when not
    ``required``), else PARAM_ERROR."""
    value = body.get(name)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise PayError(400, "PARAM_ERROR", f"{name} 缺失或格式错误（字符串，最长 {max_len}）")


class MerchantGateway:
    """One merchant's view of api.mch.weixin.qq.com: who may call, how answers are signed. Thread-safe."""

    def __init__(self, mchid: str, merchant_public_key: str, merchant_serial: str, platform_private_key: str,
                 public_key_id: str) -> None:
        self.mchid, self.merchant_serial, self.public_key_id = mchid, merchant_serial, public_key_id
        self.merchant_key = load_public_key(merchant_public_key)
        self._platform_key = load_private_key(platform_private_key)
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._server: SandboxServer | None = None

    def attach(self, server: SandboxServer) -> None:
        self._server = server

    @property
    def server(self) -> SandboxServer:
        assert self._server is not None, "register() first"
        return self._server

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    # ------------------------------------------------------------------------------------ answers
    def signed(self, data: Any, status: int = 200) -> Response:
        """A signed JSON answer; ``data`` None is an empty body (WeChat's 204)."""
        body = b"" if data is None else json.dumps(data, ensure_ascii=False).encode()
        headers = {**self.signature_headers(body), "Request-ID": secrets.token_hex(16).upper()}
        return Response(status, body, headers=headers)

    def signature_headers(self, body: bytes) -> dict[str, str]:
        timestamp, once = str(int(time.time())), nonce()
        signature = rsa_sign(self._platform_key, f"{timestamp}\n{once}\n{body.decode()}\n")
        return {"Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": once, "Wechatpay-Serial": self.public_key_id,
                "Wechatpay-Signature": signature, "Wechatpay-Signature-Type": SIGNATURE_TYPE}

    def error(self, status: int, code: str | None, message: str | None = None) -> Response:
        code = code or DEFAULT_CODES.get(status, "SYSTEM_ERROR")
        return self.signed({"code": code, "message": message or DEFAULT_MESSAGES.get(code, "系统错误")}, status)

    def fault(self, point: str, refuse_code: str | None = None) -> Response | None:
        """Act out the fault armed at ``point``. ``refuse_code``: the point refuses (before anything is
        stored), so an ``error`` is a 4xx (a status outside 400..499 becomes 403 with that code)."""

        def answer(fault: Fault) -> Response:
            message = None if fault.errmsg == "system error" else fault.errmsg
            if refuse_code is None:
                return self.error(fault.status, fault.code, message)
            status = fault.status if 400 <= fault.status < 500 else 403
            return self.error(status, fault.code or (refuse_code if status == 403 else None), message)

        return self.server.faults.apply(point, answer)

    def api(self, name: str, handler: Handler) -> Handler:
        """A WeChat Pay API route: counted, authenticated, every answer signed."""

        def run(request: Request) -> Response:
            with self._lock:
                self._counts[name] += 1
            try:
                self.authenticate(request)
                return handler(request)
            except PayError as exc:
                return self.error(exc.status, exc.code, exc.message)

        return run

    def authenticate(self, request: Request) -> None:
        scheme, _, rest = request.headers.get("authorization", "").partition(" ")
        if scheme != SIGNATURE_TYPE:
            raise PayError(401, "SIGN_ERROR", f"Authorization 缺失或认证类型不是 {SIGNATURE_TYPE}")
        params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        missing = [k for k in ("mchid", "nonce_str", "signature", "timestamp", "serial_no") if not params.get(k)]
        if missing:
            raise PayError(401, "SIGN_ERROR", f"Authorization 缺少 {', '.join(missing)}")
        if params["mchid"] != self.mchid:
            raise PayError(401, "SIGN_ERROR", "商户号 mchid 与签名不符")
        if params["serial_no"] != self.merchant_serial:
            raise PayError(401, "SIGN_ERROR", "商户证书序列号 serial_no 有误")
        timestamp = params["timestamp"]
        if not timestamp.isdigit() or abs(int(timestamp) - time.time()) > CLOCK_SKEW_S:
            raise PayError(401, "SIGN_ERROR", "请求时间与当前时间相差超过 5 分钟")
        url = request.path + ("?" + urlencode(request.query) if request.query else "")
        try:
            message = f"{request.method}\n{url}\n{timestamp}\n{params['nonce_str']}\n{request.body.decode()}\n"
        except UnicodeDecodeError as exc:
            raise PayError(401, "SIGN_ERROR", "请求体不是 UTF-8") from exc
        if not rsa_verify(self.merchant_key, message, params["signature"]):
            raise PayError(401, "SIGN_ERROR", "签名错误，请检查后再试")
        serial = request.headers.get("wechatpay-serial")
        if serial is not None and serial != self.public_key_id:
            raise PayError(400, "PARAM_ERROR", "Wechatpay-Serial 与微信支付公钥 ID 不一致")
