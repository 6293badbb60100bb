"""WeChat Pay v3 JSAPI payments (the mini-program pays) and refunds, through wechatpayv3: ``ports.WeChatJsapi``.

Outcomes: an answer lost in any way — timeout, connection error, 5xx, 429, a 2xx whose signature does not
verify, a 4xx without WeChat's error code (a proxy's, not WeChat's) — is ``UpstreamUnavailable``; retrying
is safe, WeChat dedupes by ``out_trade_no`` / ``out_refund_no``. WeChat's own 4xx (``{"code", "message"}``),
or a request this adapter cannot send, is ``PaymentRefused``.

The ``wx.requestPayment`` parameters are signed here, with the merchant key (DESIGN §3: public-key mode):
``paySign`` = RSA-SHA256 of ``appId\\ntimeStamp\\nnonceStr\\npackage\\n``, ``signType`` "RSA".
Payment and refund results also arrive as callbacks (TRANSACTION.SUCCESS, REFUND.*), verified by
``WeChatPayClient.verify_notification``; refunds are sent with the same ``notify_url`` as everything else.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any, TypeGuard

from chalicelib.adapters.wechatpay_core import Answer, WeChatPayCore, log
from chalicelib.domain.errors import PaymentRefused, UpstreamUnavailable
from chalicelib.ports import Charge, ChargeState, Refund, RefundState

PROVIDER = "wechatpay"
#: a subset of what WeChat allows (it also takes ``|`` and ``*``): these travel in URL paths unescaped
OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_-]{6,32}")
OUT_REFUND_NO = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_DESCRIPTION = 127
MAX_REASON = 80
TRADE_STATES = {
    "NOTPAY": ChargeState.PENDING, "USERPAYING": ChargeState.PENDING, "SUCCESS": ChargeState.SUCCEEDED,
    "CLOSED": ChargeState.CLOSED, "REVOKED": ChargeState.CLOSED, "PAYERROR": ChargeState.CLOSED,
    "REFUND": ChargeState.REFUNDED,
}
REFUND_STATES = {"PROCESSING": RefundState.PENDING, "SUCCESS": RefundState.SUCCEEDED,
                 "ABNORMAL": RefundState.FAILED, "CLOSED": RefundState.FAILED}


def _positive_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


class WeChatJsapiCalls(WeChatPayCore):
    """The ``ports.WeChatJsapi`` half of ``WeChatPayClient``."""

    def create_jsapi_order(self, out_trade_no: str, openid: str, amount_fen: int, description: str) -> Charge:
        what = f"create JSAPI order {out_trade_no}"
        problem = _bad_order_input(out_trade_no, openid, amount_fen, description) or (
            "" if self.notify_url else "no notify_url is configured")
        if problem:
            raise PaymentRefused(f"WeChat Pay {what}: not sent, {problem}")
        pay = self._ready(what)
        from wechatpayv3 import WeChatPayType

        answer = self._send(what, lambda: pay.pay(
            description=description, out_trade_no=out_trade_no, amount={"total": amount_fen, "currency": "CNY"},
            payer={"openid": openid}, notify_url=self.notify_url, pay_type=WeChatPayType.JSAPI,
        ))
        self._check(what, answer)
        prepay_id = answer.data.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise UpstreamUnavailable(f"WeChat Pay {what}: the answer has no prepay_id")
        log.info("wechatpay %s: prepay_id issued", what)
        return Charge(provider=PROVIDER, out_trade_no=out_trade_no, amount_fen=amount_fen,
                      state=ChargeState.PENDING, client_params=self.payment_params(prepay_id))

    def payment_params(self, prepay_id: str) -> dict[str, str]:
        """The ``wx.requestPayment`` parameters for ``prepay_id``, freshly signed."""
        params = {"appId": self.appid, "timeStamp": str(self._now_s()), "nonceStr": secrets.token_hex(16),
                  "package": f"prepay_id={prepay_id}", "signType": "RSA"}
        params["paySign"] = self._sign([params["appId"], params["timeStamp"], params["nonceStr"], params["package"]])
        return params

    def query_order(self, out_trade_no: str) -> Charge | None:
        what = f"query JSAPI order {out_trade_no}"
        if not isinstance(out_trade_no, str) or not OUT_TRADE_NO.fullmatch(out_trade_no):
            return None  # WeChat could not hold an order by that number (from us)
        pay = self._ready(what)
        answer = self._send(what, lambda: pay.query(out_trade_no=out_trade_no))
        if answer.status == 404 and answer.code == "ORDER_NOT_EXIST":
            return None
        self._check(what, answer)
        charge = _charge(answer.data, out_trade_no)
        if charge is None:
            raise UpstreamUnavailable(f"WeChat Pay {what}: unexpected answer")
        return charge

    def close_order(self, out_trade_no: str) -> None:
        what = f"close JSAPI order {out_trade_no}"
        if not isinstance(out_trade_no, str) or not OUT_TRADE_NO.fullmatch(out_trade_no):
            raise PaymentRefused(f"WeChat Pay {what}: not sent, out_trade_no must be 6-32 of A-Za-z0-9_-")
        pay = self._ready(what)
        self._check(what, self._send(what, lambda: pay.close(out_trade_no=out_trade_no)))
        log.info("wechatpay %s: closed", what)

    def refund(self, out_refund_no: str, out_trade_no: str, amount_fen: int, total_fen: int, reason: str) -> Refund:
        what = f"refund {out_refund_no} of {out_trade_no}"
        problem = _bad_refund_input(out_refund_no, out_trade_no, amount_fen, total_fen, reason)
        if problem:
            raise PaymentRefused(f"WeChat Pay {what}: not sent, {problem}")
        pay = self._ready(what)
        answer = self._send(what, lambda: pay.refund(
            out_refund_no=out_refund_no, out_trade_no=out_trade_no, reason=reason or None,
            amount={"refund": amount_fen, "total": total_fen, "currency": "CNY"}, notify_url=self.notify_url,
        ))
        self._check(what, answer)
        refund = _refund(answer.data, out_refund_no)
        if refund is None:
            raise UpstreamUnavailable(f"WeChat Pay {what}: unexpected answer; query the refund")
        log.info("wechatpay %s: %s", what, refund.state)
        return refund

    def query_refund(self, out_refund_no: str) -> Refund | None:
        what = f"query refund {out_refund_no}"
        if not isinstance(out_refund_no, str) or not OUT_REFUND_NO.fullmatch(out_refund_no):
            return None
        pay = self._ready(what)
        answer = self._send(what, lambda: pay.query_refund(out_refund_no=out_refund_no))
        if answer.status == 404 and answer.code == "RESOURCE_NOT_EXISTS":
            return None
        self._check(what, answer)
        refund = _refund(answer.data, out_refund_no)
        if refund is None:
            raise UpstreamUnavailable(f"WeChat Pay {what}: unexpected answer")
        return refund

    # ------------------------------------------------------------------------------------ helpers
    def _ready(self, what: str) -> Any:
        """The wechatpayv3 client, or ``PaymentRefused`` (nothing sent) when the credentials do not load."""
        try:
            return self._client()
        except Exception as exc:  # wechatpayv3 raises a bare Exception for a bad PEM
            raise PaymentRefused(f"WeChat Pay {what}: not sent, credentials unusable ({type(exc).__name__})") from exc

    @staticmethod
    def _check(what: str, answer: Answer) -> None:
        if answer.ok:
            return
        if answer.refused and answer.code:
            log.warning("wechatpay %s refused: %s", what, answer.describe())
            raise PaymentRefused(f"WeChat Pay refused to {what}: {answer.describe()}")
        raise UpstreamUnavailable(f"WeChat Pay {what}: answer lost ({answer.describe()}); retry is safe")


def _bad_order_input(out_trade_no: Any, openid: Any, amount_fen: Any, description: Any) -> str:
    if not isinstance(out_trade_no, str) or not OUT_TRADE_NO.fullmatch(out_trade_no):
        return "out_trade_no must be 6-32 of A-Za-z0-9_-"
    if not isinstance(openid, str) or not openid:
        return "openid is missing"
    if not _positive_int(amount_fen):
        return "amount_fen must be a positive integer"
    if not isinstance(description, str) or not description or len(description) > MAX_DESCRIPTION:
        return f"description must be 1-{MAX_DESCRIPTION} characters"
    return ""


def _bad_refund_input(out_refund_no: Any, out_trade_no: Any, amount_fen: Any, total_fen: Any, reason: Any) -> str:
    if not isinstance(out_refund_no, str) or not OUT_REFUND_NO.fullmatch(out_refund_no):
        return "out_refund_no must be 1-64 of A-Za-z0-9_-"
    if not isinstance(out_trade_no, str) or not OUT_TRADE_NO.fullmatch(out_trade_no):
        return "out_trade_no must be 6-32 of A-Za-z0-9_-"
    if not _positive_int(amount_fen) or not _positive_int(total_fen) or amount_fen > total_fen:
        return "amount_fen and total_fen must be positive integers, amount_fen at most total_fen"
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        return f"reason must be at most {MAX_REASON} characters"
    return ""


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _charge(data: Mapping[str, Any], out_trade_no: str) -> Charge | None:
    """The order WeChat describes, or None when the answer is not about ``out_trade_no`` or malformed."""
    state = TRADE_STATES.get(str(data.get("trade_state")))
    amount = data.get("amount")
    total = amount.get("total") if isinstance(amount, Mapping) else None
    if state is None or data.get("out_trade_no") != out_trade_no or not _positive_int(total):
        return None
    return Charge(provider=PROVIDER, out_trade_no=out_trade_no, amount_fen=total, state=state,
                  provider_ref=_text(data, "transaction_id"))


def _refund(data: Mapping[str, Any], out_refund_no: str) -> Refund | None:
    """The refund WeChat describes, or None when the answer is not about ``out_refund_no`` or malformed."""
    state = REFUND_STATES.get(str(data.get("status")))
    amount = data.get("amount")
    refunded = amount.get("refund") if isinstance(amount, Mapping) else None
    out_trade_no = _text(data, "out_trade_no")
    if state is None or data.get("out_refund_no") != out_refund_no or out_trade_no is None \
            or not _positive_int(refunded):
        return None
    return Refund(out_refund_no=out_refund_no, out_trade_no=out_trade_no, amount_fen=refunded, state=state,
                  provider_ref=_text(data, "refund_id"))
