"""3JMS webhook signatures: ``X-3JMS-Signature: sha256=<hex HMAC-SHA256(secret, ts + "." + body)>``
with ``X-3JMS-Timestamp: <unix seconds>``, the timestamp inside a tolerance window.

The timestamp is part of the signed text, so an attacker cannot refresh it on a captured request:
replays older than the window are refused, and one inside it is harmless (deliveries are
idempotent).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Final

TIMESTAMP_HEADER: Final = "X-3JMS-Timestamp"
SIGNATURE_HEADER: Final = "X-3JMS-Signature"
PREFIX: Final = "sha256="


class SignatureError(Exception):
    """The request is not authentic (or too old); the message says why, for the 401 body."""


def compute_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return PREFIX + digest.hexdigest()


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers for a correctly signed request (tests, the demo, backfill scripts)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: compute_signature(secret, stamp, body)}


def verify_signature(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    tolerance_s: int,
    now: float | None = None,
) -> None:
    """Raise :class:`SignatureError` unless the signature matches and the timestamp is fresh."""
    if not timestamp:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    if not signature:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    stamp = timestamp.strip()
    if not stamp.isdigit():
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix seconds, got {timestamp[:40]!r}")
    expected = compute_signature(secret, stamp, body)
    # Constant-time comparison: the time taken must not tell how many characters matched.
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SignatureError("signature does not match the body and timestamp")
    age = (time.time() if now is None else now) - int(stamp)
    if abs(age) > tolerance_s:
        raise SignatureError(
            f"timestamp is {int(age)}s from now, outside the {tolerance_s}s window "
            "(replayed or badly delayed delivery)"
        )
