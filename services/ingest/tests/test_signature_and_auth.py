"""Signature verification and the authentication policy, without any server."""

from __future__ import annotations

import logging
import time

import pytest

from plinth_ingest.auth import Authenticator, NotConfigured
from plinth_ingest.settings import IngestSettings
from plinth_ingest.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    compute_signature,
    signed_headers,
    verify_signature,
)

BODY = b'{"sku":"A1","image_url":"https://x.test/a.jpg","theme":"default"}'


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    # Reference value computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac k
    assert compute_signature("k", "1700000000", b"{}") == (
        "sha256=c6ef4734033cee2367414a0939385eca0397754aa7a59716da7463a9298b5146"
    )
    headers = signed_headers("secret", BODY, timestamp=1_700_000_000)
    assert headers[TIMESTAMP_HEADER] == "1700000000"
    verify_signature(
        "secret", headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], BODY,
        tolerance_s=300, now=1_700_000_100,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("secret", "body", "stamp_shift", "message"),
    [
        ("wrong", BODY, 0, "does not match"),
        ("secret", BODY + b" ", 0, "does not match"),
        ("secret", BODY, -301, "outside the 300s window"),
        ("secret", BODY, +301, "outside the 300s window"),
    ],
)
def test_refusals(secret: str, body: bytes, stamp_shift: int, message: str) -> None:
    now = time.time()
    headers = signed_headers(secret, BODY, timestamp=int(now) + stamp_shift)
    with pytest.raises(SignatureError, match=message):
        verify_signature(
            "secret", headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], body,
            tolerance_s=300, now=now,
        )  # fmt: skip


def test_missing_or_malformed_headers() -> None:
    with pytest.raises(SignatureError, match="missing X-3JMS-Timestamp"):
        verify_signature("s", None, "sha256=00", BODY, tolerance_s=300)
    with pytest.raises(SignatureError, match="missing X-3JMS-Signature"):
        verify_signature("s", "1", None, BODY, tolerance_s=300)
    with pytest.raises(SignatureError, match="unix seconds"):
        verify_signature("s", "2026-01-01T00:00:00Z", "sha256=00", BODY, tolerance_s=300)


def test_replay_inside_the_window_is_not_refused_by_the_signature() -> None:
    """Within the window a replay passes the signature; idempotency makes it harmless."""
    headers = signed_headers("s", BODY)
    for _ in range(2):
        verify_signature("s", headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], BODY,
                         tolerance_s=300)  # fmt: skip


def test_no_secret_and_no_bypass_is_not_configured() -> None:
    auth = Authenticator(IngestSettings(webhook_secret=None, webhook_dev_bypass=False))
    assert not auth.configured
    with pytest.raises(NotConfigured, match="PLINTH_WEBHOOK_SECRET is not set"):
        auth.check({}, BODY, what="test")


def test_dev_bypass_accepts_unsigned_and_warns_every_time(caplog: pytest.LogCaptureFixture) -> None:
    auth = Authenticator(IngestSettings(webhook_secret=None, webhook_dev_bypass=True))
    with caplog.at_level(logging.WARNING, logger="plinth.ingest.auth"):
        for _ in range(2):
            result = auth.check({}, BODY, what="delivery x")
            assert result.bypassed and not result.signature_valid
    warnings = [r for r in caplog.records if "WITHOUT signature check" in r.getMessage()]
    assert len(warnings) == 2


def test_secret_checks_signatures() -> None:
    auth = Authenticator(IngestSettings(webhook_secret="s", webhook_dev_bypass=False))  # type: ignore[arg-type]
    assert auth.check(signed_headers("s", BODY), BODY, what="x").signature_valid
    with pytest.raises(SignatureError):
        auth.check(signed_headers("t", BODY), BODY, what="x")
