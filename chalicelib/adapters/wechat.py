"""WeChat mini-program server APIs (login, phone number, subscribe messages) through wechatpy.

wechatpy and requests load lazily, on the first call: importing this module costs nothing at cold start.

wechatpy 1.8 quirks this adapter works around:
- its access-token URL is hard-coded to api.weixin.qq.com (and fetched without a timeout), so the adapter
  fetches tokens itself from ``{api_base}cgi-bin/token`` and never lets wechatpy fetch one
  (``auto_retry=False``, ``fetch_access_token`` disabled);
- ``WeChatWxa.API_BASE_URL`` is a class attribute of its own: it is overridden per client instance;
- ``wxa.code_to_session`` appends ``access_token`` to jscode2session, which needs none: the adapter hands it
  no token (requests drops ``None`` params), so login works even when the token endpoint is down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from chalicelib.domain.errors import BadInput, UpstreamUnavailable, WeChatCodeInvalid
from chalicelib.ports import WeChatSession

log = logging.getLogger(__name__)

WECHAT_API_BASE = "https://api.weixin.qq.com/"
#: refresh a cached access token this many seconds before WeChat says it expires
TOKEN_REFRESH_MARGIN_S = 300
TOKEN_ERRCODES = frozenset({40001, 42001})  # access token invalid / expired: refresh once and retry
CODE_ERRCODES = frozenset({40029, 40163})  # code invalid / already used
SUBSCRIBE_REFUSED = 43101  # the user has not accepted (or used up) the subscription


class TokenStore(Protocol):
    """Shares one access token per app between containers (WeChat allows few token fetches a day)."""

    def get(self, appid: str) -> tuple[str, int] | None:
        """The stored ``(token, expires_at_s)`` (epoch seconds), or None."""

    def put(self, appid: str, token: str, expires_at_s: int) -> None: ...


class _CallToken:
    """wechatpy session storage that answers only the token chosen for the current call (per thread)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self._local, "token", None) or default

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        """wechatpy may try to store a token; tokens live in the adapter."""

    def delete(self, key: str) -> None:
        """Nothing to delete."""

    @contextmanager
    def use(self, token: str | None) -> Iterator[None]:
        self._local.token = token
        try:
            yield
        finally:
            self._local.token = None


def _never_fetch() -> None:
    """Stands in for wechatpy's ``fetch_access_token``, whose URL is hard-coded to the real WeChat."""


class WeChatMiniProgramClient:
    """``ports.WeChatMiniProgram`` against WeChat (or the sandbox, via ``api_base``)."""

    def __init__(
        self,
        appid: str,
        secret: str,
        api_base: str = WECHAT_API_BASE,
        timeout_s: float = 5,
        token_store: TokenStore | None = None,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.appid = appid
        self._secret = secret
        self.api_base = api_base if api_base.endswith("/") else api_base + "/"
        self.timeout_s = timeout_s
        self._store = token_store
        self._now = now
        self._lock = threading.Lock()
        self._token: tuple[str, int] | None = None
        self._rejected: str | None = None  # the last token WeChat refused: never reuse it from the store
        self._call_token = _CallToken()
        self._wechatpy: Any = None

    # ------------------------------------------------------------------------------ port methods
    def code_to_session(self, code: str) -> WeChatSession:
        if not isinstance(code, str) or not code.strip():
            raise WeChatCodeInvalid("the WeChat login code is missing")
        result = self._call("jscode2session", lambda c: c.wxa.code_to_session(code), with_token=False)
        openid, session_key, unionid = result.get("openid"), result.get("session_key"), result.get("unionid")
        if not isinstance(openid, str) or not openid or not isinstance(session_key, str) or not session_key:
            raise UpstreamUnavailable("WeChat jscode2session answered without openid / session_key")
        return WeChatSession(openid, session_key, unionid if isinstance(unionid, str) and unionid else None)

    def phone_number(self, code: str) -> str:
        if not isinstance(code, str) or not code.strip():
            raise WeChatCodeInvalid("the WeChat phone code is missing")
        url = f"{self.api_base}wxa/business/getuserphonenumber"
        result = self._call("getuserphonenumber", lambda c: c.post(url, data={"code": code}), with_token=True)
        info = result.get("phone_info")
        phone = info.get("purePhoneNumber") if isinstance(info, dict) else None
        if not isinstance(phone, str) or not phone.isdigit():
            raise UpstreamUnavailable("WeChat getuserphonenumber answered without purePhoneNumber")
        return phone

    def send_subscribe_message(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, Any],
        page: str | None = None,
        miniprogram_state: str | None = None,
        lang: str | None = None,
    ) -> int:
        """Send a subscribe message; its msgid. ``BadInput`` (code subscribe_refused) on errcode 43101."""
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": dict(data)}
        optional = {"page": page, "miniprogram_state": miniprogram_state, "lang": lang}
        body.update({k: v for k, v in optional.items() if v is not None})
        url = f"{self.api_base}cgi-bin/message/subscribe/send"
        result = self._call("subscribe/send", lambda c: c.post(url, data=body), with_token=True)
        msgid = result.get("msgid")
        return int(msgid) if isinstance(msgid, int | str) and str(msgid).isdigit() else 0

    # ------------------------------------------------------------------------------ access token
    def access_token(self) -> str:
        """A valid access token: cached in process, then the token store, then fetched (single-flight)."""
        with self._lock:
            now = self._now()
            if self._token is not None and self._token[1] - now > TOKEN_REFRESH_MARGIN_S:
                return self._token[0]
            stored = self._store_get()
            if stored is not None and stored[1] - now > TOKEN_REFRESH_MARGIN_S and stored[0] != self._rejected:
                self._token = stored
                return stored[0]
            token, expires_at = self._fetch_token()
            self._token = (token, expires_at)
            self._store_put(token, expires_at)
            return token

    def _invalidate(self, token: str) -> None:
        with self._lock:
            self._rejected = token
            if self._token is not None and self._token[0] == token:
                self._token = None

    def _fetch_token(self) -> tuple[str, int]:
        import requests

        url = f"{self.api_base}cgi-bin/token"
        params = {"grant_type": "client_credential", "appid": self.appid, "secret": self._secret}
        try:
            response = requests.get(url, params=params, timeout=self.timeout_s)
            response.raise_for_status()
            result = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise UpstreamUnavailable(f"WeChat access token fetch failed: {exc.__class__.__name__}") from exc
        if not isinstance(result, dict):
            raise UpstreamUnavailable("WeChat access token answer is not an object")
        token, expires_in = result.get("access_token"), result.get("expires_in", 7200)
        if not isinstance(token, str) or not token:
            errcode = result.get("errcode")
            log.error("wechat token fetch refused: errcode=%s errmsg=%s", errcode, result.get("errmsg"))
            raise UpstreamUnavailable(f"WeChat refused the access token request (errcode {errcode})")
        if not isinstance(expires_in, int):
            expires_in = 7200
        log.info("wechat access token fetched for %s, expires in %ss", self.appid, expires_in)
        return token, int(self._now()) + expires_in

    def _store_get(self) -> tuple[str, int] | None:
        if self._store is None:
            return None
        try:
            return self._store.get(self.appid)
        except Exception:
            log.warning("wechat token store read failed; fetching a token instead", exc_info=True)
            return None

    def _store_put(self, token: str, expires_at: int) -> None:
        if self._store is None:
            return
        try:
            self._store.put(self.appid, token, expires_at)
        except Exception:
            log.warning("wechat token store write failed; token kept in process only", exc_info=True)

    # ------------------------------------------------------------------------------ calling wechatpy
    def _client(self) -> Any:
        if self._wechatpy is None:
            from wechatpy import WeChatClient

            client = WeChatClient(
                self.appid, self._secret, session=self._call_token, timeout=self.timeout_s, auto_retry=False
            )
            client.fetch_access_token = _never_fetch  # instance attribute shadows the hard-coded fetch
            client.API_BASE_URL = f"{self.api_base}cgi-bin/"
            client.wxa.API_BASE_URL = self.api_base  # WeChatWxa pins the real host in a class attribute
            self._wechatpy = client
        return self._wechatpy

    def _call(self, what: str, call: Callable[[Any], Any], *, with_token: bool) -> dict[str, Any]:
        import requests
        from wechatpy.exceptions import WeChatClientException

        client = self._client()
        for attempt in (1, 2):
            token = self.access_token() if with_token else None
            try:
                with self._call_token.use(token):
                    result = call(client)
            except WeChatClientException as exc:
                if token is not None and exc.errcode in TOKEN_ERRCODES and attempt == 1:
                    log.info("wechat %s: access token refused (errcode %s), refreshing", what, exc.errcode)
                    self._invalidate(token)
                    continue
                raise self._translate(what, exc.errcode, exc.errmsg) from exc
            except requests.RequestException as exc:
                raise UpstreamUnavailable(f"WeChat {what} failed: {exc.__class__.__name__}") from exc
            if not isinstance(result, dict):
                raise UpstreamUnavailable(f"WeChat {what} answered something that is not a JSON object")
            return result
        raise UpstreamUnavailable(f"WeChat {what}: access token refused twice")  # pragma: no cover

    @staticmethod
    def _translate(what: str, errcode: Any, errmsg: Any) -> Exception:
        if errcode in CODE_ERRCODES:
            return WeChatCodeInvalid("the WeChat code is invalid, expired or already used")
        if errcode == SUBSCRIBE_REFUSED:
            return BadInput("the resident has not accepted this subscribe message", code="subscribe_refused")
        if errcode is None:
            return UpstreamUnavailable(f"WeChat {what} answered an HTTP error")
        log.warning("wechat %s failed: errcode=%s errmsg=%s", what, errcode, errmsg)
        return UpstreamUnavailable(f"WeChat {what} failed (errcode {errcode})")
