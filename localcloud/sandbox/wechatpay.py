"""WeChat Pay v3 merchant transfers (商家转账 transfer bills), stood in for on one machine.

Same paths, statuses, error shapes and signatures as ``https://api.mch.weixin.qq.com`` in public-key mode,
so wechatpayv3 pointed at the sandbox works unmodified:
- every request must carry ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",
  signature="..",timestamp="..",serial_no=".."`` signed with the merchant key over
  ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`` (timestamp within 5 minutes); else 401 SIGN_ERROR;
- every answer (errors too) is signed with the platform key: ``Wechatpay-Timestamp``, ``-Nonce``,
  ``-Serial`` (the public key id), ``-Signature`` over ``TIMESTAMP\\nNONCE\\nBODY\\n``, ``-Signature-Type``;
- errors are ``{"code", "message"}``: 400 PARAM_ERROR / INVALID_REQUEST, 401 SIGN_ERROR, 403 NO_AUTH /
  NOT_ENOUGH, 404 NOT_FOUND, 429 FREQUENCY_LIMITED, 500 SYSTEM_ERROR.

Transfer bills:
- ``POST /v3/fund-app/mch-transfer/transfer-bills`` creates a bill in WAIT_USER_CONFIRM (the resident
  confirms in the mini-program). Idempotent by ``out_bill_no``: the same request again answers the same bill
  (in its current state); different content (``user_name`` aside: it is encrypted afresh each time) is 400
  INVALID_REQUEST. Scene 1000 (现金营销) needs the 活动名称 and 奖励说明 report infos.
- ``GET .../transfer-bills/out-bill-no/{out_bill_no}`` and ``.../transfer-bill-no/{transfer_bill_no}``.
- ``POST .../transfer-bills/out-bill-no/{out_bill_no}/cancel``: from WAIT_USER_CONFIRM it answers CANCELING,
  as WeChat does, and the bill is CANCELLED at once (query and callback say so); again → CANCELLED.
- A bill reaching SUCCESS, FAIL or CANCELLED is notified to its ``notify_url`` as WeChat does: event
  MCHTRANSFER.BILL.FINISHED, resource AES-256-GCM encrypted with the APIv3 key, signed with the platform
  key, sent from a background thread; a non-2xx answer or a failed connection is retried after 15 s, 15 s,
  30 s, 3 min, 10 min, 20 min, 30 min, 30 min, 30 min, 60 min, 3 h, 3 h, 3 h, 6 h, 6 h (times
  ``retry_scale``), re-signed each time, with the same notification ``id``.

Inspect / control (not WeChat's):
- ``GET /_sandbox/wechat/transfers?state=&openid=`` → ``{"items": [...]}`` bills, oldest first
- ``GET /_sandbox/wechat/transfers/{out_bill_no}`` → one bill
- ``POST /_sandbox/wechat/transfers/{out_bill_no}/confirm`` → SUCCESS, then the callback
- ``POST /_sandbox/wechat/transfers/{out_bill_no}/reject`` ``{"fail_reason"?}`` → FAIL (default
  PAYEE_ACCOUNT_ABNORMAL), then the callback. Both only from WAIT_USER_CONFIRM, else 409 ``bad_state``.
- ``GET /_sandbox/wechatpay/callbacks?out_bill_no=`` → ``{"items": [...]}`` one per delivery: ``id``,
  ``out_bill_no``, ``state``, ``url``, ``delivered``, ``gave_up``, ``attempts`` (``at_ms``, ``status``, ``error``)
- ``GET /_sandbox/wechatpay/stats`` → request counters, bills per state, ``succeeded_total_fen``,
  ``waiting_total_fen``, callbacks delivered / pending / given up
- ``POST /_sandbox/wechatpay/reset`` → forget bills, callbacks (pending retries too) and counters

Fault points:
- ``wechatpay.create`` acts AFTER the bill is stored: ``timeout`` (hang ``delay_s``, then answer — the
  client has given up), ``error`` (a signed ``status`` answer, default 503 SYSTEM_ERROR; ``code`` to
  choose), ``http_error`` (a bare gateway error): each an ambiguous create.
- ``wechatpay.create_refuse`` acts BEFORE anything is stored: ``error`` answers a 4xx (a ``status`` outside
  400..499 becomes 403; default code NOT_ENOUGH); ``timeout`` / ``http_error`` lose a request that did nothing.
- ``wechatpay.query``, ``wechatpay.cancel``: ``error`` / ``timeout`` / ``http_error`` before answering.
- ``wechatpay.callback``: ``duplicate`` (deliver the notification twice, same id) or ``delay`` (first
  attempt after ``delay_s``).
"""

from __future__ import annotations

import base64
import heapq
import http.client
import json
import re
import secrets
import string
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from localcloud.sandbox.faults import REQUEST_MODES, Fault
from localcloud.sandbox.routing import Handler, HttpError, Request, Response, json_response
from localcloud.sandbox.server import SandboxServer
from localcloud.sandbox.wechatpay_keys import (
    load_private_key,
    load_public_key,
    rsa_sign,
    rsa_verify,
)

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
API = "/v3/fund-app/mch-transfer/transfer-bills"
EVENT_TYPE = "MCHTRANSFER.BILL.FINISHED"
ASSOCIATED_DATA = "mch_payment"
CST = timezone(timedelta(hours=8), "Asia/Shanghai")
CLOCK_SKEW_S = 300
#: WeChat's retry schedule for notifications that were not answered 2xx
RETRY_SCHEDULE_S = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)
MIN_AMOUNT_FEN = 10
USER_NAME_FROM_FEN = 200_000  # 2,000 CNY and above needs the (encrypted) user_name
OUT_BILL_NO = re.compile(r"[A-Za-z0-9]{5,32}")
SCENE_REPORT_INFOS = {"1000": {"活动名称", "奖励说明"}}
SCENE_PERCEPTIONS = {"1000": {"活动奖励", "现金奖励"}}
FAIL_REASONS = frozenset({
    "ACCOUNT_FROZEN", "ACCOUNT_NOT_EXIST", "DAY_RECEIVED_COUNT_EXCEED", "DAY_RECEIVED_QUOTA_EXCEED",
    "MONTH_RECEIVED_QUOTA_EXCEED", "NAME_NOT_CORRECT", "OPENID_INVALID", "OTHER_FAIL_REASON_TYPE",
    "PAYEE_ACCOUNT_ABNORMAL", "PAYER_ACCOUNT_ABNORMAL", "REAL_NAME_CHECK_FAIL", "TRANSFER_QUOTA_EXCEED",
    "TRANSFER_RISK",
})
DEFAULT_FAIL_REASON = "PAYEE_ACCOUNT_ABNORMAL"
FINAL_STATES = frozenset({"SUCCESS", "FAIL", "CANCELLED"})
DEFAULT_CODES = {400: "PARAM_ERROR", 401: "SIGN_ERROR", 403: "NO_AUTH", 404: "NOT_FOUND", 429: "FREQUENCY_LIMITED"}
DEFAULT_MESSAGES = {"NOT_ENOUGH": "资金不足", "NO_AUTH": "商户无权限", "FREQUENCY_LIMITED": "频率超限，请降低请求频率"}
FAULT_POINTS = ("wechatpay.create", "wechatpay.create_refuse", "wechatpay.query", "wechatpay.cancel")
CALLBACK_POINT = "wechatpay.callback"


def _cst_now() -> str:
    return datetime.now(CST).isoformat(timespec="seconds")


def _nonce(length: int = 32) -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(length))


def _callable_url(url: str) -> bool:
    """http(s), a host, no query: WeChat's rule for notify_url (http allowed here, for one machine)."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.query
    except ValueError:
        return False


class _PayError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class _Bill:
    out_bill_no: str
    transfer_bill_no: str
    fingerprint: str
    request: dict[str, Any]
    package_info: str
    create_time: str
    state: str = "WAIT_USER_CONFIRM"
    fail_reason: str | None = None
    update_time: str = ""

    def __post_init__(self) -> None:
        self.update_time = self.update_time or self.create_time

    def created(self) -> dict[str, Any]:
        view = {"out_bill_no": self.out_bill_no, "transfer_bill_no": self.transfer_bill_no,
                "create_time": self.create_time, "state": self.state}
        if self.state == "WAIT_USER_CONFIRM":
            view["package_info"] = self.package_info
        if self.fail_reason:
            view["fail_reason"] = self.fail_reason
        return view

    def resource(self, mchid: str) -> dict[str, Any]:
        """What the callback carries (encrypted)."""
        view = {"out_bill_no": self.out_bill_no, "transfer_bill_no": self.transfer_bill_no, "state": self.state,
                "mch_id": mchid, "transfer_amount": self.request["transfer_amount"],
                "openid": self.request["openid"], "create_time": self.create_time, "update_time": self.update_time}
        if self.fail_reason:
            view["fail_reason"] = self.fail_reason
        return view

    def queried(self, mchid: str) -> dict[str, Any]:
        return {**self.resource(mchid), "appid": self.request["appid"],
                "transfer_remark": self.request["transfer_remark"]}

    def inspected(self, mchid: str) -> dict[str, Any]:
        return {**self.queried(mchid), "package_info": self.package_info,
                **{k: v for k, v in self.request.items() if k not in ("user_name",)}}


@dataclass
class _Delivery:
    seq: int
    notification_id: str
    out_bill_no: str
    state: str
    url: str
    body: bytes
    attempts: list[dict[str, Any]] = field(default_factory=list)
    delivered: bool = False
    gave_up: bool = False

    def describe(self) -> dict[str, Any]:
        return {"id": self.notification_id, "out_bill_no": self.out_bill_no, "state": self.state, "url": self.url,
                "delivered": self.delivered, "gave_up": self.gave_up, "attempts": [dict(a) for a in self.attempts]}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        """WeChat does not follow redirects: a 3xx is a failed delivery."""
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


class WeChatPaySandbox:
    """WeChat Pay v3 transfer bills for one merchant (``mchid``) and its mini-program (``appid``). Thread-safe."""

    def __init__(
        self,
        mchid: str,
        appid: str,
        merchant_public_key: str,
        merchant_serial: str,
        platform_private_key: str,
        public_key_id: str,
        apiv3_key: str,
        *,
        retry_scale: float = 1.0,
        callback_timeout_s: float = 5.0,
        transfer_scene_ids: tuple[str, ...] = ("1000",),
    ) -> None:
        if len(apiv3_key.encode()) != 32:
            raise ValueError("the APIv3 key is 32 bytes")
        self.mchid, self.appid = mchid, appid
        self.merchant_serial, self.public_key_id = merchant_serial, public_key_id
        self.retry_scale, self.callback_timeout_s = retry_scale, callback_timeout_s
        self.transfer_scene_ids = transfer_scene_ids
        self._merchant_key = load_public_key(merchant_public_key)
        self._platform_key = load_private_key(platform_private_key)
        self._aead = AESGCM(apiv3_key.encode())
        self._lock = threading.Condition()
        self._bills: dict[str, _Bill] = {}
        self._by_transfer_no: dict[str, str] = {}
        self._deliveries: dict[int, _Delivery] = {}
        self._due: list[tuple[float, int]] = []  # (monotonic due time, delivery seq): a heap
        self._worker: threading.Thread | None = None
        self._seq = 0
        self._counts: Counter[str] = Counter()
        self._server: SandboxServer | None = None

    def register(self, server: SandboxServer) -> None:
        self._server = server
        server.faults.declare(*FAULT_POINTS, modes=REQUEST_MODES)
        server.faults.declare(CALLBACK_POINT, modes=("duplicate", "delay"))
        server.route("POST", API, self._api("create", self._create))
        server.route("GET", API + "/out-bill-no/{out_bill_no}", self._api("query", self._query))
        server.route("GET", API + "/transfer-bill-no/{transfer_bill_no}", self._api("query", self._query))
        server.route("POST", API + "/out-bill-no/{out_bill_no}/cancel", self._api("cancel", self._cancel))
        server.route("GET", "/_sandbox/wechat/transfers", self._list_bills)
        server.route("GET", "/_sandbox/wechat/transfers/{out_bill_no}", self._inspect_bill)
        server.route("POST", "/_sandbox/wechat/transfers/{out_bill_no}/confirm", self._confirm_route)
        server.route("POST", "/_sandbox/wechat/transfers/{out_bill_no}/reject", self._reject_route)
        server.route("GET", "/_sandbox/wechatpay/callbacks", self._list_callbacks)
        server.route("GET", "/_sandbox/wechatpay/stats", lambda _r: json_response(self.stats()))
        server.route("POST", "/_sandbox/wechatpay/reset", self._reset_route)

    # ------------------------------------------------------------------------ in-process inspection
    def bills(self, state: str | None = None, openid: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [b.inspected(self.mchid) for b in self._bills.values()
                    if (state is None or b.state == state) and (openid is None or b.request["openid"] == openid)]

    def bill(self, out_bill_no: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._bills.get(out_bill_no)
            return None if found is None else found.inspected(self.mchid)

    def callbacks(self, out_bill_no: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [d.describe() for d in self._deliveries.values()
                    if out_bill_no is None or d.out_bill_no == out_bill_no]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            bills = list(self._bills.values())
            deliveries = list(self._deliveries.values())
            return {
                "requests": dict(self._counts),
                "bills": dict(Counter(b.state for b in bills)),
                "succeeded_total_fen": sum(b.request["transfer_amount"] for b in bills if b.state == "SUCCESS"),
                "waiting_total_fen": sum(b.request["transfer_amount"] for b in bills
                                         if b.state == "WAIT_USER_CONFIRM"),
                "callbacks": {"delivered": sum(d.delivered for d in deliveries),
                              "gave_up": sum(d.gave_up for d in deliveries),
                              "pending": sum(not (d.delivered or d.gave_up) for d in deliveries)},
            }

    def confirm(self, out_bill_no: str) -> dict[str, Any]:
        """The resident confirmed in the mini-program: SUCCESS, then the callback."""
        return self._finish(out_bill_no, "SUCCESS", None)

    def reject(self, out_bill_no: str, fail_reason: str = DEFAULT_FAIL_REASON) -> dict[str, Any]:
        """The transfer failed after the resident confirmed: FAIL with ``fail_reason``, then the callback."""
        if fail_reason not in FAIL_REASONS:
            raise HttpError(400, "bad_request", f"fail_reason must be one of {sorted(FAIL_REASONS)}")
        return self._finish(out_bill_no, "FAIL", fail_reason)

    def reset(self) -> None:
        with self._lock:
            self._bills.clear()
            self._by_transfer_no.clear()
            self._deliveries.clear()
            self._due.clear()
            self._counts.clear()
            self._lock.notify_all()

    # --------------------------------------------------------------------------- signing, errors
    def _signed(self, data: Any, status: int = 200) -> Response:
        body = json.dumps(data, ensure_ascii=False).encode()
        headers = {**self._signature_headers(body), "Request-ID": secrets.token_hex(16).upper()}
        return Response(status, body, headers=headers)

    def _signature_headers(self, body: bytes) -> dict[str, str]:
        timestamp, nonce = str(int(time.time())), _nonce()
        signature = rsa_sign(self._platform_key, f"{timestamp}\n{nonce}\n{body.decode()}\n")
        return {"Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce, "Wechatpay-Serial": self.public_key_id,
                "Wechatpay-Signature": signature, "Wechatpay-Signature-Type": SIGNATURE_TYPE}

    def _error(self, status: int, code: str | None, message: str | None = None) -> Response:
        code = code or DEFAULT_CODES.get(status, "SYSTEM_ERROR")
        return self._signed({"code": code, "message": message or DEFAULT_MESSAGES.get(code, "系统错误")}, status)

    def _fault(self, point: str) -> Response | None:
        assert self._server is not None, "register() first"

        def answer(fault: Fault) -> Response:
            message = None if fault.errmsg == "system error" else fault.errmsg
            if point != "wechatpay.create_refuse":
                return self._error(fault.status, fault.code, message)
            status = fault.status if 400 <= fault.status < 500 else 403
            return self._error(status, fault.code or ("NOT_ENOUGH" if status == 403 else None), message)

        return self._server.faults.apply(point, answer)

    def _api(self, name: str, handler: Handler) -> Handler:
        """A WeChat Pay API route: counted, authenticated, every answer signed."""

        def run(request: Request) -> Response:
            with self._lock:
                self._counts[name] += 1
            try:
                self._authenticate(request)
                return handler(request)
            except _PayError as exc:
                return self._error(exc.status, exc.code, exc.message)

        return run

    def _authenticate(self, request: Request) -> None:
        scheme, _, rest = request.headers.get("authorization", "").partition(" ")
        if scheme != SIGNATURE_TYPE:
            raise _PayError(401, "SIGN_ERROR", f"Authorization 缺失或认证类型不是 {SIGNATURE_TYPE}")
        params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        missing = [k for k in ("mchid", "nonce_str", "signature", "timestamp", "serial_no") if not params.get(k)]
        if missing:
            raise _PayError(401, "SIGN_ERROR", f"Authorization 缺少 {', '.join(missing)}")
        if params["mchid"] != self.mchid:
            raise _PayError(401, "SIGN_ERROR", "商户号 mchid 与签名不符")
        if params["serial_no"] != self.merchant_serial:
            raise _PayError(401, "SIGN_ERROR", "商户证书序列号 serial_no 有误")
        timestamp = params["timestamp"]
        if not timestamp.isdigit() or abs(int(timestamp) - time.time()) > CLOCK_SKEW_S:
            raise _PayError(401, "SIGN_ERROR", "请求时间与当前时间相差超过 5 分钟")
        url = request.path + ("?" + urlencode(request.query) if request.query else "")
        try:
            message = f"{request.method}\n{url}\n{timestamp}\n{params['nonce_str']}\n{request.body.decode()}\n"
        except UnicodeDecodeError as exc:
            raise _PayError(401, "SIGN_ERROR", "请求体不是 UTF-8") from exc
        if not rsa_verify(self._merchant_key, message, params["signature"]):
            raise _PayError(401, "SIGN_ERROR", "签名错误，请检查后再试")
        serial = request.headers.get("wechatpay-serial")
        if serial is not None and serial != self.public_key_id:
            raise _PayError(400, "PARAM_ERROR", "Wechatpay-Serial 与微信支付公钥 ID 不一致")

    # --------------------------------------------------------------------------------- WeChat Pay API
    def _create(self, request: Request) -> Response:
        if (faulted := self._fault("wechatpay.create_refuse")) is not None:
            return faulted
        body = self._validated(request)
        keys = ("appid", "openid", "transfer_amount", "transfer_scene_id", "transfer_remark",
                "user_recv_perception", "transfer_scene_report_infos", "notify_url")
        fingerprint = json.dumps({k: body.get(k) for k in keys}, sort_keys=True, ensure_ascii=False)
        out_bill_no = body["out_bill_no"]
        with self._lock:
            bill = self._bills.get(out_bill_no)
            if bill is None:
                self._seq += 1
                transfer_bill_no = f"1330{datetime.now(CST):%Y%m%d}{self._seq:010d}{secrets.randbelow(10**18):018d}"
                package_info = base64.b64encode(secrets.token_bytes(48)).decode()
                bill = _Bill(out_bill_no, transfer_bill_no, fingerprint, body, package_info, _cst_now())
                self._bills[out_bill_no] = bill
                self._by_transfer_no[transfer_bill_no] = out_bill_no
            elif bill.fingerprint != fingerprint:
                raise _PayError(400, "INVALID_REQUEST", "商户单号 out_bill_no 已存在，且本次请求参数与首次不一致")
            answer = bill.created()
        if (faulted := self._fault("wechatpay.create")) is not None:
            return faulted
        return self._signed(answer)

    def _validated(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.body)
        except ValueError as exc:
            raise _PayError(400, "PARAM_ERROR", "请求体不是合法的 JSON") from exc
        if not isinstance(body, dict):
            raise _PayError(400, "PARAM_ERROR", "请求体必须是 JSON 对象")

        def text(name: str, max_len: int, required: bool = True) -> None:
            value = body.get(name)
            if value is None and not required:
                return
            if not isinstance(value, str) or not value or len(value) > max_len:
                raise _PayError(400, "PARAM_ERROR", f"{name} 缺失或格式错误（字符串，最长 {max_len}）")

        for name, max_len in (("appid", 32), ("openid", 64), ("transfer_scene_id", 36), ("transfer_remark", 32)):
            text(name, max_len)
        text("user_recv_perception", 32, required=False)
        text("notify_url", 256, required=False)
        text("user_name", 1024, required=False)
        if not isinstance(body.get("out_bill_no"), str) or not OUT_BILL_NO.fullmatch(body["out_bill_no"]):
            raise _PayError(400, "PARAM_ERROR", "out_bill_no 只能由数字、大小写字母组成，长度 5-32")
        amount = body.get("transfer_amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < MIN_AMOUNT_FEN:
            raise _PayError(400, "PARAM_ERROR", f"transfer_amount 必须是整数（分），最低 {MIN_AMOUNT_FEN} 分")
        if amount >= USER_NAME_FROM_FEN and "user_name" not in body:
            raise _PayError(400, "PARAM_ERROR", "转账金额 >= 2000 元时，user_name 必填")
        if body["appid"] != self.appid:
            raise _PayError(400, "PARAM_ERROR", "appid 与商户号 mchid 不匹配")
        scene = body["transfer_scene_id"]
        if scene not in self.transfer_scene_ids:
            raise _PayError(403, "NO_AUTH", f"商户未开通转账场景 {scene}")
        perception = body.get("user_recv_perception")
        if perception is not None and scene in SCENE_PERCEPTIONS and perception not in SCENE_PERCEPTIONS[scene]:
            raise _PayError(400, "PARAM_ERROR", f"user_recv_perception 不在场景 {scene} 的可选范围内")
        self._check_report_infos(scene, body.get("transfer_scene_report_infos"))
        if body.get("notify_url") is not None and not _callable_url(body["notify_url"]):
            raise _PayError(400, "PARAM_ERROR", "notify_url 必须是 http(s) 地址，且不能携带参数")
        return body

    @staticmethod
    def _check_report_infos(scene: str, infos: Any) -> None:
        infos = [] if infos is None else infos
        if not isinstance(infos, list) or not all(
            isinstance(i, dict) and isinstance(i.get("info_type"), str) and isinstance(i.get("info_content"), str)
            and 0 < len(i["info_content"]) <= 32 for i in infos
        ):
            raise _PayError(400, "PARAM_ERROR", "transfer_scene_report_infos 格式错误")
        missing = SCENE_REPORT_INFOS.get(scene, set()) - {i["info_type"] for i in infos}
        if missing:
            raise _PayError(400, "PARAM_ERROR", f"转账场景 {scene} 缺少报备信息：{'、'.join(sorted(missing))}")

    def _query(self, request: Request) -> Response:
        if (faulted := self._fault("wechatpay.query")) is not None:
            return faulted
        with self._lock:
            out_bill_no = request.path_params.get("out_bill_no") or self._by_transfer_no.get(
                request.path_params.get("transfer_bill_no", ""), "")
            bill = self._bills.get(out_bill_no)
            answer = None if bill is None else bill.queried(self.mchid)
        if answer is None:
            raise _PayError(404, "NOT_FOUND", "记录不存在")
        return self._signed(answer)

    def _cancel(self, request: Request) -> Response:
        if (faulted := self._fault("wechatpay.cancel")) is not None:
            return faulted
        with self._lock:
            bill = self._bills.get(request.path_params["out_bill_no"])
            if bill is None:
                raise _PayError(404, "NOT_FOUND", "记录不存在")
            if bill.state == "CANCELLED":
                answer = {"out_bill_no": bill.out_bill_no, "transfer_bill_no": bill.transfer_bill_no,
                          "state": "CANCELLED", "update_time": bill.update_time}
                return self._signed(answer)
            if bill.state != "WAIT_USER_CONFIRM":
                raise _PayError(400, "INVALID_REQUEST", f"转账单状态为 {bill.state}，不可撤销")
        self._transition(bill.out_bill_no, "CANCELLED", None, ("WAIT_USER_CONFIRM",))
        answer = {"out_bill_no": bill.out_bill_no, "transfer_bill_no": bill.transfer_bill_no,
                  "state": "CANCELING", "update_time": bill.update_time}
        return self._signed(answer)

    # --------------------------------------------------------------------------- state changes
    def _finish(self, out_bill_no: str, state: str, fail_reason: str | None) -> dict[str, Any]:
        with self._lock:
            if out_bill_no not in self._bills:
                raise HttpError(404, "not_found", f"no transfer bill {out_bill_no}")
        try:
            return self._transition(out_bill_no, state, fail_reason, ("WAIT_USER_CONFIRM",))
        except _PayError as exc:
            raise HttpError(409, "bad_state", exc.message) from exc

    def _transition(self, out_bill_no: str, state: str, fail_reason: str | None, sources: tuple[str, ...]
                    ) -> dict[str, Any]:
        with self._lock:
            bill = self._bills[out_bill_no]
            if bill.state not in sources:
                raise _PayError(400, "INVALID_REQUEST", f"bill {out_bill_no} is {bill.state}, not {sources[0]}")
            bill.state, bill.fail_reason, bill.update_time = state, fail_reason, _cst_now()
            resource, url = bill.resource(self.mchid), bill.request.get("notify_url")
            view = bill.inspected(self.mchid)
        if state in FINAL_STATES and url:
            self._notify(resource, url)
        return view

    # ------------------------------------------------------------------------------- callbacks
    def _notify(self, resource: dict[str, Any], url: str) -> None:
        nonce = _nonce(12)
        plain = json.dumps(resource, ensure_ascii=False).encode()
        ciphertext = self._aead.encrypt(nonce.encode(), plain, ASSOCIATED_DATA.encode())
        notification_id = f"EV-{datetime.now(CST):%Y%m%d%H%M%S}{secrets.randbelow(10**8):08d}"
        payload = {
            "id": notification_id, "create_time": _cst_now(), "resource_type": "encrypt-resource",
            "event_type": EVENT_TYPE, "summary": "商家转账单据终态通知",
            "resource": {"original_type": ASSOCIATED_DATA, "algorithm": "AEAD_AES_256_GCM",
                         "ciphertext": base64.b64encode(ciphertext).decode(), "associated_data": ASSOCIATED_DATA,
                         "nonce": nonce},
        }
        body = json.dumps(payload, ensure_ascii=False).encode()
        assert self._server is not None, "register() first"
        fault = self._server.faults.take(CALLBACK_POINT)
        copies = 2 if fault is not None and fault.mode == "duplicate" else 1
        delay = fault.delay_s if fault is not None and fault.mode == "delay" else 0.0
        with self._lock:
            for _ in range(copies):
                self._seq += 1
                self._deliveries[self._seq] = _Delivery(
                    self._seq, notification_id, resource["out_bill_no"], resource["state"], url, body)
                heapq.heappush(self._due, (time.monotonic() + delay, self._seq))
            self._lock.notify_all()
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._deliver_due, name="wechatpay-callbacks", daemon=True)
                self._worker.start()

    def _deliver_due(self) -> None:
        """Deliver callbacks as they fall due; ends when none are left or the server stops."""
        assert self._server is not None
        stopping = self._server.faults.stopping
        while True:
            with self._lock:
                if stopping.is_set() or not self._due:
                    if self._worker is threading.current_thread():
                        self._worker = None  # under the lock: _notify then starts a new worker
                    return
                due, seq = self._due[0]
                if due > time.monotonic():
                    self._lock.wait(min(due - time.monotonic(), 0.1))
                    continue
                heapq.heappop(self._due)
                delivery = self._deliveries.get(seq)
            if delivery is not None:
                self._attempt(delivery)

    def _attempt(self, delivery: _Delivery) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "Mozilla/4.0",
                   **self._signature_headers(delivery.body)}
        status, error = self._post(delivery.url, delivery.body, headers)
        with self._lock:
            if self._deliveries.get(delivery.seq) is not delivery:  # reset meanwhile
                return
            delivery.attempts.append({"at_ms": int(time.time() * 1000), "status": status, "error": error})
            if status is not None and 200 <= status < 300:
                delivery.delivered = True
            elif len(delivery.attempts) > len(RETRY_SCHEDULE_S):
                delivery.gave_up = True
            else:
                wait = RETRY_SCHEDULE_S[len(delivery.attempts) - 1] * self.retry_scale
                heapq.heappush(self._due, (time.monotonic() + wait, delivery.seq))

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - http(s) only
        try:
            with _OPENER.open(request, timeout=self.callback_timeout_s) as response:
                return int(response.status), None
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code, None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}"

    # ----------------------------------------------------------------------------- inspect routes
    def _list_bills(self, request: Request) -> Response:
        return json_response({"items": self.bills(request.query.get("state") or None,
                                                  request.query.get("openid") or None)})

    def _inspect_bill(self, request: Request) -> Response:
        found = self.bill(request.path_params["out_bill_no"])
        if found is None:
            raise HttpError(404, "not_found", f"no transfer bill {request.path_params['out_bill_no']}")
        return json_response(found)

    def _confirm_route(self, request: Request) -> Response:
        return json_response(self.confirm(request.path_params["out_bill_no"]))

    def _reject_route(self, request: Request) -> Response:
        reason = request.json_object().get("fail_reason", DEFAULT_FAIL_REASON)
        if not isinstance(reason, str):
            raise HttpError(400, "bad_request", "fail_reason must be a string")
        return json_response(self.reject(request.path_params["out_bill_no"], reason))

    def _list_callbacks(self, request: Request) -> Response:
        return json_response({"items": self.callbacks(request.query.get("out_bill_no") or None)})

    def _reset_route(self, _request: Request) -> Response:
        self.reset()
        return json_response({"status": "ok"})

