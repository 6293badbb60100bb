"""Partner webhook URLs: the SSRF table (DESIGN §5 "Partner webhooks").

Every row says whether the hub accepts the URL (or connects to the address) on a deployed stage (prod
policy) and on the local stage (http and loopback allowed; private, link-local and metadata never).
"""

from __future__ import annotations

import ipaddress

import pytest

from chalicelib.domain.errors import BadInput
from chalicelib.domain.webhook_urls import (
    ParsedUrl,
    UrlPolicy,
    address_allowed,
    connect_refusal,
    parse_webhook_url,
)

PROD = UrlPolicy.production()
LOCAL = UrlPolicy.local()

# (url, allowed on prod, allowed on local)
URL_CASES = [
    # plain, well-formed URLs
    ("https://partner.example/hooks/linli", True, True),
    ("https://partner.example", True, True),
    ("https://partner.example/hook?tenant=7&x=y", True, True),
    ("HTTPS://Partner.EXAMPLE/Hook", True, True),
    ("https://partner.example:443/hook", True, True),
    ("https://93.184.216.34/hook", True, True),
    # scheme
    ("http://partner.example/hook", False, True),
    ("http://partner.example:80/hook", False, True),
    ("ftp://partner.example/hook", False, False),
    ("file:///etc/passwd", False, False),
    ("gopher://partner.example:70/_", False, False),
    ("javascript:alert(1)", False, False),
    ("partner.example/hook", False, False),
    ("//partner.example/hook", False, False),
    # userinfo: the part before '@' is not where the request goes
    ("https://a@b.example/", False, False),
    ("https://user:pass@partner.example/", False, False),
    ("https://evil.com@127.0.0.1/", False, False),
    ("https://partner.example%2f@127.0.0.1/", False, False),
    # backslashes: a path to some parsers, part of the host to others
    ("https://evil.com\\@127.0.0.1/", False, False),
    ("https://127.0.0.1\\.partner.example/", False, False),
    ("https:\\\\partner.example/", False, False),
    # empty host
    ("https://", False, False),
    ("https:///hook", False, False),
    ("https:partner.example", False, False),
    ("https://:443/hook", False, False),
    # ports: 443 (and 80 for http) everywhere; any other only on the local stage (judged again by address)
    ("https://partner.example:8443/hook", False, True),
    ("https://partner.example:22/", False, True),
    ("http://127.0.0.1:8080/hook", False, True),
    ("https://partner.example:0/", False, False),
    ("https://partner.example:65536/", False, False),
    ("https://partner.example:/", False, False),
    ("https://partner.example:+443/", False, False),
    ("https://partner.example:0443/", False, False),
    ("https://partner.example:443:443/", False, False),
    # IPv4 spelled any way other than a dotted-decimal quad: refused outright, even where loopback is fine
    ("http://2130706433/", False, False),
    ("http://0x7f000001/", False, False),
    ("http://0X7F000001/", False, False),
    ("http://0x7f.0.0.1/", False, False),
    ("http://0177.0.0.1/", False, False),
    ("http://127.000.000.001/", False, False),
    ("http://127.1/", False, False),
    ("http://127.0.1/", False, False),
    ("http://10.1/", False, False),
    ("https://256.1.1.1/", False, False),
    ("https://1.2.3.4.5/", False, False),
    ("https://partner.123/", False, False),
    ("https://１２７.０.０.１/", False, False),  # full-width digits IDNA-fold into 127.0.0.1
    # dotted-quad literals are judged as addresses right away
    ("https://127.0.0.1/", False, True),
    ("http://127.0.0.1/", False, True),
    ("https://169.254.169.254/latest/meta-data/", False, False),
    ("http://169.254.169.254/", False, False),
    ("https://10.0.0.5/", False, False),
    ("https://192.168.1.1/", False, False),
    ("https://172.16.0.1/", False, False),
    ("https://100.64.0.1/", False, False),
    ("https://0.0.0.0/", False, False),
    # IPv6 literals: a host name is required
    ("https://[::1]/", False, False),
    ("https://[::ffff:127.0.0.1]/", False, False),
    ("https://[2606:4700::1111]/", False, False),
    ("https://[fe80::1%25eth0]/", False, False),
    # fragments
    ("https://partner.example/hook#section", False, False),
    ("https://partner.example/hook#", False, False),
    # length
    ("https://partner.example/" + "a" * 2030, False, False),
    ("https://partner.example/" + "a" * 2020, True, True),
    # host names: ASCII letters-digits-hyphen, or valid IDNA
    ("https://bücher.example/hook", True, True),
    ("https://xn--bcher-kva.example/hook", True, True),
    ("https://ex\u2100ample.com/", False, False),  # normalises to a '/' inside the host
    ("https://\u00ad.example/", False, False),  # soft hyphen: IDNA maps it to an empty label
    ("https://a..example/", False, False),
    ("https://partner.example./", False, False),
    ("https://-partner.example/", False, False),
    ("https://partner_x.example/", False, False),
    ("https://" + "a" * 64 + ".example/", False, False),
    ("https://part%6eer.example/", False, False),
    # characters parsers disagree on
    ("https://partner.example/a b", False, False),
    ("https://partner\t.example/", False, False),
    ("https://partner.example/\nHost: evil", False, False),
    ("https://partner.example/é", False, False),
    ("https://partner.example/?q=é", False, False),
    ("", False, False),
    # names that always mean this machine
    ("https://localhost/", False, True),
    ("http://localhost:9000/hook", False, True),
    ("https://api.localhost/", False, True),
]


@pytest.mark.parametrize(("url", "on_prod", "on_local"), URL_CASES)
def test_webhook_url_table(url: str, on_prod: bool, on_local: bool) -> None:
    for policy, allowed in ((PROD, on_prod), (LOCAL, on_local)):
        if allowed:
            parse_webhook_url(url, policy)
        else:
            with pytest.raises(BadInput) as refused:
                parse_webhook_url(url, policy)
            assert refused.value.code == "unsafe_webhook_url"
            assert refused.value.message.startswith("webhook URL refused: ")


def test_the_parse_is_what_the_sender_uses() -> None:
    parsed = parse_webhook_url("HTTPS://Bücher.Example:443?x=1", PROD)
    assert parsed == ParsedUrl(scheme="https", host="xn--bcher-kva.example", port=443, path_and_query="/?x=1")
    assert parse_webhook_url("http://127.0.0.1:8080/a/b?c=d", LOCAL) == ParsedUrl("http", "127.0.0.1", 8080, "/a/b?c=d")
    assert parse_webhook_url("https://partner.example", PROD).literal_ip is None


def test_a_refusal_says_why() -> None:
    with pytest.raises(BadInput, match="four decimal numbers"):
        parse_webhook_url("http://0x7f.0.0.1/", LOCAL)
    with pytest.raises(BadInput, match="cloud metadata"):
        parse_webhook_url("http://169.254.169.254/", LOCAL)
    with pytest.raises(BadInput, match="https"):
        parse_webhook_url("http://partner.example/", PROD)


# (address, allowed on prod, allowed on local)
ADDRESS_CASES = [
    ("93.184.216.34", True, True),
    ("8.8.8.8", True, True),
    ("2606:4700:4700::1111", True, True),
    # loopback: the local stage only
    ("127.0.0.1", False, True),
    ("127.255.0.9", False, True),
    ("::1", False, True),
    # private, link-local and metadata: never
    ("10.0.0.1", False, False),
    ("10.255.255.255", False, False),
    ("172.16.0.1", False, False),
    ("172.31.255.254", False, False),
    ("192.168.0.1", False, False),
    ("169.254.169.254", False, False),
    ("169.254.1.1", False, False),
    ("100.64.0.1", False, False),
    ("100.100.100.200", False, False),
    ("0.0.0.0", False, False),
    ("0.1.2.3", False, False),
    ("224.0.0.1", False, False),
    ("239.255.255.250", False, False),
    ("240.0.0.1", False, False),
    ("255.255.255.255", False, False),
    ("192.0.0.8", False, False),
    ("192.0.2.10", False, False),
    ("198.51.100.10", False, False),
    ("203.0.113.10", False, False),
    ("198.18.0.1", False, False),
    # IPv6
    ("::", False, False),
    ("fc00::1", False, False),
    ("fd00:ec2::254", False, False),
    ("fe80::1", False, False),
    ("fec0::1", False, False),
    ("ff02::1", False, False),
    ("2001:db8::1", False, False),
    ("100::1", False, False),
    # IPv4 inside IPv6: mapped forms refused even when the embedded address is public
    ("::ffff:127.0.0.1", False, False),
    ("::ffff:169.254.169.254", False, False),
    ("::ffff:10.0.0.1", False, False),
    ("::ffff:93.184.216.34", False, False),
    ("::127.0.0.1", False, False),
    ("2002:7f00:1::1", False, False),
    ("2002:5db8:d822::1", False, False),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False, False),
    ("64:ff9b::7f00:1", False, False),
    ("64:ff9b::a00:1", False, False),
    ("64:ff9b:1::a00:1", False, False),
]


@pytest.mark.parametrize(("address", "on_prod", "on_local"), ADDRESS_CASES)
def test_address_table(address: str, on_prod: bool, on_local: bool) -> None:
    ip = ipaddress.ip_address(address)
    assert (address_allowed(ip, PROD) is None) is on_prod
    assert (address_allowed(ip, LOCAL) is None) is on_local


def test_address_refusals_name_the_range() -> None:
    assert address_allowed(ipaddress.ip_address("169.254.169.254"), LOCAL) == "cloud metadata address 169.254.169.254"
    assert address_allowed(ipaddress.ip_address("127.0.0.1"), PROD) == "loopback address 127.0.0.1"
    mapped = address_allowed(ipaddress.ip_address("::ffff:10.0.0.1"), PROD)
    assert mapped is not None and "private address 10.0.0.1" in mapped


def test_every_resolved_address_must_pass() -> None:
    url = parse_webhook_url("https://partner.example/hook", PROD)
    assert connect_refusal(url, ["93.184.216.34", "2606:4700:4700::1111"], PROD) is None
    assert connect_refusal(url, ["93.184.216.34", "10.0.0.7"], PROD) == "private address 10.0.0.7"
    assert connect_refusal(url, [], PROD) == "partner.example has no addresses"
    assert connect_refusal(url, ["not-an-ip"], PROD) == "unreadable address 'not-an-ip'"


def test_local_stage_keeps_odd_ports_to_loopback() -> None:
    """Partners on one machine run receivers on any port; a public host gets 443/80 even locally."""
    url = parse_webhook_url("http://partner.example:8080/hook", LOCAL)
    assert connect_refusal(url, ["127.0.0.1"], LOCAL) is None
    refusal = connect_refusal(url, ["93.184.216.34"], LOCAL)
    assert refusal == "port 8080 is allowed only on loopback addresses, not on 93.184.216.34"
    assert connect_refusal(parse_webhook_url("http://partner.example/", LOCAL), ["93.184.216.34"], LOCAL) is None


def test_a_custom_policy_can_allow_more_ports() -> None:
    policy = UrlPolicy(allowed_ports=frozenset({443, 8443}))
    assert parse_webhook_url("https://partner.example:8443/", policy).port == 8443
    with pytest.raises(BadInput):
        parse_webhook_url("https://partner.example:9443/", policy)
