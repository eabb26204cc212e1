"""What the dashboard-api reads: the infrastructure (``plinth.settings.InfrastructureSettings``),
the store's Shopify settings (an operator's alt-text edit goes to Shopify at once: ``media.py``)
and its own settings; no Freepik key, no webhook secret.

Same ``PLINTH_*`` prefix, so one environment configures every process. API keys map a secret key
to a role; ``PLINTH_DASHBOARD_API_KEYS='{"k1": "operator", "k2": "viewer"}'`` (JSON).
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from plinth.settings import InfrastructureSettings, ShopifySettings

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"


class DashboardSettings(InfrastructureSettings, ShopifySettings):
    dashboard_api_keys: dict[SecretStr, str] = Field(
        default_factory=dict,
        description=(
            "API key -> 'role' or 'name:role' (role: viewer|operator); the name is what the audit "
            "log records. With no keys every /api request is refused with 401."
        ),
    )
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = Field(default=8080, ge=1, le=65535)
    dashboard_ui_dir: Path = Field(
        default=_PACKAGE_ROOT / "ui" / "dist", description="the built web dashboard (vite build)"
    )
    dashboard_presign_ttl_s: int = Field(
        default=300, ge=10, le=3600, description="presigned GET URLs for the dashboard are short"
    )
    dashboard_trace_url_template: str | None = Field(
        default=None,
        description=(
            "link from a job's trace id to a trace viewer, e.g. "
            "http://127.0.0.1:16686/trace/{trace_id} for a local Jaeger; {trace_id} is "
            "substituted. Unset (or empty): no trace viewer, the UI shows no link"
        ),
    )
    dashboard_list_max_limit: int = Field(default=200, ge=1, le=1000)
    dashboard_count_cap: int = Field(
        default=1000,
        ge=1,
        description=(
            "the jobs list counts matches up to this many (then shows 'N+'): an exact count "
            "visits every matching job"
        ),
    )
    retention_webhook_events_days: float = Field(
        default=30, ge=0, description="webhook deliveries kept this long; 0: forever"
    )
    retention_audit_days: float = Field(
        default=365, ge=0, description="audit entries kept this long; 0: forever"
    )
    retention_job_detail_days: float = Field(
        default=90,
        ge=0,
        description="finished jobs keep their history this long, then only the summary; 0: forever",
    )
    sweeper_stuck_after_s: float = Field(
        default=900, gt=0,
        description="a live job unchanged this long, whose stage has no backlog, is re-driven",
    )
    sweeper_interval_s: float = Field(
        default=300, ge=0, description="a stuck-job sweep this often (see sweeper.py); 0: never"
    )
    retention_interval_s: float = Field(
        default=3600, ge=0, description="a retention pass this often (see retention.py); 0: never"
    )

    @field_validator("dashboard_api_keys")
    @classmethod
    def _roles_are_known(cls, keys: dict[SecretStr, str]) -> dict[SecretStr, str]:
        for grant in keys.values():
            parse_grant(grant)  # raises with the bad role named
        return keys

    def principal_for(self, api_key: str) -> tuple[str, Role] | None:
        """(name, role) for a known key; None otherwise. Every key is compared."""
        found: tuple[str, Role] | None = None
        for key, grant in self.dashboard_api_keys.items():
            if _constant_time_equal(key.get_secret_value(), api_key):
                name, role = parse_grant(grant)
                found = (name or f"key-{_fingerprint(api_key)}", role)
        return found


def parse_grant(grant: str) -> tuple[str | None, Role]:
    name, _, role = grant.rpartition(":")
    try:
        return (name or None), Role(role.strip().lower())
    except ValueError:
        raise ValueError(f"unknown role {role!r}; expected viewer or operator") from None


def _fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:8]


def _constant_time_equal(a: str, b: str) -> bool:
    # compare_digest: a wrong key takes as long to refuse whatever prefix it shares
    return hmac.compare_digest(a.encode(), b.encode())


@lru_cache(maxsize=1)
def get_dashboard_settings() -> DashboardSettings:
    return DashboardSettings()
