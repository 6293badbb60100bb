"""WeChat Pay v3 JSAPI payments (the mini-program pays) and refunds, stood in for on one machine.

Registered by ``WeChatPaySandbox``: same merchant authentication, signed answers and callback delivery.

WeChat's API (JSON; errors ``{"code", "message"}``):
- ``POST /v3/pay/transactions/jsapi`` → ``{"prepay_id"}``; the order is NOTPAY. Idempotent by
  ``out_trade_no`` (6–32 of ``A-Za-z0-9_-|*``): the same request again → the same prepay_id; other content →
  400 INVALID_REQUEST (201 商户订单号重复); an order already paid → 400 ORDERPAID, closed → 400 ORDER_CLOSED.
- ``GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=`` → trade_state NOTPAY / SUCCESS / CLOSED /
  REFUND, ``transaction_id``, ``amount`` {total, payer_total, currency}, ``payer`` {openid}, ``success_time``;
  404 ORDER_NOT_EXIST.
- ``POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close`` ``{"mchid"}`` → 204 (again → 204);
  a paid order → 400 ORDERPAID.
- ``POST /v3/refund/domestic/refunds`` by ``out_trade_no`` (or ``transaction_id``), ``out_refund_no``,
  ``amount`` {refund, total, currency}: PROCESSING, then (``refund_settle_s`` later) SUCCESS with a
  REFUND.SUCCESS notification to the refund's ``notify_url``. Refunds of an order may not add up to more
  than was paid (400 INVALID_REQUEST); ``total`` must be the order's; the same ``out_refund_no`` again →
  the same refund (other content → 400 INVALID_REQUEST); an unpaid order → 400 INVALID_REQUEST; an unknown
  order → 404 RESOURCE_NOT_EXISTS.
- ``GET /v3/refund/domestic/refunds/{out_refund_no}`` → the refund; 404 RESOURCE_NOT_EXISTS.

Test helpers (not WeChat's; the resident's side):
- ``POST /_sandbox/wechat/transactions/{out_trade_no}/pay`` → SUCCESS, then the signed, AES-GCM-encrypted
  TRANSACTION.SUCCESS notification to the order's notify_url. Only from NOTPAY, else 409 ``bad_state``.
- ``POST /_sandbox/wechat/request-payment`` with the ``wx.requestPayment`` parameters (appId, timeStamp,
  nonceStr, package, signType, paySign; ``openid`` optionally, the paying user): checks them as the WeChat
  client does — paySign (RSA-SHA256 of ``appId\\ntimeStamp\\nnonceStr\\npackage\\n``) with the merchant
  public key, a known prepay_id — then pays as above. 400 ``bad_signature`` / ``bad_request``.
- ``GET /_sandbox/wechat/transactions?state=&openid=``, ``GET /_sandbox/wechat/transactions/{out_trade_no}``,
  ``GET /_sandbox/wechat/refunds?out_trade_no=``.

Fault points (modes error / timeout / http_error, as for bills):
- ``wechatpay.jsapi`` and ``wechatpay.refund`` act AFTER the order / refund is stored (an answer lost);
- ``wechatpay.order_query`` (order and refund queries) and ``wechatpay.close`` act before answering;
- ``wechatpay.refund_abnormal`` mode ``error``: the next refund ends ABNORMAL (REFUND.ABNORMAL notification).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import Counter
from datetime import datetime
from typing import Any

from localcloud.sandbox.faults import REQUEST_MODES
from localcloud.sandbox.routing import HttpError, Request, Response, json_response
from localcloud.sandbox.server import SandboxServer
from localcloud.sandbox.wechatpay_callbacks import CallbackSender, Notice
from localcloud.sandbox.wechatpay_gateway import CST, MerchantGateway, PayError, cst_now, json_body
from localcloud.sandbox.wechatpay_keys import rsa_verify
from localcloud.sandbox.wechatpay_orders import Order, RefundRecord, validated_order, validated_refund

PAY_API = "/v3/pay/transactions"
REFUND_API = "/v3/refund/domestic/refunds"
FAULT_POINTS = ("wechatpay.jsapi", "wechatpay.refund", "wechatpay.order_query", "wechatpay.close")
ABNORMAL_POINT = "wechatpay.refund_abnormal"
PREPAY_ID = re.compile(r"prepay_id=(wx[0-9A-Za-z]{8,64})")


class JsapiSandbox:
    """JSAPI orders and refunds of one merchant; ``WeChatPaySandbox`` owns and registers it. Thread-safe."""

    def __init__(self, appid: str, gateway: MerchantGateway, sender: CallbackSender, *,
                 refund_settle_s: float = 1.0) -> None:
        self.appid, self.mchid = appid, gateway.mchid
        self.refund_settle_s = refund_settle_s
        self._gateway, self._sender = gateway, sender
        self._lock = threading.Lock()
        self._orders: dict[str, Order] = {}
        self._by_prepay: dict[str, str] = {}
        self._refunds: dict[str, RefundRecord] = {}
        self._seq = 0

    def register(self, server: SandboxServer) -> None:
        api = self._gateway.api
        server.faults.declare(*FAULT_POINTS, modes=REQUEST_MODES)
        server.faults.declare(ABNORMAL_POINT, modes=("error",))
        server.route("POST", PAY_API + "/jsapi", api("jsapi", self._create))
        server.route("GET", PAY_API + "/out-trade-no/{out_trade_no}", api("order_query", self._query))
        server.route("POST", PAY_API + "/out-trade-no/{out_trade_no}/close", api("close", self._close))
        server.route("POST", REFUND_API, api("refund", self._refund))
        server.route("GET", REFUND_API + "/{out_refund_no}", api("refund_query", self._query_refund))
        server.route("POST", "/_sandbox/wechat/transactions/{out_trade_no}/pay",
                     lambda r: json_response(self.pay(r.path_params["out_trade_no"])))
        server.route("POST", "/_sandbox/wechat/request-payment", self._request_payment)
        server.route("GET", "/_sandbox/wechat/transactions", lambda r: json_response(
            {"items": self.orders(r.query.get("state") or None, r.query.get("openid") or None)}))
        server.route("GET", "/_sandbox/wechat/transactions/{out_trade_no}", self._inspect_order)
        server.route("GET", "/_sandbox/wechat/refunds",
                     lambda r: json_response({"items": self.refunds(r.query.get("out_trade_no") or None)}))

    # ------------------------------------------------------------------------ in-process inspection
    def orders(self, state: str | None = None, openid: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [o.inspected(self.mchid) for o in self._orders.values()
                    if (state is None or o.state == state) and (openid is None or o.openid == openid)]

    def order(self, out_trade_no: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._orders.get(out_trade_no)
            return None if found is None else found.inspected(self.mchid)

    def refunds(self, out_trade_no: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [r.inspected(self.mchid) for r in self._refunds.values()
                    if out_trade_no is None or r.out_trade_no == out_trade_no]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            orders, refunds = list(self._orders.values()), list(self._refunds.values())
        return {"orders": dict(Counter(o.state for o in orders)),
                "refunds": dict(Counter(r.status for r in refunds)),
                "paid_total_fen": sum(o.total for o in orders if o.transaction_id is not None),
                "refunded_total_fen": sum(r.refund for r in refunds if r.status == "SUCCESS")}

    def reset(self) -> None:
        with self._lock:
            self._orders.clear()
            self._by_prepay.clear()
            self._refunds.clear()

    def pay(self, out_trade_no: str) -> dict[str, Any]:
        """The resident paid: SUCCESS, then TRANSACTION.SUCCESS to the order's notify_url."""
        with self._lock:
            order = self._orders.get(out_trade_no)
            if order is None:
                raise HttpError(404, "not_found", f"no order {out_trade_no}")
            if order.state != "NOTPAY":
                raise HttpError(409, "bad_state", f"order {out_trade_no} is {order.state}, not NOTPAY")
            order.state, order.success_time = "SUCCESS", cst_now()
            order.transaction_id = f"4200{datetime.now(CST):%Y%m%d}{self._next():010d}{secrets.randbelow(10**8):08d}"
            resource, view = order.queried(self.mchid), order.inspected(self.mchid)
        self._sender.send(Notice("TRANSACTION.SUCCESS", "支付成功", "transaction", resource, "SUCCESS",
                                 {"out_trade_no": out_trade_no}), order.notify_url)
        return view

    # --------------------------------------------------------------------------------- WeChat Pay API
    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _create(self, request: Request) -> Response:
        body = validated_order(request, self.appid, self.mchid)
        out_trade_no, fingerprint = body["out_trade_no"], Order.fingerprint_of(body)
        with self._lock:
            order = self._orders.get(out_trade_no)
            if order is None:
                prepay_id = f"wx{datetime.now(CST):%d%H%M%S}{secrets.token_hex(12)}{self._next():04d}"
                order = Order.create(body, prepay_id, cst_now())
                self._orders[out_trade_no], self._by_prepay[prepay_id] = order, out_trade_no
            elif order.fingerprint != fingerprint:
                raise PayError(400, "INVALID_REQUEST", "201 商户订单号重复")
            elif order.state in ("SUCCESS", "REFUND"):
                raise PayError(400, "ORDERPAID", "该订单已支付")
            elif order.state == "CLOSED":
                raise PayError(400, "ORDER_CLOSED", "订单已关闭")
            answer = {"prepay_id": order.prepay_id}
        if (faulted := self._gateway.fault("wechatpay.jsapi")) is not None:
            return faulted
        return self._gateway.signed(answer)

    def _query(self, request: Request) -> Response:
        if (faulted := self._gateway.fault("wechatpay.order_query")) is not None:
            return faulted
        if request.query.get("mchid") != self.mchid:
            raise PayError(400, "PARAM_ERROR", "mchid 缺失或与商户号不符")
        with self._lock:
            order = self._orders.get(request.path_params["out_trade_no"])
            answer = None if order is None else order.queried(self.mchid)
        if answer is None:
            raise PayError(404, "ORDER_NOT_EXIST", "订单不存在")
        return self._gateway.signed(answer)

    def _close(self, request: Request) -> Response:
        if (faulted := self._gateway.fault("wechatpay.close")) is not None:
            return faulted
        if json_body(request).get("mchid") != self.mchid:
            raise PayError(400, "PARAM_ERROR", "mchid 缺失或与商户号不符")
        with self._lock:
            order = self._orders.get(request.path_params["out_trade_no"])
            if order is None:
                raise PayError(404, "ORDER_NOT_EXIST", "订单不存在")
            if order.state in ("SUCCESS", "REFUND"):
                raise PayError(400, "ORDERPAID", "订单已支付，不能关闭")
            order.state = "CLOSED"
        return self._gateway.signed(None, 204)

    def _refund(self, request: Request) -> Response:
        body = validated_refund(request)
        with self._lock:
            refund, created = self._refunds.get(body["out_refund_no"]), False
            order = self._order_for(body)
            if refund is None:
                refund, created = self._new_refund(order, body), True
            elif refund.fingerprint != RefundRecord.fingerprint_of(body, order.out_trade_no):
                raise PayError(400, "INVALID_REQUEST", "退款单号 out_refund_no 已存在，且请求参数与首次不一致")
            answer = refund.answered()
        if created:
            self._settle_later(refund)
        if (faulted := self._gateway.fault("wechatpay.refund")) is not None:
            return faulted
        return self._gateway.signed(answer)

    def _order_for(self, body: dict[str, Any]) -> Order:
        if "out_trade_no" in body:
            order = self._orders.get(body["out_trade_no"])
        else:
            order = next((o for o in self._orders.values() if o.transaction_id == body["transaction_id"]), None)
        if order is None:
            raise PayError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        return order

    def _new_refund(self, order: Order, body: dict[str, Any]) -> RefundRecord:
        """Under the lock: the checks WeChat makes on a first request, then the refund, PROCESSING."""
        amount = body["amount"]
        if order.transaction_id is None:
            raise PayError(400, "INVALID_REQUEST", f"订单状态为 {order.state}，不能退款")
        if amount["total"] != order.total:
            raise PayError(400, "PARAM_ERROR", "订单金额 amount.total 与原订单金额不一致")
        taken = sum(r.refund for r in self._refunds.values()
                    if r.out_trade_no == order.out_trade_no and r.status in ("PROCESSING", "SUCCESS"))
        if amount["refund"] > order.total - taken:
            raise PayError(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        refund_id = f"50300{self._next():010d}{secrets.randbelow(10**14):014d}"
        abnormal = self._gateway.server.faults.take(ABNORMAL_POINT) is not None
        refund = RefundRecord.create(body, order, refund_id, cst_now(), abnormal)
        self._refunds[refund.out_refund_no] = refund
        order.state = "REFUND"
        return refund

    def _settle_later(self, refund: RefundRecord) -> None:
        """A moment later the refund ends (SUCCESS, or ABNORMAL when armed) and is notified."""
        stopping = self._gateway.server.faults.stopping

        def settle() -> None:
            if stopping.wait(self.refund_settle_s):
                return
            with self._lock:
                if self._refunds.get(refund.out_refund_no) is not refund or refund.status != "PROCESSING":
                    return  # reset meanwhile
                refund.settle()
                resource = refund.resource(self.mchid)
            if refund.notify_url:
                self._sender.send(Notice(f"REFUND.{refund.status}", "退款成功" if refund.status == "SUCCESS"
                                         else "退款异常", "refund", resource, refund.status,
                                         {"out_trade_no": refund.out_trade_no,
                                          "out_refund_no": refund.out_refund_no}), refund.notify_url)

        threading.Thread(target=settle, name="wechatpay-refund", daemon=True).start()

    def _query_refund(self, request: Request) -> Response:
        if (faulted := self._gateway.fault("wechatpay.order_query")) is not None:
            return faulted
        with self._lock:
            refund = self._refunds.get(request.path_params["out_refund_no"])
            answer = None if refund is None else refund.answered()
        if answer is None:
            raise PayError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return self._gateway.signed(answer)

    # ---------------------------------------------------------------------------------- test helpers
    def _request_payment(self, request: Request) -> Response:
        """What the WeChat client checks before it lets the resident pay, then the payment."""
        params = request.json_object()
        names = ("appId", "timeStamp", "nonceStr", "package", "signType", "paySign")
        if not all(isinstance(params.get(k), str) and params[k] for k in names):
            raise HttpError(400, "bad_request", f"wx.requestPayment needs {', '.join(names)} (strings)")
        if params["appId"] != self.appid:
            raise HttpError(400, "bad_request", "appId is not this mini-program's")
        if params["signType"] != "RSA" or not params["timeStamp"].isdigit():
            raise HttpError(400, "bad_request", "signType must be RSA and timeStamp seconds")
        message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
        if not rsa_verify(self._gateway.merchant_key, message, params["paySign"]):
            raise HttpError(400, "bad_signature", "paySign does not verify with the merchant's key")
        match = PREPAY_ID.fullmatch(params["package"])
        with self._lock:
            out_trade_no = self._by_prepay.get(match.group(1) if match else "")
            order = None if out_trade_no is None else self._orders[out_trade_no]
        if order is None:
            raise HttpError(400, "bad_request", "package is not prepay_id=<a prepay_id WeChat Pay gave>")
        if params.get("openid") not in (None, order.openid):
            raise HttpError(400, "bad_request", "this order is for another payer")
        return json_response(self.pay(order.out_trade_no))

    def _inspect_order(self, request: Request) -> Response:
        found = self.order(request.path_params["out_trade_no"])
        if found is None:
            raise HttpError(404, "not_found", f"no order {request.path_params['out_trade_no']}")
        return json_response(found)

