"""JSAPI orders and refunds as the WeChat Pay sandbox keeps them: what WeChat checks on a request, and
the shapes it answers, queries and notifies (``wechatpay_jsapi`` holds the state machine)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from localcloud.sandbox.routing import Request
from localcloud.sandbox.wechatpay_gateway import PayError, callable_url, check_text, cst_now, json_body

OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_\-|*]{6,32}")
OUT_REFUND_NO = re.compile(r"[A-Za-z0-9_\-|*@]{1,64}")
TRADE_STATE_DESC = {"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "CLOSED": "订单已关闭", "REFUND": "订单发生过退款"}
USER_RECEIVED_ACCOUNT = "支付用户零钱"
ORDER_KEYS = ("appid", "mchid", "description", "notify_url", "amount", "payer", "attach", "time_expire")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def validated_order(request: Request, appid: str, mchid: str) -> dict[str, Any]:
    """The body of ``POST /v3/pay/transactions/jsapi``, checked as WeChat does, or PARAM_ERROR."""
    body = json_body(request)
    for name, max_len in (("appid", 32), ("mchid", 32), ("description", 127), ("notify_url", 256)):
        check_text(body, name, max_len)
    check_text(body, "attach", 128, required=False)
    check_text(body, "time_expire", 64, required=False)
    if body["appid"] != appid or body["mchid"] != mchid:
        raise PayError(400, "PARAM_ERROR", "appid和mch_id不匹配")
    if not isinstance(body.get("out_trade_no"), str) or not OUT_TRADE_NO.fullmatch(body["out_trade_no"]):
        raise PayError(400, "PARAM_ERROR", "out_trade_no 只能是数字、大小写字母_-|*，长度 6-32")
    if not callable_url(body["notify_url"]):
        raise PayError(400, "PARAM_ERROR", "notify_url 必须是 http(s) 地址，且不能携带参数")
    amount, payer = body.get("amount"), body.get("payer")
    if not isinstance(amount, dict) or not _positive_int(amount.get("total")):
        raise PayError(400, "PARAM_ERROR", "amount.total 必须是大于 0 的整数（分）")
    if amount.get("currency", "CNY") != "CNY":
        raise PayError(400, "PARAM_ERROR", "amount.currency 只支持 CNY")
    if not isinstance(payer, dict) or not isinstance(payer.get("openid"), str) \
            or not 0 < len(payer["openid"]) <= 128:
        raise PayError(400, "PARAM_ERROR", "JSAPI 下单 payer.openid 必填")
    return body


def validated_refund(request: Request) -> dict[str, Any]:
    """The body of ``POST /v3/refund/domestic/refunds``, checked as WeChat does, or PARAM_ERROR."""
    body = json_body(request)
    if not isinstance(body.get("out_refund_no"), str) or not OUT_REFUND_NO.fullmatch(body["out_refund_no"]):
        raise PayError(400, "PARAM_ERROR", "out_refund_no 只能是数字、大小写字母_-|*@，长度 1-64")
    if "transaction_id" in body:
        check_text(body, "transaction_id", 32)
    elif not isinstance(body.get("out_trade_no"), str) or not OUT_TRADE_NO.fullmatch(body["out_trade_no"]):
        raise PayError(400, "PARAM_ERROR", "transaction_id 或 out_trade_no 必填")
    check_text(body, "reason", 80, required=False)
    check_text(body, "notify_url", 256, required=False)
    if body.get("notify_url") is not None and not callable_url(body["notify_url"]):
        raise PayError(400, "PARAM_ERROR", "notify_url 必须是 http(s) 地址，且不能携带参数")
    amount = body.get("amount")
    if not isinstance(amount, dict) or not _positive_int(amount.get("refund")) \
            or not _positive_int(amount.get("total")):
        raise PayError(400, "PARAM_ERROR", "amount.refund 与 amount.total 必须是大于 0 的整数（分）")
    if amount.get("currency") != "CNY":
        raise PayError(400, "PARAM_ERROR", "amount.currency 必填，只支持 CNY")
    return body


@dataclass
class Order:
    out_trade_no: str
    prepay_id: str
    fingerprint: str
    request: dict[str, Any]
    create_time: str
    state: str = "NOTPAY"
    transaction_id: str | None = None
    success_time: str | None = None

    @staticmethod
    def fingerprint_of(body: dict[str, Any]) -> str:
        return json.dumps({k: body.get(k) for k in ORDER_KEYS}, sort_keys=True, ensure_ascii=False)

    @classmethod
    def create(cls, body: dict[str, Any], prepay_id: str, now: str) -> Order:
        return cls(body["out_trade_no"], prepay_id, cls.fingerprint_of(body), body, now)

    @property
    def total(self) -> int:
        return int(self.request["amount"]["total"])

    @property
    def openid(self) -> str:
        return str(self.request["payer"]["openid"])

    @property
    def notify_url(self) -> str:
        return str(self.request["notify_url"])

    def queried(self, mchid: str) -> dict[str, Any]:
        """``GET .../out-trade-no/{out_trade_no}``, and the TRANSACTION.SUCCESS resource."""
        view: dict[str, Any] = {
            "appid": self.request["appid"], "mchid": mchid, "out_trade_no": self.out_trade_no,
            "trade_type": "JSAPI", "trade_state": self.state, "trade_state_desc": TRADE_STATE_DESC[self.state],
            "attach": self.request.get("attach", ""), "payer": {"openid": self.openid},
            "amount": {"total": self.total, "currency": "CNY"},
        }
        if self.transaction_id is not None:
            view.update(transaction_id=self.transaction_id, bank_type="OTHERS", success_time=self.success_time)
            view["amount"].update(payer_total=self.total, payer_currency="CNY")
        return view

    def inspected(self, mchid: str) -> dict[str, Any]:
        return {**self.queried(mchid), "description": self.request["description"], "notify_url": self.notify_url,
                "prepay_id": self.prepay_id, "create_time": self.create_time}


@dataclass
class RefundRecord:
    out_refund_no: str
    refund_id: str
    out_trade_no: str
    transaction_id: str
    refund: int
    total: int
    fingerprint: str
    request: dict[str, Any]
    create_time: str
    ends_abnormal: bool = False
    status: str = "PROCESSING"
    success_time: str | None = None

    @staticmethod
    def fingerprint_of(body: dict[str, Any], out_trade_no: str) -> str:
        amount = body["amount"]
        return json.dumps([out_trade_no, amount["refund"], amount["total"]])

    @classmethod
    def create(cls, body: dict[str, Any], order: Order, refund_id: str, now: str, abnormal: bool) -> RefundRecord:
        assert order.transaction_id is not None
        amount = body["amount"]
        return cls(body["out_refund_no"], refund_id, order.out_trade_no, order.transaction_id, amount["refund"],
                   amount["total"], cls.fingerprint_of(body, order.out_trade_no), body, now, abnormal)

    @property
    def notify_url(self) -> str | None:
        url = self.request.get("notify_url")
        return url if isinstance(url, str) else None

    def settle(self) -> None:
        self.status = "ABNORMAL" if self.ends_abnormal else "SUCCESS"
        self.success_time = cst_now() if self.status == "SUCCESS" else None

    def answered(self) -> dict[str, Any]:
        """The answer to the refund request and to ``GET .../refunds/{out_refund_no}``."""
        view: dict[str, Any] = {
            "refund_id": self.refund_id, "out_refund_no": self.out_refund_no,
            "transaction_id": self.transaction_id, "out_trade_no": self.out_trade_no, "channel": "ORIGINAL",
            "user_received_account": USER_RECEIVED_ACCOUNT, "create_time": self.create_time, "status": self.status,
            "funds_account": "AVAILABLE", "promotion_detail": [],
            "amount": {"total": self.total, "refund": self.refund, "payer_total": self.total,
                       "payer_refund": self.refund, "settlement_total": self.total,
                       "settlement_refund": self.refund, "discount_refund": 0, "currency": "CNY", "from": []},
        }
        if self.success_time:
            view["success_time"] = self.success_time
        return view

    def resource(self, mchid: str) -> dict[str, Any]:
        """What the REFUND.* notification carries (encrypted)."""
        view: dict[str, Any] = {
            "mchid": mchid, "out_trade_no": self.out_trade_no, "transaction_id": self.transaction_id,
            "out_refund_no": self.out_refund_no, "refund_id": self.refund_id, "refund_status": self.status,
            "user_received_account": USER_RECEIVED_ACCOUNT,
            "amount": {"total": self.total, "refund": self.refund, "payer_total": self.total,
                       "payer_refund": self.refund},
        }
        if self.success_time:
            view["success_time"] = self.success_time
        return view

    def inspected(self, mchid: str) -> dict[str, Any]:
        return {**self.answered(), "mchid": mchid, "reason": self.request.get("reason"),
                "notify_url": self.notify_url}
