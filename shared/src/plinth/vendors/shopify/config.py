"""Where and how to reach one store's Admin GraphQL API."""

from __future__ import annotations

from dataclasses import dataclass

from plinth.settings import ShopifySettings


class ShopifyNotConfigured(ValueError):
    """Settings lack the store domain or the access token."""


@dataclass(frozen=True)
class ShopifyConfig:
    store_domain: str
    access_token: str
    api_version: str
    base_url: str | None = None
    request_timeout_s: float = 30.0
    max_throttle_retries: int = 8
    max_transient_retries: int = 3
    transient_backoff_s: float = 0.5
    media_ready_timeout_s: float = 120.0
    media_poll_interval_s: float = 0.5
    media_poll_max_interval_s: float = 5.0

    @property
    def endpoint(self) -> str:
        """``https://{store}/admin/api/{version}/graphql.json`` (or the configured override)."""
        base = self.base_url or f"https://{self.store_domain}/admin/api"
        return f"{base.rstrip('/')}/{self.api_version}/graphql.json"

    @classmethod
    def from_settings(cls, settings: ShopifySettings) -> ShopifyConfig:
        if not settings.shopify_enabled:
            raise ShopifyNotConfigured(
                "PLINTH_SHOPIFY_STORE_DOMAIN and PLINTH_SHOPIFY_ACCESS_TOKEN must both be set"
            )
        assert settings.shopify_store_domain and settings.shopify_access_token  # for mypy
        return cls(
            store_domain=settings.shopify_store_domain,
            access_token=settings.shopify_access_token.get_secret_value(),
            api_version=settings.shopify_api_version,
            base_url=settings.shopify_base_url,
        )
