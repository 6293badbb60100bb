"""The one composition root: builds the adapters lazily, once per container; tests swap in fakes."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from chalicelib.domain.device_messages import ClockWindow
from chalicelib.ports import PayNotification, TransferBill, WeChatMiniProgram, WeChatPay, WeChatSession
from chalicelib.services.deps import Deps
from chalicelib.settings import Settings

_lock = threading.Lock()
_deps: Deps | None = None


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


class LazyWeChatPay:
    """Reads the merchant credentials and imports wechatpayv3 only when money first moves."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: WeChatPay | None = None
        self._lock = threading.Lock()

    def _real(self) -> WeChatPay:
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


def build(settings: Settings) -> Deps:
    from chalicelib.adapters.aws import IotThingRegistry
    from chalicelib.adapters.dynamo import models
    from chalicelib.adapters.dynamo.communities import DynamoCommunities
    from chalicelib.adapters.dynamo.devices import DynamoDeviceEventStore, DynamoDevices
    from chalicelib.adapters.dynamo.ledger import DynamoLedger
    from chalicelib.adapters.dynamo.recycling import DynamoRecyclingBook
    from chalicelib.adapters.dynamo.rejects import DynamoRejects
    from chalicelib.adapters.dynamo.residents import DynamoResidents
    from chalicelib.adapters.dynamo.withdrawals import DynamoWithdrawals
    from chalicelib.adapters.secrets import SecretsManagerStore
    from chalicelib.adapters.system import SystemClock, TimeOrderedIds

    models.configure(settings.hub_table, settings.outbox_table, settings.region)
    clock = SystemClock()
    return Deps(
        clock=clock,
        ids=TimeOrderedIds(),
        communities=DynamoCommunities(),
        devices=DynamoDevices(),
        device_events=DynamoDeviceEventStore(settings.dedupe_ttl_s),
        rejects=DynamoRejects(settings.reject_ttl_s),
        residents=DynamoResidents(clock),
        secrets=SecretsManagerStore(settings.app_secret_name, settings.pepper_secret_name,
                                    settings.admin_secret_name, settings.secret_cache_s),
        wechat=LazyWeChat(settings),
        things=IotThingRegistry(),
        ledger=DynamoLedger(),
        recycling=DynamoRecyclingBook(settings.dedupe_ttl_s),
        withdrawals=DynamoWithdrawals(),
        wechatpay=LazyWeChatPay(settings),
        credit_template_id=settings.credit_template_id,
        clock_window=ClockWindow(max_age_ms=settings.max_event_age_ms,
                                 max_ahead_ms=settings.max_clock_ahead_ms),
        token_ttl_s=settings.token_ttl_s,
    )


def deps() -> Deps:
    global _deps
    if _deps is None:
        with _lock:
            if _deps is None:
                _deps = build(Settings.from_env())
    return _deps


def override(replacement: Deps | None) -> None:
    """Tests (and localcloud) install their own dependencies; ``None`` forgets them."""
    global _deps
    _deps = replacement
