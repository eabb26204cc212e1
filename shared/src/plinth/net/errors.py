"""Why a download was refused or failed, as typed errors with a stable ``code``.

``transient`` tells the caller whether trying again later can help (a timeout, a 503) or not
(an SSRF refusal, a 404, an HTML page): the ingest service retries the first kind with backoff
and fails the job at once on the second.
"""

from __future__ import annotations


class DownloadError(Exception):
    """Base class; ``code`` is short and machine-readable, the message says what happened."""

    code: str = "download_failed"
    transient: bool = False

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url


class UrlRefused(DownloadError):
    """The URL itself is unacceptable: scheme other than http/https, no host, credentials."""

    code = "url_refused"


class AddressRefused(DownloadError):
    """The host is, or resolves to, an address the SSRF guard refuses (loopback, private...)."""

    code = "ssrf_refused"


class ResolveFailed(DownloadError):
    """The host name does not resolve (NXDOMAIN) or the resolver is unavailable."""

    code = "dns_failed"

    def __init__(self, message: str, *, url: str | None = None, transient: bool) -> None:
        super().__init__(message, url=url)
        self.transient = transient


class HttpStatusError(DownloadError):
    """The server answered with a status other than 200 (or a redirect we follow)."""

    def __init__(self, status: int, *, url: str | None = None) -> None:
        super().__init__(f"server answered HTTP {status}", url=url)
        self.status = status
        self.code = f"http_{status}"
        # 5xx, 408 (request timeout) and 429 (rate limited) may succeed later; other 4xx won't.
        self.transient = status >= 500 or status in (408, 429)


class TooManyRedirects(DownloadError):
    code = "too_many_redirects"


class TooLarge(DownloadError):
    code = "too_large"


class HtmlPage(DownloadError):
    """The URL points at a web page, not at an image (a common 3JMS data-entry mistake)."""

    code = "html_page"


class NotAnImage(DownloadError):
    code = "not_an_image"


class DownloadTimeout(DownloadError):
    code = "timeout"
    transient = True


class ConnectionFailed(DownloadError):
    """Connection refused/reset or TLS failure while talking to a vetted address."""

    code = "connection_failed"
    transient = True
