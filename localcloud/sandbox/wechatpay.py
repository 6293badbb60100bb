"""WeChat Pay v3 for one merchant, stood in for on one machine: transfer bills here, JSAPI payments and
refunds in ``wechatpay_jsapi`` (registered by ``WeChatPaySandbox`` too).

Same paths, statuses, error shapes and signatures as ``https://api.mch.weixin.qq.com`` in public-key mode,
so wechatpayv3 pointed at the sandbox works unmodified: merchant-signed requests, platform-signed answers
(``wechatpay_gateway``); errors ``{"code", "message"}``: 400 PARAM_ERROR / INVALID_REQUEST, 401 SIGN_ERROR,
403 NO_AUTH / NOT_ENOUGH, 404 NOT_FOUND, 429 FREQUENCY_LIMITED, 500 SYSTEM_ERROR. Notifications go out as
WeChat sends them, with its retry schedule (``wechatpay_callbacks``).

Transfer bills:
- ``POST /v3/fund-app/mch-transfer/transfer-bills`` creates a bill in WAIT_USER_CONFIRM (the resident
  confirms in the mini-program). Idempotent by ``out_bill_no``: the same request again answers the same bill
  (in its current state); different content (``user_name`` aside: it is encrypted afresh each time) is 400
  INVALID_REQUEST. Scene 1000 (现金营销) needs the 活动名称 and 奖励说明 report infos.
- ``GET .../transfer-bills/out-bill-no/{out_bill_no}`` and ``.../transfer-bill-no/{transfer_bill_no}``.
- ``POST .../transfer-bills/out-bill-no/{out_bill_no}/cancel``: from WAIT_USER_CONFIRM it answers CANCELING,
  as WeChat does, and the bill is CANCELLED at once (query and callback say so); again → CANCELLED.
- A bill reaching SUCCESS, FAIL or CANCELLED is notified to its ``notify_url``: event
  MCHTRANSFER.BILL.FINISHED (original_type / associated data ``mch_payment``).

Inspect / control (not WeChat's):
- ``GET /_sandbox/wechat/transfers?state=&openid=`` → ``{"items": [...]}`` bills, oldest first
- ``GET /_sandbox/wechat/transfers/{out_bill_no}`` → one bill
- ``POST /_sandbox/wechat/transfers/{out_bill_no}/confirm`` → SUCCESS, then the callback
- ``POST /_sandbox/wechat/transfers/{out_bill_no}/reject`` ``{"fail_reason"?}`` → FAIL (default
  PAYEE_ACCOUNT_ABNORMAL), then the callback. Both only from WAIT_USER_CONFIRM, else 409 ``bad_state``.
- ``GET /_sandbox/wechatpay/callbacks?out_bill_no=&out_trade_no=&out_refund_no=`` → ``{"items": [...]}``
  one per delivery: ``id``, the ``out_*_no`` it is about, ``event_type``, ``state``, ``url``, ``delivered``,
  ``gave_up``, ``attempts`` (``at_ms``, ``status``, ``error``)
- ``GET /_sandbox/wechatpay/stats`` → request counters, bills per state, ``succeeded_total_fen``,
  ``waiting_total_fen``, orders and refunds per state, ``paid_total_fen``, ``refunded_total_fen``,
  callbacks delivered / pending / given up
- ``POST /_sandbox/wechatpay/reset`` → forget bills, orders, refunds, callbacks (pending retries too) and
  counters

Fault points:
- ``wechatpay.create`` acts AFTER the bill is stored: ``timeout`` (hang ``delay_s``, then answer — the
  client has given up), ``error`` (a signed ``status`` answer, default 503 SYSTEM_ERROR; ``code`` to
  choose), ``http_error`` (a bare gateway error): each an ambiguous create.
- ``wechatpay.create_refuse`` acts BEFORE anything is stored: ``error`` answers a 4xx (a ``status`` outside
  400..499 becomes 403; default code NOT_ENOUGH); ``timeout`` / ``http_error`` lose a request that did nothing.
- ``wechatpay.query``, ``wechatpay.cancel``: ``error`` / ``timeout`` / ``http_error`` before answering.
- ``wechatpay.callback`` (every notification): ``duplicate`` (deliver it twice, same id) or ``delay``
  (first attempt after ``delay_s``).
- JSAPI payments and refunds have their own points (``wechatpay_jsapi``).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from localcloud.sandbox.faults import REQUEST_MODES
from localcloud.sandbox.routing import HttpError, Request, Response, json_response
from localcloud.sandbox.server import SandboxServer
from localcloud.sandbox.wechatpay_callbacks import CALLBACK_POINT, CallbackSender, Notice
from localcloud.sandbox.wechatpay_gateway import (
    CST,
    MerchantGateway,
    PayError,
    callable_url,
    check_text,
    cst_now,
    json_body,
)
from localcloud.sandbox.wechatpay_jsapi import JsapiSandbox

API = "/v3/fund-app/mch-transfer/transfer-bills"
EVENT_TYPE = "MCHTRANSFER.BILL.FINISHED"
ASSOCIATED_DATA = "mch_payment"
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
FAULT_POINTS = ("wechatpay.create", "wechatpay.create_refuse", "wechatpay.query", "wechatpay.cancel")


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


class WeChatPaySandbox:
    """WeChat Pay v3 for one merchant (``mchid``) and its mini-program (``appid``): transfer bills, and
    (through ``JsapiSandbox``) JSAPI payments and refunds. Thread-safe."""

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
        refund_settle_s: float = 1.0,
    ) -> None:
        if len(apiv3_key.encode()) != 32:
            raise ValueError("the APIv3 key is 32 bytes")
        self.mchid, self.appid = mchid, appid
        self.merchant_serial, self.public_key_id = merchant_serial, public_key_id
        self.retry_scale, self.callback_timeout_s = retry_scale, callback_timeout_s
        self.transfer_scene_ids = transfer_scene_ids
        self.gateway = MerchantGateway(mchid, merchant_public_key, merchant_serial, platform_private_key,
                                       public_key_id)
        self.sender = CallbackSender(self.gateway, apiv3_key, retry_scale, callback_timeout_s)
        self.jsapi = JsapiSandbox(appid, self.gateway, self.sender, refund_settle_s=refund_settle_s)
        self._lock = threading.Lock()
        self._bills: dict[str, _Bill] = {}
        self._by_transfer_no: dict[str, str] = {}
        self._seq = 0

    def register(self, server: SandboxServer) -> None:
        self.gateway.attach(server)
        api = self.gateway.api
        server.faults.declare(*FAULT_POINTS, modes=REQUEST_MODES)
        server.faults.declare(CALLBACK_POINT, modes=("duplicate", "delay"))
        server.route("POST", API, api("create", self._create))
        server.route("GET", API + "/out-bill-no/{out_bill_no}", api("query", self._query))
        server.route("GET", API + "/transfer-bill-no/{transfer_bill_no}", api("query", self._query))
        server.route("POST", API + "/out-bill-no/{out_bill_no}/cancel", api("cancel", self._cancel))
        server.route("GET", "/_sandbox/wechat/transfers", self._list_bills)
        server.route("GET", "/_sandbox/wechat/transfers/{out_bill_no}", self._inspect_bill)
        server.route("POST", "/_sandbox/wechat/transfers/{out_bill_no}/confirm", self._confirm_route)
        server.route("POST", "/_sandbox/wechat/transfers/{out_bill_no}/reject", self._reject_route)
        server.route("GET", "/_sandbox/wechatpay/callbacks", self._list_callbacks)
        server.route("GET", "/_sandbox/wechatpay/stats", lambda _r: json_response(self.stats()))
        server.route("POST", "/_sandbox/wechatpay/reset", self._reset_route)
        self.jsapi.register(server)

    # ------------------------------------------------------------------------ in-process inspection
    def bills(self, state: str | None = None, openid: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [b.inspected(self.mchid) for b in self._bills.values()
                    if (state is None or b.state == state) and (openid is None or b.request["openid"] == openid)]

    def bill(self, out_bill_no: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._bills.get(out_bill_no)
            return None if found is None else found.inspected(self.mchid)

    def callbacks(self, out_bill_no: str | None = None, *, out_trade_no: str | None = None,
                  out_refund_no: str | None = None) -> list[dict[str, Any]]:
        return self.sender.deliveries(out_bill_no=out_bill_no, out_trade_no=out_trade_no,
                                      out_refund_no=out_refund_no)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            bills = list(self._bills.values())
        return {
            "requests": self.gateway.counts(),
            "bills": dict(Counter(b.state for b in bills)),
            "succeeded_total_fen": sum(b.request["transfer_amount"] for b in bills if b.state == "SUCCESS"),
            "waiting_total_fen": sum(b.request["transfer_amount"] for b in bills if b.state == "WAIT_USER_CONFIRM"),
            **self.jsapi.stats(),
            "callbacks": self.sender.counts(),
        }

    def confirm(self, out_bill_no: str) -> dict[str, Any]:
        """The resident confirmed in the mini-program: SUCCESS, then the callback."""
        return self._finish(out_bill_no, "SUCCESS", None)

    def reject(self, out_bill_no: str, fail_reason: str = DEFAULT_FAIL_REASON) -> dict[str, Any]:
        """The transfer failed after the resident confirmed: FAIL with ``fail_reason``, then the callback."""
        if fail_reason not in FAIL_REASONS:
            raise HttpError(400, "bad_request", f"fail_reason must be one of {sorted(FAIL_REASONS)}")
        return self._finish(out_bill_no, "FAIL", fail_reason)

    def pay(self, out_trade_no: str) -> dict[str, Any]:
        """The resident paid the JSAPI order: SUCCESS, then the TRANSACTION.SUCCESS callback."""
        return self.jsapi.pay(out_trade_no)

    def orders(self, state: str | None = None, openid: str | None = None) -> list[dict[str, Any]]:
        return self.jsapi.orders(state, openid)

    def order(self, out_trade_no: str) -> dict[str, Any] | None:
        return self.jsapi.order(out_trade_no)

    def refunds(self, out_trade_no: str | None = None) -> list[dict[str, Any]]:
        return self.jsapi.refunds(out_trade_no)

    def reset(self) -> None:
        with self._lock:
            self._bills.clear()
            self._by_transfer_no.clear()
        self.jsapi.reset()
        self.sender.reset()
        self.gateway.reset()

    # --------------------------------------------------------------------------------- WeChat Pay API
    def _create(self, request: Request) -> Response:
        if (faulted := self.gateway.fault("wechatpay.create_refuse", refuse_code="NOT_ENOUGH")) is not None:
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
                bill = _Bill(out_bill_no, transfer_bill_no, fingerprint, body, package_info, cst_now())
                self._bills[out_bill_no] = bill
                self._by_transfer_no[transfer_bill_no] = out_bill_no
            elif bill.fingerprint != fingerprint:
                raise PayError(400, "INVALID_REQUEST", "商户单号 out_bill_no 已存在，且本次请求参数与首次不一致")
            answer = bill.created()
        if (faulted := self.gateway.fault("wechatpay.create")) is not None:
            return faulted
        return self.gateway.signed(answer)

    def _validated(self, request: Request) -> dict[str, Any]:
        body = json_body(request)
        for name, max_len in (("appid", 32), ("openid", 64), ("transfer_scene_id", 36), ("transfer_remark", 32)):
            check_text(body, name, max_len)
        check_text(body, "user_recv_perception", 32, required=False)
        check_text(body, "notify_url", 256, required=False)
        check_text(body, "user_name", 1024, required=False)
        if not isinstance(body.get("out_bill_no"), str) or not OUT_BILL_NO.fullmatch(body["out_bill_no"]):
            raise PayError(400, "PARAM_ERROR", "out_bill_no 只能由数字、大小写字母组成，长度 5-32")
        amount = body.get("transfer_amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < MIN_AMOUNT_FEN:
            raise PayError(400, "PARAM_ERROR", f"transfer_amount 必须是整数（分），最低 {MIN_AMOUNT_FEN} 分")
        if amount >= USER_NAME_FROM_FEN and "user_name" not in body:
            raise PayError(400, "PARAM_ERROR", "转账金额 >= 2000 元时，user_name 必填")
        if body["appid"] != self.appid:
            raise PayError(400, "PARAM_ERROR", "appid 与商户号 mchid 不匹配")
        scene = body["transfer_scene_id"]
        if scene not in self.transfer_scene_ids:
            raise PayError(403, "NO_AUTH", f"商户未开通转账场景 {scene}")
        perception = body.get("user_recv_perception")
        if perception is not None and scene in SCENE_PERCEPTIONS and perception not in SCENE_PERCEPTIONS[scene]:
            raise PayError(400, "PARAM_ERROR", f"user_recv_perception 不在场景 {scene} 的可选范围内")
        self._check_report_infos(scene, body.get("transfer_scene_report_infos"))
        if body.get("notify_url") is not None and not callable_url(body["notify_url"]):
            raise PayError(400, "PARAM_ERROR", "notify_url 必须是 http(s) 地址，且不能携带参数")
        return body

    @staticmethod
    def _check_report_infos(scene: str, infos: Any) -> None:
        infos = [] if infos is None else infos
        if not isinstance(infos, list) or not all(
            isinstance(i, dict) and isinstance(i.get("info_type"), str) and isinstance(i.get("info_content"), str)
            and 0 < len(i["info_content"]) <= 32 for i in infos
        ):
            raise PayError(400, "PARAM_ERROR", "transfer_scene_report_infos 格式错误")
        missing = SCENE_REPORT_INFOS.get(scene, set()) - {i["info_type"] for i in infos}
        if missing:
            raise PayError(400, "PARAM_ERROR", f"转账场景 {scene} 缺少报备信息：{'、'.join(sorted(missing))}")

    def _query(self, request: Request) -> Response:
        if (faulted := self.gateway.fault("wechatpay.query")) is not None:
            return faulted
        with self._lock:
            out_bill_no = request.path_params.get("out_bill_no") or self._by_transfer_no.get(
                request.path_params.get("transfer_bill_no", ""), "")
            bill = self._bills.get(out_bill_no)
            answer = None if bill is None else bill.queried(self.mchid)
        if answer is None:
            raise PayError(404, "NOT_FOUND", "记录不存在")
        return self.gateway.signed(answer)

    def _cancel(self, request: Request) -> Response:
        if (faulted := self.gateway.fault("wechatpay.cancel")) is not None:
            return faulted
        with self._lock:
            bill = self._bills.get(request.path_params["out_bill_no"])
            if bill is None:
                raise PayError(404, "NOT_FOUND", "记录不存在")
            if bill.state == "CANCELLED":
                answer = {"out_bill_no": bill.out_bill_no, "transfer_bill_no": bill.transfer_bill_no,
                          "state": "CANCELLED", "update_time": bill.update_time}
                return self.gateway.signed(answer)
            if bill.state != "WAIT_USER_CONFIRM":
                raise PayError(400, "INVALID_REQUEST", f"转账单状态为 {bill.state}，不可撤销")
        self._transition(bill.out_bill_no, "CANCELLED", None, ("WAIT_USER_CONFIRM",))
        answer = {"out_bill_no": bill.out_bill_no, "transfer_bill_no": bill.transfer_bill_no,
                  "state": "CANCELING", "update_time": bill.update_time}
        return self.gateway.signed(answer)

    # --------------------------------------------------------------------------- state changes
    def _finish(self, out_bill_no: str, state: str, fail_reason: str | None) -> dict[str, Any]:
        with self._lock:
            if out_bill_no not in self._bills:
                raise HttpError(404, "not_found", f"no transfer bill {out_bill_no}")
        try:
            return self._transition(out_bill_no, state, fail_reason, ("WAIT_USER_CONFIRM",))
        except PayError as exc:
            raise HttpError(409, "bad_state", exc.message) from exc

    def _transition(self, out_bill_no: str, state: str, fail_reason: str | None, sources: tuple[str, ...]
                    ) -> dict[str, Any]:
        with self._lock:
            bill = self._bills[out_bill_no]
            if bill.state not in sources:
                raise PayError(400, "INVALID_REQUEST", f"bill {out_bill_no} is {bill.state}, not {sources[0]}")
            bill.state, bill.fail_reason, bill.update_time = state, fail_reason, cst_now()
            resource, url = bill.resource(self.mchid), bill.request.get("notify_url")
            view = bill.inspected(self.mchid)
        if state in FINAL_STATES and url:
            self.sender.send(Notice(EVENT_TYPE, "商家转账单据终态通知", ASSOCIATED_DATA, resource, state,
                                    {"out_bill_no": out_bill_no}), url)
        return view

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
        return json_response({"items": self.callbacks(
            request.query.get("out_bill_no") or None, out_trade_no=request.query.get("out_trade_no") or None,
            out_refund_no=request.query.get("out_refund_no") or None)})

    def _reset_route(self, _request: Request) -> Response:
        self.reset()
        return json_response({"status": "ok"})

