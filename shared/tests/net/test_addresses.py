"""The address rules of the SSRF guard, judged without any network traffic."""

from __future__ import annotations

import ipaddress

import pytest

from plinth.net import AllowList, refusal_reason


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private (RFC 1918)"),
        ("172.16.0.1", "private (RFC 1918)"),
        ("172.31.255.254", "private (RFC 1918)"),
        ("192.168.1.1", "private (RFC 1918)"),
        ("fd12:3456::1", "private (unique local)"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "cloud metadata endpoint"),
        ("fd00:ec2::254", "cloud metadata endpoint"),
        ("100.100.100.200", "cloud metadata endpoint"),
        ("100.64.0.1", "carrier-grade NAT (RFC 6598)"),
        ("100.127.255.255", "carrier-grade NAT (RFC 6598)"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified ('this network')"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "private"),  # documentation range
        ("2001:db8::1", "private"),  # documentation range
        ("::ffff:127.0.0.1", "loopback (IPv4 127.0.0.1 inside IPv6)"),
        ("::ffff:169.254.169.254", "cloud metadata endpoint (IPv4 169.254.169.254 inside IPv6)"),
        ("64:ff9b::a00:1", "private (RFC 1918) (IPv4 10.0.0.1 inside IPv6)"),
    ],
)
def test_refused_addresses_name_their_reason(address: str, expected: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) == expected


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_unicast_is_allowed(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


def test_allow_list_takes_hosts_addresses_and_networks() -> None:
    allow = AllowList.parse(["127.0.0.1", "images.local.", "10.20.0.0/16", " ", "[::1]"])
    assert allow.allows_host("IMAGES.local")
    assert not allow.allows_host("other.local")
    assert allow.allows_address(ipaddress.ip_address("127.0.0.1"))
    assert allow.allows_address(ipaddress.ip_address("10.20.3.4"))
    assert allow.allows_address(ipaddress.ip_address("::1"))
    assert not allow.allows_address(ipaddress.ip_address("10.21.0.1"))
    assert not allow.allows_address(ipaddress.ip_address("127.0.0.2"))
    assert not AllowList.parse([])
