"""What every WeChat Pay v3 call of the hub shares: credentials, the wechatpayv3 client, sending, signing.

Public-key mode: the merchant signs with its private key; WeChat Pay's answers and callbacks are verified
with the WeChat Pay public key (``public_key`` / ``public_key_id`` in the ``linli/wechatpay`` secret).
wechatpayv3, requests and cryptography load lazily, on the first call: importing this module costs nothing
at cold start.

wechatpayv3 2.0.4 quirks worked around here:
- the gateway is hard-coded (``Core._gate_way = "https://api.mch.weixin.qq.com"``, no parameter): the
  client built here gets ``api_base`` instead, so the local sandbox (or an egress proxy) can stand in;
- it verifies every 2xx answer's signature and raises a bare ``Exception`` when that fails: such an
  answer is treated as lost, never trusted;
- non-2xx answers come back as ``(status, text)``, not as exceptions.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.ports import Clock

log = logging.getLogger("chalicelib.adapters.wechatpay")

WECHATPAY_API_BASE = "https://api.mch.weixin.qq.com"
CREDENTIAL_KEYS = ("mchid", "appid", "merchant_private_key", "merchant_serial", "public_key", "public_key_id",
                   "apiv3_key")


@dataclass(frozen=True)
class Answer:
    """What came back: ``status`` None when nothing usable did (``problem`` says why)."""

    status: int | None
    data: dict[str, Any]
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        """A definite no: a 4xx other than 429 (rate limited: the request may not have been looked at)."""
        return self.status is not None and 400 <= self.status < 500 and self.status != 429

    @property
    def code(self) -> str:
        return str(self.data.get("code") or "")

    def describe(self) -> str:
        if self.status is None:
            return self.problem
        return f"HTTP {self.status} {self.code or '(no code)'}: {self.data.get('message') or ''}".rstrip(": ")


class WeChatPayCore:
    """Credentials, the lazily built wechatpayv3 client and the one way calls are sent."""

    def __init__(self, credentials: Mapping[str, Any], api_base: str = WECHATPAY_API_BASE,
                 notify_url: str | None = None, timeout_s: float = 5.0, *, clock: Clock | None = None) -> None:
        missing = [k for k in CREDENTIAL_KEYS if not isinstance(credentials.get(k), str) or not credentials[k]]
        if missing:
            raise ValueError(f"WeChat Pay credentials lack {missing}")
        if len(credentials["apiv3_key"].encode()) != 32:
            raise ValueError("the WeChat Pay APIv3 key must be 32 bytes")
        self._credentials: dict[str, str] = {k: credentials[k] for k in CREDENTIAL_KEYS}
        self.mchid, self.appid = self._credentials["mchid"], self._credentials["appid"]
        self.public_key_id = self._credentials["public_key_id"]
        self.api_base = api_base.rstrip("/")
        self.notify_url = notify_url
        self.timeout_s = timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._pay: Any = None
        self._public_key: Any = None

    def _client(self) -> Any:
        with self._lock:
            if self._pay is None:
                from wechatpayv3 import WeChatPay, WeChatPayType

                creds = self._credentials
                pay = WeChatPay(
                    wechatpay_type=WeChatPayType.MINIPROG, mchid=creds["mchid"],
                    private_key=creds["merchant_private_key"], cert_serial_no=creds["merchant_serial"],
                    appid=creds["appid"], apiv3_key=creds["apiv3_key"], notify_url=self.notify_url,
                    timeout=(self.timeout_s, self.timeout_s), public_key=creds["public_key"],
                    public_key_id=creds["public_key_id"],
                )
                pay._core._gate_way = self.api_base  # hard-coded in wechatpayv3; see the module docstring
                self._pay = pay
            return self._pay

    def _platform_key(self) -> Any:
        with self._lock:
            if self._public_key is None:
                from wechatpayv3.utils import load_public_key

                self._public_key = load_public_key(self._credentials["public_key"])
            return self._public_key

    def _sign(self, lines: Sequence[str]) -> str:
        """Base64 SHA256-with-RSA, with the merchant key, of ``line\\nline\\n...\\n`` (wx.requestPayment)."""
        from wechatpayv3 import SignType

        return str(self._client().sign(list(lines), SignType.RSA_SHA256))

    def _now_s(self) -> int:
        import time

        return self._clock.now_ms() // 1000 if self._clock is not None else int(time.time())

    def _send(self, what: str, call: Callable[[], tuple[int, Any]]) -> Answer:
        """Run one wechatpayv3 call; never raises for what WeChat (or the network) did."""
        import requests

        started = self._clock.now_ms() if self._clock else None
        try:
            status, text = call()
        except requests.RequestException as exc:
            log.warning("wechatpay %s: %s", what, type(exc).__name__)
            return Answer(None, {}, f"{type(exc).__name__} (no answer)")
        except Exception as exc:  # wechatpayv3 raises a bare Exception when a 2xx does not verify
            log.error("wechatpay %s: %s: %s", what, type(exc).__name__, exc)
            return Answer(None, {}, f"answer unusable: {exc}")
        finally:
            if self._clock is not None and started is not None:
                log.info("wechatpay %s took %d ms", what, self._clock.now_ms() - started)
        try:
            data = json.loads(text) if text else {}
        except (TypeError, ValueError):
            data = {}
        return Answer(int(status), data if isinstance(data, dict) else {})
