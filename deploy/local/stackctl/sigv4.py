"""Just enough AWS Signature V4 to create and check the default bucket without boto3."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signed_headers(
    *,
    method: str,
    host: str,
    path: str,
    access_key: str,
    secret_key: str,
    region: str,
    now: dt.datetime | None = None,
) -> dict[str, str]:
    """Headers for an empty-body, query-less request to `path` (already URL-safe)."""
    now = now or dt.datetime.now(dt.UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    headers = {"host": host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": amz_date}
    names = sorted(headers)
    canonical = "\n".join(
        [
            method,
            path,
            "",
            "".join(f"{name}:{headers[name]}\n" for name in names),
            ";".join(names),
            EMPTY_SHA256,
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(("AWS4" + secret_key).encode(), day)
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return headers


def request(
    method: str,
    *,
    host: str,
    port: int,
    path: str,
    access_key: str,
    secret_key: str,
    region: str,
    timeout_s: float = 5.0,
) -> tuple[int, bytes]:
    """Send a signed, empty-body request; returns (status, body)."""
    headers = signed_headers(
        method=method,
        host=f"{host}:{port}",
        path=path,
        access_key=access_key,
        secret_key=secret_key,
        region=region,
    )
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
