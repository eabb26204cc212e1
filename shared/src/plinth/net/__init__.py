"""Safe outbound HTTP: a downloader for URLs that someone else supplied (SSRF-guarded).

Pure of Kafka, MongoDB and S3; the ingest service wraps it with retries, storage and job updates.
"""

from plinth.net.addresses import CLOUD_METADATA, AllowList, IPAddress, refusal_reason
from plinth.net.downloader import (
    Downloaded,
    DownloadPolicy,
    SafeDownloader,
    VettedTarget,
)
from plinth.net.errors import (
    AddressRefused,
    ConnectionFailed,
    DownloadError,
    DownloadTimeout,
    HtmlPage,
    HttpStatusError,
    NotAnImage,
    ResolveFailed,
    TooLarge,
    TooManyRedirects,
    UrlRefused,
)
from plinth.net.resolver import (
    ResolutionError,
    Resolver,
    StaticResolver,
    SystemResolver,
)
from plinth.net.sniff import sniff_image_type

__all__ = [
    "CLOUD_METADATA",
    "AddressRefused",
    "AllowList",
    "ConnectionFailed",
    "DownloadError",
    "DownloadPolicy",
    "DownloadTimeout",
    "Downloaded",
    "HtmlPage",
    "HttpStatusError",
    "IPAddress",
    "NotAnImage",
    "ResolutionError",
    "ResolveFailed",
    "Resolver",
    "SafeDownloader",
    "StaticResolver",
    "SystemResolver",
    "TooLarge",
    "TooManyRedirects",
    "UrlRefused",
    "VettedTarget",
    "refusal_reason",
    "sniff_image_type",
]
