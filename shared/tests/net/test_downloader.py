"""The safe downloader against real servers on 127.0.0.1 only.

Private, link-local and metadata targets are proven refused at the resolve/check step: the
downloader raises before it opens any connection, so no traffic ever leaves loopback.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import ssl
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from plinth.net import (
    AddressRefused,
    AllowList,
    ConnectionFailed,
    DownloadPolicy,
    DownloadTimeout,
    HtmlPage,
    HttpStatusError,
    IPAddress,
    NotAnImage,
    ResolveFailed,
    SafeDownloader,
    StaticResolver,
    TooLarge,
    TooManyRedirects,
    UrlRefused,
)
from plinth_testkit.http_server import LocalHttpServer, Route

LOOPBACK_ALLOWED = AllowList.parse(["127.0.0.1"])


def policy(**overrides: object) -> DownloadPolicy:
    values: dict[str, object] = {
        "max_bytes": 1_000_000,
        "timeout_s": 5.0,
        "max_redirects": 3,
        "allow": LOOPBACK_ALLOWED,
    }
    values.update(overrides)
    return DownloadPolicy(**values)  # type: ignore[arg-type]


async def fetch(url: str, **overrides: object):  # type: ignore[no-untyped-def]
    resolver = overrides.pop("resolver", None)
    async with SafeDownloader(policy(**overrides), resolver=resolver) as downloader:  # type: ignore[arg-type]
        return await downloader.fetch(url)


# --- the happy path -----------------------------------------------------------------------


async def test_downloads_an_allow_listed_image(server: LocalHttpServer, jpeg: bytes) -> None:
    url = server.image("/products/a.jpg", jpeg)
    result = await fetch(url)
    assert result.content == jpeg
    assert result.sha256 == hashlib.sha256(jpeg).hexdigest()
    assert result.content_type == "image/jpeg"
    assert result.redirects == 0
    assert result.address == "127.0.0.1"


async def test_connects_to_the_vetted_address_and_sends_the_original_host(
    server: LocalHttpServer, jpeg: bytes
) -> None:
    """The name is resolved once; the second (rebound) answer is never asked for or used."""

    class RebindingResolver:
        calls = 0

        async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
            RebindingResolver.calls += 1
            answer = "127.0.0.1" if RebindingResolver.calls == 1 else "10.0.0.1"
            return [ipaddress.ip_address(answer)]

    server.image("/a.jpg", jpeg)
    result = await fetch(server.url("/a.jpg", host="images.test"), resolver=RebindingResolver())
    assert result.content == jpeg
    assert RebindingResolver.calls == 1
    assert server.host_headers == [f"images.test:{server.port}"]


async def test_follows_a_redirect_on_an_allowed_host(server: LocalHttpServer, jpeg: bytes) -> None:
    server.image("/final.jpg", jpeg)
    server.redirect("/start", "/middle", status=301)
    server.redirect("/middle", server.url("/final.jpg"), status=307)
    result = await fetch(server.url("/start"))
    assert result.redirects == 2
    assert result.final_url == server.url("/final.jpg")


# --- SSRF: schemes and addresses ----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/_GET",
        "ftp://example.com/a.jpg",
        "data:image/png;base64,AAAA",
        "//example.com/a.jpg",
        "http://user:pw@example.com/a.jpg",
    ],
)
async def test_refuses_non_http_urls(url: str) -> None:
    with pytest.raises(UrlRefused) as caught:
        await fetch(url, allow=AllowList())
    assert not caught.value.transient


async def test_refuses_loopback_without_the_allow_list(
    server: LocalHttpServer, jpeg: bytes
) -> None:
    url = server.image("/a.jpg", jpeg)
    with pytest.raises(AddressRefused, match="loopback") as caught:
        await fetch(url, allow=AllowList())
    assert caught.value.code == "ssrf_refused"
    assert server.hits["/a.jpg"] == 0


async def test_refuses_a_name_that_resolves_to_loopback(
    server: LocalHttpServer, jpeg: bytes
) -> None:
    """``localhost`` through the system resolver: refused at the check, never connected."""
    server.image("/a.jpg", jpeg)
    with pytest.raises(AddressRefused, match=r"localhost resolves to .*loopback"):
        await fetch(server.url("/a.jpg", host="localhost"), allow=AllowList())
    assert server.hits["/a.jpg"] == 0


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/a.jpg", "private"),
        ("http://192.168.1.20:8080/a.jpg", "private"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
        ("http://100.100.100.200/", "cloud metadata"),
        ("http://100.64.1.1/a.jpg", "carrier-grade NAT"),
        ("http://[::ffff:127.0.0.1]/a.jpg", "loopback"),
        ("http://0.0.0.0/a.jpg", "unspecified"),
        ("http://2130706433/a.jpg", "loopback"),  # 127.0.0.1 as one decimal number
    ],
)
async def test_refuses_private_and_metadata_targets(url: str, reason: str) -> None:
    async with SafeDownloader(policy(allow=AllowList())) as downloader:
        with pytest.raises(AddressRefused, match=reason):
            await downloader.vet(url)
        with pytest.raises(AddressRefused, match=reason):
            await downloader.fetch(url)


async def test_refuses_when_any_resolved_address_is_private() -> None:
    resolver = StaticResolver(
        {"internal.test": ["10.0.0.5"], "mixed.test": ["93.184.216.34", "127.0.0.1"]}
    )
    async with SafeDownloader(policy(allow=AllowList()), resolver=resolver) as downloader:
        with pytest.raises(AddressRefused, match=r"internal\.test resolves to 10\.0\.0\.5"):
            await downloader.fetch("http://internal.test/a.jpg")
        with pytest.raises(AddressRefused, match=r"mixed\.test resolves to 127\.0\.0\.1"):
            await downloader.fetch("https://mixed.test/a.jpg")


async def test_a_redirect_to_a_private_address_is_refused(server: LocalHttpServer) -> None:
    server.redirect("/to-private", "http://10.0.0.1/secret.jpg")
    server.redirect("/to-metadata", "http://169.254.169.254/latest/meta-data/")
    server.redirect("/to-file", "file:///etc/passwd")
    with pytest.raises(AddressRefused, match=r"10\.0\.0\.1"):
        await fetch(server.url("/to-private"))
    with pytest.raises(AddressRefused, match="cloud metadata"):
        await fetch(server.url("/to-metadata"))
    with pytest.raises(UrlRefused, match="file"):
        await fetch(server.url("/to-file"))
    assert server.hits["/to-private"] == 1


async def test_a_redirect_to_a_name_resolving_private_is_refused(server: LocalHttpServer) -> None:
    resolver = StaticResolver({"cdn.test": ["127.0.0.1"], "evil.test": ["192.168.0.10"]})
    server.redirect("/hop", "http://evil.test/a.jpg")
    with pytest.raises(AddressRefused, match=r"evil\.test resolves to 192\.168\.0\.10"):
        await fetch(server.url("/hop", host="cdn.test"), resolver=resolver)


async def test_redirect_limit(server: LocalHttpServer) -> None:
    server.redirect("/loop", "/loop")
    with pytest.raises(TooManyRedirects):
        await fetch(server.url("/loop"), max_redirects=2)
    assert server.hits["/loop"] == 3


async def test_unknown_host_is_a_permanent_dns_failure() -> None:
    with pytest.raises(ResolveFailed) as caught:
        await fetch("http://nowhere.test/a.jpg", resolver=StaticResolver({}))
    assert not caught.value.transient


# --- what comes back ------------------------------------------------------------------------


async def test_an_html_page_is_refused_with_a_clear_reason(server: LocalHttpServer) -> None:
    url = server.page("/product/123", "<!doctype html><html><body>Buy now</body></html>")
    with pytest.raises(HtmlPage, match=r"HTML page \(text/html\), not an image") as caught:
        await fetch(url)
    assert caught.value.code == "html_page"
    assert not caught.value.transient


async def test_html_disguised_as_jpeg_is_refused(server: LocalHttpServer) -> None:
    url = server.image("/fake.jpg", b"  <html><body>login</body></html>", "image/jpeg")
    with pytest.raises(HtmlPage, match="declared image/jpeg"):
        await fetch(url)


async def test_non_image_bytes_are_refused(server: LocalHttpServer) -> None:
    binary = server.image("/blob.jpg", b"\x00\x01garbage" * 10, "application/octet-stream")
    text = server.add("/a.txt", Route(body=b"hello", headers={"Content-Type": "text/plain"}))
    with pytest.raises(NotAnImage, match="not a known image format"):
        await fetch(binary)
    with pytest.raises(NotAnImage, match="text/plain"):
        await fetch(text)


async def test_oversize_by_content_length(server: LocalHttpServer, jpeg: bytes) -> None:
    url = server.image("/big.jpg", jpeg + b"\x00" * 5000)
    with pytest.raises(TooLarge, match="Content-Length") as caught:
        await fetch(url, max_bytes=len(jpeg))
    assert caught.value.code == "too_large"


async def test_oversize_when_streamed_without_length(server: LocalHttpServer, jpeg: bytes) -> None:
    body = jpeg + b"\x00" * 200_000
    url = server.add("/stream.jpg", Route(body=body, send_length=False))
    with pytest.raises(TooLarge, match="body exceeds"):
        await fetch(url, max_bytes=100_000)


async def test_http_errors_say_whether_to_retry(server: LocalHttpServer) -> None:
    server.add("/gone", Route(status=404))
    server.add("/busy", Route(status=503))
    with pytest.raises(HttpStatusError) as missing:
        await fetch(server.url("/gone"))
    with pytest.raises(HttpStatusError) as busy:
        await fetch(server.url("/busy"))
    assert (missing.value.code, missing.value.transient) == ("http_404", False)
    assert (busy.value.code, busy.value.transient) == ("http_503", True)


async def test_total_time_limit(server: LocalHttpServer, jpeg: bytes) -> None:
    url = server.add("/slow.jpg", Route(body=jpeg, delay_s=1.5))
    with pytest.raises(DownloadTimeout) as caught:
        await fetch(url, timeout_s=0.3)
    assert caught.value.transient


async def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionFailed) as caught:
        await fetch(f"http://127.0.0.1:{port}/a.jpg")
    assert caught.value.transient


# --- TLS: SNI and certificate checked against the name, while connecting to the IP -----------


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=images.test", "-addext", "subjectAltName=DNS:images.test",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(tls_pair: tuple[Path, Path]) -> Iterator[LocalHttpServer]:
    cert, key = tls_pair
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with LocalHttpServer(tls=context) as running:
        yield running


async def test_https_uses_the_host_name_for_sni_and_certificate(
    tls_server: LocalHttpServer, tls_pair: tuple[Path, Path], jpeg: bytes
) -> None:
    client_context = ssl.create_default_context(cafile=str(tls_pair[0]))
    resolver = StaticResolver({"images.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    tls_server.image("/a.jpg", jpeg)
    async with SafeDownloader(policy(), resolver=resolver, verify=client_context) as downloader:
        result = await downloader.fetch(tls_server.url("/a.jpg", host="images.test"))
        assert result.content == jpeg
        # Same address, but the certificate is not for other.test: the name is what is checked.
        with pytest.raises(ConnectionFailed, match=r"CERTIFICATE_VERIFY_FAILED|match"):
            await downloader.fetch(tls_server.url("/a.jpg", host="other.test"))


async def test_every_address_is_checked_and_ipv4_is_preferred() -> None:
    resolver = StaticResolver({"dual.test": ["2606:4700::1111", "93.184.216.34"]})
    async with SafeDownloader(policy(allow=AllowList()), resolver=resolver) as downloader:
        target = await downloader.vet("https://dual.test/a.jpg")
    assert str(target.address) == "93.184.216.34"
    assert target.host_header == "dual.test"
    assert str(target.connect_url) == "https://93.184.216.34/a.jpg"
