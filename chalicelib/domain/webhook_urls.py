"""Which partner webhook URLs the hub will POST to, and which addresses it will connect to.

A webhook URL is typed by an outsider and fetched by the hub from inside its network: the textbook
server-side request forgery (SSRF). Two rules stop it (DESIGN §5 "Partner webhooks"):

* ``parse_webhook_url`` accepts one plain spelling of a URL and refuses every spelling that different URL
  parsers, resolvers or HTTP clients read differently (userinfo, backslashes, numeric hosts in odd
  bases, IPv6 literals). What it returns is the *only* thing the sender uses, so there is no second parser
  to disagree with.
* ``address_allowed`` judges each address a host name resolves to. Names are re-resolved and re-judged at
  every connect, because DNS can answer "public" at registration and "private" a minute later.

Pure standard library: the resolving and connecting live in ``chalicelib.adapters.webhook_http``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.domain.errors import BadInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
UNSAFE_URL = "unsafe_webhook_url"

_DEFAULT_PORTS = {"https": 443, "http": 80}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
#: the last label of a host that an IPv4 parser (inet_aton, WHATWG URL) would read as a number
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_DECIMAL_OCTET = re.compile(r"^(0|[1-9][0-9]{0,2})$")
_PORT = re.compile(r"^[1-9][0-9]{0,4}$")


@dataclass(frozen=True)
class UrlPolicy:
    """What a stage accepts. Production: https only, public addresses only, port 443 only.

    A URL's scheme default port (443, or 80 when http is allowed) is always accepted; ``allowed_ports``
    adds others. With ``allow_loopback`` (the local stage, where partners try a receiver on the same
    machine) any port is accepted *on a loopback address*; the port is then judged with the resolved
    address in ``address_allowed``, since a host name alone does not say where it points.
    """

    allow_http: bool = False
    allow_loopback: bool = False
    allowed_ports: frozenset[int] = frozenset({443})

    @classmethod
    def production(cls) -> UrlPolicy:
        return cls()

    @classmethod
    def local(cls) -> UrlPolicy:
        return cls(allow_http=True, allow_loopback=True, allowed_ports=frozenset({80, 443}))

    def port_allowed(self, scheme: str, port: int) -> bool:
        return port == _DEFAULT_PORTS[scheme] or port in self.allowed_ports


@dataclass(frozen=True)
class ParsedUrl:
    """The one reading of a webhook URL that the sender connects to."""

    scheme: str  # "https" | "http"
    host: str  # lower-case ASCII (IDNA-encoded) name, or a dotted-quad IPv4 address
    port: int
    path_and_query: str  # starts with "/"

    @property
    def literal_ip(self) -> ipaddress.IPv4Address | None:
        """The host as an address when the URL names one directly (no resolving needed)."""
        try:
            return ipaddress.IPv4Address(self.host)
        except ValueError:
            return None


def _refuse(why: str) -> BadInput:
    return BadInput(f"webhook URL refused: {why}", code=UNSAFE_URL)


def parse_webhook_url(url: str, policy: UrlPolicy) -> ParsedUrl:
    """Parse ``url`` strictly, or raise ``BadInput(code="unsafe_webhook_url")`` saying why not."""
    _check_characters(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. a host whose Unicode normalises to '/', '?', '@' or ':'
        raise _refuse(str(exc)) from exc
    scheme = _check_scheme(parts.scheme, policy)
    if "#" in url:
        raise _refuse("fragments are not sent to servers; remove the '#…' part")
    if not (parts.path + parts.query).isascii():
        raise _refuse("non-ASCII characters in the path or query; percent-encode them")
    host, port = _split_netloc(parts.netloc, scheme)
    host = _check_host(host, policy)
    if not policy.allow_loopback and not policy.port_allowed(scheme, port):
        raise _refuse(f"port {port} is not allowed; use {sorted(policy.allowed_ports | {_DEFAULT_PORTS[scheme]})}")
    parsed = ParsedUrl(scheme, host, port, _path_and_query(parts.path, parts.query))
    if parsed.literal_ip is not None:
        reason = connect_refusal(parsed, [host], policy)
        if reason is not None:
            raise _refuse(reason)
    return parsed


def _check_characters(url: str) -> None:
    """Refuse what parsers disagree on before any of them sees it.

    ``urlsplit`` silently drops tabs and newlines, browsers and some clients treat a backslash as a
    slash (``https://evil.com\\@127.0.0.1`` is then a path on 127.0.0.1), and a request line cannot carry
    control characters.
    """
    if not isinstance(url, str) or not url:
        raise _refuse("empty URL")
    if len(url) > MAX_URL_LENGTH:
        raise _refuse(f"longer than {MAX_URL_LENGTH} characters")
    if "\\" in url:
        raise _refuse("backslashes are read as '/' by some parsers and as data by others")
    if any(ch <= " " or "\x7f" <= ch <= "\x9f" for ch in url):
        raise _refuse("whitespace or control characters")


def _check_scheme(scheme: str, policy: UrlPolicy) -> str:
    if scheme == "https" or (scheme == "http" and policy.allow_http):
        return scheme
    if scheme == "http":
        raise _refuse("plain http is not allowed on this stage; use https")
    raise _refuse("only https URLs are allowed")


def _split_netloc(netloc: str, scheme: str) -> tuple[str, int]:
    """Host and port, refusing userinfo (``https://trusted.com@10.0.0.1`` connects to 10.0.0.1, not to
    trusted.com) and IPv6 literals (a public-looking ``[::ffff:a.b.c.d]`` is an IPv4 address in disguise)."""
    if "@" in netloc:
        raise _refuse("user names and passwords ('…@') are not allowed in webhook URLs")
    if "[" in netloc or "]" in netloc:
        raise _refuse("IPv6 address literals are not allowed; use a host name")
    host, colon, port_text = netloc.partition(":")
    if not colon:
        return host, _DEFAULT_PORTS[scheme]
    if not _PORT.match(port_text) or int(port_text) > 65535:
        raise _refuse(f"invalid port {port_text!r}")
    return host, int(port_text)


def _check_host(host: str, policy: UrlPolicy) -> str:
    if not host:
        raise _refuse("no host")
    ascii_host = _idna(host).lower()
    labels = ascii_host.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        if not host.isascii():  # full-width digits are one more spelling of an address
            raise _refuse(f"{host!r}: write IPv4 addresses in ASCII digits")
        return _dotted_quad(ascii_host)
    if len(ascii_host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise _refuse(f"{host!r} is not a valid host name")
    if not policy.allow_loopback and (ascii_host == "localhost" or ascii_host.endswith(".localhost")):
        raise _refuse("'localhost' names always point at the machine itself (RFC 6761)")
    return ascii_host


def _idna(host: str) -> str:
    """Encode an internationalised name; refuse anything IDNA cannot encode.

    Encoding also folds look-alikes (full-width digits and dots become ASCII), which is why the host is
    judged only after this step.
    """
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise _refuse(f"{host!r} is not a valid internationalised host name") from exc


def _dotted_quad(host: str) -> str:
    """An IPv4 literal is accepted only as four decimal octets without leading zeros.

    ``2130706433``, ``0x7f000001``, ``0x7f.0.0.1``, ``0177.0.0.1`` and ``127.1`` all mean 127.0.0.1 to
    inet_aton and to browsers, while naive checks read them as harmless names or as other addresses.
    """
    octets = host.split(".")
    if len(octets) != 4 or not all(_DECIMAL_OCTET.match(o) and int(o) <= 255 for o in octets):
        raise _refuse(f"{host!r}: write IPv4 addresses as four decimal numbers (a.b.c.d)")
    return host


def _path_and_query(path: str, query: str) -> str:
    return (path or "/") + (f"?{query}" if query else "")


# --------------------------------------------------------------------------------------------- addresses
def _nets(*pairs: tuple[str, str]) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]:
    return tuple((ipaddress.ip_network(net), kind) for net, kind in pairs)


#: checked in order; the first match names the refusal. Loopback is handled by policy before these.
_REFUSED_V4 = _nets(
    ("169.254.169.254/32", "cloud metadata"),  # instance credentials: refused on every stage
    ("169.254.0.0/16", "link-local"),
    ("0.0.0.0/8", "this-network"),  # 0.0.0.0 reaches the local host on Linux
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),  # also where some clouds put metadata (100.100.100.200)
    ("192.0.0.0/24", "IETF protocol"),
    ("192.0.2.0/24", "documentation"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("198.18.0.0/15", "benchmarking"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
)
_REFUSED_V6 = _nets(
    ("::/128", "unspecified"),
    ("64:ff9b::/96", "NAT64"),  # the next four embed an IPv4 address a gateway would connect to
    ("64:ff9b:1::/48", "NAT64"),
    ("2002::/16", "6to4"),
    ("2001::/32", "Teredo"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("100::/64", "discard-only"),
    ("fc00::/7", "unique-local"),  # includes AWS's IPv6 metadata endpoint fd00:ec2::254
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)


def address_allowed(ip: IPAddress, policy: UrlPolicy) -> str | None:
    """``None`` when the hub may connect to ``ip``; otherwise why not.

    ``is_global`` is the base rule; the explicit ranges name the refusal and catch what ``is_global``
    lets through (multicast, 6to4, NAT64 and site-local are "global" to the standard library).
    """
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        # ::ffff:a.b.c.d is how a dual-stack socket reaches an IPv4 host: never a partner's real address.
        return f"IPv4-mapped IPv6 address {ip} (embeds {address_allowed(ip.ipv4_mapped, policy) or ip.ipv4_mapped})"
    if ip.is_loopback:
        return None if policy.allow_loopback else f"loopback address {ip}"
    for network, kind in _REFUSED_V4 if ip.version == 4 else _REFUSED_V6:
        if ip in network:
            return f"{kind} address {ip}"
    if ip.is_reserved or not ip.is_global:
        return f"non-public address {ip}"
    return None


def connect_refusal(url: ParsedUrl, addresses: Iterable[str], policy: UrlPolicy) -> str | None:
    """Judge every address ``url``'s host resolved to; ``None`` when the hub may connect to any of them.

    One bad answer refuses them all (an attacker controls which answer a client tries first), and so
    does no answer at all. Under a loopback-allowing policy any port passed parsing; here, knowing
    the address, other ports are kept to loopback.
    """
    seen = False
    for text in addresses:
        seen = True
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            return f"unreadable address {text!r}"
        reason = address_allowed(ip, policy)
        if reason is None and not ip.is_loopback and not policy.port_allowed(url.scheme, url.port):
            reason = f"port {url.port} is allowed only on loopback addresses, not on {ip}"
        if reason is not None:
            return reason
    return None if seen else f"{url.host} has no addresses"
