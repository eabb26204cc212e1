"""A server-side HTTP(S) downloader that is safe to point at URLs supplied by someone else.

Every hop (the first request and each redirect, followed by hand) goes through the same steps:
the scheme must be http or https; the host is resolved once and every address it resolves to
must be public (see :mod:`plinth.net.addresses`) unless the development allow-list exempts it;
then the connection is made to that vetted address itself, with the original name in the Host
header and as the TLS SNI/certificate name, so a second DNS answer cannot swap in another
address between the check and the connection (DNS rebinding). Size, total time and redirect
count are bounded, and the body must really be a raster image.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import httpx

from plinth.net.addresses import AllowList, IPAddress, refusal_reason
from plinth.net.errors import (
    AddressRefused,
    ConnectionFailed,
    DownloadTimeout,
    HtmlPage,
    HttpStatusError,
    NotAnImage,
    ResolveFailed,
    TooLarge,
    TooManyRedirects,
    UrlRefused,
)
from plinth.net.resolver import ResolutionError, Resolver, SystemResolver, literal_address
from plinth.net.sniff import HTML_TYPES, looks_like_html, media_type, sniff_image_type

if TYPE_CHECKING:
    from plinth.settings import DownloadSettings

ALLOWED_SCHEMES: Final = frozenset({"http", "https"})
DEFAULT_PORTS: Final = {"http": 80, "https": 443}
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
# Declared types that are certainly not a photo, refused before reading the body.
NOT_IMAGE_TYPES: Final = frozenset({"application/json", "application/xml", "image/svg+xml"})


@dataclass(frozen=True)
class DownloadPolicy:
    max_bytes: int = 50 * 1024 * 1024
    timeout_s: float = 30.0
    max_redirects: int = 5
    allow: AllowList = field(default_factory=AllowList)
    user_agent: str = "plinth-downloader/1.0"

    @classmethod
    def from_settings(cls, settings: DownloadSettings) -> DownloadPolicy:
        return cls(
            max_bytes=settings.download_max_bytes,
            timeout_s=settings.download_timeout_s,
            max_redirects=settings.download_max_redirects,
            allow=AllowList.parse(settings.download_allow_hosts),
        )


@dataclass(frozen=True)
class VettedTarget:
    """One hop that passed the checks: where to connect and what to call the host."""

    url: httpx.URL
    host: str
    port: int
    address: IPAddress
    allow_listed: bool

    @property
    def connect_url(self) -> httpx.URL:
        return self.url.copy_with(host=str(self.address), fragment=None)

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = DEFAULT_PORTS[self.url.scheme]
        return name if self.port == default else f"{name}:{self.port}"


@dataclass(frozen=True)
class Downloaded:
    url: str
    final_url: str
    content: bytes
    content_type: str
    """The image type detected from the bytes (what the bytes are, whatever the server said)."""
    declared_type: str
    redirects: int
    address: str
    elapsed_s: float

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class SafeDownloader:
    """Use as ``async with SafeDownloader(policy) as downloader: await downloader.fetch(url)``."""

    def __init__(
        self,
        policy: DownloadPolicy,
        *,
        resolver: Resolver | None = None,
        verify: Any = True,
    ) -> None:
        self.policy = policy
        self._resolver: Resolver = resolver or SystemResolver()
        self._client = httpx.AsyncClient(
            # No proxies or .netrc from the environment: a proxy would resolve the name itself.
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(policy.timeout_s),
            # No keep-alive: the pool is keyed by IP, and a connection made with one SNI name
            # must never carry a request for another host that happens to share the address.
            limits=httpx.Limits(max_keepalive_connections=0),
            verify=verify,
        )

    async def __aenter__(self) -> SafeDownloader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def vet(self, url: str | httpx.URL) -> VettedTarget:
        """Check one hop without connecting: scheme, host, and every address it resolves to."""
        parsed = _parse(url)
        host = parsed.raw_host.decode("ascii")
        port = parsed.port or DEFAULT_PORTS[parsed.scheme]
        addresses = await self._resolve(host, port, str(url))
        # Every address is checked; IPv4 is preferred for the connection (containers and CI
        # hosts often resolve AAAA records they cannot route).
        chosen = next((a for a in addresses if a.version == 4), addresses[0])
        if self.policy.allow.allows_host(host):
            return VettedTarget(parsed, host, port, chosen, allow_listed=True)
        for address in addresses:
            if self.policy.allow.allows_address(address):
                continue
            reason = refusal_reason(address)
            if reason is not None:
                via = "" if literal_address(host) is not None else f"{host} resolves to "
                raise AddressRefused(
                    f"{via}{address}, a {reason} address: refused by the SSRF guard "
                    "(development servers go in PLINTH_DOWNLOAD_ALLOW_HOSTS)",
                    url=str(url),
                )
        return VettedTarget(parsed, host, port, chosen, allow_listed=False)

    async def fetch(self, url: str) -> Downloaded:
        """Download one image, following at most ``max_redirects`` redirects, each re-vetted."""
        started = time.monotonic()
        try:
            # One deadline for everything: DNS, every hop and the body.
            async with asyncio.timeout(self.policy.timeout_s):
                return await self._fetch(url, started)
        except TimeoutError:
            raise DownloadTimeout(
                f"download did not finish within {self.policy.timeout_s:g}s", url=url
            ) from None
        except httpx.TimeoutException as exc:
            raise DownloadTimeout(f"timed out talking to the server: {exc!r}", url=url) from exc
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"connection failed: {exc!r}", url=url) from exc

    async def _fetch(self, url: str, started: float) -> Downloaded:
        current = _parse(url)
        for hop in range(self.policy.max_redirects + 1):
            target = await self.vet(current)
            headers = {
                "Host": target.host_header,
                "User-Agent": self.policy.user_agent,
                "Accept": "image/*",
                # Identity, so Content-Length is the real size and nothing needs inflating.
                "Accept-Encoding": "identity",
            }
            extensions: dict[str, Any] = {}
            if target.url.scheme == "https" and literal_address(target.host) is None:
                extensions["sni_hostname"] = target.host
            request = self._client.build_request(
                "GET", target.connect_url, headers=headers, extensions=extensions
            )
            response = await self._client.send(request, stream=True)
            try:
                if response.status_code in REDIRECT_STATUSES:
                    current = _next_hop(current, response, str(url))
                    continue
                if response.status_code != 200:
                    raise HttpStatusError(response.status_code, url=str(current))
                declared = media_type(response.headers.get("content-type"))
                _check_declared_type(declared, str(current))
                content = await self._read_limited(response, str(current))
            finally:
                await response.aclose()
            detected = sniff_image_type(content[:64])
            if detected is None:
                if looks_like_html(content):
                    raise HtmlPage(
                        f"the URL returned an HTML page (declared {declared or 'no type'}), "
                        "not an image",
                        url=str(current),
                    )
                raise NotAnImage(
                    f"the content is not a known image format (declared {declared or 'no type'},"
                    f" {len(content)} bytes)",
                    url=str(current),
                )
            return Downloaded(
                url=url,
                final_url=str(current),
                content=content,
                content_type=detected,
                declared_type=declared,
                redirects=hop,
                address=str(target.address),
                elapsed_s=time.monotonic() - started,
            )
        raise TooManyRedirects(f"more than {self.policy.max_redirects} redirects", url=str(current))

    async def _resolve(self, host: str, port: int, url: str) -> Sequence[IPAddress]:
        try:
            addresses = await self._resolver.resolve(host, port)
        except ResolutionError as exc:
            raise ResolveFailed(str(exc), url=url, transient=exc.transient) from exc
        if not addresses:
            raise ResolveFailed(f"{host!r} resolves to no address", url=url, transient=False)
        return addresses

    async def _read_limited(self, response: httpx.Response, url: str) -> bytes:
        limit = self.policy.max_bytes
        declared_length = response.headers.get("content-length")
        if declared_length and declared_length.isdigit() and int(declared_length) > limit:
            raise TooLarge(
                f"Content-Length {int(declared_length)} exceeds the {limit}-byte limit", url=url
            )
        chunks: list[bytes] = []
        received = 0
        # Count while streaming: Content-Length may be absent or a lie.
        async for chunk in response.aiter_bytes():
            received += len(chunk)
            if received > limit:
                raise TooLarge(f"body exceeds the {limit}-byte limit", url=url)
            chunks.append(chunk)
        return b"".join(chunks)


def _parse(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UrlRefused(f"not a valid URL: {exc}", url=str(url)) from exc
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise UrlRefused(
            f"scheme {parsed.scheme or '(none)'!r} is not allowed; only http and https",
            url=str(url),
        )
    if not parsed.raw_host:
        raise UrlRefused("URL has no host", url=str(url))
    if parsed.userinfo:
        raise UrlRefused("URL must not carry credentials", url=str(url))
    return parsed


def _next_hop(current: httpx.URL, response: httpx.Response, original: str) -> httpx.URL:
    location = response.headers.get("location")
    if not location:
        raise HttpStatusError(response.status_code, url=str(current))
    try:
        # Relative to the URL as the client knows it (host name, not the vetted IP).
        return current.join(location)
    except (httpx.InvalidURL, ValueError) as exc:
        raise UrlRefused(f"redirect to an invalid URL {location!r}: {exc}", url=original) from exc


def _check_declared_type(declared: str, url: str) -> None:
    if declared in HTML_TYPES:
        raise HtmlPage(f"the URL returned an HTML page ({declared}), not an image", url=url)
    if declared in NOT_IMAGE_TYPES or declared.startswith(("text/", "video/", "audio/")):
        raise NotAnImage(f"the URL returned {declared}, not a raster image", url=url)
