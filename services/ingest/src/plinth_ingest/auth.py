"""Who may deliver: HMAC-signed requests, or anyone when the development bypass is on.

Without a secret and without the bypass the endpoints answer 503 ``webhook_not_configured`` on
every request (and the service logs an error at start-up): refusing loudly beats accepting
unsigned traffic by accident.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from plinth_ingest.settings import IngestSettings
from plinth_ingest.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    verify_signature,
)

log = logging.getLogger("plinth.ingest.auth")


class NotConfigured(Exception):
    pass


@dataclass(frozen=True)
class AuthResult:
    signature_valid: bool
    bypassed: bool


class Authenticator:
    def __init__(self, settings: IngestSettings) -> None:
        self.secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
        self.bypass = settings.webhook_dev_bypass
        self.tolerance_s = settings.webhook_tolerance_s

    @property
    def configured(self) -> bool:
        return bool(self.secret) or self.bypass

    def check(self, headers: Mapping[str, str], body: bytes, *, what: str) -> AuthResult:
        """Raise ``SignatureError`` (401) or ``NotConfigured`` (503); else say how it passed."""
        if self.bypass:
            log.warning(
                "%s accepted WITHOUT signature check: PLINTH_WEBHOOK_DEV_BYPASS is on "
                "(development only)",
                what,
            )
            return AuthResult(signature_valid=False, bypassed=True)
        if not self.secret:
            raise NotConfigured(
                "PLINTH_WEBHOOK_SECRET is not set and PLINTH_WEBHOOK_DEV_BYPASS is off: "
                "ingest refuses every delivery until one of them is configured"
            )
        verify_signature(
            self.secret,
            headers.get(TIMESTAMP_HEADER),
            headers.get(SIGNATURE_HEADER),
            body,
            tolerance_s=self.tolerance_s,
        )
        return AuthResult(signature_valid=True, bypassed=False)


__all__ = ["AuthResult", "Authenticator", "NotConfigured", "SignatureError"]
