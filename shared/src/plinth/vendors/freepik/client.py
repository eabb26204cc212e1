"""A small synchronous HTTP client for Freepik's REST API, shared by the Freepik providers.

What it knows about Freepik (docs.freepik.com, "Authentication" and the API reference pages):

* Base URL ``https://api.freepik.com``; every call carries the key in the ``x-freepik-api-key``
  header. (Freepik's API also answers as Magnific, ``https://api.magnific.com`` with
  ``x-magnific-api-key``; both are configurable here.)
* Errors come back as JSON ``{"message": "..."}`` with 400 (invalid parameters), 401 (missing or
  bad key), 403, 404, 429 (rate limit), 500 and 503.

What it adds: timeouts, bounded retries with exponential backoff and jitter on 429/5xx and on
network errors (a ``Retry-After`` header wins over the backoff), and one typed error for the rest:
:class:`~plinth.imaging.errors.ProviderError`, ``permanent=True`` for the 4xx answers that no
retry can fix (auth, validation), ``permanent=False`` for what a later retry might.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from plinth.imaging.errors import ProviderError

DEFAULT_BASE_URL = "https://api.freepik.com"
DEFAULT_API_KEY_HEADER = "x-freepik-api-key"

# Statuses worth another try: the rate limiter and the server-side failures Freepik documents
# (500, 503) plus the gateway ones any HTTP service in front of it can produce.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# Results are images of at most 25 MP; a PNG of that is well under this. A bigger body is a bug.
DEFAULT_MAX_DOWNLOAD_BYTES = 128 * 1024 * 1024

MAX_REDIRECTS = 5

Sleep = Callable[[float], None]


class FreepikClient:
    """Calls Freepik with auth, timeouts and retries; every failure is a ``ProviderError``."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key_header: str = DEFAULT_API_KEY_HEADER,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        max_attempts: int = 4,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 8.0,
        max_retry_after_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ProviderError("Freepik API key is not configured", permanent=True)
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key.strip()
        self._api_key_header = api_key_header
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            transport=transport,
            # Redirects are followed by hand (downloads only): httpx would carry the custom key
            # header across to another host, where only Authorization is stripped.
            follow_redirects=False,
            headers={"user-agent": "plinth/0.1"},
        )

    def __repr__(self) -> str:  # never print the key
        return f"FreepikClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FreepikClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- JSON API calls ---------------------------------------------------------------------

    def post_form(self, path: str, fields: Mapping[str, str]) -> dict[str, Any]:
        """POST ``application/x-www-form-urlencoded`` fields; return the JSON object answered."""
        return self._call_json("POST", path, data=dict(fields))

    def post_json(self, path: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """POST a JSON body; return the JSON object answered."""
        return self._call_json("POST", path, json_body=dict(payload))

    def get_json(self, path: str) -> dict[str, Any]:
        return self._call_json("GET", path)

    def _call_json(
        self,
        method: str,
        path: str,
        *,
        data: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        url = f"{self.base_url}/{path.lstrip('/')}"
        headers = {self._api_key_header: self._api_key, "accept": "application/json"}

        def send() -> httpx.Response:
            return self._http.request(method, url, headers=headers, data=data, json=json_body)

        response = self._with_retries(f"{method} {path}", send)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProviderError(
                f"Freepik {method} {path} answered {response.status_code} with a body that is "
                "not JSON"
            ) from exc
        if not isinstance(body, dict):
            raise ProviderError(f"Freepik {method} {path} answered JSON that is not an object")
        return body

    # -- result downloads -------------------------------------------------------------------

    def download(self, url: str, *, max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES) -> bytes:
        """GET a result file (an image URL Freepik handed back), bounded in size.

        The key is sent only when the URL is on the API's own host (the remove-background result
        URLs are under ``api.freepik.com/v1/ai/beta/images/...``); a CDN URL never sees it.
        """
        _check_http_url(url)
        body = bytearray()

        def send() -> httpx.Response:
            target = url
            for _hop in range(MAX_REDIRECTS + 1):
                body.clear()
                headers = {self._api_key_header: self._api_key} if self._same_origin(target) else {}
                with self._http.stream("GET", target, headers=headers) as response:
                    if response.is_redirect:
                        target = str(response.url.join(response.headers["location"]))
                        _check_http_url(target)
                        continue
                    if not response.is_success:
                        response.read()  # keep the error body for the message
                        return response
                    for chunk in response.iter_bytes():
                        body.extend(chunk)
                        if len(body) > max_bytes:
                            raise ProviderError(
                                f"Freepik result is larger than {max_bytes} bytes; refusing it",
                                permanent=True,
                            )
                return response
            raise ProviderError(f"Freepik result URL redirected more than {MAX_REDIRECTS} times")

        # A 404 here means the result URL expired (Freepik keeps them 5 minutes) or never
        # existed: the request that made it was fine, so the job as a whole is worth retrying.
        self._with_retries("download", send, client_errors_permanent=False)
        return bytes(body)

    def _same_origin(self, url: str) -> bool:
        a, b = urlsplit(url), urlsplit(self.base_url)
        return (a.scheme, a.netloc) == (b.scheme, b.netloc)

    # -- retry policy -----------------------------------------------------------------------

    def _with_retries(
        self,
        what: str,
        send: Callable[[], httpx.Response],
        *,
        client_errors_permanent: bool = True,
    ) -> httpx.Response:
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            try:
                response = send()
            except httpx.TransportError as exc:
                # Connection refused/reset, DNS, timeouts: the request may never have arrived.
                if last:
                    raise ProviderError(
                        f"Freepik {what} failed after {attempt} attempts: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                self._sleep(self._backoff(attempt))
                continue

            if response.is_success:
                return response
            if response.status_code not in RETRYABLE_STATUSES:
                raise _error_for(what, response, client_errors_permanent=client_errors_permanent)
            if last:
                raise _error_for(what, response, attempts=attempt)
            wait = self._backoff(attempt)
            retry_after = _retry_after_seconds(response)
            if retry_after is not None:
                if retry_after > self._max_retry_after_s:
                    # Sleeping minutes inside a worker helps no one: give the job back to the
                    # queue, which retries later, and say how long Freepik asked for.
                    raise ProviderError(
                        f"Freepik {what} is rate limited; it asks to retry after "
                        f"{retry_after:.0f} s"
                    )
                wait = retry_after
            self._sleep(wait)
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _backoff(self, attempt: int) -> float:
        # Exponential with "equal jitter": never zero, never synchronised across workers.
        ceiling: float = min(self._backoff_cap_s, self._backoff_base_s * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def _check_http_url(url: str) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ProviderError(f"Freepik returned a result URL that is not http(s): {url!r}")


def _retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _vendor_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:200].strip()
    if isinstance(body, dict):
        message = body.get("message") or body.get("detail") or body.get("error")
        if message:
            return str(message)[:300]
    return json.dumps(body)[:200]


def _error_for(
    what: str,
    response: httpx.Response,
    *,
    attempts: int = 1,
    client_errors_permanent: bool = True,
) -> ProviderError:
    status = response.status_code
    message = _vendor_message(response)
    detail = f": {message}" if message else ""
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    if status in (401, 403):
        return ProviderError(
            f"Freepik rejected the API key ({status}) on {what}{detail}", permanent=True
        )
    if status == 429:
        return ProviderError(f"Freepik {what} is rate limited (429){tries}{detail}")
    if status >= 500 or status == 408:
        return ProviderError(f"Freepik {what} failed with {status}{tries}{detail}")
    # 400, 404, 413, 415, 422 ...: the request itself is wrong; sending it again cannot help.
    return ProviderError(
        f"Freepik {what} refused the request ({status}){detail}",
        permanent=client_errors_permanent,
    )
