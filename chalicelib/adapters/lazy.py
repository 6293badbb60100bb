"""Outside-system clients that read their credentials and import their SDK only when first used:
a container that never moves money never imports wechatpayv3 or stripe (DESIGN §6, cold start)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from chalicelib.ports import (
    CardPayments,
    Charge,
    PayNotification,
    Refund,
    StripeEvent,
    TransferBill,
    WeChatJsapi,
    WeChatMiniProgram,
    WeChatPay,
    WeChatSession,
)
from chalicelib.settings import Settings


def _secret(name: str, max_age_s: int) -> dict[str, Any]:
    from aws_lambda_powertools.utilities import parameters

    raw: Any = parameters.get_secret(name, max_age=max_age_s)
    return dict(json.loads(raw))


class LazyWeChat:
    """Reads the WeChat credentials and imports wechatpy only when a request first needs them."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: WeChatMiniProgram | None = None

    def _real(self) -> WeChatMiniProgram:
        if self._client is None:
            from aws_lambda_powertools.utilities import parameters

            from chalicelib.adapters.dynamo.tokens import DynamoTokenStore
            from chalicelib.adapters.wechat import WeChatMiniProgramClient

            raw: Any = parameters.get_secret(self._settings.wechat_secret_name,
                                             max_age=self._settings.secret_cache_s)
            creds = json.loads(raw)
            self._client = WeChatMiniProgramClient(
                appid=creds["appid"], secret=creds["secret"], api_base=self._settings.wechat_api_base,
                token_store=DynamoTokenStore())
        return self._client

    @property
    def appid(self) -> str:
        return self._real().appid

    def code_to_session(self, code: str) -> WeChatSession:
        return self._real().code_to_session(code)

    def phone_number(self, code: str) -> str:
        return self._real().phone_number(code)

    def send_subscribe_message(self, openid: str, template_id: str, data: Mapping[str, Any],
                               page: str | None = None) -> int:
        return self._real().send_subscribe_message(openid, template_id, data, page)


class MerchantClient(WeChatPay, WeChatJsapi, Protocol):
    """One WeChat Pay merchant client: transfer bills, JSAPI payments, refunds, callbacks."""


class LazyWeChatPay:
    """Reads the merchant credentials and imports wechatpayv3 only when money first moves."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: MerchantClient | None = None
        self._lock = threading.Lock()

    def _real(self) -> MerchantClient:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from aws_lambda_powertools.utilities import parameters

                    from chalicelib.adapters.wechatpay import WeChatPayClient

                    raw: Any = parameters.get_secret(self._settings.wechatpay_secret_name,
                                                     max_age=self._settings.secret_cache_s)
                    self._client = WeChatPayClient(
                        credentials=json.loads(raw), api_base=self._settings.wechatpay_api_base,
                        notify_url=self._settings.wechatpay_notify_url, timeout_s=self._settings.wechatpay_timeout_s)
        return self._client

    def create_transfer_bill(self, out_bill_no: str, openid: str, amount_fen: int, remark: str) -> TransferBill:
        return self._real().create_transfer_bill(out_bill_no, openid, amount_fen, remark)

    def query_transfer_bill(self, out_bill_no: str) -> TransferBill | None:
        return self._real().query_transfer_bill(out_bill_no)

    def cancel_transfer_bill(self, out_bill_no: str) -> TransferBill:
        return self._real().cancel_transfer_bill(out_bill_no)

    def verify_notification(self, headers: Mapping[str, str], body: bytes, now_s: int) -> PayNotification:
        return self._real().verify_notification(headers, body, now_s)

    # -- JSAPI payments and refunds (the same merchant client)
    def create_jsapi_order(self, out_trade_no: str, openid: str, amount_fen: int, description: str) -> Charge:
        return self._real().create_jsapi_order(out_trade_no, openid, amount_fen, description)

    def query_order(self, out_trade_no: str) -> Charge | None:
        return self._real().query_order(out_trade_no)

    def close_order(self, out_trade_no: str) -> None:
        self._real().close_order(out_trade_no)

    def refund(self, out_refund_no: str, out_trade_no: str, amount_fen: int, total_fen: int, reason: str) -> Refund:
        return self._real().refund(out_refund_no, out_trade_no, amount_fen, total_fen, reason)

    def query_refund(self, out_refund_no: str) -> Refund | None:
        return self._real().query_refund(out_refund_no)




class LazyCardPayments:
    """Stripe: reads the API key and webhook secret and imports stripe only when a card is first used."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: CardPayments | None = None
        self._lock = threading.Lock()

    def _real(self) -> CardPayments:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from chalicelib.adapters.stripe_pay import StripeCardPayments

                    creds = _secret(self._settings.stripe_secret_name, self._settings.secret_cache_s)
                    self._client = StripeCardPayments(
                        api_key=creds["api_key"], webhook_secret=creds["webhook_secret"],
                        api_base=self._settings.stripe_api_base, timeout_s=self._settings.stripe_timeout_s)
        return self._client

    def create_payment_intent(self, out_trade_no: str, amount_fen: int, currency: str, description: str) -> Charge:
        return self._real().create_payment_intent(out_trade_no, amount_fen, currency, description)

    def retrieve_payment_intent(self, payment_intent_id: str) -> Charge:
        return self._real().retrieve_payment_intent(payment_intent_id)

    def refund(self, out_refund_no: str, payment_intent_id: str, amount_fen: int) -> Refund:
        return self._real().refund(out_refund_no, payment_intent_id, amount_fen)

    def transfer(self, settlement_id: str, destination: str, amount_fen: int, currency: str) -> str:
        return self._real().transfer(settlement_id, destination, amount_fen, currency)

    def verify_webhook(self, body: bytes, signature_header: str | None) -> StripeEvent:
        return self._real().verify_webhook(body, signature_header)
