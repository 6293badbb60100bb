"""The one composition root: builds the adapters lazily, once per container; tests swap in fakes."""

from __future__ import annotations

import json
import threading
from typing import Any

from chalicelib.domain.device_messages import ClockWindow
from chalicelib.ports import WeChatMiniProgram, WeChatSession
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


def build(settings: Settings) -> Deps:
    from chalicelib.adapters.aws import IotThingRegistry
    from chalicelib.adapters.dynamo import models
    from chalicelib.adapters.dynamo.communities import DynamoCommunities
    from chalicelib.adapters.dynamo.devices import DynamoDeviceEventStore, DynamoDevices
    from chalicelib.adapters.dynamo.rejects import DynamoRejects
    from chalicelib.adapters.dynamo.residents import DynamoResidents
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
