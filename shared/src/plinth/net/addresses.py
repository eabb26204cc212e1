"""Which IP addresses a server-side fetch may connect to, and the development allow-list.

The rule is "public unicast only": every address that reaches the host itself, the private
network, link-local or cloud-metadata services, or anything not globally routable is refused.
IPv4 addresses smuggled inside IPv6 (``::ffff:127.0.0.1``, NAT64 ``64:ff9b::a00:1``) are judged
by the IPv4 address they carry.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Metadata endpoints get their own reason: they are the prize of most SSRF attacks.
CLOUD_METADATA: Final[frozenset[IPAddress]] = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
CGNAT: Final = ipaddress.ip_network("100.64.0.0/10")
NAT64: Final = ipaddress.ip_network("64:ff9b::/96")

# (network, reason), checked in order after the metadata list; the first match names the reason.
_REFUSED_NETWORKS: Final[tuple[tuple[IPNetwork, str], ...]] = (
    (ipaddress.ip_network("0.0.0.0/8"), "unspecified ('this network')"),
    (ipaddress.ip_network("127.0.0.0/8"), "loopback"),
    (ipaddress.ip_network("10.0.0.0/8"), "private (RFC 1918)"),
    (ipaddress.ip_network("172.16.0.0/12"), "private (RFC 1918)"),
    (ipaddress.ip_network("192.168.0.0/16"), "private (RFC 1918)"),
    (ipaddress.ip_network("169.254.0.0/16"), "link-local"),
    (CGNAT, "carrier-grade NAT (RFC 6598)"),
    (ipaddress.ip_network("224.0.0.0/4"), "multicast"),
    (ipaddress.ip_network("240.0.0.0/4"), "reserved"),
    (ipaddress.ip_network("::/128"), "unspecified"),
    (ipaddress.ip_network("::1/128"), "loopback"),
    (ipaddress.ip_network("fc00::/7"), "private (unique local)"),
    (ipaddress.ip_network("fe80::/10"), "link-local"),
    (ipaddress.ip_network("ff00::/8"), "multicast"),
)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_reason(address: IPAddress) -> str | None:
    """Why a connection to ``address`` is refused, or None when it is public unicast."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            reason = refusal_reason(inner)
            return f"{reason} (IPv4 {inner} inside IPv6)" if reason else None
    if address in CLOUD_METADATA:
        return "cloud metadata endpoint"
    for network, reason in _REFUSED_NETWORKS:
        if address.version == network.version and address in network:
            return reason
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        # documentation ranges, benchmarking, 6to4 relays... : not a place images live.
        return "not globally routable"
    return None


@dataclass(frozen=True)
class AllowList:
    """Hosts and networks exempt from the address check (local development and tests only).

    Entries are host names (matched case-insensitively against the URL's host), IP addresses or
    CIDR networks (matched against the resolved address). The scheme check still applies.
    """

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(hosts=frozenset(hosts), networks=tuple(networks))

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        return any(
            address.version == network.version and address in network for network in self.networks
        )

    def __bool__(self) -> bool:
        return bool(self.hosts or self.networks)
