"""Host name resolution, behind a small protocol so that tests can map names to any address
(and so prove that private answers are refused without ever connecting to them)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping, Sequence
from typing import Protocol

from plinth.net.addresses import IPAddress


class ResolutionError(Exception):
    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """Every address ``host`` resolves to; raises ``ResolutionError``."""
        ...


def literal_address(host: str) -> IPAddress | None:
    """The address when ``host`` is an IP literal (brackets allowed), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class SystemResolver:
    """The operating system's resolver (getaddrinfo in a thread, via the event loop)."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except socket.gaierror as exc:
            transient = exc.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", -11))
            raise ResolutionError(
                f"cannot resolve {host!r}: {exc.strerror}", transient=transient
            ) from exc
        addresses: list[IPAddress] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            # sockaddr[0] may carry an IPv6 zone ("fe80::1%eth0"); the zone is irrelevant here.
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        return addresses


class StaticResolver:
    """A fixed name -> addresses table (tests, and pinning hosts in development)."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self._table = {
            name.lower(): [ipaddress.ip_address(a) for a in addrs] for name, addrs in table.items()
        }

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        try:
            return self._table[host.lower()]
        except KeyError:
            raise ResolutionError(
                f"cannot resolve {host!r}: unknown host", transient=False
            ) from None
