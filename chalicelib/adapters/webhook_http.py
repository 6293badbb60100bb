"""Partner webhook delivery over HTTP(S), pinned to the address that was checked.

The URL rules live in ``chalicelib.domain.webhook_urls``; this module adds the two things that need the
network. ``ResolvingUrlGuard`` resolves a URL's host at registration and refuses it unless every address
is allowed. ``PinnedHttpTransport`` resolves once more at each delivery, judges those answers, and then
connects to exactly those IPs: the Host header, TLS SNI and certificate check use the name, but the name is
never looked up again, so a DNS answer that flips to 10.0.0.1 between the check and the connect (DNS
rebinding) has nothing to redirect. Redirects are not followed, the body read is capped, and one
deadline covers connect, send and read.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import http.client
import math
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from chalicelib.domain.errors import BadInput
from chalicelib.domain.webhook_urls import UNSAFE_URL, ParsedUrl, UrlPolicy, connect_refusal, parse_webhook_url
from chalicelib.ports import DeliveryAttempt

#: ``(host, port) -> IP address strings``; injectable so tests can play a rebinding DNS server
Resolver = Callable[[str, int], list[str]]

HEAD_BYTES = 1024
#: caller headers that would contradict the pinned target or the body actually sent
_CONTROLLED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


def system_resolver(host: str, port: int) -> list[str]:
    """Every TCP address the system resolver gives for ``host``, in its order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _addresses(url: ParsedUrl, resolver: Resolver) -> list[str]:
    """An IP literal needs no resolving; a name is resolved once, here. Raises OSError on DNS failure."""
    if url.literal_ip is not None:
        return [url.host]
    try:
        return resolver(url.host, url.port)
    except UnicodeError as exc:  # the idna codec refusing an over-long label, for one
        raise OSError(f"cannot resolve {url.host!r}") from exc


class ResolvingUrlGuard:
    """The registration-time check (``UrlGuard``): a well-formed URL whose host resolves, and only to
    allowed addresses. A later delivery checks again; this one gives the partner an early, clear no."""

    def __init__(self, policy: UrlPolicy, resolver: Resolver = system_resolver) -> None:
        self._policy = policy
        self._resolver = resolver

    def check(self, url: str) -> None:
        parsed = parse_webhook_url(url, self._policy)
        try:
            addresses = _addresses(parsed, self._resolver)
        except OSError as exc:
            raise BadInput(f"webhook URL refused: {parsed.host} does not resolve", code=UNSAFE_URL) from exc
        reason = connect_refusal(parsed, addresses, self._policy)
        if reason is not None:
            raise BadInput(f"webhook URL refused: {reason}", code=UNSAFE_URL)


class PinnedHttpTransport:
    """``WebhookTransport``: one POST, to approved addresses only, never raising for network failures.

    ``error`` words: ``unsafe_url: …`` (the URL itself is refused), ``unsafe_address: …`` (it resolved to a
    refused address; nothing was connected), ``dns_failed``, ``timeout``, ``connect_failed`` (refused,
    reset, unreachable), ``tls_error``, ``bad_response`` (not HTTP), ``redirect`` (a 3xx, not followed).
    Any other status comes back with ``error=None``; the caller decides what it means.
    """

    def __init__(
        self,
        policy: UrlPolicy,
        resolver: Resolver = system_resolver,
        timeout_s: float = 15.0,
        user_agent: str = "Linli-Webhooks/1",
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._timeout_s = timeout_s
        self._user_agent = user_agent
        self._tls = tls_context  # the system CA bundle is loaded on first https use, not at cold start

    def post(self, url: str, headers: Mapping[str, str], body: bytes) -> DeliveryAttempt:
        started = time.monotonic()
        try:
            parsed = parse_webhook_url(url, self._policy)
        except BadInput as exc:
            return DeliveryAttempt(status=None, latency_ms=_ms_since(started), error=f"unsafe_url: {exc.message}")
        try:
            addresses = _addresses(parsed, self._resolver)
        except OSError:
            return DeliveryAttempt(status=None, latency_ms=_ms_since(started), error="dns_failed")
        reason = connect_refusal(parsed, addresses, self._policy)
        if reason is not None:
            return DeliveryAttempt(status=None, latency_ms=_ms_since(started), error=f"unsafe_address: {reason}")
        return self._send(parsed, addresses, self._request_headers(headers), body, started)

    def _request_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        sent = {k: v for k, v in headers.items() if k.lower() not in _CONTROLLED_HEADERS | {"user-agent"}}
        if not any(k.lower() == "content-type" for k in sent):
            sent["Content-Type"] = "application/json"
        sent["User-Agent"] = self._user_agent
        sent["Connection"] = "close"
        return sent

    def _send(
        self, url: ParsedUrl, addresses: Sequence[str], headers: dict[str, str], body: bytes, started: float
    ) -> DeliveryAttempt:
        if url.scheme == "https" and self._tls is None:
            self._tls = ssl.create_default_context()
        tls = self._tls if url.scheme == "https" else None
        conn = _PinnedConnection(url, addresses, time.monotonic() + self._timeout_s, tls)
        watchdog = threading.Timer(self._timeout_s, conn.abort)
        watchdog.daemon = True
        watchdog.start()
        try:
            conn.request("POST", url.path_and_query, body=body, headers=headers)
            response = conn.getresponse()
            head = _read_head(response)
            status = response.status
            retry_after = parse_retry_after(response.getheader("Retry-After"), time.time())
        except (OSError, http.client.HTTPException) as exc:
            error = "timeout" if conn.expired else _error_word(exc)
            return DeliveryAttempt(status=None, latency_ms=_ms_since(started), error=error)
        finally:
            watchdog.cancel()
            conn.close()
        if conn.expired:  # a cut-off answer can look complete (EOF ends http.client's header parsing)
            return DeliveryAttempt(status=None, latency_ms=_ms_since(started), error="timeout")
        return DeliveryAttempt(
            status=status,
            latency_ms=_ms_since(started),
            response_head=head.decode("utf-8", errors="replace"),
            error="redirect" if 300 <= status < 400 else None,
            retry_after_s=retry_after,
        )


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to ``url.host`` that connects only to the approved ``addresses``.

    http.client builds the Host header from ``host``/``port``/``default_port``; ``connect`` is the one
    place it touches the network by name, so overriding it pins every byte to the checked IPs.
    """

    def __init__(self, url: ParsedUrl, addresses: Sequence[str], deadline: float, tls: ssl.SSLContext | None) -> None:
        super().__init__(url.host, url.port, timeout=max(deadline - time.monotonic(), 0.001))
        self.default_port = 443 if tls is not None else 80
        self._addresses = list(addresses)
        self._deadline = deadline
        self._tls = tls
        self._live: socket.socket | None = None
        self.expired = False

    def connect(self) -> None:
        raw = self._open_tcp()
        if self._tls is None:
            self.sock = raw
            return
        try:
            self.sock = self._live = self._tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise

    def _open_tcp(self) -> socket.socket:
        """Try each approved address in order (all were judged), within what is left of the deadline."""
        last: OSError = ConnectionError("no addresses")
        for ip in self._addresses:
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            try:
                sock = socket.socket(family, socket.SOCK_STREAM)  # fails where IPv6 is switched off
            except OSError as exc:
                last = exc
                continue
            self._live = sock
            try:
                sock.settimeout(max(self._deadline - time.monotonic(), 0.001))
                sock.connect((ip, self.port))
                return sock
            except OSError as exc:
                sock.close()
                last = exc
                if self.expired or isinstance(exc, TimeoutError):
                    break
        raise last

    def abort(self) -> None:
        """The deadline passed: wake whatever read or write is blocked (a server trickling one header
        byte every few seconds never trips a per-read timeout)."""
        self.expired = True
        live = self._live
        if live is not None:
            with contextlib.suppress(OSError):  # already closed: nothing left to wake
                socket.socket.shutdown(live, socket.SHUT_RDWR)  # the plain-socket call, even on a TLS socket


def _read_head(response: http.client.HTTPResponse) -> bytes:
    """At most ``HEAD_BYTES`` of the body: an endless or huge answer costs nothing more."""
    chunks: list[bytes] = []
    size = 0
    while size < HEAD_BYTES:
        chunk = response.read(HEAD_BYTES - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def parse_retry_after(value: str | None, now_s: float) -> int | None:
    """``Retry-After`` as whole seconds from ``now_s``: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
    A date in the past means "now" (0); anything unreadable is ignored (``None``)."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": the date is UTC, just not saying so
        when = when.replace(tzinfo=datetime.UTC)
    return max(0, math.ceil(when.timestamp() - now_s))


def _error_word(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ssl.SSLError):  # certificate errors included
        return "tls_error"
    if isinstance(exc, OSError):
        return "connect_failed"
    return "bad_response"


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
