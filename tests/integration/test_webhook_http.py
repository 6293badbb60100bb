"""The webhook transport against real loopback servers: what a partner's endpoint sees, and what the hub
refuses to reach (DESIGN §5 "Partner webhooks"). Host names are served by injected resolvers: no DNS."""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chalicelib.adapters.webhook_http import PinnedHttpTransport, ResolvingUrlGuard, parse_retry_after
from chalicelib.domain.errors import BadInput
from chalicelib.domain.webhook_urls import UrlPolicy

LOCAL = UrlPolicy.local()
BODY = b'{"type": "order.offered", "data": {"order_id": "o_1"}}'
HEADERS = {"webhook-id": "msg_1", "webhook-timestamp": "1700000000", "webhook-signature": "v1,abc="}


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A partner endpoint on 127.0.0.1: ``answer`` scripts the reply; ``seen`` and ``connections``
    record what reached it."""

    port: int = 0
    answer: Callable[[BaseHTTPRequestHandler], None] = lambda h: _reply(h, 200, b"ok")
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    release: threading.Event = field(default_factory=threading.Event)  # unblocks slow answers at teardown
    sni: list[str | None] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    receiver: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.receiver.seen.append(Seen(self.path, dict(self.headers.items()), body))
        with contextlib.suppress(OSError):  # the hub hung up early, as it should for huge or slow answers
            self.receiver.answer(self)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver

    def verify_request(self, request: object, client_address: object) -> bool:
        self.receiver.connections += 1
        return True


def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _serve(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    receiver = Receiver()
    handler = type("Handler", (_Handler,), {"receiver": receiver})
    server = _Server(("127.0.0.1", 0), handler)
    server.receiver = receiver
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve()


def resolve_to(*ips: str) -> Callable[[str, int], list[str]]:
    return lambda host, port: list(ips)


def test_a_2xx_comes_back_with_latency_and_the_first_kilobyte(receiver: Receiver) -> None:
    receiver.answer = lambda h: _reply(h, 202, b"x" * 1000 + "é".encode() * 100)
    attempt = PinnedHttpTransport(LOCAL).post(f"http://127.0.0.1:{receiver.port}/hooks?t=1", HEADERS, BODY)
    assert attempt.status == 202 and attempt.error is None and attempt.retry_after_s is None
    assert attempt.latency_ms >= 0
    assert attempt.response_head.startswith("x" * 1000) and len(attempt.response_head.encode()) <= 1024 + 3
    [seen] = receiver.seen
    assert seen.path == "/hooks?t=1" and seen.body == BODY
    assert seen.headers["webhook-id"] == "msg_1" and seen.headers["User-Agent"] == "Linli-Webhooks/1"
    assert seen.headers["Content-Type"] == "application/json"


def test_the_pinned_address_is_reached_under_the_partners_host_name(receiver: Receiver) -> None:
    transport = PinnedHttpTransport(LOCAL, resolver=resolve_to("127.0.0.1"))
    attempt = transport.post(f"http://partner.example:{receiver.port}/hook", {**HEADERS, "Host": "evil"}, BODY)
    assert attempt.status == 200 and attempt.response_head == "ok"
    assert receiver.seen[0].headers["Host"] == f"partner.example:{receiver.port}"


def test_unreachable_addresses_are_skipped_for_the_next_approved_one(receiver: Receiver) -> None:
    closed = _closed_port()
    transport = PinnedHttpTransport(LOCAL, resolver=resolve_to("::1", "127.0.0.1"))
    assert transport.post(f"http://partner.example:{receiver.port}/", HEADERS, BODY).status == 200
    refused = PinnedHttpTransport(LOCAL).post(f"http://127.0.0.1:{closed}/", HEADERS, BODY)
    assert refused.status is None and refused.error == "connect_failed"


def test_a_redirect_is_reported_not_followed(receiver: Receiver) -> None:
    receiver.answer = lambda h: _reply(h, 302, b"", {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"})
    attempt = PinnedHttpTransport(LOCAL).post(f"http://127.0.0.1:{receiver.port}/hook", HEADERS, BODY)
    assert attempt.status == 302 and attempt.error == "redirect"
    assert [s.path for s in receiver.seen] == ["/hook"]


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (410, None, None),
        (429, "30", 30),
        (502, "7", 7),
        (504, "0", 0),
        (429, "soon", None),
        (503, "Wed, 21 Oct 2015 07:28:00 GMT", 0),  # a date already past: retry now
    ],
)
def test_failures_carry_status_and_retry_after(receiver: Receiver, status: int, retry_after: str | None,
                                               expected: int | None) -> None:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    receiver.answer = lambda h: _reply(h, status, b"busy", headers)
    attempt = PinnedHttpTransport(LOCAL).post(f"http://127.0.0.1:{receiver.port}/", HEADERS, BODY)
    assert (attempt.status, attempt.error, attempt.retry_after_s) == (status, None, expected)
    assert attempt.response_head == "busy"


def test_retry_after_as_an_http_date(receiver: Receiver) -> None:
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    receiver.answer = lambda h: _reply(h, 429, b"", {"Retry-After": later})
    attempt = PinnedHttpTransport(LOCAL).post(f"http://127.0.0.1:{receiver.port}/", HEADERS, BODY)
    assert attempt.retry_after_s is not None and 100 <= attempt.retry_after_s <= 121


def test_retry_after_parsing() -> None:
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC).timestamp()
    assert parse_retry_after("Tue, 01 Jan 2030 00:01:30 GMT", now) == 90
    assert parse_retry_after("Tue, 01 Jan 2030 00:01:30 -0000", now) == 90
    assert parse_retry_after(" 45 ", now) == 45
    assert parse_retry_after("-5", now) is None
    assert parse_retry_after("", now) is None


def test_a_server_that_never_answers_times_out(receiver: Receiver) -> None:
    def hang(h: BaseHTTPRequestHandler) -> None:
        receiver.release.wait(10)

    receiver.answer = hang
    attempt = PinnedHttpTransport(LOCAL, timeout_s=0.3).post(f"http://127.0.0.1:{receiver.port}/", HEADERS, BODY)
    assert attempt.status is None and attempt.error == "timeout"
    assert attempt.latency_ms < 5000


def test_the_deadline_covers_a_server_trickling_its_headers(receiver: Receiver) -> None:
    """Each byte comes quickly enough for a per-read timeout; only a total deadline ends this."""

    def trickle(h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        while not receiver.release.wait(0.05):
            h.wfile.write(b"X-Slow: y\r\n")
            h.wfile.flush()

    receiver.answer = trickle
    attempt = PinnedHttpTransport(LOCAL, timeout_s=0.5).post(f"http://127.0.0.1:{receiver.port}/", HEADERS, BODY)
    assert attempt.status is None and attempt.error == "timeout"


def test_a_huge_body_is_not_read_in_full(receiver: Receiver) -> None:
    """The server holds back all but the first 64 KB of a 5 MB answer until the hub is done: reading it
    in full would block until the timeout."""

    def huge(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(5 * 1024 * 1024))
        h.end_headers()
        h.wfile.write(b"a" * 65536)
        h.wfile.flush()
        receiver.release.wait(10)
        h.wfile.write(b"a" * (5 * 1024 * 1024 - 65536))

    receiver.answer = huge
    attempt = PinnedHttpTransport(LOCAL, timeout_s=3).post(f"http://127.0.0.1:{receiver.port}/", HEADERS, BODY)
    assert attempt.status == 200 and attempt.error is None
    assert attempt.response_head == "a" * 1024


# ------------------------------------------------------------------------------------ refused addresses
def test_dns_rebinding_is_caught_at_send_time_without_connecting(receiver: Receiver) -> None:
    """Public when the partner registers, loopback when the delivery goes out: the answer at send time is
    the one judged, and nothing connects. (Production address rules; http on the test port only so that
    a connection, were one made, would land on the receiver.)"""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    resolver = lambda host, port: next(answers)  # noqa: E731
    policy = UrlPolicy(allow_http=True, allowed_ports=frozenset({receiver.port}))
    url = f"http://partner.example:{receiver.port}/hook"
    ResolvingUrlGuard(policy, resolver).check(url)
    attempt = PinnedHttpTransport(policy, resolver=resolver).post(url, HEADERS, BODY)
    assert attempt.status is None and attempt.error == "unsafe_address: loopback address 127.0.0.1"
    assert receiver.connections == 0 and receiver.seen == []


def test_one_bad_answer_among_good_ones_refuses_the_delivery(receiver: Receiver) -> None:
    policy = UrlPolicy(allow_http=True, allowed_ports=frozenset({receiver.port}))
    transport = PinnedHttpTransport(policy, resolver=resolve_to("93.184.216.34", "127.0.0.1"))
    attempt = transport.post(f"http://partner.example:{receiver.port}/", HEADERS, BODY)
    assert attempt.error == "unsafe_address: loopback address 127.0.0.1" and receiver.connections == 0


def test_locally_loopback_is_fine_but_metadata_is_not(receiver: Receiver) -> None:
    url = f"http://partner.example:{receiver.port}/"
    assert PinnedHttpTransport(LOCAL, resolver=resolve_to("127.0.0.1")).post(url, HEADERS, BODY).status == 200
    attempt = PinnedHttpTransport(LOCAL, resolver=resolve_to("169.254.169.254")).post(url, HEADERS, BODY)
    assert attempt.error == "unsafe_address: cloud metadata address 169.254.169.254"
    assert receiver.connections == 1


def test_refused_urls_and_failed_lookups_never_raise() -> None:
    transport = PinnedHttpTransport(UrlPolicy.production(), resolver=_no_such_host)
    assert transport.post("http://partner.example/", HEADERS, BODY).error == (
        "unsafe_url: webhook URL refused: plain http is not allowed on this stage; use https")
    assert transport.post("https://partner.example/", HEADERS, BODY).error == "dns_failed"


def test_the_guard_refuses_at_registration() -> None:
    prod = UrlPolicy.production()
    ResolvingUrlGuard(prod, resolve_to("93.184.216.34")).check("https://partner.example/hook")
    cases = [
        (ResolvingUrlGuard(prod, resolve_to("10.0.0.8")), "https://partner.example/", "private address 10.0.0.8"),
        (ResolvingUrlGuard(prod, resolve_to()), "https://partner.example/", "no addresses"),
        (ResolvingUrlGuard(prod, _no_such_host), "https://partner.example/", "does not resolve"),
        (ResolvingUrlGuard(prod, resolve_to("93.184.216.34")), "https://a@partner.example/", "user names"),
        (ResolvingUrlGuard(LOCAL, resolve_to("93.184.216.34")), "http://partner.example:8080/", "only on loopback"),
    ]
    for guard, url, why in cases:
        with pytest.raises(BadInput, match=why) as refused:
            guard.check(url)
        assert refused.value.code == "unsafe_webhook_url"


# ------------------------------------------------------------------------------------------------ https
@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, ssl.SSLContext]]:
    """An https endpoint with a self-signed certificate for partner.example, and a client context that
    trusts exactly that certificate."""
    cert_pem, key_pem = _self_signed("partner.example")
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client_ctx = ssl.create_default_context(cadata=cert_pem.decode())
    names: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[func-returns-value]
    for receiver in _serve(server_ctx):
        receiver.sni = names
        yield receiver, client_ctx


def test_https_is_pinned_yet_verified_against_the_name(tls_receiver: tuple[Receiver, ssl.SSLContext]) -> None:
    receiver, trust = tls_receiver
    transport = PinnedHttpTransport(LOCAL, resolver=resolve_to("127.0.0.1"), tls_context=trust)
    attempt = transport.post(f"https://partner.example:{receiver.port}/hook", HEADERS, BODY)
    assert attempt.status == 200 and attempt.error is None
    assert receiver.sni == ["partner.example"]
    assert receiver.seen[0].headers["Host"] == f"partner.example:{receiver.port}"


def test_a_certificate_for_another_name_is_a_tls_error(tls_receiver: tuple[Receiver, ssl.SSLContext]) -> None:
    receiver, trust = tls_receiver
    transport = PinnedHttpTransport(LOCAL, resolver=resolve_to("127.0.0.1"), tls_context=trust)
    attempt = transport.post(f"https://impostor.example:{receiver.port}/hook", HEADERS, BODY)
    assert attempt.status is None and attempt.error == "tls_error"
    assert receiver.seen == []
    untrusted = PinnedHttpTransport(LOCAL, resolver=resolve_to("127.0.0.1"))  # the system's CAs
    assert untrusted.post(f"https://partner.example:{receiver.port}/", HEADERS, BODY).error == "tls_error"


# ---------------------------------------------------------------------------------------------- helpers
def _no_such_host(host: str, port: int) -> list[str]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _self_signed(name: str) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
