"""HTTP to the hub and its sandbox: one pooled session per thread, JSON in and out, polite retries."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

OK_STATUSES = frozenset({200, 201})
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class HubError(RuntimeError):
    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url} -> {status}: {body[:300]}")
        self.status = status
        self.body = body


@dataclass
class HubClient:
    api: str
    sandbox: str
    admin_token: str
    timeout_s: float = 30
    closing: threading.Event = field(default_factory=threading.Event)  # set: the hub is going away, no retries
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def request(self, method: str, url: str, body: Any = None, token: str | None = None,
                headers: dict[str, str] | None = None) -> Any:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        for attempt in range(5):
            try:
                response = self._session().request(method, url, json=body, headers=sent, timeout=self.timeout_s)
            except requests.ConnectionError:
                if attempt == 4 or self.closing.is_set():
                    raise
                time.sleep(0.5 * (attempt + 1))
                continue
            if response.status_code in RETRY_STATUSES and attempt < 4 and not self.closing.is_set():
                time.sleep(min(5.0, float(response.headers.get("Retry-After") or 0.5 * (attempt + 1))))
                continue
            if response.status_code not in OK_STATUSES:
                raise HubError(method, url, response.status_code, response.text)
            return response.json() if response.content else {}
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, body: Any = None, token: str | None = None, **kw: Any) -> Any:
        """An API call with ``token`` (the admin's when not given; "" for none)."""
        return self.request(method, self.api + path, body, self.admin_token if token is None else token, **kw)

    def sandbox_call(self, method: str, path: str, body: Any = None) -> Any:
        return self.request(method, self.sandbox.rstrip("/") + path, body, token="")

    def pages(self, path: str, token: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Every item of a list route, following ``next_cursor``."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        joiner = "&" if "?" in path else "?"
        while True:
            query = f"{path}{joiner}limit={limit}" + (f"&cursor={quote(cursor, safe='')}" if cursor else "")
            page = self.call("GET", query, token=token)
            items.extend(page.get("items", []))
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def healthy(self) -> bool:
        try:
            return bool(self._session().get(self.api + "/healthz", timeout=3).status_code == 200)
        except requests.RequestException:
            return False
